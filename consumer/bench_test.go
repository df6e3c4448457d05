package consumer_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/consumer/leasetest"
	"github.com/sluicehq/sluice/sluicetest"
)

// BenchmarkConsumer_Throughput measures records/s through one worker that
// reads a preloaded stream (100-byte records) from TRIM_HORIZON to its end
// with a processor that does nothing, checkpointing after each batch, the
// lease table in the same server.
func BenchmarkConsumer_Throughput(b *testing.B) {
	const records = 100000
	for _, bc := range []struct {
		retrieval string
		shards    int
	}{{"polling", 1}, {"polling", 4}, {"polling", 1000}, {"fanout", 1}, {"fanout", 4}} {
		shards := bc.shards
		b.Run(fmt.Sprintf("retrieval=%s/shards=%d", bc.retrieval, shards), func(b *testing.B) {
			srv := sluicetest.Start(b, sluicetest.WithShardLimit(shards))
			ctx := context.Background()
			srv.CreateStream(ctx, "bench", shards)
			kc := srv.Kinesis()
			data := make([]byte, 100)
			for i := 0; i < records; i += 500 {
				entries := make([]types.PutRecordsRequestEntry, 500)
				for j := range entries {
					entries[j] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(i + j)), Data: data}
				}
				out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("bench"), Records: entries})
				if err != nil || aws.ToInt32(out.FailedRecordCount) > 0 {
					b.Fatalf("load: %v", err)
				}
			}
			ddb := leasetest.DynamoDBClient(srv.Endpoint())
			b.ResetTimer()
			var total, cpu time.Duration
			for i := 0; i < b.N; i++ {
				var n atomic.Int64
				done := make(chan struct{})
				store := consumer.NewDynamoDBLeaseStore(ddb, fmt.Sprintf("bench-%d-%d", shards, i))
				var opts []consumer.Option
				if bc.retrieval == "fanout" {
					opts = append(opts, consumer.WithRetrieval(consumer.FanOut{ConsumerName: fmt.Sprintf("bench-%d", i)}))
				}
				c, err := consumer.New(kc, store, "bench", consumer.Func(func(ctx context.Context, in consumer.ProcessRecordsInput) error {
					if n.Add(int64(len(in.Records))) == records {
						close(done)
					}
					return nil
				}), opts...)
				if err != nil {
					b.Fatal(err)
				}
				runCtx, cancel := context.WithCancel(ctx)
				start, cpu0 := time.Now(), processCPU()
				ran := make(chan error, 1)
				go func() { ran <- c.Run(runCtx) }()
				<-done
				total += time.Since(start)
				cpu += processCPU() - cpu0
				cancel()
				<-ran
			}
			b.ReportMetric(float64(records*b.N)/total.Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(records*b.N)/1e3, "cpu-µs/record")
		})
	}
}

// processCPU is the CPU time this process used, user and system: the
// consumer's, the in-process server's and the SDK's together.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
