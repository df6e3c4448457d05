package httpapi

import (
	"context"
	"io"
	"slices"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// SubscribeToShard feeds the shard's records in one event, then ends with
// f.subEnd (io.EOF when nil).
func (f *fakeService) SubscribeToShard(ctx context.Context, in kinesis.SubscribeToShardInput) (kinesis.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("SubscribeToShard", in); err != nil {
		return nil, err
	}
	streamARN, _, _, ok := kinesis.ParseConsumerARN(in.ConsumerARN)
	if !ok {
		return nil, kinesis.Errorf(kinesis.ErrInvalidArgument, "bad consumer ARN")
	}
	s, err := f.lookup(kinesis.StreamRef{ARN: streamARN})
	if err != nil {
		return nil, err
	}
	recs := slices.Clone(s.records[in.ShardID])
	ev := kinesis.SubscribeToShardEvent{Records: recs, MillisBehindLatest: 7}
	if n := len(recs); n > 0 {
		ev.ContinuationSequenceNumber = recs[n-1].SequenceNumber
	}
	end := f.subEnd
	if end == nil {
		end = io.EOF
	}
	return &fakeSubscription{events: []kinesis.SubscribeToShardEvent{ev}, end: end}, nil
}

type fakeSubscription struct {
	events []kinesis.SubscribeToShardEvent
	end    error
}

func (s *fakeSubscription) Next(ctx context.Context) (kinesis.SubscribeToShardEvent, error) {
	if len(s.events) == 0 {
		return kinesis.SubscribeToShardEvent{}, s.end
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

func (s *fakeSubscription) Close() error { return nil }
