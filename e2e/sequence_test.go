package e2e

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestSequenceNumbers_SurviveRestart restarts the server on its data
// directory: every record is still there with its sequence number, new
// numbers continue above the old ones, and iterators handed out before the
// restart still work.
func TestSequenceNumbers_SurviveRestart(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	name := "durable"
	shards := createStream(t, c, name, 2)

	acked := map[string][]string{} // shard -> sequence numbers, in put order
	datas := map[string]string{}   // sequence number -> data
	put := func(prefix string) map[string][]string {
		got := map[string][]string{}
		for _, batch := range []int{1, 100} {
			in := entries(fmt.Sprintf("%s%d", prefix, batch), batch)
			for i, r := range putRecords(t, c, name, in) {
				got[*r.ShardId] = append(got[*r.ShardId], *r.SequenceNumber)
				acked[*r.ShardId] = append(acked[*r.ShardId], *r.SequenceNumber)
				datas[*r.SequenceNumber] = string(in[i].Data)
			}
		}
		return got
	}
	before := put("before")
	// An iterator at the end of shard 0, handed out before the restart.
	shard0 := *shards[0].ShardId
	_, tip := readToEnd(t, c, iterator(t, c, name, shard0, types.ShardIteratorTypeTrimHorizon), 10000)

	s.Restart()

	after := put("after")
	for id, seqs := range after {
		if len(before[id]) == 0 {
			continue
		}
		top := maxSeq(t, before[id])
		for _, seq := range seqs {
			if seqNum(t, seq).Cmp(seqNum(t, top)) <= 0 {
				t.Errorf("%s: sequence number %s after the restart is not above %s from before", id, seq, top)
			}
		}
	}
	for _, sh := range shards {
		id := *sh.ShardId
		recs := readShard(t, c, name, id)
		checkOrdered(t, id, recs)
		got := map[string]string{}
		for _, r := range recs {
			got[*r.SequenceNumber] = string(r.Data)
		}
		// The test client retries a request whose connection broke (see
		// newClient), and an attempt may have been stored before its answer
		// was lost: Kinesis is at-least-once, so an extra record is allowed
		// only as a copy of data that was put to this shard.
		if extra := len(recs) - len(acked[id]); extra < 0 {
			t.Errorf("%s: read %d records, acknowledged %d", id, len(recs), len(acked[id]))
		} else if extra > 0 {
			put := map[string]bool{}
			for _, seq := range acked[id] {
				put[datas[seq]] = true
			}
			for _, r := range recs {
				if _, ok := datas[*r.SequenceNumber]; !ok && !put[string(r.Data)] {
					t.Errorf("%s: record %s (%q) was never put", id, *r.SequenceNumber, r.Data)
				}
			}
			t.Logf("%s: %d records stored twice by a client retry", id, extra)
		}
		for _, seq := range acked[id] {
			if d, ok := got[seq]; !ok || d != datas[seq] {
				t.Errorf("%s: record %s (%q) read as %q, present %v", id, seq, datas[seq], d, ok)
			}
		}
	}

	// The iterator from before the restart continues where it was.
	recs, _ := readToEnd(t, c, tip, 10000)
	want := slices.SortedFunc(slices.Values(after[shard0]), func(a, b string) int { return seqNum(t, a).Cmp(seqNum(t, b)) })
	if got := seqsOf(recs); !slices.Equal(got, want) {
		t.Errorf("iterator from before the restart read %v, want the records put after it: %v", got, want)
	}
}

// TestSequenceNumbers_NeverReused deletes a stream and creates one of the
// same name: the new stream's sequence numbers are all new and above the
// old ones, and nothing of the old stream is readable through it.
func TestSequenceNumbers_NeverReused(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()
	name := "reborn"

	createStream(t, c, name, 2)
	old := map[string][]string{} // shard -> sequence numbers
	oldSet := map[string]bool{}
	for _, r := range putRecords(t, c, name, entries("old", 50)) {
		old[*r.ShardId] = append(old[*r.ShardId], *r.SequenceNumber)
		oldSet[*r.SequenceNumber] = true
	}
	oldIt := iterator(t, c, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon)
	oldSeq := old["shardId-000000000000"][0]

	if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	kinesisWaitGone(t, c, name)
	createStream(t, c, name, 2)

	for _, r := range putRecords(t, c, name, entries("new", 50)) {
		if oldSet[*r.SequenceNumber] {
			t.Errorf("sequence number %s handed out again after the stream was recreated", *r.SequenceNumber)
		}
		if m := maxSeq(t, old[*r.ShardId]); seqNum(t, *r.SequenceNumber).Cmp(seqNum(t, m)) <= 0 {
			t.Errorf("%s: new sequence number %s is not above the old stream's %s", *r.ShardId, *r.SequenceNumber, m)
		}
	}
	for _, id := range []string{"shardId-000000000000", "shardId-000000000001"} {
		for _, r := range readShard(t, c, name, id) {
			if !strings.HasPrefix(string(r.Data), "new-") {
				t.Errorf("%s: the new stream holds an old record %q", id, r.Data)
			}
		}
	}

	// An iterator of the old stream must not read the new one.
	out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(oldIt)})
	if err == nil {
		t.Errorf("GetRecords with an iterator of the deleted stream succeeded with %d records: %v", len(out.Records), datasOf(out.Records))
	} else {
		wantError(t, err, "ResourceNotFoundException", "ExpiredIteratorException", "InvalidArgumentException")
	}
	// Nor does a sequence number of the old stream name a position in it.
	_, err = c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(name), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(oldSeq),
	})
	wantTyped[*types.InvalidArgumentException](t, err)
}

// kinesisWaitGone waits until DescribeStream reports the stream gone.
func kinesisWaitGone(t testing.TB, c *kinesis.Client, name string) {
	t.Helper()
	w := kinesis.NewStreamNotExistsWaiter(c, func(o *kinesis.StreamNotExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = 500 * time.Millisecond
	})
	if err := w.Wait(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("wait for %s to be deleted: %v", name, err)
	}
}

// TestIterators_Invalid checks that GetRecords refuses iterators it did not
// hand out, and GetShardIterator refuses mismatched parameters.
func TestIterators_Invalid(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	other := startServer(t)
	c := s.Client()
	ctx := t.Context()
	name := "iter"
	createStream(t, c, name, 2)
	put := putRecord(t, c, name, "k", []byte("secret"))
	good := iterator(t, c, name, *put.ShardId, types.ShardIteratorTypeTrimHorizon)

	// The same stream on another server, with its own signing key.
	oc := other.Client()
	createStream(t, oc, name, 2)
	foreign := iterator(t, oc, name, *put.ShardId, types.ShardIteratorTypeTrimHorizon)

	raw, err := base64.StdEncoding.DecodeString(good)
	if err != nil {
		raw = []byte(good) // not base64: flip bytes of the text itself
	}
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		return base64.StdEncoding.EncodeToString(b)
	}
	bad := map[string]string{
		"garbage":             "not-an-iterator",
		"random base64":       base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef0123456789abcdef")),
		"truncated":           good[:len(good)/2],
		"first byte flipped":  flip(0),
		"middle byte flipped": flip(len(raw) / 2),
		"last byte flipped":   flip(len(raw) - 1),
		"another server's":    foreign,
	}
	for what, it := range bad {
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		if err == nil {
			t.Errorf("%s iterator: GetRecords succeeded with %d records", what, len(out.Records))
			continue
		}
		if code := apiErrorCode(err); code != "InvalidArgumentException" {
			t.Errorf("%s iterator: got %v, want InvalidArgumentException", what, err)
		}
	}
	// The genuine iterator still works.
	out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(good)})
	if err != nil || len(out.Records) != 1 {
		t.Fatalf("genuine iterator: %v, %d records", err, len(out.Records))
	}

	gsi := func(typ types.ShardIteratorType, f func(*kinesis.GetShardIteratorInput)) error {
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: put.ShardId, ShardIteratorType: typ}
		if f != nil {
			f(in)
		}
		_, err := c.GetShardIterator(ctx, in)
		return err
	}
	wantTyped[*types.InvalidArgumentException](t, gsi(types.ShardIteratorTypeTrimHorizon, atSequence(*put.SequenceNumber)))
	wantTyped[*types.InvalidArgumentException](t, gsi(types.ShardIteratorTypeAtSequenceNumber, nil))
	wantTyped[*types.InvalidArgumentException](t, gsi(types.ShardIteratorTypeAfterSequenceNumber, nil))
	wantTyped[*types.InvalidArgumentException](t, gsi(types.ShardIteratorTypeAtTimestamp, nil))
	wantTyped[*types.InvalidArgumentException](t, gsi(types.ShardIteratorTypeAtSequenceNumber, atSequence("12345")))
	// A sequence number of the other shard.
	otherShard := "shardId-000000000000"
	if *put.ShardId == otherShard {
		otherShard = "shardId-000000000001"
	}
	_, err = c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(name), ShardId: aws.String(otherShard),
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: put.SequenceNumber,
	})
	wantTyped[*types.InvalidArgumentException](t, err)
	_, err = c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(name), ShardId: aws.String("shardId-000000000042"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	wantTyped[*types.ResourceNotFoundException](t, err)
	_, err = c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String("no-such-stream"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	wantTyped[*types.ResourceNotFoundException](t, err)
}

func maxSeq(t testing.TB, seqs []string) string {
	t.Helper()
	m := seqs[0]
	for _, s := range seqs[1:] {
		if seqNum(t, s).Cmp(seqNum(t, m)) > 0 {
			m = s
		}
	}
	return m
}
