package producer

import (
	"crypto/md5"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// The KPL aggregation format (see the deaggregate package for a diagram):
// magic, a protobuf AggregatedRecord, and the MD5 of the protobuf.
var magic = []byte{0xF3, 0x89, 0x9A, 0xC2}

const (
	fieldPartitionKeyTable    protowire.Number = 1
	fieldExplicitHashKeyTable protowire.Number = 2
	fieldRecords              protowire.Number = 3

	fieldPartitionKeyIndex    protowire.Number = 1
	fieldExplicitHashKeyIndex protowire.Number = 2
	fieldData                 protowire.Number = 3

	// aggregateOverhead is the magic and the digest.
	aggregateOverhead = 4 + md5.Size
)

// aggregate is an open or sealed aggregate: user records bound for one
// shard, with the exact size of their encoding kept as they are added.
type aggregate struct {
	users  []*userRecord
	shard  string // predicted; "" when unknown
	pkeys  map[string]uint64
	ehkeys map[string]uint64
	size   int       // encoded size of the whole Kinesis record data
	sendBy time.Time // the oldest record's start plus linger
	minGen uint64
}

func newAggregate() *aggregate { return &aggregate{size: aggregateOverhead} }

// pkIndex is the index of key in the partition key table, or the index it
// would get. The tables are maps only from the second record on: most
// aggregates of an unaggregated producer hold one record.
func (a *aggregate) pkIndex(key string) (uint64, bool) {
	if a.pkeys != nil {
		if i, ok := a.pkeys[key]; ok {
			return i, true
		}
		return uint64(len(a.pkeys)), false
	}
	if len(a.users) == 1 && a.users[0].key == key {
		return 0, true
	}
	return uint64(len(a.users)), false
}

func (a *aggregate) ehkIndex(ehk string) (uint64, bool) {
	if a.ehkeys != nil {
		if i, ok := a.ehkeys[ehk]; ok {
			return i, true
		}
		return uint64(len(a.ehkeys)), false
	}
	if len(a.users) == 1 && a.users[0].ehk != "" {
		if a.users[0].ehk == ehk {
			return 0, true
		}
		return 1, false
	}
	return 0, false
}

// sizeWith is the size the aggregate would have with u added.
func (a *aggregate) sizeWith(u *userRecord) int {
	s := a.size
	pk, ok := a.pkIndex(u.key)
	if !ok {
		s += tableEntrySize(len(u.key))
	}
	rec := 1 + protowire.SizeVarint(pk) + 1 + protowire.SizeBytes(len(u.data))
	if u.ehk != "" {
		ek, ok := a.ehkIndex(u.ehk)
		if !ok {
			s += tableEntrySize(len(u.ehk))
		}
		rec += 1 + protowire.SizeVarint(ek)
	}
	return s + 1 + protowire.SizeBytes(rec)
}

func tableEntrySize(n int) int { return 1 + protowire.SizeBytes(n) }

func (a *aggregate) add(u *userRecord, linger time.Duration) {
	a.size = a.sizeWith(u)
	if len(a.users) == 1 {
		first := a.users[0]
		a.pkeys = map[string]uint64{first.key: 0}
		a.ehkeys = map[string]uint64{}
		if first.ehk != "" {
			a.ehkeys[first.ehk] = 0
		}
	}
	if a.pkeys != nil {
		if _, ok := a.pkeys[u.key]; !ok {
			a.pkeys[u.key] = uint64(len(a.pkeys))
		}
		if _, ok := a.ehkeys[u.ehk]; !ok && u.ehk != "" {
			a.ehkeys[u.ehk] = uint64(len(a.ehkeys))
		}
	}
	if len(a.users) == 0 || u.start.Add(linger).Before(a.sendBy) {
		a.sendBy = u.start.Add(linger)
	}
	if len(a.users) == 0 || u.gen < a.minGen {
		a.minGen = u.gen
	}
	a.users = append(a.users, u)
}

// wireSize is what the record counts against request and shard limits:
// its data and partition key.
func (a *aggregate) wireSize() int {
	if len(a.users) == 1 {
		return a.users[0].size
	}
	return a.size + len(a.users[0].key)
}

// encodeAggregate encodes users in the KPL format, deduplicating keys.
func encodeAggregate(users []*userRecord) []byte {
	pkeys := map[string]uint64{}
	ehkeys := map[string]uint64{}
	var pkTable, ehkTable []string
	size := 0
	for _, u := range users {
		size += 16 + len(u.data)
	}
	recs := make([]byte, 0, size)
	var rec []byte
	for _, u := range users {
		pk, ok := pkeys[u.key]
		if !ok {
			pk = uint64(len(pkTable))
			pkeys[u.key] = pk
			pkTable = append(pkTable, u.key)
		}
		rec = rec[:0]
		rec = protowire.AppendTag(rec, fieldPartitionKeyIndex, protowire.VarintType)
		rec = protowire.AppendVarint(rec, pk)
		if u.ehk != "" {
			ek, ok := ehkeys[u.ehk]
			if !ok {
				ek = uint64(len(ehkTable))
				ehkeys[u.ehk] = ek
				ehkTable = append(ehkTable, u.ehk)
			}
			rec = protowire.AppendTag(rec, fieldExplicitHashKeyIndex, protowire.VarintType)
			rec = protowire.AppendVarint(rec, ek)
		}
		rec = protowire.AppendTag(rec, fieldData, protowire.BytesType)
		rec = protowire.AppendBytes(rec, u.data)
		recs = protowire.AppendTag(recs, fieldRecords, protowire.BytesType)
		recs = protowire.AppendBytes(recs, rec)
	}
	size = len(magic) + len(recs) + md5.Size
	for _, k := range pkTable {
		size += tableEntrySize(len(k))
	}
	for _, k := range ehkTable {
		size += tableEntrySize(len(k))
	}
	out := make([]byte, 0, size)
	out = append(out, magic...)
	for _, k := range pkTable {
		out = protowire.AppendTag(out, fieldPartitionKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, k)
	}
	for _, k := range ehkTable {
		out = protowire.AppendTag(out, fieldExplicitHashKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, k)
	}
	out = append(out, recs...)
	sum := md5.Sum(out[len(magic):])
	return append(out, sum[:]...)
}
