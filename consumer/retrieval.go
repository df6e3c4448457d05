package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// KinesisAPI is the part of the Kinesis client the consumer uses;
// *kinesis.Client implements it.
type KinesisAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// Retrieval chooses how a shard's records are read; Polling and FanOut
// implement it.
type Retrieval interface {
	// newFeed starts reading one shard from start.
	newFeed(ctx context.Context, r *readerEnv, shardID string, start startPosition) feed
}

// readerEnv is what a feed needs from its consumer.
type readerEnv struct {
	api       KinesisAPI
	stream    string
	streamARN string
	logger    *slog.Logger
	metrics   Metrics
	// emptyBatches makes feeds deliver reads that returned no records.
	emptyBatches bool
	// bodies are the GetRecords response buffers of the polling feeds.
	bodies bodyBuffers

	fanOutMu    sync.Mutex
	consumerARN string // the registered stream consumer, for FanOut
}

// feed delivers a shard's records in order, batch by batch.
type feed interface {
	// next blocks until the next batch or ctx's end.
	next(ctx context.Context) (readBatch, error)
	// close stops reading and waits for the feed's goroutines.
	close()
}

// readBatch is one read of a shard.
type readBatch struct {
	records            []types.Record
	millisBehindLatest int64
	// shardEnd is set on the last batch of a closed shard, with its children.
	shardEnd    bool
	childShards []types.ChildShard
	bytes       int
	// readAt is when the read was sent (polling) or its event arrived
	// (fan-out), on this worker's clock.
	readAt time.Time
}

// startPosition is where a feed starts: a sentinel, a timestamp or at a
// sequence number.
type startPosition struct {
	typ types.ShardIteratorType
	seq string
	at  time.Time
}

func positionFor(cp ExtendedSequenceNumber, initial InitialPosition) startPosition {
	switch cp.Sequence {
	case "", SentinelTrimHorizon:
		return startPosition{typ: types.ShardIteratorTypeTrimHorizon}
	case SentinelLatest:
		return startPosition{typ: types.ShardIteratorTypeLatest}
	case SentinelAtTimestamp:
		return startPosition{typ: types.ShardIteratorTypeAtTimestamp, at: initial.at}
	}
	// AT, not AFTER: a checkpoint inside an aggregate resumes within it;
	// records at or before the checkpoint are dropped after deaggregation.
	return startPosition{typ: types.ShardIteratorTypeAtSequenceNumber, seq: cp.Sequence}
}

// Polling reads with GetRecords and prefetches up to PrefetchBytes ahead of
// the processor.
type Polling struct {
	// MaxRecords is the GetRecords Limit (default 10000, the API maximum).
	MaxRecords int32
	// IdleTime is the wait after a read that found the shard caught up
	// (default 250ms). AWS allows 5 reads per second per shard, shared by
	// every polling application of the stream.
	IdleTime time.Duration
	// PrefetchBytes bounds the record bytes read ahead of the processor
	// (default 16 MiB); reading pauses above it.
	PrefetchBytes int
}

func (p Polling) newFeed(ctx context.Context, env *readerEnv, shardID string, start startPosition) feed {
	if p.MaxRecords <= 0 {
		p.MaxRecords = 10000
	}
	if p.IdleTime <= 0 {
		p.IdleTime = 250 * time.Millisecond
	}
	if p.PrefetchBytes <= 0 {
		p.PrefetchBytes = 16 << 20
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &pollingFeed{cfg: p, env: env, shardID: shardID, cancel: cancel, done: make(chan struct{}), decode: fastGetRecords(env.bodies)}
	f.cond = sync.NewCond(&f.mu)
	go f.run(ctx, start)
	return f
}

type pollingFeed struct {
	cfg     Polling
	env     *readerEnv
	shardID string
	cancel  context.CancelFunc
	done    chan struct{}
	decode  func(*kinesis.Options) // GetRecords responses decoded by hand

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []readBatch
	queued int   // bytes in queue
	err    error // terminal: the feed stopped
}

func (f *pollingFeed) push(b readBatch) {
	f.mu.Lock()
	if n := len(f.queue); n > 0 && len(b.records) == 0 && !b.shardEnd && len(f.queue[n-1].records) == 0 && !f.queue[n-1].shardEnd {
		f.queue[n-1] = b // an empty read waiting: the newer one says more
		f.mu.Unlock()
		return
	}
	f.queue = append(f.queue, b)
	f.queued += b.bytes
	f.cond.Broadcast()
	f.mu.Unlock()
}

// waitRoom blocks while the queue holds more than PrefetchBytes.
func (f *pollingFeed) waitRoom(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.queued > f.cfg.PrefetchBytes && ctx.Err() == nil {
		f.cond.Wait()
	}
	return ctx.Err()
}

func (f *pollingFeed) next(ctx context.Context) (readBatch, error) {
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.queue) == 0 && f.err == nil && ctx.Err() == nil {
		f.cond.Wait()
	}
	if len(f.queue) > 0 {
		b := f.queue[0]
		f.queue = f.queue[1:]
		f.queued -= b.bytes
		f.cond.Broadcast()
		return b, nil
	}
	if f.err != nil {
		return readBatch{}, f.err
	}
	return readBatch{}, ctx.Err()
}

func (f *pollingFeed) close() {
	f.cancel()
	f.mu.Lock()
	f.cond.Broadcast()
	f.mu.Unlock()
	<-f.done
}

func (f *pollingFeed) run(ctx context.Context, start startPosition) {
	defer close(f.done)
	err := f.read(ctx, start)
	f.mu.Lock()
	f.err = err
	f.cond.Broadcast()
	f.mu.Unlock()
}

func (f *pollingFeed) read(ctx context.Context, start startPosition) error {
	lastSeq := ""
	var iter *string
	backoff := newBackoff(100*time.Millisecond, 5*time.Second)
	for {
		if err := f.waitRoom(ctx); err != nil {
			return err
		}
		if iter == nil {
			var err error
			iter, err = f.iterator(ctx, start, lastSeq)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				f.env.metrics.Error(OpRead, f.shardID)
				f.env.logger.Warn("get shard iterator failed, retrying", "shard", f.shardID, "err", err)
				if err := backoff.wait(ctx); err != nil {
					return err
				}
				continue
			}
		}
		readAt := time.Now()
		out, err := f.env.api.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(f.cfg.MaxRecords), StreamARN: nonEmptyPtr(f.env.streamARN)}, f.decode)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var expired *types.ExpiredIteratorException
			if errors.As(err, &expired) {
				iter = nil // resume after the last record read
				continue
			}
			f.env.metrics.Error(OpRead, f.shardID)
			f.env.logger.Warn("get records failed, retrying", "shard", f.shardID, "err", err)
			if err := backoff.wait(ctx); err != nil {
				return err
			}
			continue
		}
		backoff.reset()
		b := readBatch{records: out.Records, millisBehindLatest: aws.ToInt64(out.MillisBehindLatest), readAt: readAt}
		for _, r := range out.Records {
			b.bytes += len(r.Data)
		}
		if n := len(out.Records); n > 0 {
			lastSeq = aws.ToString(out.Records[n-1].SequenceNumber)
		}
		f.env.metrics.MillisBehindLatest(f.shardID, b.millisBehindLatest)
		if out.NextShardIterator == nil {
			b.shardEnd, b.childShards = true, out.ChildShards
			f.push(b)
			return errShardEnd
		}
		iter = out.NextShardIterator
		if len(b.records) > 0 || f.env.emptyBatches {
			f.push(b)
		}
		if len(out.Records) == 0 || b.millisBehindLatest == 0 {
			if err := sleepCtx(ctx, f.cfg.IdleTime); err != nil {
				return err
			}
		}
	}
}

// errShardEnd ends a feed after the last batch of a closed shard.
var errShardEnd = errors.New("shard ended")

func (f *pollingFeed) iterator(ctx context.Context, start startPosition, after string) (*string, error) {
	in := &kinesis.GetShardIteratorInput{ShardId: aws.String(f.shardID), ShardIteratorType: start.typ}
	setStream(&in.StreamName, &in.StreamARN, f.env)
	switch {
	case after != "":
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(after)
	case start.typ == types.ShardIteratorTypeAtSequenceNumber:
		in.StartingSequenceNumber = aws.String(start.seq)
	case start.typ == types.ShardIteratorTypeAtTimestamp:
		in.Timestamp = aws.Time(start.at)
	}
	out, err := f.env.api.GetShardIterator(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get %s iterator for %s: %w", in.ShardIteratorType, f.shardID, err)
	}
	return out.ShardIterator, nil
}

func setStream(name, arn **string, env *readerEnv) {
	if env.streamARN != "" {
		*arn = aws.String(env.streamARN)
		return
	}
	*name = aws.String(env.stream)
}

func nonEmptyPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// backoff doubles a wait from min to max.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max, cur: min} }

func (b *backoff) reset() { b.cur = b.min }

func (b *backoff) wait(ctx context.Context) error {
	d := b.cur
	b.cur = min(2*b.cur, b.max)
	return sleepCtx(ctx, d)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
