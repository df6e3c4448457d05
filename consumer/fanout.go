package consumer

// Enhanced fan-out: records pushed over SubscribeToShard to a registered
// stream consumer, each subscription renewed from its continuation sequence
// number, behind the same feed interface as polling.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// FanOutAPI is what enhanced fan-out needs of the Kinesis client besides
// KinesisAPI; *kinesis.Client implements it.
type FanOutAPI interface {
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	RegisterStreamConsumer(ctx context.Context, in *kinesis.RegisterStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error)
	DescribeStreamConsumer(ctx context.Context, in *kinesis.DescribeStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error)
	SubscribeToShard(ctx context.Context, in *kinesis.SubscribeToShardInput, optFns ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error)
}

// FanOut reads with enhanced fan-out: the consumer registers a stream
// consumer (once, shared by every worker of the application) and each shard
// is pushed to it over SubscribeToShard, with its own read throughput.
type FanOut struct {
	// ConsumerName is the stream consumer to register or reuse (required;
	// the KCL uses the application name).
	ConsumerName string
	// StallTimeout restarts a subscription that got no response or
	// delivered no event for this long, not counting pauses while the
	// prefetch is full (default 30s; servers send an event at least every
	// 5 seconds, so a shorter timeout restarts idle subscriptions).
	StallTimeout time.Duration
	// PrefetchBytes bounds the record bytes read ahead of the processor
	// (default 16 MiB); reading the subscription pauses above it.
	PrefetchBytes int
}

func (fo FanOut) newFeed(ctx context.Context, env *readerEnv, shardID string, start startPosition) feed {
	if fo.StallTimeout <= 0 {
		fo.StallTimeout = 30 * time.Second
	}
	if fo.PrefetchBytes <= 0 {
		fo.PrefetchBytes = 16 << 20
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &pollingFeed{cfg: Polling{PrefetchBytes: fo.PrefetchBytes}, env: env, shardID: shardID, cancel: cancel, done: make(chan struct{})}
	f.cond = sync.NewCond(&f.mu)
	go func() {
		defer close(f.done)
		err := fo.read(ctx, f, start)
		f.mu.Lock()
		f.err = err
		f.cond.Broadcast()
		f.mu.Unlock()
	}()
	return f
}

// consumerARN registers the stream consumer on first use and waits until
// it is ACTIVE.
func (fo FanOut) consumerARN(ctx context.Context, env *readerEnv, api FanOutAPI) (string, error) {
	env.fanOutMu.Lock()
	defer env.fanOutMu.Unlock()
	if env.consumerARN != "" {
		return env.consumerARN, nil
	}
	streamARN := env.streamARN
	if streamARN == "" {
		out, err := api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(env.stream)})
		if err != nil {
			return "", fmt.Errorf("describe stream %s: %w", env.stream, err)
		}
		streamARN = aws.ToString(out.StreamDescriptionSummary.StreamARN)
	}
	_, err := api.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(fo.ConsumerName)})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) { // in use: registered already, by this or another worker
		return "", fmt.Errorf("register stream consumer %s: %w", fo.ConsumerName, err)
	}
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		out, err := api.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(fo.ConsumerName)})
		if err != nil {
			return "", fmt.Errorf("describe stream consumer %s: %w", fo.ConsumerName, err)
		}
		if d := out.ConsumerDescription; d != nil && d.ConsumerStatus == types.ConsumerStatusActive {
			env.consumerARN = aws.ToString(d.ConsumerARN)
			return env.consumerARN, nil
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return "", err
		}
	}
}

// read subscribes again and again, each time after the last record or
// continuation sequence number seen, until the shard ends or ctx does.
func (fo FanOut) read(ctx context.Context, f *pollingFeed, start startPosition) error {
	api, ok := f.env.api.(FanOutAPI)
	if !ok {
		return fmt.Errorf("enhanced fan-out: the Kinesis client does not implement SubscribeToShard")
	}
	bo := newBackoff(100*time.Millisecond, 5*time.Second)
	var pos resumePosition
	for {
		arn, err := fo.consumerARN(ctx, f.env, api)
		if err == nil {
			var end bool
			end, err = fo.subscribe(ctx, f, api, arn, start, &pos)
			if end {
				return errShardEnd
			}
			if err == nil {
				bo.reset()
				continue // the subscription ran its course (5 minutes on AWS)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.env.metrics.Error(OpRead, f.shardID)
		f.env.logger.Warn("shard subscription failed, resubscribing", "shard", f.shardID, "err", err)
		if err := bo.wait(ctx); err != nil {
			return err
		}
	}
}

// resumePosition is where a new subscription continues: at the last
// continuation sequence number if one came after the last record, else
// after the last record. Records at or before the last one are dropped, so
// whatever a server means by its continuation number, nothing is skipped
// and nothing repeated.
type resumePosition struct {
	lastRecord   string
	continuation string
}

// subscribe runs one subscription; it reports whether the shard ended.
func (fo FanOut) subscribe(ctx context.Context, f *pollingFeed, api FanOutAPI, consumerARN string, start startPosition, rp *resumePosition) (bool, error) {
	pos := &types.StartingPosition{Type: start.typ}
	switch {
	case rp.continuation != "":
		pos.Type, pos.SequenceNumber = types.ShardIteratorTypeAtSequenceNumber, aws.String(rp.continuation)
	case rp.lastRecord != "":
		pos.Type, pos.SequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(rp.lastRecord)
	case start.typ == types.ShardIteratorTypeAtSequenceNumber:
		pos.SequenceNumber = aws.String(start.seq)
	case start.typ == types.ShardIteratorTypeAtTimestamp:
		pos.Timestamp = aws.Time(start.at)
	}
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if kc, ok := api.(*kinesis.Client); ok {
		// A client of its own per subscription: the SDK's clients share
		// one event-stream decoder among their streams without locking
		// (aws/smithy-go#714).
		api = kinesis.New(kc.Options())
	}
	// The watchdog covers the call too: a connection that stalls before
	// the response would otherwise hold it forever.
	callWatchdog := time.AfterFunc(fo.StallTimeout, cancel)
	out, err := api.SubscribeToShard(subCtx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(consumerARN), ShardId: aws.String(f.shardID), StartingPosition: pos}, ownRequestBody)
	if !callWatchdog.Stop() && ctx.Err() == nil {
		if err == nil {
			out.GetStream().Close()
		}
		return false, fmt.Errorf("subscribe to %s stalled: no response for %v", f.shardID, fo.StallTimeout)
	}
	if err != nil {
		var notFound *types.ResourceNotFoundException
		if errors.As(err, &notFound) {
			// The stream consumer may have been deregistered: register
			// it again on the next attempt.
			f.env.fanOutMu.Lock()
			if f.env.consumerARN == consumerARN {
				f.env.consumerARN = ""
			}
			f.env.fanOutMu.Unlock()
		}
		return false, fmt.Errorf("subscribe to %s: %w", f.shardID, err)
	}
	stream := out.GetStream()
	defer stream.Close()
	// The watchdog: a subscription that goes silent is abandoned and
	// renewed rather than left to stall the shard.
	watchdog := time.NewTimer(fo.StallTimeout)
	defer watchdog.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-watchdog.C:
			return false, fmt.Errorf("subscription to %s stalled: no event for %v", f.shardID, fo.StallTimeout)
		case ev, ok := <-stream.Events():
			if !ok {
				if err := stream.Err(); err != nil {
					return false, fmt.Errorf("subscription to %s: %w", f.shardID, err)
				}
				return false, nil
			}
			e, isEvent := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
			if !isEvent {
				continue
			}
			watchdog.Reset(fo.StallTimeout)
			b := readBatch{millisBehindLatest: aws.ToInt64(e.Value.MillisBehindLatest), readAt: time.Now()}
			for _, r := range e.Value.Records {
				if rp.lastRecord != "" && compareSequence(aws.ToString(r.SequenceNumber), rp.lastRecord) <= 0 {
					continue // seen in an earlier subscription
				}
				b.records = append(b.records, r)
				b.bytes += len(r.Data)
			}
			f.env.metrics.MillisBehindLatest(f.shardID, b.millisBehindLatest)
			if n := len(b.records); n > 0 {
				rp.lastRecord, rp.continuation = aws.ToString(b.records[n-1].SequenceNumber), ""
			}
			if c := aws.ToString(e.Value.ContinuationSequenceNumber); c != "" && (rp.lastRecord == "" || compareSequence(c, rp.lastRecord) > 0) {
				rp.continuation = c
			}
			if e.Value.ContinuationSequenceNumber == nil {
				b.shardEnd, b.childShards = true, e.Value.ChildShards
				f.push(b)
				return true, nil
			}
			if len(b.records) == 0 && f.env.emptyBatches {
				f.push(b)
			}
			if len(b.records) > 0 {
				f.push(b)
				// Back-pressure: stop reading the subscription while the
				// prefetch is full; HTTP/2 flow control holds the server.
				if err := f.waitRoom(ctx); err != nil {
					return false, err
				}
				// The pause was ours, not the server's: time a stall
				// from now, or a slow processor would restart a
				// healthy subscription.
				watchdog.Reset(fo.StallTimeout)
			}
		}
	}
}
