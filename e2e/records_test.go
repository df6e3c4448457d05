package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestRecords_PutAndGet drives the data plane of one server: writing with
// PutRecord and PutRecords, and reading back with every iterator type.
func TestRecords_PutAndGet(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()

	t.Run("PutRecords500ReadBackInOrder", func(t *testing.T) {
		name := streamName(t)
		shards := createStream(t, c, name, 2)
		before := time.Now()
		in := entries("r", 500)
		res := putRecords(t, c, name, in)

		type sent struct{ key, data string }
		want := map[string]map[string]sent{} // shard -> seq -> record
		for i, r := range res {
			key := aws.ToString(in[i].PartitionKey)
			if got, exp := aws.ToString(r.ShardId), shardFor(t, shards, hashKey(key)); got != exp {
				t.Errorf("record %d (key %s) went to %s, want %s by MD5", i, key, got, exp)
			}
			seqNum(t, *r.SequenceNumber)
			if want[*r.ShardId] == nil {
				want[*r.ShardId] = map[string]sent{}
			}
			if _, dup := want[*r.ShardId][*r.SequenceNumber]; dup {
				t.Fatalf("sequence number %s given to two records", *r.SequenceNumber)
			}
			want[*r.ShardId][*r.SequenceNumber] = sent{key, string(in[i].Data)}
		}
		after := time.Now()

		total := 0
		for _, sh := range shards {
			id := *sh.ShardId
			// A small Limit makes the read take many calls.
			recs, _ := readToEnd(t, c, iterator(t, c, name, id, types.ShardIteratorTypeTrimHorizon), 7)
			checkOrdered(t, id, recs)
			if len(recs) != len(want[id]) {
				t.Errorf("%s: read %d records, wrote %d", id, len(recs), len(want[id]))
			}
			for _, r := range recs {
				w, ok := want[id][*r.SequenceNumber]
				if !ok {
					t.Errorf("%s: read record %s that was never written", id, *r.SequenceNumber)
					continue
				}
				if aws.ToString(r.PartitionKey) != w.key || string(r.Data) != w.data {
					t.Errorf("%s: record %s is %q/%q, want %q/%q", id, *r.SequenceNumber, aws.ToString(r.PartitionKey), r.Data, w.key, w.data)
				}
				ts := aws.ToTime(r.ApproximateArrivalTimestamp)
				if ts.Before(before.Add(-time.Minute)) || ts.After(after.Add(time.Minute)) {
					t.Errorf("%s: record %s arrived at %v, want about %v", id, *r.SequenceNumber, ts, before)
				}
			}
			total += len(recs)
		}
		if total != 500 {
			t.Errorf("read %d records in all, want 500", total)
		}
	})

	t.Run("EmptyShard", func(t *testing.T) {
		name := streamName(t)
		createStream(t, c, name, 1)
		for _, typ := range []types.ShardIteratorType{types.ShardIteratorTypeTrimHorizon, types.ShardIteratorTypeLatest} {
			it := iterator(t, c, name, "shardId-000000000000", typ)
			for range 2 {
				out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Records) != 0 {
					t.Fatalf("%s: empty shard returned %d records", typ, len(out.Records))
				}
				if aws.ToString(out.NextShardIterator) == "" {
					t.Fatalf("%s: empty open shard returned no NextShardIterator", typ)
				}
				if out.MillisBehindLatest == nil || *out.MillisBehindLatest != 0 {
					t.Errorf("%s: MillisBehindLatest = %v, want 0", typ, out.MillisBehindLatest)
				}
				it = *out.NextShardIterator
			}
		}
	})

	t.Run("LatestThenReadImmediately", func(t *testing.T) {
		name := streamName(t)
		createStream(t, c, name, 1)
		putRecords(t, c, name, entries("old", 3))
		it := iterator(t, c, name, "shardId-000000000000", types.ShardIteratorTypeLatest)
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Records) != 0 {
			t.Fatalf("LATEST returned %d old records", len(out.Records))
		}
		it = aws.ToString(out.NextShardIterator)

		// Each put is read at once, without waiting.
		for round := range 5 {
			prefix := fmt.Sprintf("new%d", round)
			res := putRecords(t, c, name, entries(prefix, 3))
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Records) != 3 {
				t.Fatalf("round %d: GetRecords right after PutRecords returned %d records, want the 3 new ones", round, len(out.Records))
			}
			// AWS does not promise an order within one PutRecords request.
			want := map[string]string{}
			for i, r := range res {
				want[*r.SequenceNumber] = fmt.Sprintf("%s-%d", prefix, i)
			}
			for _, r := range out.Records {
				if d, ok := want[*r.SequenceNumber]; !ok || d != string(r.Data) {
					t.Errorf("round %d: read %s %q, want one of %v", round, *r.SequenceNumber, r.Data, want)
				}
			}
			it = aws.ToString(out.NextShardIterator)

			one := putRecord(t, c, name, "single", []byte(prefix+"-single"))
			got, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{
				ShardIterator: aws.String(iterator(t, c, name, *one.ShardId, types.ShardIteratorTypeAtSequenceNumber, atSequence(*one.SequenceNumber))),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Records) != 1 || string(got.Records[0].Data) != prefix+"-single" {
				t.Fatalf("round %d: AT_SEQUENCE_NUMBER right after PutRecord returned %d records", round, len(got.Records))
			}
			it = readPast(t, c, it, 1)
		}
	})

	t.Run("AtAndAfterSequenceNumber", func(t *testing.T) {
		name := streamName(t)
		shards := createStream(t, c, name, 1)
		var seqs []string
		for i := range 10 {
			out := putRecord(t, c, name, "same-key", []byte(fmt.Sprint(i)))
			seqs = append(seqs, *out.SequenceNumber)
		}
		first := func(it string) (string, bool) {
			t.Helper()
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(1)})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Records) == 0 {
				return "", false
			}
			return *out.Records[0].SequenceNumber, true
		}
		for _, i := range []int{0, 4, 8, 9} {
			at := iterator(t, c, name, "shardId-000000000000", types.ShardIteratorTypeAtSequenceNumber, atSequence(seqs[i]))
			if got, _ := first(at); got != seqs[i] {
				t.Errorf("AT_SEQUENCE_NUMBER record %d: first record %s, want %s", i, got, seqs[i])
			}
			recs, _ := readToEnd(t, c, at, 3)
			if got := seqsOf(recs); !slices.Equal(got, seqs[i:]) {
				t.Errorf("AT_SEQUENCE_NUMBER record %d: read %v, want %v", i, got, seqs[i:])
			}
			after := iterator(t, c, name, "shardId-000000000000", types.ShardIteratorTypeAfterSequenceNumber, atSequence(seqs[i]))
			got, ok := first(after)
			switch {
			case i == 9 && ok:
				t.Errorf("AFTER_SEQUENCE_NUMBER the last record returned %s", got)
			case i < 9 && got != seqs[i+1]:
				t.Errorf("AFTER_SEQUENCE_NUMBER record %d: first record %s, want record %d, %s", i, got, i+1, seqs[i+1])
			}
		}
		// An iterator may be used more than once while it lives.
		reuse := iterator(t, c, name, "shardId-000000000000", types.ShardIteratorTypeAtSequenceNumber, atSequence(seqs[2]))
		for range 2 {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(reuse), Limit: aws.Int32(3)})
			if err != nil {
				t.Fatal(err)
			}
			if got := seqsOf(out.Records); !slices.Equal(got, seqs[2:5]) {
				t.Errorf("reused iterator read %v, want %v", got, seqs[2:5])
			}
		}
		start := aws.ToString(shards[0].SequenceNumberRange.StartingSequenceNumber)
		recs, _ := readToEnd(t, c, iterator(t, c, name, "shardId-000000000000", types.ShardIteratorTypeAtSequenceNumber, atSequence(start)), 100)
		if got := seqsOf(recs); !slices.Equal(got, seqs) {
			t.Errorf("AT_SEQUENCE_NUMBER the shard's StartingSequenceNumber: read %v, want all %v", got, seqs)
		}
	})

	t.Run("MillisBehindLatest", func(t *testing.T) {
		name := streamName(t)
		createStream(t, c, name, 1)
		putRecords(t, c, name, entries("m", 3))
		waitNextMillisecond() // the records are at least a millisecond old
		it := iterator(t, c, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon)
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		// Two records written at least a millisecond ago are still unread.
		if len(out.Records) != 1 || out.MillisBehindLatest == nil || *out.MillisBehindLatest <= 0 {
			t.Errorf("behind the tip: %d records, MillisBehindLatest %v; want 1 record and more than 0", len(out.Records), out.MillisBehindLatest)
		}
		_, next := readToEnd(t, c, aws.ToString(out.NextShardIterator), 100)
		out, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(next)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Records) != 0 || aws.ToInt64(out.MillisBehindLatest) != 0 {
			t.Errorf("at the tip: %d records, MillisBehindLatest %d; want 0 and 0", len(out.Records), aws.ToInt64(out.MillisBehindLatest))
		}
	})

	t.Run("AtTimestamp", func(t *testing.T) {
		name := streamName(t)
		createStream(t, c, name, 1)
		shard := "shardId-000000000000"
		created := time.Now()
		putRecords(t, c, name, entries("a", 3))
		// Two millisecond boundaries, so that a whole millisecond lies
		// between the batches' arrivals (timestamps have milliseconds):
		// with one, b could arrive the very next millisecond and "between
		// the batches" truncate to a's.
		waitNextMillisecond()
		waitNextMillisecond()
		putRecords(t, c, name, entries("b", 3))
		all := readShard(t, c, name, shard)
		if len(all) != 6 {
			t.Fatalf("read %d records, want 6", len(all))
		}
		aLast, bFirst := *all[2].ApproximateArrivalTimestamp, *all[3].ApproximateArrivalTimestamp
		if !bFirst.After(aLast) {
			t.Fatalf("batch b arrived at %v, not after batch a at %v", bFirst, aLast)
		}
		readAt := func(ts time.Time) []string {
			t.Helper()
			recs, _ := readToEnd(t, c, iterator(t, c, name, shard, types.ShardIteratorTypeAtTimestamp, atTimestamp(ts)), 100)
			return datasOf(recs)
		}
		if got, want := readAt(created.Add(-time.Hour)), []string{"a-0", "a-1", "a-2", "b-0", "b-1", "b-2"}; !slices.Equal(got, want) {
			t.Errorf("AT_TIMESTAMP before the oldest record: %v, want %v", got, want)
		}
		mid := aLast.Add(bFirst.Sub(aLast) / 2).Truncate(time.Millisecond)
		if got, want := readAt(mid), []string{"b-0", "b-1", "b-2"}; !slices.Equal(got, want) {
			t.Errorf("AT_TIMESTAMP between the batches (%v): %v, want %v", mid, got, want)
		}
		if got, want := readAt(bFirst), []string{"b-0", "b-1", "b-2"}; !slices.Equal(got, want) {
			t.Errorf("AT_TIMESTAMP equal to batch b's arrival (%v): %v, want %v", bFirst, got, want)
		}
		if got, want := readAt(aLast.Add(time.Millisecond)), []string{"b-0", "b-1", "b-2"}; !slices.Equal(got, want) {
			t.Errorf("AT_TIMESTAMP 1ms after batch a's arrival (%v): %v, want %v", aLast.Add(time.Millisecond), got, want)
		}

		// A timestamp in the future is refused, in AWS's words.
		future := time.Now().Add(time.Hour)
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String(shard),
			ShardIteratorType: types.ShardIteratorTypeAtTimestamp}
		atTimestamp(future)(in)
		_, err := c.GetShardIterator(t.Context(), in)
		var ia *types.InvalidArgumentException
		if !errors.As(err, &ia) || !strings.HasPrefix(aws.ToString(ia.Message),
			fmt.Sprintf("The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: %d, currentTimestampInMillis: ", future.UnixMilli())) {
			t.Fatalf("AT_TIMESTAMP in the future: %v, want InvalidArgumentException", err)
		}
	})

	t.Run("PartitionKeysRouteByMD5", func(t *testing.T) {
		name := streamName(t)
		shards := createStream(t, c, name, 4)
		hits := map[string]int{}
		for i := range 64 {
			key := fmt.Sprintf("user-%d", i)
			out := putRecord(t, c, name, key, []byte("x"))
			if want := shardFor(t, shards, hashKey(key)); *out.ShardId != want {
				t.Errorf("key %s (hash %s) went to %s, want %s", key, hashKey(key), *out.ShardId, want)
			}
			hits[*out.ShardId]++
		}
		if len(hits) != 4 {
			t.Errorf("64 keys reached %d of 4 shards: %v", len(hits), hits)
		}
		// ExplicitHashKey overrides the partition key's hash, at both ends
		// of every shard's range.
		var batch []types.PutRecordsRequestEntry
		var wantShard []string
		for _, sh := range shards {
			for _, k := range []string{*sh.HashKeyRange.StartingHashKey, *sh.HashKeyRange.EndingHashKey} {
				out, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("user-0"), ExplicitHashKey: aws.String(k), Data: []byte("x")})
				if err != nil {
					t.Fatal(err)
				}
				if *out.ShardId != *sh.ShardId {
					t.Errorf("ExplicitHashKey %s went to %s, want %s", k, *out.ShardId, *sh.ShardId)
				}
				batch = append(batch, types.PutRecordsRequestEntry{PartitionKey: aws.String("user-0"), ExplicitHashKey: aws.String(k), Data: []byte("y")})
				wantShard = append(wantShard, *sh.ShardId)
			}
		}
		for i, r := range putRecords(t, c, name, batch) {
			if *r.ShardId != wantShard[i] {
				t.Errorf("PutRecords entry with ExplicitHashKey %s went to %s, want %s", *batch[i].ExplicitHashKey, *r.ShardId, wantShard[i])
			}
		}
	})

	t.Run("SequenceNumbersIncreaseWithinShard", func(t *testing.T) {
		name := streamName(t)
		createStream(t, c, name, 2)
		last := map[string]string{} // shard -> last sequence number
		check := func(shard, seq string) {
			t.Helper()
			if prev, ok := last[shard]; ok && seqNum(t, seq).Cmp(seqNum(t, prev)) <= 0 {
				t.Errorf("%s: sequence number %s follows %s", shard, seq, prev)
			}
			last[shard] = seq
		}
		lastOfKey := map[string]string{}
		for i := range 30 {
			key := fmt.Sprintf("k%d", i%5)
			in := &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String(key), Data: []byte("x")}
			if prev, ok := lastOfKey[key]; ok && i%2 == 0 {
				in.SequenceNumberForOrdering = aws.String(prev)
			}
			out, err := c.PutRecord(ctx, in)
			if err != nil {
				t.Fatalf("PutRecord %d (SequenceNumberForOrdering %v): %v", i, aws.ToString(in.SequenceNumberForOrdering), err)
			}
			if prev, ok := lastOfKey[key]; ok && seqNum(t, *out.SequenceNumber).Cmp(seqNum(t, prev)) <= 0 {
				t.Errorf("key %s: %s not above the previous %s", key, *out.SequenceNumber, prev)
			}
			lastOfKey[key] = *out.SequenceNumber
			check(*out.ShardId, *out.SequenceNumber)
		}
		for range 3 {
			res := putRecords(t, c, name, entries("batch", 50))
			// Within one request AWS does not promise an order, so compare
			// each batch with what came before it.
			prev := maps.Clone(last)
			for _, r := range res {
				if p, ok := prev[*r.ShardId]; ok && seqNum(t, *r.SequenceNumber).Cmp(seqNum(t, p)) <= 0 {
					t.Errorf("%s: sequence number %s of a later PutRecords is not above %s", *r.ShardId, *r.SequenceNumber, p)
				}
				if l, ok := last[*r.ShardId]; !ok || seqNum(t, *r.SequenceNumber).Cmp(seqNum(t, l)) > 0 {
					last[*r.ShardId] = *r.SequenceNumber
				}
			}
		}
	})

	t.Run("DataSizes", func(t *testing.T) {
		name := streamName(t)
		createStream(t, c, name, 1)
		key := "big-record"
		big := make([]byte, 1<<20-len(key))
		rand.Read(big)
		empty := putRecord(t, c, name, "empty", []byte{})
		full := putRecord(t, c, name, key, big)
		res := putRecords(t, c, name, []types.PutRecordsRequestEntry{
			{PartitionKey: aws.String("empty"), Data: []byte{}},
			{PartitionKey: aws.String(key), Data: big},
		})
		want := map[string][]byte{
			*empty.SequenceNumber: nil, *full.SequenceNumber: big,
			*res[0].SequenceNumber: nil, *res[1].SequenceNumber: big,
		}
		recs := readShard(t, c, name, "shardId-000000000000")
		if len(recs) != len(want) {
			t.Fatalf("read %d records, want %d", len(recs), len(want))
		}
		for _, r := range recs {
			if w, ok := want[*r.SequenceNumber]; !ok || !bytes.Equal(r.Data, w) {
				t.Errorf("record %s: %d bytes, want %d bytes (written: %v)", *r.SequenceNumber, len(r.Data), len(w), ok)
			}
		}
	})
}

// TestRecords_RetentionExpires shortens the hour (--retention-hour) so that
// a stream's 24-hour retention passes in seconds: expired records are gone
// and TRIM_HORIZON moves past them.
func TestRecords_RetentionExpires(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--retention-hour", "200ms") // 24 hours = 4.8s
	c := s.Client()
	name := "expiring"
	createStream(t, c, name, 1)
	shard := "shardId-000000000000"
	putRecords(t, c, name, entries("old", 10))
	if n := len(readShard(t, c, name, shard)); n != 10 {
		t.Fatalf("read %d records right after the put, want 10", n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(readShard(t, c, name, shard)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("records still readable 30s after their 4.8s retention")
		}
		time.Sleep(200 * time.Millisecond)
	}
	res := putRecords(t, c, name, entries("new", 2))
	recs := readShard(t, c, name, shard)
	if got := datasOf(recs); !slices.Equal(got, []string{"new-0", "new-1"}) {
		t.Errorf("after expiry TRIM_HORIZON reads %v, want the 2 new records", got)
	}
	if len(recs) > 0 && *recs[0].SequenceNumber != *res[0].SequenceNumber {
		t.Errorf("first record %s, want %s", *recs[0].SequenceNumber, *res[0].SequenceNumber)
	}
}

// readPast reads n records from it and returns the iterator after them.
func readPast(t testing.TB, c *kinesis.Client, it string, n int) string {
	t.Helper()
	out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(int32(n))})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != n {
		t.Fatalf("read %d records, want %d", len(out.Records), n)
	}
	return aws.ToString(out.NextShardIterator)
}

// checkOrdered checks that records of one shard have strictly increasing
// sequence numbers: no reordering and no duplicates.
func checkOrdered(t testing.TB, shard string, recs []types.Record) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		if seqNum(t, *recs[i].SequenceNumber).Cmp(seqNum(t, *recs[i-1].SequenceNumber)) <= 0 {
			t.Errorf("%s: record %d has sequence number %s after %s", shard, i, *recs[i].SequenceNumber, *recs[i-1].SequenceNumber)
		}
	}
}

func seqsOf(recs []types.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = aws.ToString(r.SequenceNumber)
	}
	return out
}

func datasOf(recs []types.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Data)
	}
	return out
}
