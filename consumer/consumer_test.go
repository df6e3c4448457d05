package consumer_test

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/consumer/leasetest"
	"github.com/sluicehq/sluice/sluicetest"
)

// env is one Sluice server for Kinesis and for the lease table.
type env struct {
	t      *testing.T
	srv    *sluicetest.Server
	kc     *kinesis.Client
	store  *consumer.DynamoDBLeaseStore
	stream string
}

func newEnv(t *testing.T, shards int) *env {
	t.Helper()
	srv := sluicetest.Start(t)
	e := &env{t: t, srv: srv, kc: srv.Kinesis(), stream: "orders"}
	srv.CreateStream(ctxFor(t, time.Minute), e.stream, shards)
	// The lease table lives in the same server, which answers DynamoDB.
	e.store = consumer.NewDynamoDBLeaseStore(leasetest.DynamoDBClient(srv.Endpoint()), leasetest.TableName(t))
	if err := e.store.EnsureTable(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	return e
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// put writes n records "key/i" over keys partition keys and returns them.
func (e *env) put(from, n, keys int) {
	e.t.Helper()
	ctx := ctxFor(e.t, time.Minute)
	for start := from; start < from+n; start += 500 {
		var entries []types.PutRecordsRequestEntry
		for i := start; i < min(start+500, from+n); i++ {
			k := fmt.Sprintf("key-%d", i%keys)
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(k), Data: []byte(fmt.Sprintf("%s/%d", k, i))})
		}
		for len(entries) > 0 {
			out, err := e.kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(e.stream), Records: entries})
			if err != nil {
				e.t.Fatalf("PutRecords: %v", err)
			}
			var failed []types.PutRecordsRequestEntry
			for i, r := range out.Records {
				if r.ErrorCode != nil {
					failed = append(failed, entries[i])
				}
			}
			entries = failed
		}
	}
}

// collector records what processors saw, per worker.
type collector struct {
	mu   sync.Mutex
	seen map[string][]int // partition key -> record numbers in processing order
	n    int
	by   map[string]int // worker -> records
	ends map[string]bool
}

func newCollector() *collector {
	return &collector{seen: map[string][]int{}, by: map[string]int{}, ends: map[string]bool{}}
}

func (c *collector) add(worker string, recs []consumer.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		k, num, _ := strings.Cut(string(r.Data), "/")
		i, _ := strconv.Atoi(num)
		c.seen[k] = append(c.seen[k], i)
		c.n++
		c.by[worker]++
	}
}

// distinct counts different records processed.
func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, nums := range c.seen {
		seen := map[int]bool{}
		for _, i := range nums {
			if !seen[i] {
				seen[i] = true
				n++
			}
		}
	}
	return n
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// check verifies that records 0..n-1 were all processed and that each
// key's records came in order apart from redeliveries; it returns the
// number of duplicates.
func (c *collector) check(t *testing.T, n int) int {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	got := map[int]bool{}
	dups := 0
	for k, nums := range c.seen {
		maxSeen := -1
		for _, i := range nums {
			if got[i] {
				dups++
				continue
			}
			got[i] = true
			if i < maxSeen {
				t.Errorf("key %s: record %d processed after %d", k, i, maxSeen)
			}
			maxSeen = max(maxSeen, i)
		}
	}
	for i := range n {
		if !got[i] {
			t.Errorf("record %d never processed", i)
		}
	}
	return dups
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// worker is one running consumer.
type worker struct {
	once   sync.Once
	c      *consumer.Consumer
	cancel context.CancelFunc
	done   chan error
}

func (e *env) start(id string, col *collector, opts ...consumer.Option) *worker {
	e.t.Helper()
	fn := consumer.Func(func(ctx context.Context, in consumer.ProcessRecordsInput) error {
		col.add(id, in.Records)
		return nil
	})
	return e.startProcessor(id, fn, opts...)
}

func (e *env) startProcessor(id string, f consumer.ProcessorFactory, opts ...consumer.Option) *worker {
	e.t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts = append([]consumer.Option{
		consumer.WithWorkerID(id), consumer.WithLogger(logger),
		consumer.WithFailoverTime(3 * time.Second), consumer.WithLeaseScanInterval(200 * time.Millisecond),
		consumer.WithShardSyncInterval(2 * time.Second),
	}, opts...)
	c, err := consumer.New(e.kc, e.store, e.stream, f, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- c.Run(ctx) }()
	e.t.Cleanup(func() { w.stop(e.t) })
	return w
}

func (w *worker) stop(t *testing.T) {
	w.once.Do(func() {
		w.cancel()
		select {
		case err := <-w.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("worker did not stop within a minute")
		}
	})
}

// owners counts unfinished leases per owner.
func (e *env) owners() map[string]int {
	ls, err := e.store.ListLeases(ctxFor(e.t, time.Minute))
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]int{}
	for _, l := range ls {
		if !l.Finished() {
			m[l.Owner]++
		}
	}
	return m
}

// countingMetrics records what the metrics hooks were told.
type countingMetrics struct {
	consumer.NopMetrics
	mu      sync.Mutex
	records int
	bytes   int
	held    int
	events  map[consumer.LeaseEventKind]int
}

func (m *countingMetrics) RecordsProcessed(_ string, records, bytes int) {
	m.mu.Lock()
	m.records += records
	m.bytes += bytes
	m.mu.Unlock()
}

func (m *countingMetrics) LeasesHeld(n int) {
	m.mu.Lock()
	m.held = max(m.held, n)
	m.mu.Unlock()
}

func (m *countingMetrics) LeaseEvent(_ string, ev consumer.LeaseEventKind) {
	m.mu.Lock()
	m.events[ev]++
	m.mu.Unlock()
}

func TestConsumer_ProcessesEveryRecordInOrder(t *testing.T) {
	e := newEnv(t, 3)
	e.put(0, 1000, 20)
	col := newCollector()
	metrics := &countingMetrics{events: map[consumer.LeaseEventKind]int{}}
	w := e.start("w1", col, consumer.WithMetrics(metrics))
	waitFor(t, "1000 records", time.Minute, func() bool { return col.count() >= 1000 })
	e.put(1000, 500, 20)
	waitFor(t, "1500 records", time.Minute, func() bool { return col.count() >= 1500 })
	w.stop(t)
	if dups := col.check(t, 1500); dups != 0 {
		t.Errorf("%d duplicates with one worker", dups)
	}
	metrics.mu.Lock()
	if metrics.records != 1500 || metrics.held != 3 || metrics.events[consumer.LeaseTaken] != 3 || metrics.events[consumer.LeaseReleased] != 3 {
		t.Errorf("metrics: %d records, at most %d leases held, events %v; want 1500, 3, 3 taken and 3 released", metrics.records, metrics.held, metrics.events)
	}
	metrics.mu.Unlock()
	// A clean stop checkpointed and released every lease.
	ls, err := e.store.ListLeases(ctxFor(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Owner != "" || l.Checkpoint.Sequence == consumer.SentinelTrimHorizon {
			t.Errorf("after shutdown: lease %+v, want released with a checkpoint", l)
		}
	}
	// A restart resumes after the checkpoints: nothing again.
	col2 := newCollector()
	e.start("w2", col2)
	e.put(1500, 10, 20)
	// A fence: 20 more records over the same 20 keys, so every shard that
	// held old records gets some. Shards are processed in order, so once
	// all 30 are processed, an old record processed again would have come
	// before them and shows in the count.
	e.put(1510, 20, 20)
	waitFor(t, "the 30 new records", time.Minute, func() bool { return col2.distinct() >= 30 })
	if n := col2.count(); n != 30 {
		t.Errorf("restarted worker processed %d records, want the 30 new ones", n)
	}
}

func TestConsumer_BalanceAndHandoff(t *testing.T) {
	e := newEnv(t, 4)
	col := newCollector()
	e.start("a", col)
	waitFor(t, "a to hold 4 leases", time.Minute, func() bool { return e.owners()["a"] == 4 })
	stopWrites := make(chan struct{})
	var wg sync.WaitGroup
	written := 0
	wg.Go(func() {
		for written < 100000 {
			select {
			case <-stopWrites:
				return
			default:
			}
			e.put(written, 50, 16)
			written += 50
			time.Sleep(10 * time.Millisecond)
		}
	})
	b := e.start("b", col)
	waitFor(t, "a and b to hold 2 leases each", time.Minute, func() bool {
		o := e.owners()
		return o["a"] == 2 && o["b"] == 2
	})
	c := e.start("c", col)
	waitFor(t, "a, b and c to share 4 leases", time.Minute, func() bool {
		o := e.owners()
		return o["a"]+o["b"]+o["c"] == 4 && o["a"] >= 1 && o["b"] >= 1 && o["c"] >= 1
	})
	// Balanced: no lease moves for a while.
	before := e.owners()
	time.Sleep(3 * time.Second)
	if after := e.owners(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("leases moved between balanced workers: %v then %v", before, after)
	}
	c.stop(t)
	b.stop(t)
	waitFor(t, "a to hold every lease again", time.Minute, func() bool { return e.owners()["a"] == 4 })
	close(stopWrites)
	wg.Wait()
	waitFor(t, "every record", time.Minute, func() bool { return col.distinct() >= written })
	dups := col.check(t, written)
	t.Logf("%d records, %d duplicates", written, dups)
}

func TestConsumer_Reshard(t *testing.T) {
	e := newEnv(t, 2)
	col := newCollector()
	e.start("a", col)
	e.start("b", col)
	e.put(0, 300, 10)
	ctx := ctxFor(t, 2*time.Minute)
	shards, err := e.kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(e.stream)})
	if err != nil {
		t.Fatal(err)
	}
	s0 := shards.Shards[0]
	mid := "85070591730234615865843651857942052864" // 2^126: inside shard 0's half
	if _, err := e.kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(e.stream), ShardToSplit: s0.ShardId, NewStartingHashKey: aws.String(mid)}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, e)
	e.put(300, 300, 10)
	// Merge the two children of the split back together.
	shards, err = e.kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(e.stream)})
	if err != nil {
		t.Fatal(err)
	}
	var kids []types.Shard
	for _, s := range shards.Shards {
		if aws.ToString(s.ParentShardId) == aws.ToString(s0.ShardId) {
			kids = append(kids, s)
		}
	}
	if len(kids) != 2 {
		t.Fatalf("split made %d children", len(kids))
	}
	if _, err := e.kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(e.stream), ShardToMerge: kids[0].ShardId, AdjacentShardToMerge: kids[1].ShardId}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, e)
	e.put(600, 300, 10)
	waitFor(t, "900 records", 2*time.Minute, func() bool { return col.distinct() >= 900 })
	dups := col.check(t, 900)
	t.Logf("%d duplicates", dups)
	waitFor(t, "finished leases of the parents", time.Minute, func() bool {
		ls, err := e.store.ListLeases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		finished := 0
		for _, l := range ls {
			if l.Finished() {
				finished++
			}
		}
		return finished == 3 // shard 0 and its two children
	})
}

func waitActive(t *testing.T, e *env) {
	t.Helper()
	waitFor(t, "stream ACTIVE", time.Minute, func() bool {
		out, err := e.kc.DescribeStreamSummary(ctxFor(t, time.Minute), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(e.stream)})
		return err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive
	})
}

func TestConsumer_FailuresRetryBisectAndDeadLetter(t *testing.T) {
	e := newEnv(t, 1)
	e.srv.CreateStream(ctxFor(t, time.Minute), "dlq", 1)
	var mu sync.Mutex
	attempts := map[string]int{}
	col := newCollector()
	fn := consumer.Func(func(ctx context.Context, in consumer.ProcessRecordsInput) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range in.Records {
			d := string(r.Data)
			switch {
			case d == "key-1/13": // poison: always fails
				return errors.New("poison")
			case d == "key-1/21" && attempts[d] < 3: // transient: fails three times
				attempts[d]++
				return errors.New("transient")
			}
		}
		col.add("w", in.Records)
		return nil
	})
	e.put(0, 100, 4)
	e.startProcessor("w", fn,
		consumer.WithRetry(consumer.RetryPolicy{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, AttemptsToBisect: 1, MaxAttempts: 5}),
		consumer.WithDeadLetterStream("dlq"))
	waitFor(t, "99 records", time.Minute, func() bool { return col.count() >= 99 })
	col.mu.Lock()
	for _, n := range col.seen["key-1"] {
		if n == 13 {
			t.Errorf("poison record was processed")
		}
	}
	col.mu.Unlock()
	// The poison record is in the dead-letter stream.
	ctx := ctxFor(t, time.Minute)
	shards, err := e.kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("dlq")})
	if err != nil {
		t.Fatal(err)
	}
	it, err := e.kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("dlq"), ShardId: shards.Shards[0].ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var dl []types.Record
	waitFor(t, "a dead letter", time.Minute, func() bool {
		out, err := e.kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		it.ShardIterator = out.NextShardIterator
		dl = append(dl, out.Records...)
		return len(dl) > 0
	})
	if len(dl) != 1 || !strings.Contains(string(dl[0].Data), `"error":"poison"`) || aws.ToString(dl[0].PartitionKey) != "key-1" {
		t.Errorf("dead letters: %d, first %s", len(dl), dl[0].Data)
	}
}

func TestNew_RetryLimitNeedsADestination(t *testing.T) {
	_, err := consumer.New(nil, nil, "s", consumer.Func(nil), consumer.WithRetry(consumer.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: time.Second, MaxAttempts: 3}))
	if err == nil || !strings.Contains(err.Error(), "WithDeadLetterStream") {
		t.Fatalf("New with MaxAttempts and nowhere to send failures: %v", err)
	}
}

// aggregate encodes user records "data" under partition key pk in the KPL
// aggregation format.
func aggregate(pk string, data ...string) []byte {
	var msg []byte
	msg = protowire.AppendTag(msg, 1, protowire.BytesType)
	msg = protowire.AppendString(msg, pk)
	for _, d := range data {
		var rec []byte
		rec = protowire.AppendTag(rec, 1, protowire.VarintType)
		rec = protowire.AppendVarint(rec, 0)
		rec = protowire.AppendTag(rec, 3, protowire.BytesType)
		rec = protowire.AppendBytes(rec, []byte(d))
		msg = protowire.AppendTag(msg, 3, protowire.BytesType)
		msg = protowire.AppendBytes(msg, rec)
	}
	sum := md5.Sum(msg)
	return append(append([]byte{0xF3, 0x89, 0x9A, 0xC2}, msg...), sum[:]...)
}

// TestCheckpointer_ResumesMidAggregate checkpoints inside a KPL aggregate
// by sub-sequence number; the next worker resumes right after it.
func TestCheckpointer_ResumesMidAggregate(t *testing.T) {
	e := newEnv(t, 1)
	ctx := ctxFor(t, time.Minute)
	if _, err := e.kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(e.stream), PartitionKey: aws.String("a"),
		Data: aggregate("key-0", "key-0/0", "key-0/1", "key-0/2", "key-0/3", "key-0/4")}); err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	checked := make(chan error, 1)
	first := consumer.Func(func(ctx context.Context, in consumer.ProcessRecordsInput) error {
		col.add("first", in.Records[:3])
		if in.Records[2].SubSequenceNumber != 2 || !in.Records[2].Aggregated {
			t.Errorf("third user record: sub-sequence %d, aggregated %v", in.Records[2].SubSequenceNumber, in.Records[2].Aggregated)
		}
		// Past the last record delivered: refused.
		if err := in.Checkpointer.CheckpointAt(ctx, *in.Records[4].SequenceNumber, 5); !errors.Is(err, consumer.ErrInvalidCheckpoint) {
			t.Errorf("checkpoint past the batch: %v, want ErrInvalidCheckpoint", err)
		}
		checked <- in.Checkpointer.CheckpointRecord(ctx, in.Records[2])
		<-ctx.Done() // hold the batch until the worker is told to stop
		return ctx.Err()
	})
	w := e.startProcessor("first", first, consumer.WithAutoCheckpoint(false), consumer.WithShutdownTimeout(time.Second))
	if err := <-checked; err != nil {
		t.Fatalf("CheckpointRecord: %v", err)
	}
	w.stop(t)
	ls, err := e.store.GetLease(ctx, "shardId-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if ls.Checkpoint.SubSequence != 2 {
		t.Fatalf("stored checkpoint %v, want sub-sequence 2", ls.Checkpoint)
	}
	col2 := newCollector()
	e.start("second", col2)
	// A fence after the aggregate, in the same (only) shard: once it is
	// processed, everything the worker would deliver of the aggregate has been.
	if _, err := e.kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(e.stream), PartitionKey: aws.String("fence"),
		Data: []byte("fence/0")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rest of the aggregate and the fence", time.Minute, func() bool {
		col2.mu.Lock()
		defer col2.mu.Unlock()
		return len(col2.seen["fence"]) > 0
	})
	col2.mu.Lock()
	defer col2.mu.Unlock()
	if got := fmt.Sprint(col2.seen["key-0"]); got != "[3 4]" {
		t.Errorf("second worker processed %s, want [3 4]", got)
	}
}

// unreachableStore is a lease store that can be cut off, like a worker
// partitioned from DynamoDB.
type unreachableStore struct {
	*consumer.DynamoDBLeaseStore
	down atomic.Bool
}

var errUnreachable = errors.New("injected: lease table unreachable")

func (s *unreachableStore) RenewLease(ctx context.Context, l consumer.Lease) (consumer.Lease, error) {
	if s.down.Load() {
		return consumer.Lease{}, errUnreachable
	}
	return s.DynamoDBLeaseStore.RenewLease(ctx, l)
}

func (s *unreachableStore) ListLeases(ctx context.Context) ([]consumer.Lease, error) {
	if s.down.Load() {
		return nil, errUnreachable
	}
	return s.DynamoDBLeaseStore.ListLeases(ctx)
}

func (s *unreachableStore) UpdateCheckpoint(ctx context.Context, l consumer.Lease, cp consumer.ExtendedSequenceNumber, release bool) (consumer.Lease, error) {
	if s.down.Load() {
		return consumer.Lease{}, errUnreachable
	}
	return s.DynamoDBLeaseStore.UpdateCheckpoint(ctx, l, cp, release)
}

func (s *unreachableStore) EvictLease(ctx context.Context, l consumer.Lease) (consumer.Lease, error) {
	if s.down.Load() {
		return consumer.Lease{}, errUnreachable
	}
	return s.DynamoDBLeaseStore.EvictLease(ctx, l)
}

func (s *unreachableStore) GetLease(ctx context.Context, key string) (consumer.Lease, error) {
	if s.down.Load() {
		return consumer.Lease{}, errUnreachable
	}
	return s.DynamoDBLeaseStore.GetLease(ctx, key)
}

// timedProcessor notes when it processed and when it learned it lost its
// lease.
type timedProcessor struct {
	mu       sync.Mutex
	batches  []time.Time
	lostAt   time.Time
	canceled time.Time
}

func (p *timedProcessor) Initialize(context.Context, consumer.InitializeInput) error { return nil }
func (p *timedProcessor) ProcessRecords(ctx context.Context, in consumer.ProcessRecordsInput) error {
	p.mu.Lock()
	p.batches = append(p.batches, time.Now())
	p.mu.Unlock()
	context.AfterFunc(ctx, func() {
		p.mu.Lock()
		if p.canceled.IsZero() {
			p.canceled = time.Now()
		}
		p.mu.Unlock()
	})
	return nil
}
func (p *timedProcessor) ShardEnded(context.Context, consumer.ShardEndedInput) error { return nil }
func (p *timedProcessor) LeaseLost(context.Context, consumer.LeaseLostInput) {
	p.mu.Lock()
	p.lostAt = time.Now()
	p.mu.Unlock()
}
func (p *timedProcessor) ShutdownRequested(context.Context, consumer.ShutdownRequestedInput) error {
	return nil
}

// TestConsumer_PartitionedWorkerFencesItself cuts a worker off from the
// lease table: it stops processing on its own before another worker, which
// waits out the failover time, takes the shard over.
func TestConsumer_PartitionedWorkerFencesItself(t *testing.T) {
	e := newEnv(t, 1)
	store := &unreachableStore{DynamoDBLeaseStore: e.store}
	var a timedProcessor
	const failover = 5 * time.Second
	wa, err := consumer.New(e.kc, store, e.stream, func(string) consumer.RecordProcessor { return &a },
		consumer.WithWorkerID("a"), consumer.WithFailoverTime(failover), consumer.WithLeaseScanInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go wa.Run(ctx)
	e.put(0, 10, 2)
	waitFor(t, "a to process", time.Minute, func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.batches) > 0 })
	store.down.Store(true)
	cut := time.Now()
	col := newCollector()
	e.start("b", col, consumer.WithFailoverTime(failover))
	e.put(10, 10, 2)
	waitFor(t, "b to take over", time.Minute, func() bool { return col.count() > 0 })
	tookOver := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lostAt.IsZero() {
		t.Fatal("the cut-off worker was never told it lost the lease")
	}
	if a.lostAt.After(tookOver) {
		t.Errorf("the cut-off worker stopped %v after the cut, after the new owner started (%v after the cut)", a.lostAt.Sub(cut), tookOver.Sub(cut))
	}
	for _, at := range a.batches {
		if at.After(a.lostAt) {
			t.Errorf("the cut-off worker processed a batch after it lost the lease")
		}
	}
	t.Logf("cut-off worker stopped %v after the cut; the new owner processed %v after it", a.lostAt.Sub(cut).Round(time.Millisecond), tookOver.Sub(cut).Round(time.Millisecond))
}

// TestConsumer_FanOut reads by enhanced fan-out, across a split, with two
// workers sharing the registered stream consumer.
func TestConsumer_FanOut(t *testing.T) {
	e := newEnv(t, 2)
	e.put(0, 500, 10)
	col := newCollector()
	fo := consumer.WithRetrieval(consumer.FanOut{ConsumerName: "app"})
	e.start("a", col, fo)
	e.start("b", col, fo)
	waitFor(t, "500 records", time.Minute, func() bool { return col.count() >= 500 })
	ctx := ctxFor(t, time.Minute)
	if _, err := e.kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(e.stream), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("85070591730234615865843651857942052864")}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, e)
	e.put(500, 500, 10)
	waitFor(t, "1000 records", time.Minute, func() bool { return col.distinct() >= 1000 })
	t.Logf("%d duplicates", col.check(t, 1000))
	out, err := e.kc.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: streamARN(t, e)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Consumers) != 1 || aws.ToString(out.Consumers[0].ConsumerName) != "app" {
		t.Errorf("stream consumers %v, want the one named app", out.Consumers)
	}
}

func streamARN(t *testing.T, e *env) *string {
	out, err := e.kc.DescribeStreamSummary(ctxFor(t, time.Minute), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(e.stream)})
	if err != nil {
		t.Fatal(err)
	}
	return out.StreamDescriptionSummary.StreamARN
}

// TestConsumer_FanOutReregisters deregisters the stream consumer under a
// running worker: it registers it again and reads on.
func TestConsumer_FanOutReregisters(t *testing.T) {
	e := newEnv(t, 1)
	col := newCollector()
	e.start("a", col, consumer.WithRetrieval(consumer.FanOut{ConsumerName: "app"}))
	e.put(0, 10, 2)
	waitFor(t, "10 records", time.Minute, func() bool { return col.distinct() >= 10 })
	ctx := ctxFor(t, time.Minute)
	if _, err := e.kc.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{StreamARN: streamARN(t, e), ConsumerName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	// Wait until the server has forgotten it, then write more.
	waitFor(t, "the consumer to be gone", time.Minute, func() bool {
		_, err := e.kc.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: streamARN(t, e), ConsumerName: aws.String("app")})
		var nf *types.ResourceNotFoundException
		return errors.As(err, &nf)
	})
	e.put(10, 10, 2)
	waitFor(t, "20 records", 2*time.Minute, func() bool { return col.distinct() >= 20 })
	col.check(t, 20)
}
