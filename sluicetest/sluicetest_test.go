package sluicetest_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/sluicetest"
)

func TestStart(t *testing.T) {
	srv := sluicetest.Start(t)
	ctx := context.Background()
	srv.CreateStream(ctx, "orders", 2)

	client := srv.Kinesis()
	put, err := client.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName: aws.String("orders"), PartitionKey: aws.String("k"), Data: []byte("hello"),
	})
	if err != nil {
		t.Fatal(err)
	}
	it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String("orders"), ShardId: put.ShardId, ShardIteratorType: "TRIM_HORIZON",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) != 1 || string(got.Records[0].Data) != "hello" {
		t.Fatalf("got %+v, want the record put", got.Records)
	}
	// A second server is independent of the first.
	other := sluicetest.Start(t)
	if _, err := other.Kinesis().DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")}); err == nil {
		t.Fatal("second server sees the first server's stream")
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStart_WithShardQuotas(t *testing.T) {
	srv := sluicetest.Start(t, sluicetest.WithShardQuotas())
	ctx := context.Background()
	srv.CreateStream(ctx, "orders", 1)
	// 1.5 MiB in one request to a shard that takes 1 MiB/s.
	entries := make([]types.PutRecordsRequestEntry, 500)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: make([]byte, 3<<10)}
	}
	out, err := srv.Kinesis().PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("orders"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	if n := aws.ToInt32(out.FailedRecordCount); n == 0 || n == 500 {
		t.Fatalf("FailedRecordCount = %d, want some of the 500 records throttled", n)
	}
	for _, r := range out.Records {
		if r.ErrorCode != nil && aws.ToString(r.ErrorCode) != "ProvisionedThroughputExceededException" {
			t.Fatalf("entry failed with %s", aws.ToString(r.ErrorCode))
		}
	}
}
