package main

// `sluice bench`: a load generator for any Kinesis endpoint. The core is
// benchmark, which a Go test or benchmark can call with any client.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/bits"
	mrand "math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const (
	// benchReadLimit is the most records one GetRecords may return.
	benchReadLimit = 10000
	// benchMaxRecordSize is the largest record Kinesis accepts (10 MiB).
	benchMaxRecordSize = 10 << 20
	// benchKeyPool is how many random partition keys --random-keys cycles
	// through: enough for MD5 to spread them evenly over many shards.
	benchKeyPool = 4096
	// benchErrorPause keeps a producer from spinning on a failing endpoint.
	benchErrorPause = 100 * time.Millisecond
)

func runBench(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) > 0 && args[0] == "hostile" {
		return runBenchHostile(ctx, env, args[1:])
	}
	fs := newFlagSet(env, "bench", "sluice bench --stream NAME [flags]\n       sluice bench hostile --attack KIND [flags]  (hostile load: see sluice bench hostile -h)")
	var cf clientFlags
	cf.register(fs, env)
	var cfg benchConfig
	fs.StringVar(&cfg.Stream, "stream", "", "`name` or ARN of the stream to load (required)")
	create := fs.Bool("create", false, "create the stream with --shards shards if it does not exist, and wait until it is ACTIVE")
	shards := fs.Int("shards", 4, "number of `shards` for --create")
	del := fs.Bool("delete", false, "delete the stream when the benchmark ends")
	fs.IntVar(&cfg.Producers, "producers", 4, "number of concurrent producers, each with one PutRecords request in flight")
	fs.IntVar(&cfg.RecordSize, "record-size", 100, "`bytes` of random data per record")
	fs.IntVar(&cfg.Batch, "batch", putMaxRecords, "`records` per PutRecords request (1 to 500)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long the put phase runs")
	fs.BoolVar(&cfg.RandomKeys, "random-keys", false, "give each record a random partition key (default: spread records evenly over the open shards with ExplicitHashKey)")
	fs.BoolVar(&cfg.Read, "read", false, "after the put phase, read the whole stream from TRIM_HORIZON, one reader per shard, and check that no record is missing")
	asJSON := fs.Bool("json", false, "print the result as one line of JSON instead of text")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load generator itself to `file`, to see what the client costs")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError(fs, "bench: unexpected arguments %q", pos)
	}
	if cfg.Stream == "" {
		return usageError(fs, "bench: --stream is required")
	}
	if err := cfg.validate(); err != nil {
		return usageError(fs, "bench: %v", err)
	}
	if *shards < 1 || *shards > math.MaxInt32 {
		return usageError(fs, "bench: --shards must be at least 1")
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	if *create {
		if err := ensureStream(ctx, client, cfg.Stream, *shards); err != nil {
			return err
		}
	}
	progress := &benchProgressPrinter{w: env.stderr}
	cfg.Progress = progress.print
	cfg.Logger = slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := benchmark(ctx, client, cfg)
	if res.Put.Elapsed > 0 {
		if *asJSON {
			if jerr := json.NewEncoder(env.stdout).Encode(res.summary(cfg)); jerr != nil && err == nil {
				err = fmt.Errorf("write result: %w", jerr)
			}
		} else {
			res.writeReport(env.stdout, cfg)
		}
	}
	if *del {
		// Clean up even after a failed run; ctx may be cancelled by then.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		name, arn := streamRef(cfg.Stream)
		if _, derr := client.DeleteStream(dctx, &kinesis.DeleteStreamInput{StreamName: name, StreamARN: arn}); derr != nil {
			err = errors.Join(err, fmt.Errorf("delete stream %s: %w", cfg.Stream, derr))
		}
	}
	return err
}

type benchStreamAPI interface {
	kinesis.DescribeStreamAPIClient
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	CreateStream(ctx context.Context, in *kinesis.CreateStreamInput, optFns ...func(*kinesis.Options)) (*kinesis.CreateStreamOutput, error)
}

// ensureStream creates the stream unless it exists, then waits until it is
// ACTIVE. An existing stream is used as it is, whatever its shard count.
func ensureStream(ctx context.Context, api benchStreamAPI, stream string, shards int) error {
	name, arn := streamRef(stream)
	_, err := api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name, StreamARN: arn})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		_, err := api.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(int32(shards))})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) { // inUse: someone else just created it
			return fmt.Errorf("create stream %s: %w", stream, err)
		}
	case err != nil:
		return fmt.Errorf("describe stream %s: %w", stream, err)
	}
	return waitActive(ctx, api, stream, streamWaitTimeout)
}

// benchConfig configures one benchmark run. Producers, RecordSize, Batch
// and Duration must be positive; see validate.
type benchConfig struct {
	Stream     string
	Producers  int           // concurrent PutRecords callers
	RecordSize int           // bytes of random data per record
	Batch      int           // records per PutRecords request, at most 500
	Duration   time.Duration // length of the put phase
	// RandomKeys gives records random partition keys; otherwise records
	// go round-robin to the open shards by ExplicitHashKey.
	RandomKeys bool
	// Read reads the whole stream back after the put phase.
	Read bool
	// Progress, if set, is called every ProgressEvery (default a second)
	// in each phase.
	Progress      func(benchProgress)
	ProgressEvery time.Duration
	// Logger receives warnings about retried reads; nil discards them.
	Logger *slog.Logger
}

func (c benchConfig) validate() error {
	switch {
	case c.Producers < 1:
		return fmt.Errorf("--producers must be at least 1, got %d", c.Producers)
	case c.Batch < 1 || c.Batch > putMaxRecords:
		return fmt.Errorf("--batch must be 1 to %d, got %d", putMaxRecords, c.Batch)
	case c.RecordSize < 1 || c.RecordSize > benchMaxRecordSize:
		return fmt.Errorf("--record-size must be 1 to %d bytes, got %d", benchMaxRecordSize, c.RecordSize)
	case c.Duration <= 0:
		return fmt.Errorf("--duration must be positive, got %v", c.Duration)
	}
	return nil
}

// benchProgress is a snapshot of the running phase; counts are totals so far.
type benchProgress struct {
	Phase   string // "put" or "read"
	Elapsed time.Duration
	Records int64
	Bytes   int64
	Failed  int64
}

// benchResult is the outcome of benchmark.
type benchResult struct {
	Shards int // open shards when the put phase began
	Put    benchPhase
	Read   *benchPhase // nil unless benchConfig.Read
}

// benchPhase measures one phase. Records and Bytes count only records that
// were written (put) or read (read).
type benchPhase struct {
	Records  int64
	Bytes    int64
	Failed   int64 // put: records rejected in PutRecords results or lost with failed requests
	Requests int64 // calls that returned a response
	Errors   int64 // calls that failed entirely after the SDK's retries
	Elapsed  time.Duration
	Latency  latencySummary // of the calls that returned a response
}

func (p benchPhase) recordsPerSec() float64 { return perSec(float64(p.Records), p.Elapsed) }

// mbPerSec is throughput of record data in MB (10^6 bytes) per second.
func (p benchPhase) mbPerSec() float64 { return perSec(float64(p.Bytes)/1e6, p.Elapsed) }

func perSec(v float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return v / d.Seconds()
}

type benchAPI interface {
	listShardsAPI
	putRecordsAPI
	shardReadAPI
}

// benchmark puts records for cfg.Duration with cfg.Producers concurrent
// producers and, with cfg.Read, then reads the whole stream back. The
// stream must exist. A read phase that finds fewer records than were
// written returns the result and an error.
func benchmark(ctx context.Context, api benchAPI, cfg benchConfig) (benchResult, error) {
	if err := cfg.validate(); err != nil {
		return benchResult{}, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	shards, err := listShards(ctx, api, cfg.Stream)
	if err != nil {
		return benchResult{}, err
	}
	var hashKeys []string
	for _, s := range shards {
		if isOpen(s) && s.HashKeyRange != nil {
			hashKeys = append(hashKeys, aws.ToString(s.HashKeyRange.StartingHashKey))
		}
	}
	res := benchResult{Shards: len(hashKeys)}
	gen, err := newRecordGen(cfg, hashKeys)
	if err != nil {
		return res, err
	}
	res.Put, err = benchPut(ctx, api, cfg, gen)
	if err != nil || !cfg.Read {
		return res, err
	}
	read, err := benchRead(ctx, api, cfg)
	res.Read = &read
	if err != nil {
		return res, err
	}
	if read.Records < res.Put.Records {
		return res, fmt.Errorf("read back %d records, fewer than the %d written", read.Records, res.Put.Records)
	}
	return res, nil
}

// recordGen makes PutRecords entries cheaply: record data are slices of
// one pre-generated random buffer at varying offsets, and keys come from
// pre-built pools, so producers spend their time waiting on the endpoint.
type recordGen struct {
	size     int
	pool     []byte   // random bytes, read-only once built
	keys     []string // partition keys
	hashKeys []string // ExplicitHashKeys, one per open shard; empty with random keys
}

func newRecordGen(cfg benchConfig, hashKeys []string) (*recordGen, error) {
	g := &recordGen{size: cfg.RecordSize}
	g.pool = make([]byte, max(2*cfg.RecordSize, 4<<20))
	if _, err := rand.Read(g.pool); err != nil {
		return nil, fmt.Errorf("generate payload: %w", err)
	}
	if cfg.RandomKeys || len(hashKeys) == 0 {
		g.keys = make([]string, benchKeyPool)
		for i := range g.keys {
			g.keys[i] = strconv.FormatUint(mrand.Uint64(), 36)
		}
		return g, nil
	}
	// ExplicitHashKey picks the shard; the partition key is still required.
	g.hashKeys = hashKeys
	g.keys = make([]string, len(hashKeys))
	for i := range g.keys {
		g.keys[i] = "bench-" + strconv.Itoa(i)
	}
	return g, nil
}

// fill points every entry at fresh data and the next keys, starting at
// position next in the key rotation.
func (g *recordGen) fill(entries []types.PutRecordsRequestEntry, rng *mrand.Rand, next int) {
	for i := range entries {
		off := rng.IntN(len(g.pool) - g.size + 1)
		k := (next + i) % len(g.keys)
		entries[i].Data = g.pool[off : off+g.size : off+g.size]
		entries[i].PartitionKey = &g.keys[k]
		if g.hashKeys != nil {
			entries[i].ExplicitHashKey = &g.hashKeys[k]
		}
	}
}

// benchCounters are shared by the goroutines of a phase for progress reports.
type benchCounters struct {
	records, bytes, failed atomic.Int64
}

// reportProgress calls progress every period until the returned function
// is called; that function returns once the last report is done, so the
// next phase never reports at the same time.
func reportProgress(phase string, began time.Time, period time.Duration, c *benchCounters, progress func(benchProgress)) (stop func()) {
	if progress == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		if period <= 0 {
			period = time.Second
		}
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				progress(benchProgress{Phase: phase, Elapsed: now.Sub(began),
					Records: c.records.Load(), Bytes: c.bytes.Load(), Failed: c.failed.Load()})
			}
		}
	}()
	return func() { close(quit); <-done }
}

func benchPut(ctx context.Context, api putRecordsAPI, cfg benchConfig, gen *recordGen) (benchPhase, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var counters benchCounters
	type producerResult struct {
		hist             latencyHist
		requests, errors int64
	}
	results := make([]producerResult, cfg.Producers)
	name, arn := streamRef(cfg.Stream)
	began := time.Now()
	// Requests in flight at the deadline finish and count: cutting them off
	// would record them as failures.
	deadline := began.Add(cfg.Duration)
	stopProgress := reportProgress("put", began, cfg.ProgressEvery, &counters, cfg.Progress)
	var wg sync.WaitGroup
	for p := range cfg.Producers {
		wg.Go(func() {
			res := &results[p]
			rng := mrand.New(mrand.NewPCG(mrand.Uint64(), uint64(p)))
			entries := make([]types.PutRecordsRequestEntry, cfg.Batch)
			in := &kinesis.PutRecordsInput{StreamName: name, StreamARN: arn, Records: entries}
			next := p // producers start at different shards
			for ctx.Err() == nil && time.Now().Before(deadline) {
				gen.fill(entries, rng, next)
				next += len(entries)
				sent := time.Now()
				out, err := api.PutRecords(ctx, in)
				took := time.Since(sent)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					res.errors++
					counters.failed.Add(int64(len(entries)))
					if !isRetryableAPIError(err) {
						cancel(fmt.Errorf("put records: %w", err))
						return
					}
					_ = sleepCtx(ctx, benchErrorPause)
					continue
				}
				res.requests++
				res.hist.record(took)
				failed := int64(aws.ToInt32(out.FailedRecordCount))
				ok := int64(len(entries)) - failed
				counters.records.Add(ok)
				counters.bytes.Add(ok * int64(cfg.RecordSize))
				counters.failed.Add(failed)
			}
		})
	}
	wg.Wait()
	stopProgress()
	phase := benchPhase{
		Records: counters.records.Load(),
		Bytes:   counters.bytes.Load(),
		Failed:  counters.failed.Load(),
		Elapsed: time.Since(began),
	}
	var hist latencyHist
	for _, r := range results {
		hist.merge(&r.hist)
		phase.Requests += r.requests
		phase.Errors += r.errors
	}
	phase.Latency = hist.summary()
	if err := context.Cause(ctx); err != nil {
		return phase, err
	}
	return phase, nil
}

func benchRead(ctx context.Context, api benchAPI, cfg benchConfig) (benchPhase, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// All shards, closed ones too: records written before a reshard live there.
	shards, err := listShards(ctx, api, cfg.Stream)
	if err != nil {
		return benchPhase{}, err
	}
	var counters benchCounters
	hists := make([]latencyHist, len(shards))
	requests := make([]int64, len(shards))
	errs := make([]error, len(shards))
	began := time.Now()
	stopProgress := reportProgress("read", began, cfg.ProgressEvery, &counters, cfg.Progress)
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Go(func() {
			r := &shardReader{
				api:       api,
				stream:    cfg.Stream,
				shardID:   aws.ToString(s.ShardId),
				limit:     aws.Int32(benchReadLimit),
				stopAtTip: true,
				logger:    cfg.Logger,
				onRecords: func(out *kinesis.GetRecordsOutput, took time.Duration) error {
					requests[i]++
					hists[i].record(took)
					var n int64
					for _, rec := range out.Records {
						n += int64(len(rec.Data))
					}
					counters.records.Add(int64(len(out.Records)))
					counters.bytes.Add(n)
					return nil
				},
			}
			if _, err := r.read(ctx, startPosition{typ: types.ShardIteratorTypeTrimHorizon}); err != nil {
				errs[i] = err
				cancel()
			}
		})
	}
	wg.Wait()
	stopProgress()
	phase := benchPhase{
		Records: counters.records.Load(),
		Bytes:   counters.bytes.Load(),
		Elapsed: time.Since(began),
	}
	var hist latencyHist
	for i := range hists {
		hist.merge(&hists[i])
		phase.Requests += requests[i]
	}
	phase.Latency = hist.summary()
	for _, err := range errs {
		// The first real error; the rest were cancelled because of it.
		if err != nil && !errors.Is(err, context.Canceled) {
			return phase, err
		}
	}
	return phase, ctx.Err()
}

// benchProgressPrinter prints one progress line per report with the rate
// since the previous report and the totals so far.
type benchProgressPrinter struct {
	w    io.Writer
	last benchProgress
}

func (p *benchProgressPrinter) print(s benchProgress) {
	if s.Phase != p.last.Phase {
		p.last = benchProgress{Phase: s.Phase}
	}
	d := s.Elapsed - p.last.Elapsed
	fmt.Fprintf(p.w, "%-4s %4.0fs  %9.0f records/s  %8.2f MB/s  (%d records, %d failed)\n",
		s.Phase, s.Elapsed.Seconds(),
		perSec(float64(s.Records-p.last.Records), d), perSec(float64(s.Bytes-p.last.Bytes)/1e6, d),
		s.Records, s.Failed)
	p.last = s
}

func (r benchResult) writeReport(w io.Writer, cfg benchConfig) {
	keys := "ExplicitHashKey round-robin"
	if cfg.RandomKeys || r.Shards == 0 {
		keys = "random partition keys"
	}
	fmt.Fprintf(w, "stream %s: %d open shards, %d producers, %d records of %d B per request, %s\n",
		cfg.Stream, r.Shards, cfg.Producers, cfg.Batch, cfg.RecordSize, keys)
	p := r.Put
	fmt.Fprintf(w, "put:  %d records in %v: %.0f records/s, %.2f MB/s; %d records failed, %d requests failed\n",
		p.Records, p.Elapsed.Round(time.Millisecond), p.recordsPerSec(), p.mbPerSec(), p.Failed, p.Errors)
	fmt.Fprintf(w, "      PutRecords latency %v (%d requests)\n", p.Latency, p.Requests)
	if r.Read == nil {
		return
	}
	g := *r.Read
	fmt.Fprintf(w, "read: %d records in %v: %.0f records/s, %.2f MB/s\n",
		g.Records, g.Elapsed.Round(time.Millisecond), g.recordsPerSec(), g.mbPerSec())
	fmt.Fprintf(w, "      GetRecords latency %v (%d requests)\n", g.Latency, g.Requests)
}

// benchSummary is the one-line JSON form of a result (--json).
type benchSummary struct {
	Stream          string  `json:"stream"`
	Shards          int     `json:"shards"`
	Producers       int     `json:"producers"`
	RecordSize      int     `json:"record_size"`
	Batch           int     `json:"batch"`
	DurationSeconds float64 `json:"duration_s"`
	RandomKeys      bool    `json:"random_keys"`

	PutRecords       int64   `json:"put_records"`
	PutRecordsPerSec float64 `json:"put_records_per_s"`
	PutMBPerSec      float64 `json:"put_mb_per_s"`
	PutFailed        int64   `json:"put_failed_records"`
	PutRequests      int64   `json:"put_requests"`
	PutErrors        int64   `json:"put_failed_requests"`
	PutP50ms         float64 `json:"put_p50_ms"`
	PutP90ms         float64 `json:"put_p90_ms"`
	PutP99ms         float64 `json:"put_p99_ms"`
	PutMaxMs         float64 `json:"put_max_ms"`

	ReadRecords       *int64   `json:"read_records,omitempty"`
	ReadRecordsPerSec *float64 `json:"read_records_per_s,omitempty"`
	ReadMBPerSec      *float64 `json:"read_mb_per_s,omitempty"`
	ReadRequests      *int64   `json:"read_requests,omitempty"`
	ReadP50ms         *float64 `json:"read_p50_ms,omitempty"`
	ReadP90ms         *float64 `json:"read_p90_ms,omitempty"`
	ReadP99ms         *float64 `json:"read_p99_ms,omitempty"`
	ReadMaxMs         *float64 `json:"read_max_ms,omitempty"`
}

func (r benchResult) summary(cfg benchConfig) benchSummary {
	p := r.Put
	s := benchSummary{
		Stream: cfg.Stream, Shards: r.Shards, Producers: cfg.Producers, RecordSize: cfg.RecordSize,
		Batch: cfg.Batch, DurationSeconds: cfg.Duration.Seconds(), RandomKeys: cfg.RandomKeys,
		PutRecords: p.Records, PutRecordsPerSec: p.recordsPerSec(), PutMBPerSec: p.mbPerSec(),
		PutFailed: p.Failed, PutRequests: p.Requests, PutErrors: p.Errors,
		PutP50ms: ms(p.Latency.P50), PutP90ms: ms(p.Latency.P90), PutP99ms: ms(p.Latency.P99), PutMaxMs: ms(p.Latency.Max),
	}
	if g := r.Read; g != nil {
		s.ReadRecords, s.ReadRequests = &g.Records, &g.Requests
		s.ReadRecordsPerSec, s.ReadMBPerSec = aws.Float64(g.recordsPerSec()), aws.Float64(g.mbPerSec())
		s.ReadP50ms, s.ReadP90ms = aws.Float64(ms(g.Latency.P50)), aws.Float64(ms(g.Latency.P90))
		s.ReadP99ms, s.ReadMaxMs = aws.Float64(ms(g.Latency.P99)), aws.Float64(ms(g.Latency.Max))
	}
	return s
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// latencySummary holds percentiles by the nearest-rank definition: P90 is
// the smallest recorded latency that 90% of the latencies do not exceed.
type latencySummary struct {
	P50, P90, P99, Max time.Duration
}

func (s latencySummary) String() string {
	return fmt.Sprintf("p50 %v  p90 %v  p99 %v  max %v",
		roundLatency(s.P50), roundLatency(s.P90), roundLatency(s.P99), roundLatency(s.Max))
}

// roundLatency keeps three or four significant digits: 1.057s, 36.7ms, 512µs.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// latencyHist is a log-linear histogram of durations in the manner of
// HdrHistogram, so a long run needs no memory per request: values below
// 2^histSubBits ns are kept exactly, larger ones by their histSubBits most
// significant bits. A percentile read from it is at most 1/2^(histSubBits-1)
// (0.8%) above the true value, never below. The zero value is empty.
type latencyHist struct {
	counts []uint64 // allocated on first record
	n      uint64
	max    time.Duration
}

const (
	histSubBits = 8
	histHalf    = 1 << (histSubBits - 1)
	histBuckets = 1<<histSubBits + (64-histSubBits)*histHalf
)

// histIndex maps v to its bucket: exact below 2^histSubBits, then
// histHalf buckets per power of two.
func histIndex(v uint64) int {
	if v < 1<<histSubBits {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits
	return 1<<histSubBits + (shift-1)*histHalf + int(v>>shift) - histHalf
}

// histUpper is the largest value that falls into bucket i.
func histUpper(i int) uint64 {
	if i < 1<<histSubBits {
		return uint64(i)
	}
	j := i - 1<<histSubBits
	shift := j/histHalf + 1
	mantissa := uint64(j%histHalf + histHalf)
	return (mantissa+1)<<shift - 1
}

func (h *latencyHist) record(d time.Duration) {
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	d = max(d, 0)
	h.counts[histIndex(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *latencyHist) merge(o *latencyHist) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the nearest-rank q-quantile (0 < q <= 1) rounded up to
// its bucket's upper bound, or 0 for an empty histogram.
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	// The epsilon keeps float error (0.07*100 = 7.000000000000001) from
	// moving the rank by one.
	rank := uint64(math.Ceil(q*float64(h.n) - 1e-9))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(histUpper(i)), h.max)
		}
	}
	return h.max
}

func (h *latencyHist) summary() latencySummary {
	return latencySummary{P50: h.quantile(0.50), P90: h.quantile(0.90), P99: h.quantile(0.99), Max: h.max}
}
