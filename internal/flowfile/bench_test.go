package flowfile

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/consumer/leasetest"
	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/metrics"
	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// benchView is the benchmarks' record: about 100 bytes of JSON, as
// flow's own benchmarks use.
type benchView struct {
	Page   string `json:"page"`
	User   string `json:"user"`
	Status int    `json:"status"`
	Millis int    `json:"ms"`
	Agent  string `json:"agent"`
}

func benchRecord(i int) []byte {
	return fmt.Appendf(nil, `{"page":"/products/%04d","user":"u%07d","status":%d,"ms":%3d,"agent":"%s"}`,
		i%1000, i%100000, 200+i%7*50, i%1000, strings.Repeat("x", 8))
}

// benchFile is the pipeline both benchmarks run: views of non-error pages
// counted per page over 1-minute windows of arrival time, with their
// latency summed.
const benchFile = `pipeline: bench
sources: views
schema: {page: string, status: int, ms: int}
filter: status < 500
aggregations:
  - table: views_per_page
    key: page
    window: {type: tumbling, size: 1m}
    aggregates: {views: count(), total_ms: sum(ms)}
    sinks: [metrics]
`

// BenchmarkRecordPath measures one record's way through the operators of
// benchFile without a server: decoding, the filter, the key and the
// aggregate's input, in CEL (what `sluice pipeline run` does) and in Go
// (what the equivalent Go pipeline does, decoding into a struct or into a
// map as the runner does):
//
//	go test ./internal/flowfile -run '^$' -bench BenchmarkRecordPath
func BenchmarkRecordPath(b *testing.B) {
	recs := make([]flow.Record, 1000)
	for i := range recs {
		recs[i] = flow.Record{Data: benchRecord(i), PartitionKey: "k", ArrivalTime: time.Now()}
	}
	b.Run("cel", func(b *testing.B) {
		s, err := Parse("bench.yaml", []byte(benchFile), nil)
		if err != nil {
			b.Fatal(err)
		}
		a := &s.aggs[0]
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			v, err := s.decode(recs[i%len(recs)])
			if err != nil {
				b.Fatal(err)
			}
			if v, err = s.runFilter(v); err != nil {
				b.Fatal(err)
			}
			if !v.keep {
				continue
			}
			if _, err := a.key(v); err != nil {
				b.Fatal(err)
			}
			if _, err := a.funcs[1].prg.evalGo(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-struct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var v benchView
			if err := json.Unmarshal(recs[i%len(recs)].Data, &v); err != nil {
				b.Fatal(err)
			}
			if v.Status >= 500 {
				continue
			}
			_ = []any{v.Page}
			_ = any(int64(v.Millis))
		}
	})
	b.Run("go-map", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var v map[string]any
			if err := json.Unmarshal(recs[i%len(recs)].Data, &v); err != nil {
				b.Fatal(err)
			}
			if v["status"].(float64) >= 500 {
				continue
			}
			_ = []any{v["page"].(string)}
			_ = any(int64(v["ms"].(float64)))
		}
	})
}

// BenchmarkPipeline_CountByKey runs benchFile through Build and the same
// pipeline written in Go, in turn, each reading a preloaded stream of
// 200,000 records of about 100 bytes over 4 shards from the start, with
// the server in the same process; records/s from Run to the last record
// read, and the process's CPU time per record:
//
//	go test ./internal/flowfile -run '^$' -bench BenchmarkPipeline_CountByKey -benchtime 3x -v
func BenchmarkPipeline_CountByKey(b *testing.B) {
	const n, shards = 200_000, 4
	srv := sluicetest.Start(b)
	ctx := context.Background()
	srv.CreateStream(ctx, "views", shards)
	p, err := producer.New(srv.Kinesis(), "views", producer.WithShardRateLimit(0, 0))
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := p.PutAsync(ctx, fmt.Sprintf("u%07d", i%100000), benchRecord(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	ddb := leasetest.DynamoDBClient(srv.Endpoint())
	polling := flow.WithRetrieval(consumer.Polling{IdleTime: 50 * time.Millisecond})
	// measure runs pl until it read every record: records/s, CPU µs/record.
	measure := func(pl *flow.Pipeline) (float64, float64) {
		ctx, cancel := context.WithCancel(context.Background())
		var done atomic.Bool
		go func() { pl.Run(ctx); done.Store(true) }()
		start, cpu0 := time.Now(), cpuTime()
		for pl.Stats().Records < n {
			time.Sleep(5 * time.Millisecond)
		}
		elapsed, cpu := time.Since(start), cpuTime()-cpu0
		cancel()
		for !done.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		return float64(n) / elapsed.Seconds(), float64(cpu.Microseconds()) / n
	}
	yaml := func(run int) *flow.Pipeline {
		src := strings.Replace(benchFile, "pipeline: bench", fmt.Sprintf("pipeline: bench-yaml-%d", run), 1)
		s, err := Parse("bench.yaml", []byte(src), nil)
		if err != nil {
			b.Fatal(err)
		}
		built, err := s.Build(ctx, Deps{Kinesis: srv.Kinesis(), DynamoDB: ddb, Registerer: prometheus.NewRegistry(), Options: []flow.Option{polling}}, "bench.yaml")
		if err != nil {
			b.Fatal(err)
		}
		return built.Pipeline
	}
	golang := func(run int) *flow.Pipeline {
		pl, err := flow.New(fmt.Sprintf("bench-go-%d", run), srv.Kinesis(), ddb, polling)
		if err != nil {
			b.Fatal(err)
		}
		views := flow.JSON[benchView](flow.Source(pl, "views"))
		ok := flow.Filter(views, func(v benchView) bool { return v.Status < 500 })
		byPage := flow.KeyBy(ok, func(v benchView) string { return v.Page }, "page")
		flow.AggregateWindows(byPage, "views_per_page", flow.Tumbling(time.Minute), flow.Count("views", nil),
			flow.Sum("total_ms", flow.Int, flow.From(func(v benchView) int64 { return int64(v.Millis) }))).
			To(metrics.New(prometheus.NewRegistry()))
		return pl
	}
	// The two in turn, so that both see the same machine.
	var yRate, yCPU, gRate, gCPU float64
	run := 0
	for b.Loop() {
		run++
		yr, yc := measure(yaml(run))
		gr, gc := measure(golang(run))
		yRate, yCPU, gRate, gCPU = yRate+yr, yCPU+yc, gRate+gr, gCPU+gc
		b.Logf("run %d: file %.0f records/s %.2f cpu-µs/record; Go %.0f records/s %.2f cpu-µs/record", run, yr, yc, gr, gc)
	}
	k := float64(run)
	b.ReportMetric(yRate/k, "file-records/s")
	b.ReportMetric(gRate/k, "go-records/s")
	b.ReportMetric(yCPU/k, "file-cpu-µs/record")
	b.ReportMetric(gCPU/k, "go-cpu-µs/record")
}

// cpuTime is the CPU time of this process, user and system: the
// pipeline's, the in-process server's and the SDK's together.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
