package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/producer"
)

// runtime is a running pipeline in this process.
type runtime struct {
	p           *Pipeline
	repartition *output // nil without aggregations
	deadLetter  *output
	late        map[*aggSpec]*output

	sourceLeases map[*source]*consumer.DynamoDBLeaseStore
	mergeLeases  *consumer.DynamoDBLeaseStore

	mu       sync.Mutex
	shards   map[*shardRun]struct{}   // stage 1, held
	merges   map[*mergeShard]struct{} // stage 2, held
	lag      map[string]int64         // source shard → MillisBehindLatest
	lastSent map[string]int64         // agg + "|" + source → watermark announced
	repMu    sync.Mutex
	rep      []types.Shard // open shards of the repartition stream
	repAt    time.Time

	records    atomic.Int64 // records read from sources
	lateCount  atomic.Int64
	deadCount  atomic.Int64
	rows       atomic.Int64
	lastWindow atomic.Int64 // end (ms) of the last window written to the sinks
	rate       rateMeter
}

// Run runs this worker of the pipeline until ctx ends, then stops
// gracefully: each shard finishes its batch and checkpoints, leases are
// released for the other workers, buffered writes are delivered, sinks
// are closed and the worker's registration is deleted. It returns an
// error if the pipeline is invalid or cannot start (streams, lease tables,
// sinks); after a start, failures are retried and logged.
func (p *Pipeline) Run(ctx context.Context) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p.runMu.Lock()
	if p.running {
		p.runMu.Unlock()
		return errors.New("pipeline: already running")
	}
	p.running = true
	p.runMu.Unlock()
	defer func() {
		p.runMu.Lock()
		p.running = false
		p.runMu.Unlock()
	}()
	rt := &runtime{p: p, late: map[*aggSpec]*output{}, sourceLeases: map[*source]*consumer.DynamoDBLeaseStore{},
		shards: map[*shardRun]struct{}{}, merges: map[*mergeShard]struct{}{}, lag: map[string]int64{}, lastSent: map[string]int64{}}
	rt.lastWindow.Store(minTime)
	p.runMu.Lock()
	p.rt = rt
	p.runMu.Unlock()
	if err := rt.setUp(ctx); err != nil {
		rt.closeOutputs(context.WithoutCancel(ctx))
		return err
	}
	defer rt.closeSinks()
	consumers, err := rt.consumers()
	if err != nil {
		rt.closeOutputs(context.WithoutCancel(ctx))
		return err
	}
	p.log.Info("pipeline starting", "sources", len(p.sources), "aggregations", len(p.aggs))
	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	if rt.repartition != nil {
		bg.Go(func() { rt.markerLoop(bgCtx) })
	}
	bg.Go(func() { rt.registryLoop(bgCtx) })
	var wg sync.WaitGroup
	errs := make([]error, len(consumers))
	for i, c := range consumers {
		wg.Go(func() { errs[i] = c.Run(ctx) })
	}
	wg.Wait()
	stopBG()
	bg.Wait()
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rt.closeOutputs(closeCtx)
	rt.deregister(closeCtx)
	p.log.Info("pipeline stopped")
	return errors.Join(errs...)
}

// setUp makes sure the streams exist, starts the producers and opens the
// sinks.
func (rt *runtime) setUp(ctx context.Context) error {
	p := rt.p
	if len(p.aggs) > 0 {
		shards := p.opts.repartitionShards
		if shards <= 0 {
			n, err := rt.openShards(ctx)
			if err != nil {
				return err
			}
			shards = max(n, 1)
		}
		if err := rt.ensureStream(ctx, p.RepartitionStream(), shards); err != nil {
			return err
		}
		if err := rt.checkRepartition(ctx); err != nil {
			return err
		}
		rt.repartition = p.addOutput(p.RepartitionStream())
		for _, a := range p.aggs {
			if err := rt.ensureStream(ctx, a.lateStream, 1); err != nil {
				return err
			}
			rt.late[a] = p.addOutput(a.lateStream)
		}
	}
	if s := p.opts.deadLetterStream; s != "" {
		if err := rt.ensureStream(ctx, s, 1); err != nil {
			return err
		}
		rt.deadLetter = p.addOutput(s)
	}
	for name, o := range p.outputs {
		if _, err := p.kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(streamName(name))}); err != nil {
			return fmt.Errorf("output stream %s: %w", name, err)
		}
		linger := p.opts.linger
		var err error
		o.p, err = producer.New(p.kc, name, producer.WithLinger(linger), producer.WithLogger(p.log.With("output", name)))
		if err != nil {
			return fmt.Errorf("producer for %s: %w", name, err)
		}
	}
	for _, a := range p.aggs {
		for _, s := range a.sinks {
			if err := s.Open(ctx, a.table); err != nil {
				return fmt.Errorf("open sink %s for %s: %w", sinkName(s, a.table), a.name, err)
			}
		}
	}
	return nil
}

// openShards counts the open shards of the sources.
func (rt *runtime) openShards(ctx context.Context) (int, error) {
	n := 0
	for _, s := range rt.p.sources {
		shards, err := listShards(ctx, rt.p.kc, s.name)
		if err != nil {
			return 0, err
		}
		for _, sh := range shards {
			if sh.SequenceNumberRange == nil || sh.SequenceNumberRange.EndingSequenceNumber == nil {
				n++
			}
		}
	}
	return n, nil
}

// ensureStream creates a stream of shards shards if it does not exist,
// and waits until it is active.
func (rt *runtime) ensureStream(ctx context.Context, name string, shards int) error {
	_, err := rt.p.kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
	var inUse *types.ResourceInUseException
	switch {
	case errors.As(err, &inUse):
	case err != nil:
		return fmt.Errorf("create stream %s: %w", name, err)
	default:
		rt.p.log.Info("stream created", "stream", name, "shards", shards)
	}
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		out, err := rt.p.kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describe stream %s: %w", name, err)
		}
		if st := out.StreamDescriptionSummary.StreamStatus; st == types.StreamStatusActive || st == types.StreamStatusUpdating {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for stream %s: %w", name, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// checkRepartition refuses a repartition stream that was resharded: a
// key's partials would be split over two shards' workers.
func (rt *runtime) checkRepartition(ctx context.Context) error {
	shards, err := listShards(ctx, rt.p.kc, rt.p.RepartitionStream())
	if err != nil {
		return err
	}
	for _, s := range shards {
		if s.ParentShardId != nil || (s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil) {
			return fmt.Errorf("repartition stream %s was resharded (shard %s), which a pipeline does not support: windows in progress would be split; delete the stream and the pipeline's lease tables to start over",
				rt.p.RepartitionStream(), aws.ToString(s.ShardId))
		}
	}
	return nil
}

func listShards(ctx context.Context, kc KinesisAPI, stream string) ([]types.Shard, error) {
	in := &kinesis.ListShardsInput{StreamName: aws.String(streamName(stream))}
	var shards []types.Shard
	for {
		out, err := kc.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list shards of %s: %w", stream, err)
		}
		shards = append(shards, out.Shards...)
		if aws.ToString(out.NextToken) == "" {
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// leaseTable names the lease table of a stream the pipeline reads.
func (p *Pipeline) leaseTable(stream string) string { return p.name + "." + streamName(stream) }

// consumers makes the consumer groups: one per source, and one for the
// repartition stream.
func (rt *runtime) consumers() ([]*consumer.Consumer, error) {
	p := rt.p
	common := []consumer.Option{
		consumer.WithWorkerID(p.opts.workerID), consumer.WithLogger(p.log),
		consumer.WithAutoCheckpoint(false), consumer.WithEmptyBatches(),
		consumer.WithFailoverTime(p.opts.failover), consumer.WithLeaseScanInterval(p.opts.scanInterval),
	}
	if !p.opts.startAt.IsZero() {
		common = append(common, consumer.WithInitialPosition(consumer.StartAtTimestamp(p.opts.startAt)))
	}
	var out []*consumer.Consumer
	for _, src := range p.sources {
		store := consumer.NewDynamoDBLeaseStore(p.ddb, p.leaseTable(src.name))
		rt.sourceLeases[src] = store
		c, err := consumer.New(p.kc, store, src.name, func(shardID string) consumer.RecordProcessor {
			return newShardRun(rt, src, shardID)
		}, append(slices.Clone(common), consumer.WithRetrieval(p.opts.retrieval), consumer.WithMetrics(lagMetrics{rt, streamName(src.name)}))...)
		if err != nil {
			return nil, fmt.Errorf("consumer of %s: %w", src.name, err)
		}
		out = append(out, c)
	}
	if rt.repartition != nil {
		store := consumer.NewDynamoDBLeaseStore(p.ddb, p.leaseTable(p.RepartitionStream()))
		rt.mergeLeases = store
		opts := append(slices.Clone(common), consumer.WithRetrieval(p.opts.repartitionRead), consumer.WithInitialPosition(consumer.StartAtTrimHorizon()),
			consumer.WithMetrics(lagMetrics{rt, p.RepartitionStream()}))
		c, err := consumer.New(p.kc, store, p.RepartitionStream(), func(shardID string) consumer.RecordProcessor {
			return newMergeShard(rt, shardID)
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("consumer of %s: %w", p.RepartitionStream(), err)
		}
		out = append(out, c)
	}
	return out, nil
}

func (rt *runtime) closeOutputs(ctx context.Context) {
	for name, o := range rt.p.outputs {
		if o.p == nil {
			continue
		}
		if err := o.p.Close(ctx); err != nil {
			rt.p.log.Warn("closing the producer failed", "stream", name, "err", err)
		}
		o.p = nil
	}
}

func (rt *runtime) closeSinks() {
	seen := map[Sink]bool{}
	for _, a := range rt.p.aggs {
		for _, s := range a.sinks {
			if seen[s] {
				continue
			}
			seen[s] = true
			if err := s.Close(); err != nil {
				rt.p.log.Warn("closing a sink failed", "sink", sinkName(s, a.table), "err", err)
			}
		}
	}
}

// sinkName names a sink for logs and the registry: its String (say
// "duckdb:/data/views.db") if it has one, else its type, then '#' and the
// table.
func sinkName(s Sink, t Table) string {
	if st, ok := s.(fmt.Stringer); ok {
		return st.String() + "#" + t.Name
	}
	return fmt.Sprintf("%T#%s", s, t.Name)
}

// repShards returns the open shards of the repartition stream, listed at
// most every 10 seconds.
func (rt *runtime) repShards(ctx context.Context) ([]types.Shard, error) {
	rt.repMu.Lock()
	defer rt.repMu.Unlock()
	if rt.rep != nil && time.Since(rt.repAt) < 10*time.Second {
		return rt.rep, nil
	}
	shards, err := listShards(ctx, rt.p.kc, rt.p.RepartitionStream())
	if err != nil {
		if rt.rep != nil {
			return rt.rep, nil
		}
		return nil, err
	}
	var open []types.Shard
	for _, s := range shards {
		if s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, s)
		}
	}
	rt.rep, rt.repAt = open, time.Now()
	return open, nil
}

// markerLoop announces, every marker interval, the watermarks of this
// worker's source shards to every repartition shard: only changes, and
// everything every 20 rounds.
func (rt *runtime) markerLoop(ctx context.Context) {
	t := time.NewTicker(rt.p.opts.markerInterval)
	defer t.Stop()
	for round := 0; ; round++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var entries []markerEntry
		rt.mu.Lock()
		for r := range rt.shards {
			for _, m := range r.announced() {
				k := m.agg + "|" + m.source
				if last, ok := rt.lastSent[k]; ok && last == m.wm && round%20 != 0 {
					continue
				}
				rt.lastSent[k] = m.wm
				entries = append(entries, m)
			}
		}
		rt.mu.Unlock()
		if len(entries) == 0 {
			continue
		}
		if err := rt.sendMarkers(ctx, entries, nil); err != nil && ctx.Err() == nil {
			rt.p.log.Warn("sending watermarks failed", "err", err)
		}
	}
}

// sendMarkers puts marker records with entries to every repartition
// shard; with pend, each put is added to it (to be waited for), else it
// is not waited for.
func (rt *runtime) sendMarkers(ctx context.Context, entries []markerEntry, pend *pendingPuts) error {
	shards, err := rt.repShards(ctx)
	if err != nil {
		return err
	}
	const perRecord = 2000
	for len(entries) > 0 {
		n := min(len(entries), perRecord)
		data := encodeMarkers(entries[:n])
		entries = entries[n:]
		for _, s := range shards {
			rec := producer.Record{PartitionKey: "watermark", ExplicitHashKey: aws.ToString(s.HashKeyRange.StartingHashKey), Data: data}
			if pend != nil {
				if err := pend.put(ctx, rt.repartition, rec); err != nil {
					return err
				}
				continue
			}
			if _, err := rt.repartition.p.PutRecordAsync(ctx, rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// pendingPuts are records put but not yet known to be acknowledged.
type pendingPuts struct {
	list []pendingPut
}

type pendingPut struct {
	out *output
	rec producer.Record
	fut *producer.Future
}

func (pp *pendingPuts) put(ctx context.Context, out *output, rec producer.Record) error {
	f, err := out.p.PutRecordAsync(ctx, rec)
	if err != nil {
		return fmt.Errorf("put to %s: %w", out.stream, err)
	}
	pp.list = append(pp.list, pendingPut{out: out, rec: rec, fut: f})
	return nil
}

// wait waits until every pending record is acknowledged, putting again
// those that failed (their TTL passed), until ctx ends.
func (pp *pendingPuts) wait(ctx context.Context, log func(stream string, err error)) error {
	for i := range pp.list {
		pu := &pp.list[i]
		for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
			_, err := pu.fut.Wait(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log(pu.out.stream, err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
			f, err := pu.out.p.PutRecordAsync(ctx, pu.rec)
			if err != nil {
				return fmt.Errorf("put to %s again: %w", pu.out.stream, err)
			}
			pu.fut = f
		}
	}
	pp.list = pp.list[:0]
	return nil
}

func (pp *pendingPuts) len() int { return len(pp.list) }

// lagMetrics keeps a consumer's MillisBehindLatest per shard.
type lagMetrics struct {
	rt     *runtime
	stream string
}

func (m lagMetrics) RecordsProcessed(string, int, int) {}
func (m lagMetrics) MillisBehindLatest(shardID string, millis int64) {
	m.rt.mu.Lock()
	m.rt.lag[m.stream+"/"+shardID] = millis
	m.rt.mu.Unlock()
}
func (m lagMetrics) IteratorAge(string, time.Duration)          {}
func (m lagMetrics) LeasesHeld(int)                             {}
func (m lagMetrics) LeaseEvent(string, consumer.LeaseEventKind) {}
func (m lagMetrics) Error(string, string)                       {}

// rateMeter computes records per second over the last few seconds.
type rateMeter struct {
	mu    sync.Mutex
	at    time.Time
	count int64
	rate  float64
}

func (m *rateMeter) update(total int64, now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at.IsZero() {
		m.at, m.count = now, total
		return 0
	}
	if d := now.Sub(m.at); d >= time.Second {
		m.rate = float64(total-m.count) / d.Seconds()
		m.at, m.count = now, total
	}
	return m.rate
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
