package producer_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"testing"

	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// TestProducer_throttled writes three seconds' worth of a shard's write
// quota at once to a server that enforces AWS's quotas. With the
// producer's own limiter off, the server refuses much of it with
// ProvisionedThroughputExceededException; those records are retried until
// every one is stored, exactly once. With the limiter on, the same load
// goes through as well.
func TestProducer_throttled(t *testing.T) {
	for _, limiter := range []bool{false, true} {
		name := "server throttles"
		if limiter {
			name = "producer limits"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			srv := sluicetest.Start(t, sluicetest.WithShardQuotas())
			srv.CreateStream(ctx, "s", 1)
			var m countingMetrics
			opts := []producer.Option{producer.WithAggregation(false), producer.WithMetrics(&m)}
			if !limiter {
				opts = append(opts, producer.WithShardRateLimit(0, 0))
			}
			p := newProducer(t, srv, "s", opts...)
			const n = 3000 // three seconds of the 1000 records/s quota
			results := putMany(ctx, t, p, n, n, "throttled")
			checkStored(t, readAll(ctx, t, srv.Kinesis(), "s"), results)
			t.Logf("%d requests, %d Kinesis records throttled, %d retries", m.requests.Load(), m.throttled.Load(), m.retries.Load())
			if !limiter && m.throttled.Load() == 0 {
				t.Error("the server throttled nothing: the test did not exercise throttling")
			}
		})
	}
}

// TestProducer_throttledOrdered throttles an ordered producer: retries
// must not reorder any partition key's records.
func TestProducer_throttledOrdered(t *testing.T) {
	ctx := testContext(t)
	srv := sluicetest.Start(t, sluicetest.WithShardQuotas())
	srv.CreateStream(ctx, "s", 1)
	var m countingMetrics
	p := newProducer(t, srv, "s", producer.WithOrdering(), producer.WithShardRateLimit(0, 0), producer.WithMetrics(&m))
	// Another writer takes the shard's whole quota meanwhile, so the
	// producer is throttled however slowly this machine runs it.
	stop := make(chan struct{})
	noiseDone := make(chan struct{})
	go func() {
		defer close(noiseDone)
		noise := make([]types.PutRecordsRequestEntry, 5)
		for i := range noise {
			noise[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("noise"), Data: make([]byte, 200<<10)}
		}
		for !isClosed(stop) {
			srv.Kinesis().PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: noise})
			time.Sleep(10 * time.Millisecond)
		}
	}()
	const n, keys = 2000, 20
	pad := strings.Repeat("x", 1000)
	results := putMany(ctx, t, p, n, keys, pad)
	close(stop)
	<-noiseDone
	all := readAll(ctx, t, srv.Kinesis(), "s")
	checkStored(t, all, results)
	t.Logf("%d requests, %d Kinesis records throttled, %d retries", m.requests.Load(), m.throttled.Load(), m.retries.Load())
	if m.throttled.Load() == 0 {
		t.Error("the server throttled nothing: the test did not exercise throttling")
	}
	last := map[string]int{}
	for _, s := range all {
		if s.PartitionKey == "noise" {
			continue
		}
		var i int
		if _, err := fmt.Sscanf(string(s.Data[len(pad):]), "-%d", &i); err != nil {
			t.Fatalf("record %q: %v", s.Data, err)
		}
		if prev, ok := last[s.PartitionKey]; ok && i < prev {
			t.Errorf("key %s: record %d stored after record %d", s.PartitionKey, i, prev)
		}
		last[s.PartitionKey] = i
	}
}
