package deaggregate

import (
	"bytes"
	"crypto/md5"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"google.golang.org/protobuf/encoding/protowire"
)

// user is a user record to aggregate in tests.
type user struct {
	key, ehk string
	data     string
}

// aggregate encodes users as the KPL does, deduplicating keys.
func aggregate(users ...user) []byte {
	var pkeys, ehkeys []string
	index := func(table *[]string, k string) uint64 {
		for i, t := range *table {
			if t == k {
				return uint64(i)
			}
		}
		*table = append(*table, k)
		return uint64(len(*table) - 1)
	}
	var recs [][]byte
	for _, u := range users {
		var r []byte
		r = protowire.AppendTag(r, fieldPartitionKeyIndex, protowire.VarintType)
		r = protowire.AppendVarint(r, index(&pkeys, u.key))
		if u.ehk != "" {
			r = protowire.AppendTag(r, fieldExplicitHashKeyIndex, protowire.VarintType)
			r = protowire.AppendVarint(r, index(&ehkeys, u.ehk))
		}
		r = protowire.AppendTag(r, fieldData, protowire.BytesType)
		r = protowire.AppendBytes(r, []byte(u.data))
		recs = append(recs, r)
	}
	var msg []byte
	for _, k := range pkeys {
		msg = protowire.AppendTag(msg, fieldPartitionKeyTable, protowire.BytesType)
		msg = protowire.AppendString(msg, k)
	}
	for _, k := range ehkeys {
		msg = protowire.AppendTag(msg, fieldExplicitHashKeyTable, protowire.BytesType)
		msg = protowire.AppendString(msg, k)
	}
	for _, r := range recs {
		msg = protowire.AppendTag(msg, fieldRecords, protowire.BytesType)
		msg = protowire.AppendBytes(msg, r)
	}
	return seal(msg)
}

// seal frames a protobuf message with the magic and its digest.
func seal(msg []byte) []byte {
	sum := md5.Sum(msg)
	return append(append(append([]byte{}, Magic...), msg...), sum[:]...)
}

func record(seq string, data []byte) types.Record {
	return types.Record{
		SequenceNumber:              aws.String(seq),
		PartitionKey:                aws.String("outer"),
		Data:                        data,
		ApproximateArrivalTimestamp: aws.Time(time.Unix(1700000000, 0)),
	}
}

// hashOf is the decimal hash key of a partition key.
func hashOf(key string) string {
	sum := md5.Sum([]byte(key))
	return new(big.Int).SetBytes(sum[:]).String()
}

func TestRecords(t *testing.T) {
	agg := aggregate(user{key: "k1", data: "one"}, user{key: "k2", data: "two"}, user{key: "k1", ehk: "42", data: "three"})
	got, err := Records([]types.Record{record("1", []byte("plain")), record("2", agg), record("3", []byte("after"))})
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{SequenceNumber: "1", PartitionKey: "outer", Data: []byte("plain")},
		{SequenceNumber: "2", SubSequenceNumber: 0, PartitionKey: "k1", Data: []byte("one"), Aggregated: true},
		{SequenceNumber: "2", SubSequenceNumber: 1, PartitionKey: "k2", Data: []byte("two"), Aggregated: true},
		{SequenceNumber: "2", SubSequenceNumber: 2, PartitionKey: "k1", ExplicitHashKey: "42", Data: []byte("three"), Aggregated: true},
		{SequenceNumber: "3", PartitionKey: "outer", Data: []byte("after")},
	}
	checkRecords(t, got, want)
	for _, r := range got {
		if !r.ApproximateArrivalTimestamp.Equal(time.Unix(1700000000, 0)) {
			t.Errorf("record %s/%d: arrival %v, want the outer record's", r.SequenceNumber, r.SubSequenceNumber, r.ApproximateArrivalTimestamp)
		}
	}
}

func checkRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.SequenceNumber != w.SequenceNumber || g.SubSequenceNumber != w.SubSequenceNumber ||
			g.PartitionKey != w.PartitionKey || g.ExplicitHashKey != w.ExplicitHashKey ||
			!bytes.Equal(g.Data, w.Data) || g.Aggregated != w.Aggregated {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// TestRecords_malformed checks that anything that is not a well-formed
// aggregate passes through whole, as the KCL passes it.
func TestRecords_malformed(t *testing.T) {
	good := aggregate(user{key: "k", data: "d"}, user{key: "k", data: "e"})
	badDigest := bytes.Clone(good)
	badDigest[len(badDigest)-1] ^= 1
	var badIndex []byte
	badIndex = protowire.AppendTag(badIndex, fieldPartitionKeyTable, protowire.BytesType)
	badIndex = protowire.AppendString(badIndex, "k")
	var rec []byte
	rec = protowire.AppendTag(rec, fieldPartitionKeyIndex, protowire.VarintType)
	rec = protowire.AppendVarint(rec, 1) // only index 0 exists
	rec = protowire.AppendTag(rec, fieldData, protowire.BytesType)
	rec = protowire.AppendBytes(rec, []byte("d"))
	badIndex = protowire.AppendTag(badIndex, fieldRecords, protowire.BytesType)
	badIndex = protowire.AppendBytes(badIndex, rec)

	var noData []byte
	noData = protowire.AppendTag(noData, fieldPartitionKeyTable, protowire.BytesType)
	noData = protowire.AppendString(noData, "k")
	var rec2 []byte
	rec2 = protowire.AppendTag(rec2, fieldPartitionKeyIndex, protowire.VarintType)
	rec2 = protowire.AppendVarint(rec2, 0)
	noData = protowire.AppendTag(noData, fieldRecords, protowire.BytesType)
	noData = protowire.AppendBytes(noData, rec2)

	tests := map[string][]byte{
		"empty":             {},
		"magic only":        Magic,
		"magic and digest":  append(bytes.Clone(Magic), make([]byte, 16)...),
		"wrong magic":       append([]byte{0xF3, 0x89, 0x9A, 0xC3}, good[4:]...),
		"bad digest":        badDigest,
		"truncated":         good[:len(good)-1],
		"bad key index":     seal(badIndex),
		"missing data":      seal(noData),
		"garbage protobuf":  seal([]byte{0xFF, 0xFF, 0xFF}),
		"no records":        seal(protowire.AppendString(protowire.AppendTag(nil, fieldPartitionKeyTable, protowire.BytesType), "k")),
		"invalid ehk":       aggregate(user{key: "k", ehk: "12x", data: "d"}),
		"ehk beyond 2^128":  aggregate(user{key: "k", ehk: "340282366920938463463374607431768211456", data: "d"}),
		"negative ehk-like": aggregate(user{key: "k", ehk: "-1", data: "d"}),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Records([]types.Record{record("7", data)})
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, got, []Record{{SequenceNumber: "7", PartitionKey: "outer", Data: data}})
		})
	}
}

func TestRecordsInRange(t *testing.T) {
	// Split the hash key space in two halves at 2^127.
	mid := new(big.Int).Lsh(big.NewInt(1), 127)
	lowEnd := new(big.Int).Sub(mid, big.NewInt(1)).String()
	highEnd := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1)).String()
	var low, high []string // partition keys hashing to each half
	for i := 0; len(low) < 2 || len(high) < 2; i++ {
		k := "key-" + strconv.Itoa(i)
		h, _ := new(big.Int).SetString(hashOf(k), 10)
		if h.Cmp(mid) < 0 {
			low = append(low, k)
		} else {
			high = append(high, k)
		}
	}
	agg := aggregate(
		user{key: low[0], data: "low0"},
		user{key: high[0], data: "high0"},
		user{key: high[1], ehk: "5", data: "high1-by-ehk"}, // explicit key 5 is in the low half
		user{key: low[1], ehk: highEnd, data: "low1-by-ehk"},
	)
	recs := []types.Record{record("1", agg), record("2", []byte("plain"))}

	// An aggregate spanning both halves is dropped whole from each, as the
	// KCL drops it; plain records always pass.
	for _, r := range [][2]string{{"0", lowEnd}, {mid.String(), highEnd}} {
		got, err := RecordsInRange(recs, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, got, []Record{{SequenceNumber: "2", PartitionKey: "outer", Data: []byte("plain")}})
	}
	// The whole key space keeps everything (and hashes nothing).
	if got, err := RecordsInRange(recs, "0", highEnd); err != nil || len(got) != 5 {
		t.Errorf("whole key space: %d records (%v), want 5", len(got), err)
	}
	// One whose records all lie in the range passes whole: by partition
	// key and by explicit hash key.
	inLow := aggregate(
		user{key: low[0], data: "low0"},
		user{key: high[1], ehk: "5", data: "high1-by-ehk"}, // explicit key 5 is in the low half
		user{key: low[1], data: "low1"},
	)
	got, err := RecordsInRange([]types.Record{record("1", inLow)}, "0", lowEnd)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, []Record{
		{SequenceNumber: "1", SubSequenceNumber: 0, PartitionKey: low[0], Data: []byte("low0"), Aggregated: true},
		{SequenceNumber: "1", SubSequenceNumber: 1, PartitionKey: high[1], ExplicitHashKey: "5", Data: []byte("high1-by-ehk"), Aggregated: true},
		{SequenceNumber: "1", SubSequenceNumber: 2, PartitionKey: low[1], Data: []byte("low1"), Aggregated: true},
	})
	if got, _ := RecordsInRange([]types.Record{record("1", inLow)}, mid.String(), highEnd); len(got) != 0 {
		t.Errorf("the low aggregate read from the high half: %v", got)
	}

	// Range ends are inclusive.
	got, err = RecordsInRange([]types.Record{record("3", aggregate(user{key: "a", ehk: "5", data: "x"}, user{key: "b", ehk: "6", data: "y"}))}, "5", "6")
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, []Record{{SequenceNumber: "3", PartitionKey: "a", ExplicitHashKey: "5", Data: []byte("x"), Aggregated: true},
		{SequenceNumber: "3", SubSequenceNumber: 1, PartitionKey: "b", ExplicitHashKey: "6", Data: []byte("y"), Aggregated: true}})
}

func TestRecordsInRange_badRange(t *testing.T) {
	for _, r := range [][2]string{{"", "1"}, {"1", ""}, {"x", "1"}, {"2", "1"}, {"0", "340282366920938463463374607431768211456"}, {"-1", "5"}} {
		if _, err := RecordsInRange(nil, r[0], r[1]); err == nil {
			t.Errorf("RecordsInRange(%q, %q): no error", r[0], r[1])
		}
	}
}

// FuzzRecords checks that no input panics, that malformed input passes
// through whole, and that the user records of a well-formed aggregate
// survive encoding again.
func FuzzRecords(f *testing.F) {
	f.Add([]byte("plain"))
	f.Add(aggregate(user{key: "k1", data: "one"}, user{key: "k2", ehk: "99", data: "two"}))
	f.Add(aggregate(user{key: "k", data: ""}))
	f.Add(Magic)
	f.Fuzz(func(t *testing.T, data []byte) {
		// Either raw input or the input sealed as an aggregate body, so the
		// fuzzer reaches the protobuf decoder without forging digests.
		for _, d := range [][]byte{data, seal(data)} {
			got, err := Records([]types.Record{record("1", d)})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				t.Fatal("no records")
			}
			if !got[0].Aggregated {
				if len(got) != 1 || !bytes.Equal(got[0].Data, d) {
					t.Fatalf("malformed input not passed through whole: %+v", got)
				}
				continue
			}
			users := make([]user, len(got))
			for i, r := range got {
				if r.SubSequenceNumber != int64(i) {
					t.Fatalf("record %d has sub-sequence number %d", i, r.SubSequenceNumber)
				}
				users[i] = user{key: r.PartitionKey, ehk: r.ExplicitHashKey, data: string(r.Data)}
			}
			again, err := Records([]types.Record{record("1", aggregate(users...))})
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, again, got)
			// The full range keeps everything.
			all, err := RecordsInRange([]types.Record{record("1", d)}, "0", maxHashKey.String())
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, all, got)
		}
	})
}

// BenchmarkRecordsInRange expands a read of 20 aggregates of 500 user
// records of 100 bytes (1,000 distinct partition keys) on half of the key
// space, and of 10,000 plain records, as a consumer does for each batch:
//
//	go test ./deaggregate -run '^$' -bench BenchmarkRecordsInRange
func BenchmarkRecordsInRange(b *testing.B) {
	mid := new(big.Int).Lsh(big.NewInt(1), 127)
	highEnd := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1)).String()
	var aggs, plains []types.Record
	var high []string
	for i := 0; len(high) < 1000; i++ {
		k := "user-" + strconv.Itoa(i)
		if h, _ := new(big.Int).SetString(hashOf(k), 10); h.Cmp(mid) >= 0 {
			high = append(high, k)
		}
	}
	data := string(bytes.Repeat([]byte{'x'}, 100))
	for i := range 20 {
		users := make([]user, 500)
		for j := range users {
			users[j] = user{key: high[(i*500+j)%len(high)], data: data}
		}
		aggs = append(aggs, record(strconv.Itoa(i), aggregate(users...)))
	}
	for i := range 10000 {
		plains = append(plains, record(strconv.Itoa(i), []byte(data)))
	}
	for _, tc := range []struct {
		name string
		recs []types.Record
	}{{"aggregated", aggs}, {"plain", plains}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				out, err := RecordsInRange(tc.recs, mid.String(), highEnd)
				if err != nil || len(out) != 10000 {
					b.Fatal(len(out), err)
				}
				n += len(out)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
		})
	}
}
