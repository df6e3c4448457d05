package e2e

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestRecords_MaxRecordSize checks per-stream record size limits: 1 MiB by
// default, up to 10 MiB with MaxRecordSizeInKiB at creation or through
// UpdateMaxRecordSize, and PutRecords requests of up to 10 MiB.
func TestRecords_MaxRecordSize(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()

	createStream(t, c, "small", 1)
	big := bytes.Repeat([]byte{'b'}, 5<<20)
	_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("small"), PartitionKey: aws.String("k"), Data: big})
	wantError(t, err, "InvalidArgumentException")

	// Raised through UpdateMaxRecordSize, which takes the stream's ARN.
	sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("small")})
	if err != nil {
		t.Fatal(err)
	}
	arn := sum.StreamDescriptionSummary.StreamARN
	if got := aws.ToInt32(sum.StreamDescriptionSummary.MaxRecordSizeInKiB); got != 1024 {
		t.Fatalf("default MaxRecordSizeInKiB = %d, want 1024", got)
	}
	for _, bad := range []int32{1023, 10241} {
		_, err := c.UpdateMaxRecordSize(ctx, &kinesis.UpdateMaxRecordSizeInput{StreamARN: arn, MaxRecordSizeInKiB: aws.Int32(bad)})
		wantTyped[*types.ValidationException](t, err)
	}
	if _, err := c.UpdateMaxRecordSize(ctx, &kinesis.UpdateMaxRecordSizeInput{StreamARN: arn, MaxRecordSizeInKiB: aws.Int32(10240)}); err != nil {
		t.Fatal(err)
	}
	sum, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("small")})
	if err != nil || aws.ToInt32(sum.StreamDescriptionSummary.MaxRecordSizeInKiB) != 10240 {
		t.Fatalf("MaxRecordSizeInKiB after the update = %v, %v", sum.StreamDescriptionSummary.MaxRecordSizeInKiB, err)
	}
	put, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("small"), PartitionKey: aws.String("k"), Data: big})
	if err != nil {
		t.Fatalf("5 MiB record after raising the limit: %v", err)
	}
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("small"), ShardId: put.ShardId,
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: put.SequenceNumber})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil || len(got.Records) != 1 || !bytes.Equal(got.Records[0].Data, big) {
		t.Fatalf("reading the 5 MiB record back: %d records, %v", len(got.Records), err)
	}

	// Set at creation; a PutRecords of ten 1 MiB records (10 MiB) is accepted.
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("large"), ShardCount: aws.Int32(1), MaxRecordSizeInKiB: aws.Int32(2048)}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "large")
	if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("large"), PartitionKey: aws.String("k"), Data: bytes.Repeat([]byte{'l'}, 2<<20-1)}); err != nil {
		t.Fatalf("2 MiB record on a 2048 KiB stream: %v", err)
	}
	recs := make([]types.PutRecordsRequestEntry, 10)
	for i := range recs {
		recs[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: bytes.Repeat([]byte{'m'}, 1<<20-16)}
	}
	out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("large"), Records: recs})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords of 10 MiB: %v", err)
	}
}
