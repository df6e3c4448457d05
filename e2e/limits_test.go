package e2e

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// putEntries is n entries of size bytes each (data plus partition key).
func putEntries(n, size int) []types.PutRecordsRequestEntry {
	out := make([]types.PutRecordsRequestEntry, n)
	for i := range out {
		pk := fmt.Sprintf("k%d", i%10)
		out[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(pk), Data: bytes.Repeat([]byte{'x'}, size-len(pk))}
	}
	return out
}

// until calls try until it reports true, failing the test after a
// generous deadline: what is throttled depends on how fast the busy
// machine serves the calls, so tests wait for the condition.
func until(t *testing.T, what string, try func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !try() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// TestShardLimits_AWS runs a server with --shard-limits aws and drives it
// past AWS's quotas: writes are refused entry by entry inside PutRecords
// and as an exception for PutRecord, reads and GetShardIterator get
// ProvisionedThroughputExceededException, control-plane calls
// LimitExceededException, and the refusals are counted in /metrics.
func TestShardLimits_AWS(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--region", testRegion, "--account-id", testAccount, "--shard-limits", "aws")
	c := s.Client()
	ctx := t.Context()
	shards := createStream(t, c, "limited", 1)
	shardID := aws.ToString(shards[0].ShardId)
	wantMsg := fmt.Sprintf("Rate exceeded for shard %s in stream limited under account %s.", shardID, testAccount)

	t.Run("PutRecordsPerEntry", func(t *testing.T) {
		// 1.5 MiB in one request to a 1 MiB/s shard: some entries pass,
		// the rest fail with the per-entry error, in request order.
		out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("limited"), Records: putEntries(500, 3<<10)})
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for i, r := range out.Records {
			if r.ErrorCode == nil {
				if r.SequenceNumber == nil || aws.ToString(r.ShardId) != shardID {
					t.Fatalf("entry %d succeeded without a sequence number: %+v", i, r)
				}
				continue
			}
			failed++
			if aws.ToString(r.ErrorCode) != "ProvisionedThroughputExceededException" || aws.ToString(r.ErrorMessage) != wantMsg {
				t.Fatalf("entry %d: %s %q, want ProvisionedThroughputExceededException %q", i, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage), wantMsg)
			}
		}
		if failed == 0 || failed == 500 || int(aws.ToInt32(out.FailedRecordCount)) != failed {
			t.Fatalf("FailedRecordCount %d, %d entries failed; want some of 500 to fail", aws.ToInt32(out.FailedRecordCount), failed)
		}
	})

	t.Run("PutRecordException", func(t *testing.T) {
		// A 1 MiB record needs the shard's whole second of quota.
		until(t, "PutRecord to be throttled", func() bool {
			_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("limited"), PartitionKey: aws.String("k"), Data: make([]byte, 1<<20-1)})
			if err == nil {
				return false
			}
			e := wantTyped[*types.ProvisionedThroughputExceededException](t, err)
			if aws.ToString(e.Message) != wantMsg {
				t.Fatalf("message %q, want %q", aws.ToString(e.Message), wantMsg)
			}
			return true
		})
	})

	t.Run("GetRecords", func(t *testing.T) {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("limited"), ShardId: &shardID, ShardIteratorType: types.ShardIteratorTypeLatest})
		if err != nil {
			t.Fatal(err)
		}
		// Five calls a second per shard.
		until(t, "GetRecords to be throttled", func() bool {
			_, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
			if err == nil {
				return false
			}
			e := wantTyped[*types.ProvisionedThroughputExceededException](t, err)
			if aws.ToString(e.Message) != wantMsg {
				t.Fatalf("message %q, want %q", aws.ToString(e.Message), wantMsg)
			}
			return true
		})
		// The quota refills: a client that backs off reads again.
		time.Sleep(1100 * time.Millisecond)
		if _, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator}); err != nil {
			t.Fatalf("GetRecords after backing off: %v", err)
		}
	})

	t.Run("GetShardIterator", func(t *testing.T) {
		until(t, "GetShardIterator to be throttled", func() bool {
			_, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("limited"), ShardId: &shardID, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err == nil {
				return false
			}
			wantTyped[*types.ProvisionedThroughputExceededException](t, err)
			return true
		})
	})

	t.Run("ControlPlane", func(t *testing.T) {
		// DescribeLimits: one call a second per account.
		until(t, "DescribeLimits to be throttled", func() bool {
			_, err := c.DescribeLimits(ctx, &kinesis.DescribeLimitsInput{})
			if err == nil {
				return false
			}
			e := wantTyped[*types.LimitExceededException](t, err)
			if want := "Rate exceeded for account " + testAccount + "."; aws.ToString(e.Message) != want {
				t.Fatalf("message %q, want %q", aws.ToString(e.Message), want)
			}
			return true
		})
		// ListStreamConsumers: five a second per stream.
		until(t, "ListStreamConsumers to be throttled", func() bool {
			_, err := c.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(streamARN("limited"))})
			if err == nil {
				return false
			}
			e := wantTyped[*types.LimitExceededException](t, err)
			if want := "Rate exceeded for stream limited under account " + testAccount + "."; aws.ToString(e.Message) != want {
				t.Fatalf("message %q, want %q", aws.ToString(e.Message), want)
			}
			return true
		})
	})

	t.Run("Metrics", func(t *testing.T) {
		resp, err := s.http.Get(s.Endpoint + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"sluice_write_provisioned_throughput_exceeded_total", "sluice_read_provisioned_throughput_exceeded_total"} {
			if !strings.Contains(string(body), name+`{stream="limited"}`) {
				t.Errorf("/metrics has no %s for the stream", name)
			}
		}
	})
}

// TestShardLimits_OffByDefault drives the same load as TestShardLimits_AWS
// against a server without the flag: nothing is throttled.
func TestShardLimits_OffByDefault(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()
	shards := createStream(t, c, "free", 1)
	for range 3 {
		out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("free"), Records: putEntries(500, 3<<10)})
		if err != nil {
			t.Fatal(err)
		}
		if n := aws.ToInt32(out.FailedRecordCount); n != 0 {
			t.Fatalf("FailedRecordCount = %d without limits", n)
		}
	}
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("free"), ShardId: shards[0].ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator}); err != nil {
			t.Fatalf("GetRecords without limits: %v", err)
		}
		if _, err := c.DescribeLimits(ctx, &kinesis.DescribeLimitsInput{}); err != nil {
			t.Fatalf("DescribeLimits without limits: %v", err)
		}
	}
	for range 10 {
		if _, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
			t.Fatalf("ListStreams without limits: %v", err)
		}
	}
}

// TestShardLimits_UpdateShardCountPerDay scales one stream ten times on a
// server with --shard-limits aws: the eleventh UpdateShardCount within 24
// hours is LimitExceededException, as on AWS, while another stream still
// scales.
func TestShardLimits_UpdateShardCountPerDay(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--region", testRegion, "--account-id", testAccount, "--shard-limits", "aws")
	c := s.Client()
	ctx := t.Context()
	createStream(t, c, "scaled", 1)
	createStream(t, c, "other", 1)
	scale := func(name string, to int32) error {
		_, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(name), TargetShardCount: aws.Int32(to), ScalingType: types.ScalingTypeUniformScaling})
		return err
	}
	// Polls well under DescribeStreamSummary's 20 calls a second.
	waitScaled := func(name string, open int32) {
		t.Helper()
		until(t, fmt.Sprintf("%s to be ACTIVE with %d open shards", name, open), func() bool {
			time.Sleep(200 * time.Millisecond)
			out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			d := out.StreamDescriptionSummary
			return d.StreamStatus == types.StreamStatusActive && aws.ToInt32(d.OpenShardCount) == open
		})
	}
	for i := range 10 {
		to := int32(2 - i%2) // 2, 1, 2, 1, ...
		if err := scale("scaled", to); err != nil {
			t.Fatalf("scaling %d: %v", i+1, err)
		}
		waitScaled("scaled", to)
	}
	err := scale("scaled", 2)
	e := wantTyped[*types.LimitExceededException](t, err)
	if !strings.Contains(aws.ToString(e.Message), "stream scaled under account "+testAccount) {
		t.Errorf("message %q does not name the stream", aws.ToString(e.Message))
	}
	if err := scale("other", 2); err != nil {
		t.Fatalf("scaling another stream: %v", err)
	}
}
