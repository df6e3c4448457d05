package producer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/deaggregate"
	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// testTimeout bounds each test's waits; generous for a busy machine.
const testTimeout = 3 * time.Minute

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// stored is a user record read back from the stream.
type stored struct {
	shard string
	deaggregate.Record
}

// readAll reads every shard of the stream, open and closed, from the
// start, deaggregating each to its hash range as the KCL does.
func readAll(ctx context.Context, t *testing.T, c *kinesis.Client, stream string) []stored {
	t.Helper()
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := c.ListShards(ctx, in)
		if err != nil {
			t.Fatalf("list shards: %v", err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	var all []stored
	for _, sh := range shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("get shard iterator: %v", err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatalf("get records: %v", err)
			}
			recs, err := deaggregate.RecordsInRange(out.Records, *sh.HashKeyRange.StartingHashKey, *sh.HashKeyRange.EndingHashKey)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				all = append(all, stored{shard: *sh.ShardId, Record: r})
			}
			iter = out.NextShardIterator
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break // caught up with an open shard
			}
		}
	}
	return all
}

func newProducer(t *testing.T, srv *sluicetest.Server, stream string, opts ...producer.Option) *producer.Producer {
	t.Helper()
	p, err := producer.New(srv.Kinesis(), stream, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

// putMany puts n records with keys of keys distinct values and waits for
// every result, failing the test on any error. It returns the results by
// record data.
func putMany(ctx context.Context, t *testing.T, p *producer.Producer, n, keys int, prefix string) map[string]producer.Result {
	t.Helper()
	futures := make([]*producer.Future, n)
	for i := range n {
		f, err := p.PutAsync(ctx, fmt.Sprintf("key-%d", i%keys), []byte(fmt.Sprintf("%s-%06d", prefix, i)))
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		futures[i] = f
	}
	results := map[string]producer.Result{}
	for i, f := range futures {
		res, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		results[fmt.Sprintf("%s-%06d", prefix, i)] = res
	}
	return results
}

// checkStored checks that every acknowledged record is in the stream
// exactly once, where its result says.
func checkStored(t *testing.T, all []stored, results map[string]producer.Result) {
	t.Helper()
	checkStoredAtLeastOnce(t, all, results, false)
}

// checkStoredAtLeastOnce checks that every acknowledged record is in the
// stream where its result says; with dupsAllowed, copies elsewhere are
// allowed (a request that failed as a whole may have been stored before
// the producer retried it: at-least-once).
func checkStoredAtLeastOnce(t *testing.T, all []stored, results map[string]producer.Result, dupsAllowed bool) {
	t.Helper()
	seen := map[string]int{}
	atResult := map[string]bool{}
	for _, s := range all {
		d := string(s.Data)
		res, ok := results[d]
		if !ok {
			continue
		}
		seen[d]++
		if res.ShardID == s.shard && res.SequenceNumber == s.SequenceNumber && res.SubSequenceNumber == s.SubSequenceNumber {
			atResult[d] = true
		}
	}
	dups := 0
	for d, res := range results {
		switch {
		case seen[d] == 0:
			t.Errorf("record %s lost (result said %s %s/%d)", d, res.ShardID, res.SequenceNumber, res.SubSequenceNumber)
		case !atResult[d]:
			t.Errorf("record %s not where its result says, %s %s/%d", d, res.ShardID, res.SequenceNumber, res.SubSequenceNumber)
		case seen[d] > 1 && !dupsAllowed:
			t.Errorf("record %s found %d times, want once", d, seen[d])
		case seen[d] > 1:
			dups++
		}
	}
	if dups > 0 {
		t.Logf("%d of %d records stored more than once (retried after a failed request)", dups, len(results))
	}
}

func TestProducer_Put(t *testing.T) {
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 4)
	p := newProducer(t, srv, "s")
	res, err := p.Put(ctx, "k", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ShardID == "" || res.SequenceNumber == "" || res.Attempts != 1 || res.Aggregated {
		t.Errorf("result %+v", res)
	}
	got := readAll(ctx, t, srv.Kinesis(), "s")
	checkStored(t, got, map[string]producer.Result{"hello": res})
}

func TestProducer_aggregation(t *testing.T) {
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 4)
	var m countingMetrics
	p := newProducer(t, srv, "s", producer.WithMetrics(&m), producer.WithShardRateLimit(0, 0))
	const n = 5000
	results := putMany(ctx, t, p, n, 50, "agg")
	aggregated := 0
	for _, r := range results {
		if r.Aggregated {
			aggregated++
		}
	}
	if aggregated < n/2 {
		t.Errorf("only %d of %d records aggregated", aggregated, n)
	}
	checkStored(t, readAll(ctx, t, srv.Kinesis(), "s"), results)
	if got := m.userOK.Load(); got != n {
		t.Errorf("metrics count %d records put, want %d", got, n)
	}
	if kr := m.kinesisRecords.Load(); kr >= n/5 {
		t.Errorf("%d Kinesis records for %d user records: aggregation did not pack them", kr, n)
	}
}

func TestProducer_withoutAggregation(t *testing.T) {
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 3)
	p := newProducer(t, srv, "s", producer.WithAggregation(false), producer.WithShardRateLimit(0, 0))
	results := putMany(ctx, t, p, 2000, 2000, "plain")
	for d, r := range results {
		if r.Aggregated {
			t.Fatalf("record %s aggregated", d)
		}
	}
	all := readAll(ctx, t, srv.Kinesis(), "s")
	for _, s := range all {
		if s.Aggregated {
			t.Fatalf("aggregate in the stream: %+v", s)
		}
	}
	checkStored(t, all, results)
}

func TestProducer_explicitHashKey(t *testing.T) {
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 2)
	p := newProducer(t, srv, "s")
	// Hash key 1 is in the first shard, 2^128-1 in the last, whatever the
	// partition key hashes to.
	var futures []*producer.Future
	for i := range 10 {
		ehk := "1"
		if i%2 == 1 {
			ehk = "340282366920938463463374607431768211455"
		}
		f, err := p.PutRecordAsync(ctx, producer.Record{PartitionKey: fmt.Sprint("k", i), ExplicitHashKey: ehk, Data: []byte(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	results := map[string]producer.Result{}
	for i, f := range futures {
		r, err := f.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		results[fmt.Sprint(i)] = r
	}
	if results["0"].ShardID == results["1"].ShardID {
		t.Errorf("explicit hash keys at both ends of the key space landed on one shard %s", results["0"].ShardID)
	}
	checkStored(t, readAll(ctx, t, srv.Kinesis(), "s"), results)
	if _, err := p.PutRecord(ctx, producer.Record{PartitionKey: "k", ExplicitHashKey: "x1", Data: []byte("x")}); err == nil {
		t.Error("invalid explicit hash key accepted")
	}
}

func TestProducer_invalidRecords(t *testing.T) {
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 1)
	p := newProducer(t, srv, "s", producer.WithMaxRecordSize(100))
	for name, r := range map[string]producer.Record{
		"empty key":    {Data: []byte("x")},
		"long key":     {PartitionKey: string(make([]byte, 257)), Data: []byte("x")},
		"invalid utf8": {PartitionKey: "\xff", Data: []byte("x")},
		"large data":   {PartitionKey: "k", Data: make([]byte, 101)},
	} {
		if _, err := p.PutRecord(ctx, r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestProducer_FlushAndClose(t *testing.T) {
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 2)
	// A linger far beyond the test: only Flush and Close send.
	p, err := producer.New(srv.Kinesis(), "s", producer.WithLinger(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.PutAsync(ctx, "k", []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.Done():
	default:
		t.Fatal("Flush returned before the record was done")
	}
	if _, err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	var futures []*producer.Future
	for i := range 100 {
		f, err := p.PutAsync(ctx, fmt.Sprint("k", i), []byte(fmt.Sprint("close-", i)))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for i, f := range futures {
		select {
		case <-f.Done():
		default:
			t.Fatalf("record %d not done after Close", i)
		}
		if _, err := f.Wait(ctx); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
	if _, err := p.Put(ctx, "k", []byte("late")); !errors.Is(err, producer.ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestProducer_bufferFull fills the buffer while the linger holds records
// back.
func TestProducer_bufferFull(t *testing.T) {
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 1)
	t.Run("fail fast", func(t *testing.T) {
		p := newProducer(t, srv, "s", producer.WithLinger(time.Hour), producer.WithMaxBuffered(10, 1<<20), producer.WithFailFast())
		for i := range 10 {
			if _, err := p.PutAsync(ctx, "k", []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.PutAsync(ctx, "k", []byte("one too many")); !errors.Is(err, producer.ErrBufferFull) {
			t.Fatalf("put into a full buffer: %v, want ErrBufferFull", err)
		}
		if n, _ := p.Buffered(); n != 10 {
			t.Errorf("Buffered() = %d records, want 10", n)
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := p.PutAsync(ctx, "k", []byte("room again")); err != nil {
			t.Fatalf("put after flush: %v", err)
		}
	})
	t.Run("wait", func(t *testing.T) {
		p := newProducer(t, srv, "s", producer.WithLinger(time.Hour), producer.WithMaxBuffered(1000, 100))
		if _, err := p.PutAsync(ctx, "k", make([]byte, 90)); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if _, err := p.PutAsync(short, "k", make([]byte, 20)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("put into a full buffer: %v, want to wait until the context ends", err)
		}
		// A waiting Put proceeds once a flush makes room; flushes repeat
		// until it is in and sent.
		errc := make(chan error, 1)
		go func() {
			_, err := p.Put(ctx, "k", make([]byte, 20))
			errc <- err
		}()
		for {
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-errc:
				if err != nil {
					t.Fatal(err)
				}
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}

// TestProducer_expired points a producer at a stream that does not exist:
// every attempt fails, and the record's TTL ends in an error, not silence.
func TestProducer_expired(t *testing.T) {
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	var m countingMetrics
	p := newProducer(t, srv, "missing", producer.WithRecordTTL(2*time.Second), producer.WithRetryBackoff(50*time.Millisecond, 200*time.Millisecond), producer.WithMetrics(&m))
	_, err := p.Put(ctx, "k", []byte("lost?"))
	if !errors.Is(err, producer.ErrExpired) {
		t.Fatalf("put to a missing stream: %v, want ErrExpired", err)
	}
	if !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("error %q does not carry the last failure", err)
	}
	if m.retries.Load() == 0 {
		t.Error("no retries counted")
	}
	if m.userFailed.Load() != 1 {
		t.Errorf("metrics count %d failed records, want 1", m.userFailed.Load())
	}
}

// countingMetrics is a producer.Metrics that counts.
type countingMetrics struct {
	userOK, userFailed                 atomic.Int64
	kinesisRecords, retries, throttled atomic.Int64
	requests                           atomic.Int64
}

func (m *countingMetrics) RequestDone(s producer.RequestStats) {
	m.requests.Add(1)
	m.kinesisRecords.Add(int64(s.Records))
	m.retries.Add(int64(s.Retried))
	m.throttled.Add(int64(s.Throttled))
}

func (m *countingMetrics) RecordDone(s producer.RecordStats) {
	if s.Err == nil {
		m.userOK.Add(1)
	} else {
		m.userFailed.Add(1)
	}
}

// TestProducer_CloseTimeout closes a producer whose records cannot be
// delivered (the stream does not exist) with a short context: Close
// returns the context's error and every record's result is an error.
func TestProducer_CloseTimeout(t *testing.T) {
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	p, err := producer.New(srv.Kinesis(), "missing", producer.WithRecordTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var futures []*producer.Future
	for i := range 20 {
		f, err := p.PutAsync(ctx, fmt.Sprint("k", i), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := p.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want the context's deadline", err)
	}
	for i, f := range futures {
		if _, err := f.Wait(ctx); !errors.Is(err, producer.ErrClosed) {
			t.Errorf("record %d: %v, want ErrClosed", i, err)
		}
	}
	if n, _ := p.Buffered(); n != 0 {
		t.Errorf("%d records still buffered after Close", n)
	}
}
