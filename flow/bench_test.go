package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	jsonv1 "github.com/go-json-experiment/json/v1"

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
				AggregateWindows(byPage, "views_per_page", Tumbling(time.Minute), Count("views", nil)).To(&sink)
				ctx, cancel := context.WithCancel(context.Background())
				var done atomic.Bool
				go func() { p.Run(ctx); done.Store(true) }()
				stopProfile := profileRun(b, tc.name)
				start, cpu0 := time.Now(), cpuTime()
				run0, wait0, sched := schedTime()
				var mem0, mem1 goruntime.MemStats
				goruntime.ReadMemStats(&mem0)
				for p.Stats().Records < n {
					time.Sleep(5 * time.Millisecond)
				}
				elapsed, cpu := time.Since(start), cpuTime()-cpu0
				run1, wait1, _ := schedTime()
				goruntime.ReadMemStats(&mem1)
				stopProfile()
				b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
				b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/record")
				b.ReportMetric(float64(mem1.Mallocs-mem0.Mallocs)/n, "allocs/record")
				b.ReportMetric(float64(mem1.TotalAlloc-mem0.TotalAlloc)/n, "B/record")
				if sched {
					// Cores the process ran on, and cores' worth of time its
					// threads were ready to run but waited for a core: their
					// sum near GOMAXPROCS (2) means CPU-bound, and the
					// second part is what other work on the machine took.
					b.ReportMetric((run1-run0).Seconds()/elapsed.Seconds(), "cores-running")
					b.ReportMetric((wait1-wait0).Seconds()/elapsed.Seconds(), "cores-waiting")
				}
				cancel()
				for !done.Load() {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
}

// profileRun starts a CPU profile of the measured part of a run (the
// preload left out) when FLOW_BENCH_CPUPROFILE names a file prefix:
//
//	FLOW_BENCH_CPUPROFILE=/tmp/flow go test ./flow -run '^$' -bench BenchmarkPipeline_CountByKey -benchtime 1x
//
// writes /tmp/flow-plain.pprof and /tmp/flow-kpl-aggregated.pprof.
func profileRun(b *testing.B, name string) (stop func()) {
	prefix := os.Getenv("FLOW_BENCH_CPUPROFILE")
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(prefix + "-" + name + ".pprof")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// schedTime sums the scheduler's statistics of the process's threads
// (Linux): time running on a core and time ready to run but waiting for
// one. ok is false where /proc does not have them.
func schedTime() (run, wait time.Duration, ok bool) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, 0, false
	}
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended
		}
		var r, w int64
		if _, err := fmt.Sscan(string(b), &r, &w); err != nil {
			return 0, 0, false
		}
		run, wait = run+time.Duration(r), wait+time.Duration(w)
	}
	return run, wait, true
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
	AggregateWindows(byPage, "views_per_page", Tumbling(time.Minute), Count("views", nil)).To(newMemSink())
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

// latencyMetrics records, for each window written, how long after the
// window's end (on the clock: arrival time is event time) its rows were
// acknowledged by the sink.
type latencyMetrics struct {
	NopMetrics
	mu   sync.Mutex
	lags []time.Duration
	seen map[int64]bool
}

func (m *latencyMetrics) RowsWritten(_ string, _ int, end time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.seen[end.UnixMilli()] {
		m.seen[end.UnixMilli()] = true
		m.lags = append(m.lags, time.Since(end))
	}
}

// BenchmarkWindowLatency measures the time from a window's end to its rows
// acknowledged by a sink that upserts into a DynamoDB table on the server
// (one PutItem per row), for 1-second tumbling windows of arrival time
// over 4 shards with a steady load of 2,000 records/s:
//
//	go test ./flow -run '^$' -bench BenchmarkWindowLatency -benchtime 1x
//
// The window's end is when the watermark can first pass it; the figure
// includes reading the record that moves it, the partials' round trip
// through the repartition stream and the marker interval.
func BenchmarkWindowLatency(b *testing.B) {
	srv := sluicetest.Start(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv.CreateStream(ctx, "clicks", 4)
	ddb := leasetest.DynamoDBClient(srv.Endpoint())
	m := &latencyMetrics{seen: map[int64]bool{}}
	p, err := New("latency", srv.Kinesis(), ddb, WithMetrics(m))
	if err != nil {
		b.Fatal(err)
	}
	views := JSON[click](Source(p, "clicks"))
	byPage := KeyBy(views, func(c click) string { return c.Page }, "page")
	AggregateWindows(byPage, "views", Tumbling(time.Second), Count("views", nil), Sum("bytes", Int, From(func(c click) int64 { return c.Bytes }))).
		To(&ddbSink{ddb: ddb, table: "latency_rows"})
	go p.Run(ctx)
	prod, err := producer.New(srv.Kinesis(), "clicks", producer.WithLinger(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for i := 0; ctx.Err() == nil; i++ {
			<-t.C
			for j := range 20 {
				data, _ := json.Marshal(click{Page: fmt.Sprintf("/p%d", (i+j)%50), Bytes: int64(j)})
				prod.PutAsync(ctx, fmt.Sprintf("u%d", (i*20+j)%1000), data)
			}
		}
	}()
	windows := 30 * b.N
	for {
		m.mu.Lock()
		n := len(m.lags)
		m.mu.Unlock()
		if n >= windows+3 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.mu.Lock()
	lags := slices.Clone(m.lags[3:]) // the first windows wait for the start
	m.mu.Unlock()
	slices.Sort(lags)
	pct := func(q float64) float64 { return float64(lags[int(q*float64(len(lags)-1))].Milliseconds()) }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.9), "p90-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// recoveryWorker is BenchmarkRecovery's worker process: clicks counted per
// page over 1-second windows of arrival time, into a DynamoDB table.
func recoveryWorker() int {
	endpoint, worker := os.Getenv("FLOW_RECOVERY_ENDPOINT"), os.Getenv("FLOW_RECOVERY_WORKER")
	failover, _ := time.ParseDuration(os.Getenv("FLOW_RECOVERY_FAILOVER"))
	log := testLogger().With("worker", worker)
	ddb := leasetest.DynamoDBClient(endpoint)
	kc := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: ddb.Options().Credentials})
	p, err := New("recovery", kc, ddb, WithWorkerID(worker), WithLogger(log), WithFailoverTime(failover))
	if err != nil {
		log.Error("new pipeline", "err", err)
		return 1
	}
	views := JSON[click](Source(p, "clicks"))
	byPage := KeyBy(views, func(c click) string { return c.Page }, "page")
	AggregateWindows(byPage, "views", Tumbling(time.Second), Count("records", nil), Sum("n", Int, From(func(c click) int64 { return c.Bytes }))).
		To(&ddbSink{ddb: ddb, table: "recovery_rows"})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := p.Run(ctx); err != nil {
		log.Error("run", "err", err)
		return 1
	}
	return 0
}

// BenchmarkRecovery kills one of two worker processes with SIGKILL under a
// steady load and measures how long until rows are written again for a
// window that ended after the kill (the killed worker's shards, of both
// stages, taken over by the other and read again from their checkpoints).
// Windows are 1 second of arrival time; without a kill a window's rows
// are written about half a second after its end.
//
//	go test ./flow -run '^$' -bench BenchmarkRecovery -benchtime 1x
func BenchmarkRecovery(b *testing.B) {
	for _, failover := range []time.Duration{10 * time.Second, 3 * time.Second} {
		b.Run("failover="+failover.String(), func(b *testing.B) {
			srv := sluicetest.Start(b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srv.CreateStream(ctx, "clicks", 4)
			ddb := leasetest.DynamoDBClient(srv.Endpoint())
			prod, err := producer.New(srv.Kinesis(), "clicks", producer.WithLinger(10*time.Millisecond))
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				t := time.NewTicker(10 * time.Millisecond)
				defer t.Stop()
				for i := 0; ctx.Err() == nil; i++ {
					<-t.C
					for j := range 10 {
						data, _ := json.Marshal(click{Page: fmt.Sprintf("/p%d", (i+j)%20), Bytes: 1})
						prod.PutAsync(ctx, fmt.Sprintf("u%d", (i*10+j)%1000), data)
					}
				}
			}()
			start := func(id string) *exec.Cmd {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "FLOW_RECOVERY_WORKER="+id, "FLOW_RECOVERY_ENDPOINT="+srv.Endpoint(), "FLOW_RECOVERY_FAILOVER="+failover.String())
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
				return cmd
			}
			var total time.Duration
			for i := range b.N {
				w1, w2 := start(fmt.Sprintf("a%d", i)), start(fmt.Sprintf("b%d", i))
				// Wait until both hold leases and windows are written.
				lt := consumer.NewDynamoDBLeaseStore(ddb, "recovery.clicks")
				for {
					time.Sleep(500 * time.Millisecond)
					ls, err := lt.ListLeases(ctx)
					owners := map[string]bool{}
					for _, l := range ls {
						owners[l.Owner] = true
					}
					if err == nil && len(owners) == 2 && !owners[""] && latestRow(b, ddb) > time.Now().Add(-10*time.Second).UnixMilli() {
						break
					}
				}
				w1.Process.Kill()
				w1.Wait()
				killed := time.Now()
				for latestRow(b, ddb) < killed.UnixMilli() {
					time.Sleep(20 * time.Millisecond)
				}
				total += time.Since(killed)
				w2.Process.Kill() // the next round starts afresh
				w2.Wait()
				time.Sleep(failover + time.Second) // its leases expire
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "recovery-s")
		})
	}
}

// latestRow is the end (ms) of the latest window in recovery_rows.
func latestRow(b *testing.B, ddb *dynamodb.Client) int64 {
	var latest int64
	in := &dynamodb.ScanInput{TableName: aws.String("recovery_rows"), ConsistentRead: aws.Bool(true)}
	for {
		out, err := ddb.Scan(context.Background(), in)
		if err != nil {
			return 0
		}
		for _, it := range out.Items {
			start, _ := strconv.ParseInt(it["start"].(*ddbtypes.AttributeValueMemberN).Value, 10, 64)
			latest = max(latest, start+time.Second.Milliseconds())
		}
		if len(out.LastEvaluatedKey) == 0 {
			return latest
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// BenchmarkJSON_Decode compares, per record of the pipeline benchmark,
// encoding/json's Unmarshal with the decoder JSON uses (encoding/json's
// behaviour on the v2 engine), into a struct and into map[string]any:
//
//	go test ./flow -run '^$' -bench BenchmarkJSON_Decode
func BenchmarkJSON_Decode(b *testing.B) {
	recs := make([][]byte, 1000)
	for i := range recs {
		recs[i] = fmt.Appendf(nil, `{"page":"/products/%04d","user":"u%07d","status":200,"ms":%3d,"agent":"%s"}`, i%1000, i%100000, i%1000, strings.Repeat("x", 8))
	}
	decoders := []struct {
		name      string
		unmarshal func([]byte, any) error
	}{{"encoding-json", json.Unmarshal}, {"json-v1-on-v2", jsonv1.Unmarshal}}
	for _, d := range decoders {
		b.Run("struct/"+d.name, func(b *testing.B) {
			decodeLoop(b, recs, func(data []byte) error { var v pageView; return d.unmarshal(data, &v) })
		})
	}
	for _, d := range decoders {
		b.Run("map/"+d.name, func(b *testing.B) {
			decodeLoop(b, recs, func(data []byte) error { var v map[string]any; return d.unmarshal(data, &v) })
		})
	}
}

func decodeLoop(b *testing.B, recs [][]byte, decode func([]byte) error) {
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		if err := decode(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
