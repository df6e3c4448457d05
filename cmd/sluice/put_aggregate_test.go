package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/deaggregate"
	"github.com/sluicehq/sluice/sluicetest"
)

// TestRunPut_aggregate puts stdin lines with --aggregate into a real
// server and reads them back through the deaggregate package.
func TestRunPut_aggregate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 2)
	var in strings.Builder
	const n = 1000
	for i := range n {
		fmt.Fprintf(&in, "key-%d\tline %d\n", i%7, i)
	}
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"put", "s", "--aggregate", "--key-from-line", "-v", "--endpoint", srv.Endpoint(), "--region", "us-east-1"},
		strings.NewReader(in.String()), &stdout, &stderr)
	if err != nil {
		t.Fatalf("put: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != n {
		t.Fatalf("%d result lines, want %d", len(lines), n)
	}

	c := srv.Kinesis()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{} // data -> "shard seq subseq"
	aggregated := 0
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := deaggregate.RecordsInRange(out.Records, *sh.HashKeyRange.StartingHashKey, *sh.HashKeyRange.EndingHashKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			found[string(r.Data)] = fmt.Sprintf("%s %s %d", *sh.ShardId, r.SequenceNumber, r.SubSequenceNumber)
			if r.Aggregated {
				aggregated++
			}
		}
	}
	if aggregated == 0 {
		t.Error("no record was aggregated")
	}
	for i, line := range lines {
		if want := found[fmt.Sprintf("line %d", i)]; line != want {
			t.Errorf("result line %d %q, record stored at %q", i, line, want)
		}
	}
}
