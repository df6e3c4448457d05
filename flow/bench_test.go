package flow

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/consumer/leasetest"
	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// pageView is the benchmark's record: about 100 bytes of JSON.
type pageView struct {
	Page   string `json:"page"`
	User   string `json:"user"`
	Status int    `json:"status"`
	Millis int    `json:"ms"`
	Agent  string `json:"agent"`
}

// preload writes n page views of about 100 bytes to a new stream of
// shards shards, through the producer (KPL aggregation on or off).
func preload(b *testing.B, srv *sluicetest.Server, stream string, shards, n int, aggregate bool) {
	ctx := context.Background()
	srv.CreateStream(ctx, stream, shards)
	p, err := producer.New(srv.Kinesis(), stream, producer.WithAggregation(aggregate), producer.WithShardRateLimit(0, 0))
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		data := fmt.Sprintf(`{"page":"/products/%04d","user":"u%07d","status":200,"ms":%3d,"agent":"%s"}`, i%1000, i%100000, i%1000, strings.Repeat("x", 8))
		if _, err := p.PutAsync(ctx, fmt.Sprintf("u%07d", i%100000), []byte(data)); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPipeline_CountByKey is one pipeline process counting page views
// by page over 1-minute tumbling windows, reading a preloaded stream from
// the start, with the server in the same process:
//
//	go test ./flow -run '^$' -bench BenchmarkPipeline_CountByKey -benchtime 1x
func BenchmarkPipeline_CountByKey(b *testing.B) {
	for _, tc := range []struct {
		name      string
		aggregate bool
	}{{"kpl-aggregated", true}, {"plain", false}} {
		b.Run(tc.name, func(b *testing.B) {
			const n, shards = 400_000, 4
			srv := sluicetest.Start(b)
			preload(b, srv, "views", shards, n, tc.aggregate)
			ddb := leasetest.DynamoDBClient(srv.Endpoint())
			b.ResetTimer()
			for i := range b.N {
				var sink memSink
				sink.rows = map[string]Row{}
				p, err := New(fmt.Sprintf("bench-%d", i), srv.Kinesis(), ddb, WithRetrieval(consumer.Polling{IdleTime: 50 * time.Millisecond}))
				if err != nil {
					b.Fatal(err)
				}
				views := JSON[pageView](Source(p, "views"))
				byPage := KeyBy(views, func(v pageView) string { return v.Page }, "page")
				AggregateWindows(byPage, "views_per_page", Tumbling(time.Minute), testCount{"views"}).To(&sink)
				ctx, cancel := context.WithCancel(context.Background())
				var done atomic.Bool
				go func() { p.Run(ctx); done.Store(true) }()
				start, cpu0 := time.Now(), cpuTime()
				for p.Stats().Records < n {
					time.Sleep(5 * time.Millisecond)
				}
				elapsed, cpu := time.Since(start), cpuTime()-cpu0
				b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
				b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/record")
				cancel()
				for !done.Load() {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
}

// cpuTime is the CPU time this process used, user and system: the
// pipeline's, the in-process server's and the SDK's together.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkShardRun_Stage1 measures stage 1's own work per record, without
// a server: JSON decoding, keying and folding into a 1-minute window, the
// way BenchmarkPipeline_CountByKey's pipeline does it.
//
//	go test ./flow -run '^$' -bench BenchmarkShardRun_Stage1
func BenchmarkShardRun_Stage1(b *testing.B) {
	p, err := New("bench", &kinesis.Client{}, &dynamodb.Client{})
	if err != nil {
		b.Fatal(err)
	}
	views := JSON[pageView](Source(p, "views"))
	byPage := KeyBy(views, func(v pageView) string { return v.Page }, "page")
	AggregateWindows(byPage, "views_per_page", Tumbling(time.Minute), testCount{"views"}).To(newMemSink())
	rt := &runtime{p: p, shards: map[*shardRun]struct{}{}}
	r := newShardRun(rt, p.sources[0], "shardId-000000000000")
	if err := r.Initialize(context.Background(), consumer.InitializeInput{ShardID: r.shardID}); err != nil {
		b.Fatal(err)
	}
	const batch = 10000
	now := time.Now()
	recs := make([]consumer.Record, batch)
	for i := range recs {
		data := fmt.Sprintf(`{"page":"/products/%04d","user":"u%07d","status":200,"ms":%3d,"agent":"%s"}`, i%1000, i%100000, i%1000, strings.Repeat("x", 8))
		recs[i].Data = []byte(data)
		recs[i].PartitionKey = aws.String("k")
		recs[i].ApproximateArrivalTimestamp = aws.Time(now)
	}
	b.ReportAllocs()
	b.ResetTimer()
	seq := 0
	var cpu time.Duration
	for range b.N {
		b.StopTimer()
		for i := range recs {
			seq++
			recs[i].SequenceNumber = aws.String(fmt.Sprintf("%020d", seq))
		}
		b.StartTimer()
		cpu0 := cpuTime()
		if err := r.ProcessRecords(context.Background(), consumer.ProcessRecordsInput{ShardID: r.shardID, Records: recs}); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - cpu0
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*batch), "cpu-ns/record")
}
