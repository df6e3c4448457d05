package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/producer"
)

// latencyFile counts records per page over 1-second windows of arrival
// time into one warehouse sink (SINK).
const latencyFile = `pipeline: PIPELINE
sources: clicks
schema: {page: string}
aggregations:
  - table: views
    key: page
    window: {type: tumbling, size: 1s}
    aggregates: {views: count()}
    sinks:
      - SINK
`

// BenchmarkPipelineRun_WindowLatency measures the time from a window's end
// to its rows being queryable in the warehouse, through `sluice pipeline
// run` (a sluice built with -tags duckdb) against `sluice serve`, under a
// steady 2,000 records/s over 4 shards, 1-second tumbling windows of
// arrival time (stamped by the server, on the same clock). DuckDB is read
// as a user reads it, by `sluice pipeline query` run in a loop (each query
// opens the file read-only; the figure includes up to one query's time);
// PostgreSQL by a query every 10 ms. It reports p50 and p99 over 30 windows
// after 3 of warm-up:
//
//	eval "$(bash .ci/start-postgres)"   # for the postgres case; durable: no --fast
//	go test ./e2e -run '^$' -bench BenchmarkPipelineRun_WindowLatency -benchtime 1x
func BenchmarkPipelineRun_WindowLatency(b *testing.B) {
	for _, sink := range []string{"duckdb", "postgres"} {
		b.Run(sink, func(b *testing.B) {
			dsn := os.Getenv("SLUICE_TEST_POSTGRES_DSN")
			if sink == "postgres" && dsn == "" {
				b.Skip(`SLUICE_TEST_POSTGRES_DSN is not set: eval "$(bash .ci/start-postgres)"`)
			}
			bin := sluiceDuckDBBench(b)
			for i := range b.N {
				windowLatency(b, bin, sink, dsn, i)
			}
		})
	}
}

func sluiceDuckDBBench(b *testing.B) string {
	if !cgoAvailable() {
		b.Skip("a sluice with DuckDB needs cgo and g++")
	}
	path, err := buildDuckDBSluice()
	if err != nil {
		b.Fatal(err)
	}
	return path
}

func windowLatency(b *testing.B, bin, sink, dsn string, run int) {
	s := startServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kc := s.Client()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("clicks"), ShardCount: aws.Int32(4)}); err != nil {
		b.Fatal(err)
	}
	if err := kinesis.NewStreamExistsWaiter(kc).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("clicks")}, time.Minute); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	name := fmt.Sprintf("latency-%s-%d", sink, run)
	schema := strings.ReplaceAll(name, "-", "_")
	sinkLine := "duckdb: " + filepath.Join(dir, "r.duckdb")
	if sink == "postgres" {
		sinkLine = fmt.Sprintf("postgres: {dsn: '${SLUICE_TEST_POSTGRES_DSN}', schema: %s}", schema)
	}
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte(strings.NewReplacer("PIPELINE", name, "SINK", sinkLine).Replace(latencyFile)), 0o644)
	cmd := exec.CommandContext(ctx, bin, "pipeline", "run", file, "--endpoint", s.Endpoint, "--report-interval", "0")
	cmd.Env = append(cliEnv(b), "SLUICE_TEST_POSTGRES_DSN="+dsn)
	stderr := &tailBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	// A steady 2,000 records/s: 20 every 10 ms, over 50 pages.
	p, err := producer.New(kc, "clicks", producer.WithLinger(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for i := 0; loadCtx.Err() == nil; i++ {
			<-t.C
			for j := range 20 {
				p.PutAsync(loadCtx, fmt.Sprintf("u%d", (i*20+j)%1000), fmt.Appendf(nil, `{"page":"/p%d"}`, (i+j)%50))
			}
		}
	}()
	defer func() { stopLoad(); wg.Wait(); p.Close(context.Background()) }()

	// Poll the warehouse; note when each window's rows are first seen.
	seen := map[int64]time.Time{}
	var poll func() ([]int64, error)
	switch sink {
	case "duckdb":
		db := filepath.Join(dir, "r.duckdb")
		poll = func() ([]int64, error) {
			if _, err := os.Stat(db); err != nil {
				return nil, nil
			}
			out, err := exec.CommandContext(ctx, bin, "pipeline", "query", db, "SELECT DISTINCT epoch_ms(window_end) FROM views").Output()
			if err != nil {
				return nil, nil // the table is not there yet, or the file is being written
			}
			var ends []int64
			for _, l := range strings.Split(string(out), "\n") {
				if v, err := strconv.ParseInt(strings.TrimSpace(l), 10, 64); err == nil {
					ends = append(ends, v)
				}
			}
			return ends, nil
		}
	case "postgres":
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(context.Background())
		}()
		poll = func() ([]int64, error) {
			rows, err := conn.Query(ctx, "SELECT DISTINCT (extract(epoch FROM window_end) * 1000)::bigint FROM "+schema+".views")
			if err != nil {
				return nil, nil // not created yet
			}
			return pgx.CollectRows(rows, pgx.RowTo[int64])
		}
	}
	const warmup, windows = 3, 30
	for len(seen) < warmup+windows {
		if ctx.Err() != nil {
			b.Fatalf("%d windows seen; pipeline stderr:\n%s", len(seen), stderr.String())
		}
		ends, err := poll()
		now := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range ends {
			if _, ok := seen[e]; !ok {
				seen[e] = now
			}
		}
		if sink == "postgres" {
			time.Sleep(10 * time.Millisecond)
		}
	}
	var ends []int64
	for e := range seen {
		ends = append(ends, e)
	}
	slices.Sort(ends)
	var lags []time.Duration
	for _, e := range ends[warmup:] {
		lags = append(lags, seen[e].Sub(time.UnixMilli(e)))
	}
	slices.Sort(lags)
	pct := func(q float64) float64 { return float64(lags[int(q*float64(len(lags)-1))].Milliseconds()) }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.9), "p90-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
