package broker

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// A stream's creation time is whole seconds, as AWS gives it, so that a
// client sending it back in whole seconds (botocore always does) matches.
func TestBroker_StreamCreationTimestampIsWholeSeconds(t *testing.T) {
	now := time.Date(2026, 4, 5, 6, 7, 8, 789_000_000, time.UTC)
	b := openBroker(t, Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	ref := kinesis.StreamRef{Name: "s"}
	d, err := b.DescribeStream(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	second := time.Date(2026, 4, 5, 6, 7, 8, 0, time.UTC)
	if !d.CreatedAt.Equal(second) {
		t.Fatalf("CreatedAt = %v, want %v", d.CreatedAt, second)
	}
	if d.Status != kinesis.StatusActive {
		t.Fatalf("status %s, want ACTIVE", d.Status)
	}

	out, err := b.ListShards(ctx, kinesis.ListShardsInput{Stream: ref, StreamCreationTimestamp: &second})
	if err != nil || len(out.Shards) != 2 {
		t.Fatalf("ListShards with StreamCreationTimestamp %v = %d shards, %v; want 2", second, len(out.Shards), err)
	}
	arn := kinesis.StreamARN("us-east-1", "000000000000", "s")
	if _, err := b.ListStreamConsumers(ctx, kinesis.ListStreamConsumersInput{StreamARN: arn, StreamCreationTimestamp: &second}); err != nil {
		t.Fatalf("ListStreamConsumers with StreamCreationTimestamp %v: %v", second, err)
	}
	// The first shards are open from the stream's creation on.
	at := kinesis.ShardFilter{Type: kinesis.FilterAtTimestamp, Timestamp: &second}
	if out, err := b.ListShards(ctx, kinesis.ListShardsInput{Stream: ref, Filter: &at}); err != nil || len(out.Shards) != 2 {
		t.Fatalf("ListShards AT_TIMESTAMP creation = %d shards, %v; want 2", len(out.Shards), err)
	}
	// Another second is another stream (one deleted and created again).
	other := second.Add(-time.Second)
	_, err = b.ListShards(ctx, kinesis.ListShardsInput{Stream: ref, StreamCreationTimestamp: &other})
	wantCode(t, err, kinesis.ErrResourceNotFound)
}
