//go:build linux

package faults

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestRecipe_DefaultMaxPayload: a cluster configured as docs/cluster.md
// says but with NATS's default max_payload (1 MB) serves the largest
// calls Kinesis allows: a PutRecords call of 5 MiB for one shard and a
// record of 1 MiB, read back whole through the other server.
func TestRecipe_DefaultMaxPayload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster and two Sluice servers; skipped with -short")
	}
	c := startClusterWith(t, 2, 0, "")
	ctx := t.Context()
	w, r := newClient(c.sluices[0].endpoint), newClient(c.sluices[1].endpoint)
	createStream(t, w, "recipe")
	var entries []types.PutRecordsRequestEntry
	var want [][]byte
	for i := range 500 {
		d := bytes.Repeat([]byte{byte(i)}, 10<<10-10) // 500 records, just under 5 MiB with their keys
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("k%07d", i)), ExplicitHashKey: aws.String("1"), Data: d})
		want = append(want, d)
	}
	out, err := w.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("recipe"), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords of 5 MiB: %v (%d failed)", err, aws.ToInt32(out.FailedRecordCount))
	}
	big := bytes.Repeat([]byte("x"), 1<<20-1) // with its 1-byte key, the 1 MiB Kinesis allows
	if _, err := w.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("recipe"), PartitionKey: aws.String("b"), ExplicitHashKey: aws.String("1"), Data: big}); err != nil {
		t.Fatalf("PutRecord of 1 MiB: %v", err)
	}
	want = append(want, big)
	got := readRaw(t, r, "recipe")
	if len(got) != len(want) {
		t.Fatalf("read %d records back, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d: %d bytes differ from the %d written", i, len(got[i]), len(want[i]))
		}
	}
}

// readRaw reads the data of every record of the stream's first shard.
func readRaw(t *testing.T, c *kinesis.Client, stream string) [][]byte {
	t.Helper()
	ctx := t.Context()
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for iter := it.ShardIterator; iter != nil; {
		r, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range r.Records {
			out = append(out, rec.Data)
		}
		if len(r.Records) == 0 && aws.ToInt64(r.MillisBehindLatest) == 0 {
			break
		}
		iter = r.NextShardIterator
	}
	return out
}
