package main

// `sluice tail --fan-out`: the same tail, with every shard read by
// enhanced fan-out. tail registers a stream consumer (or reuses the one of
// that name) and subscribes to each shard with SubscribeToShard; records
// are pushed as they are written. A feed ends every 5 minutes and tail
// subscribes again right after the last record it saw; the last feed of a
// closed shard names its children, which tail then reads.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

type consumerAPI interface {
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	RegisterStreamConsumer(ctx context.Context, in *kinesis.RegisterStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error)
	DescribeStreamConsumer(ctx context.Context, in *kinesis.DescribeStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error)
}

// consumerPoll is how often ensureConsumer looks whether a new consumer
// is ACTIVE (AWS takes seconds).
const consumerPoll = 500 * time.Millisecond

// consumerCleanupTimeout bounds the deregistration of tail's consumer.
const consumerCleanupTimeout = 10 * time.Second

// ensureConsumer registers consumer name with the stream, or finds it
// registered already, waits until it is ACTIVE and returns its ARN and
// whether this call registered it.
func ensureConsumer(ctx context.Context, api consumerAPI, stream, name string) (arn string, created bool, err error) {
	sn, sa := streamRef(stream)
	sum, err := api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: sn, StreamARN: sa})
	if err != nil {
		return "", false, fmt.Errorf("describe stream %s: %w", stream, err)
	}
	streamARN := sum.StreamDescriptionSummary.StreamARN
	_, err = api.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: streamARN, ConsumerName: aws.String(name)})
	var inUse *types.ResourceInUseException
	switch {
	case err == nil:
		created = true
	case !errors.As(err, &inUse): // in use: registered already
		return "", false, fmt.Errorf("register consumer %s: %w", name, err)
	}
	for {
		out, err := api.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: streamARN, ConsumerName: aws.String(name)})
		if err != nil {
			return "", created, fmt.Errorf("describe consumer %s: %w", name, err)
		}
		d := out.ConsumerDescription
		switch d.ConsumerStatus {
		case types.ConsumerStatusActive:
			return aws.ToString(d.ConsumerARN), created, nil
		case types.ConsumerStatusDeleting:
			return "", created, fmt.Errorf("consumer %s is being deregistered", name)
		}
		if err := sleepCtx(ctx, consumerPoll); err != nil {
			return "", created, err
		}
	}
}

type deregisterAPI interface {
	DeregisterStreamConsumer(ctx context.Context, in *kinesis.DeregisterStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DeregisterStreamConsumerOutput, error)
}

// deregisterConsumer removes the stream consumer tail registered, so that
// it neither lingers nor blocks deleting the stream.
func deregisterConsumer(ctx context.Context, api deregisterAPI, arn string) error {
	_, err := api.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(arn)})
	var notFound *types.ResourceNotFoundException
	if err != nil && !errors.As(err, &notFound) { // gone already: fine
		return fmt.Errorf("deregister the stream consumer tail registered: %w", err)
	}
	return nil
}

// fanOutReader reads shards by SubscribeToShard for one consumer.
type fanOutReader struct {
	// subscribe makes a SubscribeToShard call. Each feed gets a client of
	// its own: the SDK's clients share one event-stream decoder among
	// their streams without locking (aws/smithy-go#714).
	subscribe   func(ctx context.Context, in *kinesis.SubscribeToShardInput) (*kinesis.SubscribeToShardOutput, error)
	consumerARN string
	logger      *slog.Logger
	// conn, when set, tells a lost connection (subscribe again until the
	// server is back) from other failures.
	conn *connWatch
	// untilLatest ends a shard's read at the first event that is caught up.
	untilLatest bool
}

// read follows a shard from start, across the ends of its feeds, and
// returns its children once it is closed and read to its end.
func (f *fanOutReader) read(ctx context.Context, shardID string, start startPosition, onRecords func([]types.Record) error) ([]types.ChildShard, error) {
	pos := types.StartingPosition{Type: start.typ}
	if start.typ == types.ShardIteratorTypeAtTimestamp {
		pos.Timestamp = aws.Time(start.at)
	}
	retryDelay := readRetryMinDelay
	for {
		out, err := f.subscribe(ctx, &kinesis.SubscribeToShardInput{
			ConsumerARN: aws.String(f.consumerARN), ShardId: aws.String(shardID), StartingPosition: &pos})
		if err == nil {
			if f.conn != nil {
				f.conn.ok()
			}
			var children []types.ChildShard
			var ended bool
			children, ended, err = f.follow(out.GetStream(), &pos, onRecords)
			if ended {
				return children, nil
			}
			if err == nil {
				retryDelay = readRetryMinDelay
				continue // the feed's lifetime ended: subscribe again
			}
		}
		// In use: our previous feed of the shard has not ended on the
		// server yet, or another tail reads with the same consumer. A feed
		// cut by the network (no API error) is subscribed again too.
		var stop printError
		if errors.As(err, &stop) {
			return nil, stop.err
		}
		var inUse *types.ResourceInUseException
		var apiErr smithy.APIError
		transport := !errors.As(err, &apiErr)
		if ctx.Err() != nil || !(errors.As(err, &inUse) || isRetryableAPIError(err) || transport) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("subscribe to %s: %w", shardID, err)
		}
		if f.conn == nil || !f.conn.lost(ctx, err) {
			f.logger.Warn("subscription failed, retrying", "shard", shardID, "delay", retryDelay, "err", err)
		}
		if err := sleepCtx(ctx, retryDelay); err != nil {
			return nil, err
		}
		retryDelay = min(2*retryDelay, readRetryMaxDelay)
	}
}

// follow reads one feed to its end, moving pos past every record seen. It
// reports the shard's end and children, or the feed's error.
func (f *fanOutReader) follow(es *kinesis.SubscribeToShardEventStream, pos *types.StartingPosition, onRecords func([]types.Record) error) ([]types.ChildShard, bool, error) {
	defer es.Close()
	for e := range es.Events() {
		ev, ok := e.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !ok {
			continue // an event type newer than this client
		}
		if err := onRecords(ev.Value.Records); err != nil {
			return nil, false, printError{err}
		}
		cont := ev.Value.ContinuationSequenceNumber
		if cont == nil {
			return ev.Value.ChildShards, true, nil // the shard's last event
		}
		*pos = types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: cont}
		if f.untilLatest && aws.ToInt64(ev.Value.MillisBehindLatest) == 0 {
			return nil, true, nil // --until-latest: read up to the newest record
		}
	}
	return nil, false, es.Err()
}

// printError is a failure to hand records on (or enough of them printed),
// which ends the read rather than the feed.
type printError struct{ err error }

func (e printError) Error() string { return e.err.Error() }
