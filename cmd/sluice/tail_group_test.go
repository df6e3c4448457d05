package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/sluicetest"
)

func TestRunTail_GroupUsageErrors(t *testing.T) {
	env := &cmdEnv{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	for _, args := range [][]string{{"s", "--group", "g", "--max-records", "3"}, {"s", "--group", "g", "--inject-failures", "1.5"}} {
		if err := runTail(context.Background(), env, args); err == nil {
			t.Errorf("%q: want a usage error", args)
		}
	}
}

// TestRunTail_Group runs tail as a consumer group member against Sluice,
// which keeps the lease table too, and checks it prints every record and
// leaves checkpoints behind when interrupted.
func TestRunTail_Group(t *testing.T) {
	srv := sluicetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv.CreateStream(ctx, "orders", 2)
	for i := range 20 {
		if _, err := srv.Kinesis().PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String(fmt.Sprint(i)), Data: fmt.Appendf(nil, "r%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	out := &lockedBuffer{}
	env := &cmdEnv{stdout: out, stderr: io.Discard, getenv: func(string) string { return "" }}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runTail(runCtx, env, []string{"orders", "--group", "printers", "--endpoint", srv.Endpoint(), "--from", "trim-horizon"})
	}()
	for len(out.lines()) < 20 {
		select {
		case err := <-done:
			t.Fatalf("tail --group ended early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("tail --group: %v", err)
	}
	printed := strings.Join(out.lines(), "\n") + "\n"
	for i := range 20 {
		if !strings.Contains(printed, fmt.Sprintf(" r%d\n", i)) {
			t.Errorf("record r%d not printed", i)
		}
	}
	ddb := dynamodb.NewFromConfig(srv.AWSConfig())
	leases, err := consumer.NewDynamoDBLeaseStore(ddb, "printers").ListLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 2 {
		t.Fatalf("%d leases, want one per shard", len(leases))
	}
	for _, l := range leases {
		if l.Owner != "" || l.Checkpoint.Sequence == consumer.SentinelTrimHorizon {
			t.Errorf("lease after an interrupted tail: %+v, want released with a checkpoint", l)
		}
	}
}
