package kinesis

import (
	"context"
	"time"
)

// SubscriptionLifetime is how long AWS keeps a SubscribeToShard stream
// open before the client must subscribe again.
const SubscriptionLifetime = 5 * time.Minute

// StartingPosition is where a subscription starts reading a shard.
// SequenceNumber goes with AT_ and AFTER_SEQUENCE_NUMBER, Timestamp with
// AT_TIMESTAMP.
type StartingPosition struct {
	Type           IteratorType
	SequenceNumber string
	Timestamp      *time.Time
}

// SubscribeToShardInput asks for a push feed of one shard for one
// registered consumer.
type SubscribeToShardInput struct {
	ConsumerARN string
	ShardID     string
	Start       StartingPosition
}

// SubscribeToShardEvent is one event of a subscription. Records may be
// empty: events also keep an idle feed alive. ContinuationSequenceNumber is
// where to resume (as AFTER_SEQUENCE_NUMBER); it is "" only in the last
// event of a closed shard, which lists the ChildShards.
type SubscribeToShardEvent struct {
	Records                    []Record
	ContinuationSequenceNumber string
	MillisBehindLatest         int64
	ChildShards                []ChildShard
}

// Subscription is an open SubscribeToShard feed. Next is called by one
// goroutine; Close releases the (consumer, shard) slot and may be called
// more than once.
type Subscription interface {
	// Next waits for the next event: records as soon as any are stored, or
	// an empty event after a few idle seconds. It returns io.EOF once the
	// subscription is over (its lifetime ended, or the event listing a
	// closed shard's children was sent), an *Error the client is to see
	// mid-stream (the consumer or stream went away), or ctx's error.
	Next(ctx context.Context) (SubscribeToShardEvent, error)
	Close() error
}

// FanOutService is the part of Service that serves enhanced fan-out.
// SubscribeToShard checks everything that can fail before the feed
// starts: ResourceNotFoundException for an unknown consumer, stream or
// shard, ResourceInUseException for a consumer not ACTIVE or a (consumer,
// shard) already subscribed, InvalidArgumentException for a bad starting
// position.
type FanOutService interface {
	SubscribeToShard(ctx context.Context, in SubscribeToShardInput) (Subscription, error)
}
