package producer_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// BenchmarkPut writes 100-byte records into an in-process Sluice with 4
// shards through the producer with and without aggregation, and through
// hand-batched PutRecords calls of 500 records, 16 at a time (the
// producer's default concurrency), with the server's shard quotas off and
// then on (AWS's 1000 records/s and 1 MiB/s per shard). Run them in one go
// for a fair comparison:
//
//	go test -run XXX -bench BenchmarkPut -benchtime 40000x ./producer
//
// records/s is wall-clock throughput; cpu-µs/record is the CPU time of
// the whole process (client and server) per record, which a busy machine
// disturbs less.
func BenchmarkPut(b *testing.B) {
	for _, quotas := range []bool{false, true} {
		b.Run(fmt.Sprintf("quotas=%v", quotas), func(b *testing.B) { benchmarkPut(b, quotas) })
	}
}

func benchmarkPut(b *testing.B, quotas bool) {
	const shards, recordSize, inFlight = 4, 100, 16
	data := make([]byte, recordSize)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	setup := func(b *testing.B) *sluicetest.Server {
		var opts []sluicetest.Option
		if quotas {
			opts = append(opts, sluicetest.WithShardQuotas())
		}
		srv := sluicetest.Start(b, opts...)
		srv.CreateStream(context.Background(), "bench", shards)
		return srv
	}
	for _, aggregate := range []bool{true, false} {
		b.Run(fmt.Sprintf("producer/aggregation=%v", aggregate), func(b *testing.B) {
			srv := setup(b)
			ctx := context.Background()
			opts := []producer.Option{producer.WithAggregation(aggregate)}
			if !quotas {
				// Sluice does not throttle unless asked, so neither does
				// the producer here.
				opts = append(opts, producer.WithShardRateLimit(0, 0))
			}
			p, err := producer.New(srv.Kinesis(), "bench", opts...)
			if err != nil {
				b.Fatal(err)
			}
			cpu := cpuTime()
			futures := make([]*producer.Future, b.N)
			b.ResetTimer()
			for i := range b.N {
				if futures[i], err = p.PutAsync(ctx, strconv.Itoa(i), data); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			reportCPU(b, cpu)
			for _, f := range futures {
				if _, err := f.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			p.Close(ctx)
		})
	}
	b.Run("PutRecords", func(b *testing.B) {
		srv := setup(b)
		ctx := context.Background()
		c := srv.Kinesis()
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, inFlight)
		cpu := cpuTime()
		b.ResetTimer()
		for range inFlight {
			wg.Go(func() {
				for {
					start := next.Add(500) - 500
					if start >= int64(b.N) {
						return
					}
					n := min(int64(b.N)-start, 500)
					entries := make([]types.PutRecordsRequestEntry, n)
					for i := range entries {
						entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(strconv.FormatInt(start+int64(i), 10)), Data: data}
					}
					for len(entries) > 0 {
						out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("bench"), Records: entries})
						if err != nil {
							errs <- err
							return
						}
						var failed []types.PutRecordsRequestEntry
						for i, r := range out.Records {
							if r.ErrorCode != nil {
								failed = append(failed, entries[i])
							}
						}
						entries = failed
						if len(failed) > 0 {
							time.Sleep(100 * time.Millisecond) // throttled: let the quota refill
						}
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		reportCPU(b, cpu)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(cpuTime()-since)/float64(time.Microsecond)/float64(b.N), "cpu-µs/record")
}
