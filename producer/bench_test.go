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
// With quotas, each writer first spends the shards' initial burst (the
// server's and the producer's token buckets start full) by writing 4 MiB
// untimed, so the figures are the sustained rate. records/s is wall-clock
// throughput; cpu-µs/record is the CPU time of the whole process (client
// and server) per record, which a busy machine disturbs less.
func BenchmarkPut(b *testing.B) {
	for _, quotas := range []bool{false, true} {
		b.Run(fmt.Sprintf("quotas=%v", quotas), func(b *testing.B) { benchmarkPut(b, quotas) })
	}
}

const (
	benchShards     = 4
	benchRecordSize = 100
	benchInFlight   = 16
)

// writer writes records [from, to) and waits until each is stored.
type writer func(b *testing.B, from, to int)

func benchmarkPut(b *testing.B, quotas bool) {
	data := make([]byte, benchRecordSize)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	run := func(b *testing.B, newWriter func(*sluicetest.Server) writer) {
		var opts []sluicetest.Option
		if quotas {
			opts = append(opts, sluicetest.WithShardQuotas())
		}
		srv := sluicetest.Start(b, opts...)
		srv.CreateStream(context.Background(), "bench", benchShards)
		w := newWriter(srv)
		warm := 0
		if quotas {
			warm = benchShards << 20 / (benchRecordSize + 6) // the shards' byte burst
			w(b, -warm, 0)
		}
		cpu := cpuTime()
		b.ResetTimer()
		w(b, 0, b.N)
		b.StopTimer()
		b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Microsecond)/float64(b.N), "cpu-µs/record")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	}
	for _, aggregate := range []bool{true, false} {
		b.Run(fmt.Sprintf("producer/aggregation=%v", aggregate), func(b *testing.B) {
			run(b, func(srv *sluicetest.Server) writer {
				opts := []producer.Option{producer.WithAggregation(aggregate)}
				if !quotas {
					// Sluice does not throttle unless asked, so neither
					// does the producer here.
					opts = append(opts, producer.WithShardRateLimit(0, 0))
				}
				p, err := producer.New(srv.Kinesis(), "bench", opts...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { p.Close(context.Background()) })
				return func(b *testing.B, from, to int) {
					ctx := context.Background()
					futures := make([]*producer.Future, 0, to-from)
					for i := from; i < to; i++ {
						f, err := p.PutAsync(ctx, strconv.Itoa(i), data)
						if err != nil {
							b.Fatal(err)
						}
						futures = append(futures, f)
					}
					if err := p.Flush(ctx); err != nil {
						b.Fatal(err)
					}
					for _, f := range futures {
						if _, err := f.Wait(ctx); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		})
	}
	b.Run("PutRecords", func(b *testing.B) {
		run(b, func(srv *sluicetest.Server) writer {
			return func(b *testing.B, from, to int) { putRecords(b, srv.Kinesis(), data, from, to) }
		})
	})
}

// putRecords writes records [from, to) with PutRecords calls of 500
// records, benchInFlight at a time, retrying failed entries.
func putRecords(b *testing.B, c *kinesis.Client, data []byte, from, to int) {
	ctx := context.Background()
	next := atomic.Int64{}
	next.Store(int64(from))
	var wg sync.WaitGroup
	errs := make(chan error, benchInFlight)
	for range benchInFlight {
		wg.Go(func() {
			for {
				start := next.Add(500) - 500
				if start >= int64(to) {
					return
				}
				n := min(int64(to)-start, 500)
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
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
