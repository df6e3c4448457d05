package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// fanoutStream creates stream "s" with shards shards and registers an
// ACTIVE consumer, returning its ARN.
func fanoutStream(t *testing.T, b *Broker, shards int) string {
	t.Helper()
	ctx := t.Context()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: shards}); err != nil {
		t.Fatal(err)
	}
	d, err := b.RegisterStreamConsumer(ctx, kinesis.StreamARN("us-east-1", "000000000000", "s"), "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	return d.ARN
}

func putFanOut(t *testing.T, b *Broker, data ...string) []kinesis.PutRecordResult {
	t.Helper()
	var entries []kinesis.PutRecordEntry
	for _, d := range data {
		entries = append(entries, kinesis.PutRecordEntry{PartitionKey: "k", Data: []byte(d)})
	}
	res, err := b.PutRecords(t.Context(), kinesis.StreamRef{Name: "s"}, entries)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func subscribe(t *testing.T, b *Broker, arn, shard string, start kinesis.StartingPosition) kinesis.Subscription {
	t.Helper()
	sub, err := b.SubscribeToShard(t.Context(), kinesis.SubscribeToShardInput{ConsumerARN: arn, ShardID: shard, Start: start})
	if err != nil {
		t.Fatalf("SubscribeToShard(%s, %+v): %v", shard, start, err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

func next(t *testing.T, sub kinesis.Subscription) (kinesis.SubscribeToShardEvent, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return sub.Next(ctx)
}

// collect reads events until it has n records and returns their data.
func collect(t *testing.T, sub kinesis.Subscription, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		ev, err := next(t, sub)
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(got), err)
		}
		for _, r := range ev.Records {
			got = append(got, string(r.Data))
		}
	}
	return got
}

func TestSubscribe_StartingPositions(t *testing.T) {
	b := openBroker(t, Config{})
	arn := fanoutStream(t, b, 1)
	shard := kinesis.ShardID(0)
	res := putFanOut(t, b, "a", "b", "c")
	// Arrival times are whole milliseconds, and AT_TIMESTAMP also seeks by
	// the store's own clock, so the wall clock it is: mid is the next
	// millisecond, after every arrival so far, and d and e are written
	// once it has come.
	mid := waitNextMillisecond()
	putFanOut(t, b, "d", "e")

	for _, tc := range []struct {
		start kinesis.StartingPosition
		want  []string
	}{
		{kinesis.StartingPosition{Type: kinesis.TrimHorizon}, []string{"a", "b", "c", "d", "e"}},
		{kinesis.StartingPosition{Type: kinesis.AtSequenceNumber, SequenceNumber: res[1].SequenceNumber}, []string{"b", "c", "d", "e"}},
		{kinesis.StartingPosition{Type: kinesis.AfterSequenceNumber, SequenceNumber: res[1].SequenceNumber}, []string{"c", "d", "e"}},
		{kinesis.StartingPosition{Type: kinesis.AtTimestamp, Timestamp: &mid}, []string{"d", "e"}},
	} {
		sub := subscribe(t, b, arn, shard, tc.start)
		if got := collect(t, sub, len(tc.want)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.start.Type, got, tc.want)
		}
		sub.Close()
	}

	// LATEST sees only what is written after it, pushed as it lands. The
	// position is fixed when SubscribeToShard returns.
	sub := subscribe(t, b, arn, shard, kinesis.StartingPosition{Type: kinesis.Latest})
	putFanOut(t, b, "f")
	if got := collect(t, sub, 1); !slices.Equal(got, []string{"f"}) {
		t.Errorf("LATEST: got %v, want [f]", got)
	}
}

func TestSubscribe_Errors(t *testing.T) {
	now := time.Now()
	b := openBroker(t, Config{ConsumerCreateDelay: time.Hour, Now: func() time.Time { return now }})
	ctx := t.Context()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	d, err := b.RegisterStreamConsumer(ctx, kinesis.StreamARN("us-east-1", "000000000000", "s"), "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	in := kinesis.SubscribeToShardInput{ConsumerARN: d.ARN, ShardID: kinesis.ShardID(0), Start: kinesis.StartingPosition{Type: kinesis.TrimHorizon}}
	_, err = b.SubscribeToShard(ctx, in)
	wantCode(t, err, kinesis.ErrResourceInUse) // CREATING

	now = now.Add(time.Hour)
	sub, err := b.SubscribeToShard(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.SubscribeToShard(ctx, in)
	wantCode(t, err, kinesis.ErrResourceInUse) // one feed per consumer and shard
	sub.Close()
	sub.Close()                            // twice is fine
	sub, err = b.SubscribeToShard(ctx, in) // the slot is free again
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	bad := in
	bad.ShardID = kinesis.ShardID(7)
	_, err = b.SubscribeToShard(ctx, bad)
	wantCode(t, err, kinesis.ErrResourceNotFound)
	bad = in
	bad.ConsumerARN = d.ARN[:len(d.ARN)-1] + otherDigit(d.ARN[len(d.ARN)-1]) // the creation time differs
	_, err = b.SubscribeToShard(ctx, bad)
	wantCode(t, err, kinesis.ErrResourceNotFound)
	bad = in
	bad.Start = kinesis.StartingPosition{Type: kinesis.AtSequenceNumber}
	_, err = b.SubscribeToShard(ctx, bad)
	wantCode(t, err, kinesis.ErrInvalidArgument)

	// Deregistering the consumer ends its feeds with ResourceNotFound.
	if err := b.DeregisterStreamConsumer(ctx, kinesis.ConsumerRef{ARN: d.ARN}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := next(t, sub)
		if err != nil {
			wantCode(t, err, kinesis.ErrResourceNotFound)
			break
		}
	}
}

// A feed that ends (its lifetime is short here) is resumed from its
// ContinuationSequenceNumber with nothing lost or repeated, while records
// keep coming; idle feeds send empty events.
func TestSubscribe_ResumeAcrossLifetime(t *testing.T) {
	b := openBroker(t, Config{SubscriptionLifetime: 300 * time.Millisecond, SubscriptionHeartbeat: 50 * time.Millisecond})
	arn := fanoutStream(t, b, 1)
	const total = 60
	go func() {
		for i := range total {
			putFanOut(t, b, fmt.Sprint(i))
			time.Sleep(15 * time.Millisecond)
		}
	}()
	start := kinesis.StartingPosition{Type: kinesis.TrimHorizon}
	var got []string
	subs, empty := 0, 0
	for len(got) < total {
		sub := subscribe(t, b, arn, kinesis.ShardID(0), start)
		subs++
		for {
			ev, err := next(t, sub)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ev.Records) == 0 {
				empty++
			}
			for _, r := range ev.Records {
				got = append(got, string(r.Data))
			}
			start = kinesis.StartingPosition{Type: kinesis.AfterSequenceNumber, SequenceNumber: ev.ContinuationSequenceNumber}
		}
		sub.Close()
	}
	for i, g := range got {
		if g != fmt.Sprint(i) {
			t.Fatalf("record %d is %q: got %v", i, g, got)
		}
	}
	if subs < 2 {
		t.Errorf("read everything in %d subscription; want the lifetime to end some", subs)
	}
	// Idle now: an empty event keeps the feed alive.
	sub := subscribe(t, b, arn, kinesis.ShardID(0), start)
	ev, err := next(t, sub)
	if err != nil || len(ev.Records) != 0 || ev.ContinuationSequenceNumber != start.SequenceNumber {
		t.Fatalf("idle event = %+v, %v; want no records and continuation %s", ev, err, start.SequenceNumber)
	}
}

// A closed shard's feed ends with an event naming its children.
func TestSubscribe_ShardEnd(t *testing.T) {
	b := openBroker(t, Config{})
	arn := fanoutStream(t, b, 1)
	putFanOut(t, b, "a", "b")
	sub := subscribe(t, b, arn, kinesis.ShardID(0), kinesis.StartingPosition{Type: kinesis.TrimHorizon})
	if got := collect(t, sub, 2); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("got %v", got)
	}
	// The feed is waiting when the shard closes.
	if err := b.SplitShard(t.Context(), kinesis.StreamRef{Name: "s"}, kinesis.ShardID(0), "170141183460469231731687303715884105728"); err != nil {
		t.Fatal(err)
	}
	var children []string
	for {
		ev, err := next(t, sub)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(ev.Records) != 0 {
			t.Fatalf("records after the split: %+v", ev.Records)
		}
		if len(ev.ChildShards) > 0 {
			if ev.ContinuationSequenceNumber != "" {
				t.Errorf("last event has continuation %s, want none", ev.ContinuationSequenceNumber)
			}
			for _, c := range ev.ChildShards {
				children = append(children, c.ShardID)
			}
			break
		}
	}
	if !slices.Equal(children, []string{kinesis.ShardID(1), kinesis.ShardID(2)}) {
		t.Errorf("children %v", children)
	}
	if _, err := next(t, sub); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the last event: %v, want EOF", err)
	}
}

// Records written through another broker over the same store reach a
// feed without waiting for a heartbeat (which is an hour here).
func TestSubscribe_AppendsThroughOtherBroker(t *testing.T) {
	bs := openBrokers(t, 2, Config{SubscriptionHeartbeat: time.Hour})
	arn := fanoutStream(t, bs[0], 1)
	sub := subscribe(t, bs[0], arn, kinesis.ShardID(0), kinesis.StartingPosition{Type: kinesis.Latest})
	for i := range 3 {
		putFanOut(t, bs[1], fmt.Sprint(i))
		if got := collect(t, sub, 1); !slices.Equal(got, []string{fmt.Sprint(i)}) {
			t.Fatalf("got %v, want [%d]", got, i)
		}
	}
}

// A subscription older than SubscriptionTakeover yields to a newer one of
// the same consumer and shard; a younger one refuses it.
func TestSubscribe_Takeover(t *testing.T) {
	clock := newTestClock()
	b := openBroker(t, Config{SubscriptionTakeover: 200 * time.Millisecond, SubscriptionHeartbeat: time.Hour, Now: clock.Now})
	arn := fanoutStream(t, b, 1)
	in := kinesis.SubscribeToShardInput{ConsumerARN: arn, ShardID: kinesis.ShardID(0), Start: kinesis.StartingPosition{Type: kinesis.TrimHorizon}}
	old := subscribe(t, b, arn, in.ShardID, in.Start)
	clock.Advance(199 * time.Millisecond)
	_, err := b.SubscribeToShard(t.Context(), in)
	wantCode(t, err, kinesis.ErrResourceInUse)
	clock.Advance(time.Millisecond)
	newer, err := b.SubscribeToShard(t.Context(), in)
	if err != nil {
		t.Fatalf("subscribing after the takeover time: %v", err)
	}
	defer newer.Close()
	if _, err := next(t, old); !errors.Is(err, io.EOF) {
		t.Fatalf("the older feed: %v, want EOF", err)
	}
	old.Close() // must not free the newer one's slot
	_, err = b.SubscribeToShard(t.Context(), in)
	wantCode(t, err, kinesis.ErrResourceInUse)
	putFanOut(t, b, "x")
	if got := collect(t, newer, 1); !slices.Equal(got, []string{"x"}) {
		t.Errorf("newer feed got %v", got)
	}
}

// otherDigit returns a decimal digit other than c.
func otherDigit(c byte) string { return string('0' + (c-'0'+1)%10) }

// waitNextMillisecond waits for the wall clock to reach the next whole
// millisecond and returns it: everything stored before the call arrived
// earlier, everything stored after it arrives at it or later.
func waitNextMillisecond() time.Time {
	next := time.Now().Truncate(time.Millisecond).Add(time.Millisecond)
	for time.Now().Before(next) {
		runtime.Gosched()
	}
	return next
}
