package broker

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluicehq/sluice/internal/kinesis"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// testClock is a clock that moves only when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now()} }

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// openLimitedBroker opens a broker enforcing AWS's quotas on a stream "s"
// of one shard.
func openLimitedBroker(t *testing.T, clock *testClock) *Broker {
	t.Helper()
	b := openBroker(t, Config{EnforceShardQuotas: true, Now: clock.Now})
	if err := b.CreateStream(context.Background(), kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	return b
}

func entries(n, size int) []kinesis.PutRecordEntry {
	out := make([]kinesis.PutRecordEntry, n)
	for i := range out {
		out[i] = kinesis.PutRecordEntry{PartitionKey: "k", Data: bytes.Repeat([]byte{'x'}, size-1)}
	}
	return out
}

func throttled(t *testing.T, results []kinesis.PutRecordResult) int {
	t.Helper()
	n := 0
	for _, r := range results {
		if r.ErrorCode == "" {
			continue
		}
		if r.ErrorCode != kinesis.ErrProvisionedThroughput {
			t.Fatalf("entry failed with %s: %s", r.ErrorCode, r.ErrorMessage)
		}
		want := "Rate exceeded for shard shardId-000000000000 in stream s under account 000000000000."
		if r.ErrorMessage != want {
			t.Fatalf("throttled entry message %q, want %q", r.ErrorMessage, want)
		}
		n++
	}
	return n
}

func TestQuotas_WriteRecordsPerSecond(t *testing.T) {
	clock := newTestClock()
	b := openLimitedBroker(t, clock)
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	put := func(n int) int {
		t.Helper()
		res, err := b.PutRecords(ctx, ref, entries(n, 10))
		if err != nil {
			t.Fatal(err)
		}
		return throttled(t, res)
	}
	// 1,000 records a second: two puts of 500 pass, a third in the same
	// second is refused entry by entry.
	if n := put(500) + put(500); n != 0 {
		t.Fatalf("%d of the first 1000 records throttled, want 0", n)
	}
	if n := put(500); n != 500 {
		t.Fatalf("%d of 500 records over the quota throttled, want 500", n)
	}
	// Half a second refills half the quota; the rest of the request is
	// refused, in request order.
	clock.Advance(500 * time.Millisecond)
	res, err := b.PutRecords(ctx, ref, entries(500, 10))
	if err != nil {
		t.Fatal(err)
	}
	if n := throttled(t, res); n != 0 {
		t.Fatalf("%d of 500 records throttled after refilling 500, want 0", n)
	}
	if n := put(10); n != 10 {
		t.Fatalf("%d of 10 records throttled with an empty quota, want 10", n)
	}
	if got := counterValue(t, b.m.writeThrottled.WithLabelValues("s")); got != 510 {
		t.Fatalf("WriteProvisionedThroughputExceeded = %v, want 510", got)
	}
	// IncomingRecords counts only what was stored, as CloudWatch does.
	if got := counterValue(t, b.m.incomingRecords.WithLabelValues("s")); got != 1500 {
		t.Fatalf("IncomingRecords = %v, want the 1500 stored", got)
	}
	// The records admitted were stored, the throttled ones were not.
	if got := len(readAll(t, b, "s", kinesis.ShardID(0))); got != 1500 {
		t.Fatalf("read %d records, want the 1500 admitted", got)
	}
}

func TestQuotas_WriteBytesPerSecondPartial(t *testing.T) {
	clock := newTestClock()
	b := openLimitedBroker(t, clock)
	ctx := context.Background()
	// 1 MiB a second: of four 300 KiB records three fit, the fourth is
	// refused; the result keeps request order.
	res, err := b.PutRecords(ctx, kinesis.StreamRef{Name: "s"}, entries(4, 300<<10))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if wantFail := i == 3; (r.ErrorCode != "") != wantFail {
			t.Fatalf("entry %d: error %q, want failure %v", i, r.ErrorCode, wantFail)
		}
		if i < 3 && r.SequenceNumber == "" {
			t.Fatalf("entry %d has no sequence number", i)
		}
	}
	// PutRecord (a single entry) gets the exception itself from the
	// HTTP layer; here the result carries it.
	res, err = b.PutRecords(ctx, kinesis.StreamRef{Name: "s"}, entries(1, 300<<10))
	if err != nil || throttled(t, res) != 1 {
		t.Fatalf("single record over the quota: %v %+v", err, res)
	}
	clock.Advance(time.Second)
	res, err = b.PutRecords(ctx, kinesis.StreamRef{Name: "s"}, entries(1, 300<<10))
	if err != nil || throttled(t, res) != 0 {
		t.Fatalf("single record after a second: %v %+v", err, res)
	}
}

func TestQuotas_ReadCallsAndBytes(t *testing.T) {
	clock := newTestClock()
	b := openLimitedBroker(t, clock)
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	it, err := b.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: ref, ShardID: kinesis.ShardID(0), Type: kinesis.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	// Five GetRecords calls a second per shard.
	for i := range 5 {
		if _, err := b.GetRecords(ctx, it, 100); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	_, err = b.GetRecords(ctx, it, 100)
	if kinesis.CodeOf(err) != kinesis.ErrProvisionedThroughput || !strings.Contains(err.Error(), "Rate exceeded for shard shardId-000000000000 in stream s under account 000000000000.") {
		t.Fatalf("sixth call in a second: %v, want ProvisionedThroughputExceededException", err)
	}
	if got := counterValue(t, b.m.readThrottled.WithLabelValues("s")); got != 1 {
		t.Fatalf("ReadProvisionedThroughputExceeded = %v, want 1", got)
	}

	// 4 MiB written over four seconds, then read in one call: the read is
	// served, and the 2 MiB it overdraws throttle the next second.
	for range 4 {
		clock.Advance(time.Second)
		res, err := b.PutRecords(ctx, ref, entries(1, 1<<20-100))
		if err != nil || throttled(t, res) != 0 {
			t.Fatalf("put: %v %+v", err, res)
		}
	}
	clock.Advance(time.Second)
	out, err := b.GetRecords(ctx, it, 100)
	if err != nil || len(out.Records) != 4 {
		t.Fatalf("large read: %d records, %v", len(out.Records), err)
	}
	clock.Advance(900 * time.Millisecond)
	if _, err := b.GetRecords(ctx, out.NextShardIterator, 100); kinesis.CodeOf(err) != kinesis.ErrProvisionedThroughput {
		t.Fatalf("call 0.9 s after a 4 MiB read: %v, want ProvisionedThroughputExceededException", err)
	}
	clock.Advance(200 * time.Millisecond)
	if _, err := b.GetRecords(ctx, out.NextShardIterator, 100); err != nil {
		t.Fatalf("call 1.1 s after a 4 MiB read: %v", err)
	}
}

func TestQuotas_GetShardIteratorPerShard(t *testing.T) {
	clock := newTestClock()
	b := openLimitedBroker(t, clock)
	ctx := context.Background()
	in := kinesis.GetShardIteratorInput{Stream: kinesis.StreamRef{Name: "s"}, ShardID: kinesis.ShardID(0), Type: kinesis.Latest}
	for range 5 {
		if _, err := b.GetShardIterator(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.GetShardIterator(ctx, in); kinesis.CodeOf(err) != kinesis.ErrProvisionedThroughput {
		t.Fatalf("sixth GetShardIterator in a second: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := b.GetShardIterator(ctx, in); err != nil {
		t.Fatal(err)
	}
}

func TestQuotas_OffByDefault(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		res, err := b.PutRecords(ctx, kinesis.StreamRef{Name: "s"}, entries(500, 1<<10))
		if err != nil || throttled(t, res) != 0 {
			t.Fatalf("put without limits: %v", err)
		}
	}
	for range 20 {
		if _, err := b.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: kinesis.StreamRef{Name: "s"}, ShardID: kinesis.ShardID(0), Type: kinesis.Latest}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.AdmitCall("DescribeLimits", nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLimits_CallRates(t *testing.T) {
	clock := newTestClock()
	b := openLimitedBroker(t, clock)
	stream := func(name string) func() kinesis.CallTarget {
		return func() kinesis.CallTarget { return kinesis.CallTarget{Stream: kinesis.StreamRef{Name: name}} }
	}
	admit := func(op string, s func() kinesis.CallTarget) error {
		done, err := b.AdmitCall(op, s)
		if err == nil {
			done()
		}
		return err
	}
	// Per account: DescribeStream, 10 a second, whatever the stream.
	for i := range 10 {
		if err := admit("DescribeStream", stream(string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	err := admit("DescribeStream", stream("z"))
	if kinesis.CodeOf(err) != kinesis.ErrLimitExceeded || !strings.Contains(err.Error(), "Rate exceeded for account 000000000000.") {
		t.Fatalf("11th DescribeStream in a second: %v", err)
	}
	// Per stream: ListStreamConsumers, 5 a second for each stream; a
	// stream named by ARN shares its name's budget.
	for range 5 {
		if err := admit("ListStreamConsumers", stream("a")); err != nil {
			t.Fatal(err)
		}
	}
	arn := func() kinesis.CallTarget {
		return kinesis.CallTarget{Stream: kinesis.StreamRef{ARN: "arn:aws:kinesis:us-east-1:000000000000:stream/a"}}
	}
	if err := admit("ListStreamConsumers", arn); kinesis.CodeOf(err) != kinesis.ErrLimitExceeded || !strings.Contains(err.Error(), "Rate exceeded for stream a under account 000000000000.") {
		t.Fatalf("6th ListStreamConsumers on a: %v", err)
	}
	if err := admit("ListStreamConsumers", stream("b")); err != nil {
		t.Fatalf("ListStreamConsumers on another stream: %v", err)
	}
	// Operations with no rate are never refused.
	for range 100 {
		if err := admit("PutRecords", nil); err != nil {
			t.Fatal(err)
		}
	}
	// SubscribeToShard: one a second per consumer and shard.
	sub := func(consumer, shard string) func() kinesis.CallTarget {
		return func() kinesis.CallTarget {
			return kinesis.CallTarget{Stream: kinesis.StreamRef{ARN: "arn:aws:kinesis:us-east-1:000000000000:stream/a"},
				ConsumerARN: "arn:aws:kinesis:us-east-1:000000000000:stream/a/consumer/" + consumer + ":1", ShardID: shard}
		}
	}
	if err := admit("SubscribeToShard", sub("c", "shardId-000000000000")); err != nil {
		t.Fatal(err)
	}
	if err := admit("SubscribeToShard", sub("c", "shardId-000000000000")); kinesis.CodeOf(err) != kinesis.ErrLimitExceeded {
		t.Fatalf("second SubscribeToShard of a consumer and shard in a second: %v", err)
	}
	if err := admit("SubscribeToShard", sub("c", "shardId-000000000001")); err != nil {
		t.Fatalf("SubscribeToShard of another shard: %v", err)
	}
	if err := admit("SubscribeToShard", sub("d", "shardId-000000000000")); err != nil {
		t.Fatalf("SubscribeToShard of another consumer: %v", err)
	}
	clock.Advance(time.Second)
	if err := admit("DescribeStream", stream("z")); err != nil {
		t.Fatalf("DescribeStream a second later: %v", err)
	}
	if err := admit("SubscribeToShard", sub("c", "shardId-000000000000")); err != nil {
		t.Fatalf("SubscribeToShard a second later: %v", err)
	}
}

func TestLimits_UpdateShardCountPerDay(t *testing.T) {
	clock := newTestClock()
	b := openLimitedBroker(t, clock)
	s := func() kinesis.CallTarget { return kinesis.CallTarget{Stream: kinesis.StreamRef{Name: "s"}} }
	// Failed calls do not count against the 10 a day.
	for range 20 {
		clock.Advance(time.Second)
		if _, err := b.AdmitCall("UpdateShardCount", s); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		clock.Advance(time.Minute)
		done, err := b.AdmitCall("UpdateShardCount", s)
		if err != nil {
			t.Fatalf("scaling %d: %v", i+1, err)
		}
		done()
	}
	clock.Advance(time.Minute)
	if _, err := b.AdmitCall("UpdateShardCount", s); kinesis.CodeOf(err) != kinesis.ErrLimitExceeded {
		t.Fatalf("11th scaling in 24 hours: %v", err)
	}
	other := func() kinesis.CallTarget { return kinesis.CallTarget{Stream: kinesis.StreamRef{Name: "other"}} }
	if _, err := b.AdmitCall("UpdateShardCount", other); err != nil {
		t.Fatalf("scaling another stream: %v", err)
	}
	// The window rolls: 24 hours after the first scaling, one more.
	clock.Advance(24*time.Hour - 9*time.Minute)
	if _, err := b.AdmitCall("UpdateShardCount", s); err != nil {
		t.Fatalf("scaling once the first left the window: %v", err)
	}
}
