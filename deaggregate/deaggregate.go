package deaggregate

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"google.golang.org/protobuf/encoding/protowire"
)

// Magic is the four bytes an aggregated record starts with.
var Magic = []byte{0xF3, 0x89, 0x9A, 0xC2}

// digestSize is the length of the MD5 trailer.
const digestSize = md5.Size

// Field numbers of the AggregatedRecord and Record protobuf messages.
const (
	fieldPartitionKeyTable    protowire.Number = 1
	fieldExplicitHashKeyTable protowire.Number = 2
	fieldRecords              protowire.Number = 3

	fieldPartitionKeyIndex    protowire.Number = 1
	fieldExplicitHashKeyIndex protowire.Number = 2
	fieldData                 protowire.Number = 3
	// Field 4, tags, is skipped: neither the KPL nor the KCL uses it.
)

// Record is one user record.
type Record struct {
	// SequenceNumber is the sequence number of the Kinesis record that
	// carried this user record; user records of one aggregate share it.
	SequenceNumber string
	// SubSequenceNumber is the index of the user record in its aggregate,
	// 0 for a plain record. (SequenceNumber, SubSequenceNumber) orders user
	// records within a shard and is what a consumer checkpoints.
	SubSequenceNumber int64
	// PartitionKey is the user record's own partition key, not the outer
	// record's.
	PartitionKey string
	// ExplicitHashKey is the user record's explicit hash key as a decimal
	// string, or empty when it has none (always empty for plain records:
	// Kinesis does not return the explicit hash key of a record).
	ExplicitHashKey string
	Data            []byte
	// ApproximateArrivalTimestamp and EncryptionType are the outer
	// record's.
	ApproximateArrivalTimestamp time.Time
	EncryptionType              types.EncryptionType
	// Aggregated reports whether the record came out of an aggregate.
	Aggregated bool
}

// Records expands every aggregated record of recs into its user records
// and passes plain and malformed records through, in order. Data slices of
// the results point into the input records' Data. The error is reserved
// for future validation; Records currently always returns nil.
func Records(recs []types.Record) ([]Record, error) {
	return expand(recs, nil), nil
}

// RecordsInRange is Records for records read from a shard whose hash key
// range is [startingHashKey, endingHashKey] (decimal strings, as
// ListShards and DescribeStream return them): an aggregate holding a user
// record whose effective hash key lies outside the range is dropped
// whole, as the KCL drops it (AggregatorUtil.deaggregate), so that a
// shard's records are the same whichever library reads them. Such an
// aggregate is one a reshard sent to a shard that does not own all its
// records; a producer that sees it land there puts all its records again
// (the KPL does, and so does this module's producer). Plain records
// always pass: Kinesis stored them on this shard by their own hash key.
// It fails only when the range is not two decimal numbers in
// [0, 2^128-1] with start <= end.
func RecordsInRange(recs []types.Record, startingHashKey, endingHashKey string) ([]Record, error) {
	r, err := parseRange(startingHashKey, endingHashKey)
	if err != nil {
		return nil, err
	}
	keep := &r
	if r.start == (hashKey{}) && r.end == maxKey {
		keep = nil // every key is in range: no hashing needed
	}
	return expand(recs, keep), nil
}

// maxKey is 2^128-1, the last hash key.
var maxKey = hashKey{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// hashKey is a 128-bit hash key, big-endian, so bytes.Compare orders keys.
type hashKey [16]byte

type hashRange struct{ start, end hashKey }

func (r *hashRange) contains(k hashKey) bool {
	return bytes.Compare(k[:], r.start[:]) >= 0 && bytes.Compare(k[:], r.end[:]) <= 0
}

var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// parseHashKey parses a decimal hash key in [0, 2^128-1].
func parseHashKey(s string) (hashKey, bool) {
	var k hashKey
	if s == "" || len(s) > 39 {
		return k, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return k, false
		}
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Cmp(maxHashKey) > 0 {
		return k, false
	}
	n.FillBytes(k[:])
	return k, true
}

func parseRange(start, end string) (hashRange, error) {
	s, ok := parseHashKey(start)
	if !ok {
		return hashRange{}, fmt.Errorf("starting hash key %q is not a decimal number in [0, 2^128-1]", start)
	}
	e, ok := parseHashKey(end)
	if !ok {
		return hashRange{}, fmt.Errorf("ending hash key %q is not a decimal number in [0, 2^128-1]", end)
	}
	if bytes.Compare(s[:], e[:]) > 0 {
		return hashRange{}, errors.New("starting hash key is greater than ending hash key")
	}
	return hashRange{start: s, end: e}, nil
}

// partitionKeyHash is the hash key Kinesis derives from a partition key.
func partitionKeyHash(key string) hashKey { return md5.Sum([]byte(key)) }

func plain(r *types.Record) Record {
	return Record{
		SequenceNumber:              aws.ToString(r.SequenceNumber),
		PartitionKey:                aws.ToString(r.PartitionKey),
		Data:                        r.Data,
		ApproximateArrivalTimestamp: aws.ToTime(r.ApproximateArrivalTimestamp),
		EncryptionType:              r.EncryptionType,
	}
}

// expand returns the user records of recs; with keep, none of an
// aggregate that holds a record outside keep. Aggregates are decoded
// first, so that the result is allocated once.
func expand(recs []types.Record, keep *hashRange) []Record {
	subs := make([][]subRecord, len(recs)) // nil for a plain record, empty for a dropped aggregate
	n := 0
	for i := range recs {
		s, ok := decode(recs[i].Data, keep != nil)
		if !ok {
			n++
			continue
		}
		if keep != nil {
			for _, u := range s {
				if !keep.contains(u.hashKey) {
					s = s[:0] // the whole aggregate, as the KCL
					break
				}
			}
		}
		subs[i] = s
		n += len(s)
	}
	out := make([]Record, 0, n)
	for i := range recs {
		r := &recs[i]
		if subs[i] == nil {
			out = append(out, plain(r))
			continue
		}
		base := plain(r)
		base.Aggregated = true
		for j, s := range subs[i] {
			u := base
			u.SubSequenceNumber = int64(j)
			u.PartitionKey = s.partitionKey
			u.ExplicitHashKey = s.explicitHashKey
			u.Data = s.data
			out = append(out, u)
		}
	}
	return out
}

// subRecord is one decoded user record of an aggregate.
type subRecord struct {
	partitionKey    string
	explicitHashKey string
	hashKey         hashKey // with hash only
	data            []byte
}

// decode returns the user records of an aggregate, or false when data is
// not a well-formed aggregate. With hash, it sets their hash keys: an
// explicit hash key, or the MD5 of the partition key, computed once per
// entry of the aggregate's partition key table.
func decode(data []byte, hash bool) ([]subRecord, bool) {
	if len(data) <= len(Magic)+digestSize || !bytes.Equal(data[:len(Magic)], Magic) {
		return nil, false
	}
	msg := data[len(Magic) : len(data)-digestSize]
	sum := md5.Sum(msg)
	if !bytes.Equal(sum[:], data[len(data)-digestSize:]) {
		return nil, false
	}
	var pkeys, ehkeys []string
	var raws []rawRecord
	for b := msg; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch {
		case num == fieldPartitionKeyTable && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			pkeys = append(pkeys, string(v))
			b = b[n:]
		case num == fieldExplicitHashKeyTable && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			ehkeys = append(ehkeys, string(v))
			b = b[n:]
		case num == fieldRecords && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			r, ok := decodeRecord(v)
			if !ok {
				return nil, false
			}
			raws = append(raws, r)
		default:
			// Unknown fields are skipped, as proto2 parsers do.
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
		}
	}
	if len(raws) == 0 {
		return nil, false
	}
	subs := make([]subRecord, len(raws))
	var pkHashes []hashKey
	var hashed []bool
	if hash {
		pkHashes, hashed = make([]hashKey, len(pkeys)), make([]bool, len(pkeys))
	}
	for i, r := range raws {
		// partition_key_index and data are required in the proto2 schema.
		if !r.hasPK || !r.hasData || r.pk >= uint64(len(pkeys)) {
			return nil, false
		}
		s := subRecord{partitionKey: pkeys[r.pk], data: r.data}
		if r.hasEHK {
			if r.ehk >= uint64(len(ehkeys)) {
				return nil, false
			}
			s.explicitHashKey = ehkeys[r.ehk]
			k, ok := parseHashKey(s.explicitHashKey)
			if !ok {
				return nil, false
			}
			s.hashKey = k
		} else if hash {
			if !hashed[r.pk] {
				pkHashes[r.pk], hashed[r.pk] = partitionKeyHash(s.partitionKey), true
			}
			s.hashKey = pkHashes[r.pk]
		}
		subs[i] = s
	}
	return subs, true
}

// rawRecord is a Record message before its indexes are resolved.
type rawRecord struct {
	pk, ehk                uint64
	hasPK, hasEHK, hasData bool
	data                   []byte
}

// decodeRecord decodes one Record message. Tags are checked for shape and
// dropped: neither the KPL nor the KCL uses them.
func decodeRecord(b []byte) (r rawRecord, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, false
		}
		b = b[n:]
		switch {
		case num == fieldPartitionKeyIndex && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return r, false
			}
			r.pk, r.hasPK = v, true
			b = b[n:]
		case num == fieldExplicitHashKeyIndex && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return r, false
			}
			r.ehk, r.hasEHK = v, true
			b = b[n:]
		case num == fieldData && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, false
			}
			r.data, r.hasData = v, true
			b = b[n:]
		default:
			// Tags (field 4) and unknown fields.
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return r, false
			}
			b = b[n:]
		}
	}
	return r, true
}
