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
// shard, with the exact size of their encoding and their key tables kept
// as they are added, so that encoding is one pass into one buffer.
type aggregate struct {
	users    []*userRecord
	keys     []keyRef // per user: its indexes in the key tables
	pkTable  []string
	ehkTable []string
	// Indexes of the tables, made once they outgrow a linear search:
	// most aggregates of an unaggregated producer hold one record.
	pkIndex  map[string]uint64
	ehkIndex map[string]uint64
	shard    string    // predicted; "" when unknown
	size     int       // encoded size of the whole Kinesis record data
	sendBy   time.Time // the oldest record's start plus linger
	minGen   uint64
	// maxSize, when known, is the size the aggregate may grow to: it
	// sizes the key indexes so that they are not rebuilt as they grow.
	maxSize int
	// Room for the first record, so that a lone record (all of them
	// without aggregation) costs no slices.
	firstUser [1]*userRecord
	firstKeys [1]keyRef
	firstPK   [1]string
}

// keyRef is where a user record's keys are, or would be, in the tables.
type keyRef struct {
	pk, ehk       uint64
	newPK, newEHK bool // not in the table yet
}

// slot is the place a record would take: its key indexes and the size of
// the aggregate with it.
type slot struct {
	keyRef
	size int
}

// linearTable is the table size up to which a key is looked up by a
// linear search.
const linearTable = 8

// maxExpect caps the room made in advance in a key index.
const maxExpect = 4096

func lookup(table []string, index map[string]uint64, key string) (uint64, bool) {
	if index != nil {
		i, ok := index[key]
		return i, ok
	}
	for i, k := range table {
		if k == key {
			return uint64(i), true
		}
	}
	return 0, false
}

// insert adds key to the table, indexing the table once it is long, with
// room for expect keys.
func insert(table *[]string, index *map[string]uint64, key string, expect int) {
	*table = append(*table, key)
	switch n := len(*table); {
	case *index != nil:
		(*index)[key] = uint64(n - 1)
	case n > linearTable:
		*index = make(map[string]uint64, max(4*n, min(expect, maxExpect)))
		for i, k := range *table {
			(*index)[k] = uint64(i)
		}
	}
}

func newAggregate() *aggregate { return &aggregate{size: aggregateOverhead} }

// slotFor is the place u would take in the aggregate.
func (a *aggregate) slotFor(u *userRecord) slot {
	var sl slot
	s := a.size
	pk, ok := lookup(a.pkTable, a.pkIndex, u.key)
	if !ok {
		pk, sl.newPK = uint64(len(a.pkTable)), true
		s += tableEntrySize(len(u.key))
	}
	sl.pk = pk
	rec := 1 + protowire.SizeVarint(pk) + 1 + protowire.SizeBytes(len(u.data))
	if u.ehk != "" {
		ek, ok := lookup(a.ehkTable, a.ehkIndex, u.ehk)
		if !ok {
			ek, sl.newEHK = uint64(len(a.ehkTable)), true
			s += tableEntrySize(len(u.ehk))
		}
		sl.ehk = ek
		rec += 1 + protowire.SizeVarint(ek)
	}
	sl.size = s + 1 + protowire.SizeBytes(rec)
	return sl
}

// sizeWith is the size the aggregate would have with u added.
func (a *aggregate) sizeWith(u *userRecord) int { return a.slotFor(u).size }

func tableEntrySize(n int) int { return 1 + protowire.SizeBytes(n) }

func (a *aggregate) add(u *userRecord, linger time.Duration) { a.addAt(u, a.slotFor(u), linger) }

// addAt adds u at sl, which slotFor returned with the aggregate as it is.
func (a *aggregate) addAt(u *userRecord, sl slot, linger time.Duration) {
	a.size = sl.size
	if len(a.users) == 0 {
		a.users, a.keys, a.pkTable = a.firstUser[:0], a.firstKeys[:0], a.firstPK[:0]
	}
	if sl.newPK || sl.newEHK {
		// The records to come are guessed to be of the average size.
		expect := 0
		if a.maxSize > 0 && len(a.users) > 0 {
			expect = a.maxSize / max(a.size/(len(a.users)+1), 1)
		}
		if sl.newPK {
			insert(&a.pkTable, &a.pkIndex, u.key, expect)
		}
		if sl.newEHK {
			insert(&a.ehkTable, &a.ehkIndex, u.ehk, expect)
		}
	}
	if len(a.users) == 0 || u.start.Add(linger).Before(a.sendBy) {
		a.sendBy = u.start.Add(linger)
	}
	if len(a.users) == 0 || u.gen < a.minGen {
		a.minGen = u.gen
	}
	a.users = append(a.users, u)
	a.keys = append(a.keys, sl.keyRef)
}

// wireSize is what the record counts against request and shard limits:
// its data and partition key.
func (a *aggregate) wireSize() int {
	if len(a.users) == 1 {
		return a.users[0].size
	}
	return a.size + len(a.users[0].key)
}

// encode encodes the aggregate in the KPL format, into a buffer of its
// exact size.
func (a *aggregate) encode() []byte {
	out := make([]byte, 0, a.size)
	out = append(out, magic...)
	for _, k := range a.pkTable {
		out = protowire.AppendTag(out, fieldPartitionKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, k)
	}
	for _, k := range a.ehkTable {
		out = protowire.AppendTag(out, fieldExplicitHashKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, k)
	}
	for i, u := range a.users {
		ref := a.keys[i]
		rec := 1 + protowire.SizeVarint(ref.pk) + 1 + protowire.SizeBytes(len(u.data))
		if u.ehk != "" {
			rec += 1 + protowire.SizeVarint(ref.ehk)
		}
		out = protowire.AppendTag(out, fieldRecords, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(rec))
		out = protowire.AppendTag(out, fieldPartitionKeyIndex, protowire.VarintType)
		out = protowire.AppendVarint(out, ref.pk)
		if u.ehk != "" {
			out = protowire.AppendTag(out, fieldExplicitHashKeyIndex, protowire.VarintType)
			out = protowire.AppendVarint(out, ref.ehk)
		}
		out = protowire.AppendTag(out, fieldData, protowire.BytesType)
		out = protowire.AppendBytes(out, u.data)
	}
	sum := md5.Sum(out[len(magic):])
	return append(out, sum[:]...)
}
