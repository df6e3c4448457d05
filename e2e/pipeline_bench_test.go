package e2e

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
settings: {repartition_shards: 1}   # one stage-2 shard writes each window's rows at once
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
//
// (SLUICE_DUCKDB_BIN=path uses a sluice built with -tags duckdb already.)
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
	cmd := exec.CommandContext(ctx, bin, "pipeline", "run", file, "--endpoint", s.Endpoint, "--report-interval", "0", "--metrics-addr", "127.0.0.1:0")
	cmd.Env = append(cliEnv(b), "SLUICE_TEST_POSTGRES_DSN="+dsn)
	stderr := &tailBuffer{max: 1 << 20}
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

	// Note when each window's rows are first seen. In PostgreSQL by a
	// query every 10 ms. A DuckDB file cannot be read that often without
	// holding the writer off (a reader holds the file while it has it
	// open), so there the rows count as queryable when the pipeline's
	// /metrics says every sink acknowledged them (the sink commits,
	// checkpoints and detaches the file before that), read every 10 ms;
	// the file is queried at the end to check that they are all there.
	seen := map[int64]time.Time{}
	var poll func() ([]int64, error)
	switch sink {
	case "duckdb":
		url := metricsURL(b, ctx, stderr)
		poll = func() ([]int64, error) {
			resp, err := http.Get(url)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			for _, l := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(l, "sluice_pipeline_last_window_end_seconds{") {
					f, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
					if err != nil {
						return nil, err
					}
					return []int64{int64(math.Round(f * 1000))}, nil
				}
			}
			return nil, nil
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
			// The gauge shows the latest window: every earlier one is in.
			for w := e; sink == "duckdb" && len(seen) > 0 && w > 0; w -= 1000 {
				if _, ok := seen[w]; ok {
					break
				}
				seen[w] = now
			}
			if _, ok := seen[e]; !ok {
				seen[e] = now
			}
		}
		time.Sleep(10 * time.Millisecond)
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
	if sink == "duckdb" {
		// Every window counted is in the file, with its 50 pages.
		out, err := exec.CommandContext(ctx, bin, "pipeline", "query", filepath.Join(dir, "r.duckdb"),
			fmt.Sprintf("SELECT count(*) FROM views WHERE epoch_ms(window_end) BETWEEN %d AND %d", ends[warmup], ends[len(ends)-1])).Output()
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("\n%d", 50*(len(ends)-warmup))) {
			b.Fatalf("rows in the file: %v %s", err, out)
		}
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.9), "p90-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

var metricsURLRe = regexp.MustCompile(`msg="serving metrics" url=(\S+)`)

// metricsURL waits for `sluice pipeline run` to say where its /metrics is.
func metricsURL(b *testing.B, ctx context.Context, stderr *tailBuffer) string {
	for ctx.Err() == nil {
		if m := metricsURLRe.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("no metrics address; stderr:\n%s", stderr.String())
	return ""
}
