package flow_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/consumer/leasetest"
	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/sluicetest"
)

// exampleServer is an in-process Sluice server for the package's example,
// which has no *testing.T to give sluicetest.Start.
type exampleServer struct {
	kinesis  *kinesis.Client
	dynamodb *dynamodb.Client
	srv      *sluicetest.Server
	tb       *exampleTB
}

func startExampleServer() *exampleServer {
	tb := &exampleTB{}
	srv := sluicetest.Start(tb)
	return &exampleServer{kinesis: srv.Kinesis(), dynamodb: leasetest.DynamoDBClient(srv.Endpoint()), srv: srv, tb: tb}
}

// put writes records to a stream of one shard, created first.
func (s *exampleServer) put(stream string, data ...string) {
	ctx := context.Background()
	s.srv.CreateStream(ctx, stream, 1)
	for _, d := range data {
		if _, err := s.kinesis.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte(d)}); err != nil {
			panic(err)
		}
	}
}

func (s *exampleServer) close() { s.tb.cleanup() }

// exampleTB is the part of testing.TB that sluicetest.Start uses.
type exampleTB struct {
	testing.TB
	dirs     []string
	cleanups []func()
}

func (t *exampleTB) Helper()                   {}
func (t *exampleTB) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *exampleTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (t *exampleTB) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (t *exampleTB) TempDir() string {
	dir, err := os.MkdirTemp("", "flow-example-")
	if err != nil {
		panic(err)
	}
	t.dirs = append(t.dirs, dir)
	return dir
}

func (t *exampleTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	for _, d := range t.dirs {
		os.RemoveAll(d)
	}
}

var exampleOpts []flow.Option

func init() {
	if os.Getenv("FLOW_DEBUG") != "" {
		exampleOpts = append(exampleOpts, flow.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
}
