package sluicetest_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/sluicetest"
)

// In a _test.go file of your own, a test of code that writes to Kinesis:
// start a server, create the stream, hand the code under test a client
// (or srv.AWSConfig() if it builds its own) and read what it wrote.
func TestStart_example(t *testing.T) {
	srv := sluicetest.Start(t) // stopped when the test ends
	srv.CreateStream(t.Context(), "orders", 2)

	client := srv.Kinesis()
	if _, err := client.PutRecord(t.Context(), &kinesis.PutRecordInput{
		StreamName:   aws.String("orders"),
		PartitionKey: aws.String("customer-1"),
		Data:         []byte(`{"order":1}`),
	}); err != nil {
		t.Fatal(err)
	}
	// ... GetShardIterator and GetRecords to check what was written.
}

func Example() {}
