package main

// `sluice bench sweep`: the bench's load over a grid of shard counts and
// record sizes, side by side in one run, printed as one table. Each cell
// gets a stream of its own, created (and timed) before its load and
// deleted after it, so no cell reads another's records; with --rounds,
// the whole grid runs again round after round and the table shows the
// medians, so noise on a shared machine spreads over every cell alike.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// sweepConfig is one run of `sluice bench sweep`.
type sweepConfig struct {
	Prefix      string // stream names are <prefix>-<shards>x<size>-<round>
	Shards      []int  // shard counts, in the order they run
	RecordSizes []int  // record sizes in bytes
	Rounds      int
	// Bench is the load of each cell; its Stream and RecordSize are set
	// per cell.
	Bench benchConfig
	// RSS, if set, returns the server's resident memory; it is sampled
	// during each cell's load and once after it.
	RSS func() (int64, error)
	// Cell, if set, is called after each cell of each round.
	Cell func(sweepResult)
}

func (c sweepConfig) validate() error {
	var errs []error
	if c.Prefix == "" {
		errs = append(errs, errors.New("--prefix must not be empty"))
	}
	if len(c.Shards) == 0 || slices.ContainsFunc(c.Shards, func(n int) bool { return n < 1 }) {
		errs = append(errs, errors.New("--shards needs one or more positive shard counts"))
	}
	if len(c.RecordSizes) == 0 {
		errs = append(errs, errors.New("--record-sizes needs one or more sizes"))
	}
	if c.Rounds < 1 {
		errs = append(errs, fmt.Errorf("--rounds must be at least 1, got %d", c.Rounds))
	}
	for _, size := range c.RecordSizes {
		b := c.Bench
		b.Stream, b.RecordSize = "x", size
		if err := b.validate(); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

// sweepResult is one cell of one round.
type sweepResult struct {
	Round      int
	Shards     int
	RecordSize int
	Create     time.Duration // CreateStream until ACTIVE
	Bench      benchResult
	PeakRSS    int64 // during the load; 0 if unknown
	AfterRSS   int64 // once the load ended; 0 if unknown
}

type sweepAPI interface {
	benchAPI
	benchStreamAPI
	DeleteStream(ctx context.Context, in *kinesis.DeleteStreamInput, optFns ...func(*kinesis.Options)) (*kinesis.DeleteStreamOutput, error)
}

// sweep runs every cell of the grid cfg.Rounds times, round by round, and
// returns the results in the order they ran.
func sweep(ctx context.Context, api sweepAPI, cfg sweepConfig) ([]sweepResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var out []sweepResult
	for round := 1; round <= cfg.Rounds; round++ {
		for _, size := range cfg.RecordSizes {
			for _, shards := range cfg.Shards {
				r, err := sweepCell(ctx, api, cfg, round, shards, size)
				if err != nil {
					return out, fmt.Errorf("%d shards, %d B records, round %d: %w", shards, size, round, err)
				}
				out = append(out, r)
				if cfg.Cell != nil {
					cfg.Cell(r)
				}
			}
		}
	}
	return out, nil
}

func sweepCell(ctx context.Context, api sweepAPI, cfg sweepConfig, round, shards, size int) (res sweepResult, err error) {
	res = sweepResult{Round: round, Shards: shards, RecordSize: size}
	stream := fmt.Sprintf("%s-%dx%d-%d", cfg.Prefix, shards, size, round)
	began := time.Now()
	if _, err := api.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(int32(shards))}); err != nil {
		return res, fmt.Errorf("create stream %s: %w", stream, err)
	}
	defer func() {
		// Delete even after a failed cell, so the next one has the
		// server's shard limit to itself.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, derr := api.DeleteStream(dctx, &kinesis.DeleteStreamInput{StreamName: aws.String(stream), EnforceConsumerDeletion: aws.Bool(true)}); derr != nil {
			err = errors.Join(err, fmt.Errorf("delete stream %s: %w", stream, derr))
		}
	}()
	if err := waitActive(ctx, api, stream, streamWaitTimeout); err != nil {
		return res, err
	}
	res.Create = time.Since(began)

	bcfg := cfg.Bench
	bcfg.Stream, bcfg.RecordSize = stream, size
	var peak chan int64
	stop := make(chan struct{})
	if cfg.RSS != nil {
		peak = make(chan int64, 1)
		go func() {
			var p int64
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				if v, err := cfg.RSS(); err == nil {
					p = max(p, v)
				}
				select {
				case <-stop:
					peak <- p
					return
				case <-t.C:
				}
			}
		}()
	}
	res.Bench, err = benchmark(ctx, api, bcfg)
	close(stop)
	if peak != nil {
		res.PeakRSS = <-peak
		if v, rerr := cfg.RSS(); rerr == nil {
			res.AfterRSS = v
		}
	}
	return res, err
}

// sweepRow is the median over rounds of one cell.
type sweepRow struct {
	Shards, RecordSize int
	Rounds             int
	Create             time.Duration
	Put, PutMB         float64 // records/s, MB/s
	PutP50, PutP99     time.Duration
	Read               float64 // records/s; 0 without reads
	ReadP99            time.Duration
	PeakRSS            int64
	// PutRatio and ReadRatio compare with the first shard count of the
	// same record size: the median over rounds of the ratio within each
	// round, so that both sides of a ratio ran minutes apart at most.
	PutRatio, ReadRatio float64
}

// sweepTable reduces the results to one row per cell, in grid order.
func sweepTable(results []sweepResult, shards, sizes []int) []sweepRow {
	type key struct{ shards, size int }
	by := map[key][]sweepResult{}
	for _, r := range results {
		k := key{r.Shards, r.RecordSize}
		by[k] = append(by[k], r)
	}
	first := func(size, round int) (sweepResult, bool) {
		for _, r := range by[key{shards[0], size}] {
			if r.Round == round {
				return r, true
			}
		}
		return sweepResult{}, false
	}
	var rows []sweepRow
	for _, size := range sizes {
		for _, n := range shards {
			rs := by[key{n, size}]
			if len(rs) == 0 {
				continue
			}
			row := sweepRow{Shards: n, RecordSize: size, Rounds: len(rs)}
			var create, p50, p99, rp99 []time.Duration
			var put, mb, read, rss, putRatio, readRatio []float64
			for _, r := range rs {
				create = append(create, r.Create)
				put = append(put, r.Bench.Put.recordsPerSec())
				mb = append(mb, r.Bench.Put.mbPerSec())
				p50 = append(p50, r.Bench.Put.Latency.P50)
				p99 = append(p99, r.Bench.Put.Latency.P99)
				rss = append(rss, float64(r.PeakRSS))
				if r.Bench.Read != nil {
					read = append(read, r.Bench.Read.recordsPerSec())
					rp99 = append(rp99, r.Bench.Read.Latency.P99)
				}
				if f, ok := first(size, r.Round); ok {
					if v := f.Bench.Put.recordsPerSec(); v > 0 {
						putRatio = append(putRatio, r.Bench.Put.recordsPerSec()/v)
					}
					if f.Bench.Read != nil && r.Bench.Read != nil && f.Bench.Read.recordsPerSec() > 0 {
						readRatio = append(readRatio, r.Bench.Read.recordsPerSec()/f.Bench.Read.recordsPerSec())
					}
				}
			}
			row.Create, row.PutP50, row.PutP99, row.ReadP99 = median(create), median(p50), median(p99), median(rp99)
			row.Put, row.PutMB, row.Read = median(put), median(mb), median(read)
			row.PeakRSS = int64(median(rss))
			row.PutRatio, row.ReadRatio = median(putRatio), median(readRatio)
			rows = append(rows, row)
		}
	}
	return rows
}

// median returns the middle value (the mean of the two middle ones for an
// even count), or zero for none.
func median[T time.Duration | float64](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// writeSweepTable prints the rows as a Markdown table.
func writeSweepTable(w io.Writer, rows []sweepRow, cfg sweepConfig) {
	reads := slices.ContainsFunc(rows, func(r sweepRow) bool { return r.Read > 0 })
	rss := slices.ContainsFunc(rows, func(r sweepRow) bool { return r.PeakRSS > 0 })
	keys := "ExplicitHashKey round-robin over all open shards"
	if cfg.Bench.RandomKeys {
		keys = "random partition keys"
	}
	fmt.Fprintf(w, "%d producers, %d records per PutRecords, %s, %v of puts per cell; medians of %d round(s)\n\n",
		cfg.Bench.Producers, cfg.Bench.Batch, keys, cfg.Bench.Duration, cfg.Rounds)
	head := "| shards | record | create | put records/s | put MB/s | × first | PutRecords p50 / p99 |"
	rule := "|---:|---:|---:|---:|---:|---:|---|"
	if reads {
		head += " read records/s | × first | GetRecords p99 |"
		rule += "---:|---:|---:|"
	}
	if rss {
		head += " peak RSS |"
		rule += "---:|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %d B | %.2f s | %s | %.1f | %.2f | %s / %s |",
			r.Shards, r.RecordSize, r.Create.Seconds(), thousands(r.Put), r.PutMB, r.PutRatio,
			roundLatency(r.PutP50), roundLatency(r.PutP99))
		if reads {
			fmt.Fprintf(w, " %s | %.2f | %s |", thousands(r.Read), r.ReadRatio, roundLatency(r.ReadP99))
		}
		if rss {
			fmt.Fprintf(w, " %d MiB |", r.PeakRSS>>20)
		}
		fmt.Fprintln(w)
	}
}

// thousands formats v rounded to an integer with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// sweepLine is the JSON form of one cell of one round (--json).
type sweepLine struct {
	Round         int     `json:"round"`
	CreateSeconds float64 `json:"create_s"`
	PeakRSS       int64   `json:"peak_rss_bytes,omitempty"`
	AfterRSS      int64   `json:"after_rss_bytes,omitempty"`
	benchSummary
}

func runBenchSweep(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "bench sweep", "sluice bench sweep [--shards 4,16,64,256,1000] [--record-sizes 100,1024] [flags]")
	var cf clientFlags
	cf.register(fs, env)
	cfg := sweepConfig{}
	fs.StringVar(&cfg.Prefix, "prefix", "sweep", "`prefix` of the streams the sweep creates and deletes, one per cell")
	shards := fs.String("shards", "4,16,64,256,1000", "comma-separated shard `counts`; ratios compare with the first")
	sizes := fs.String("record-sizes", "100,1024", "comma-separated record sizes in `bytes`")
	fs.IntVar(&cfg.Rounds, "rounds", 1, "how many times to run the whole grid; the table shows medians")
	fs.IntVar(&cfg.Bench.Producers, "producers", 4, "number of concurrent producers, each with one PutRecords request in flight")
	fs.IntVar(&cfg.Bench.Batch, "batch", putMaxRecords, "`records` per PutRecords request (1 to 500)")
	fs.DurationVar(&cfg.Bench.Duration, "duration", 5*time.Second, "how long each cell's put phase runs")
	fs.BoolVar(&cfg.Bench.RandomKeys, "random-keys", false, "give each record a random partition key (default: spread records evenly over the open shards with ExplicitHashKey)")
	fs.BoolVar(&cfg.Bench.Read, "read", false, "after each cell's put phase, read its stream from TRIM_HORIZON, one reader per shard, and check that no record is missing")
	pid := fs.Int("server-pid", 0, "`pid` of a local server, to read its memory from /proc (default: from its /metrics, if it serves them)")
	asJSON := fs.Bool("json", false, "print one line of JSON per cell and round instead of the table")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError(fs, "bench sweep: unexpected arguments %q", pos)
	}
	if cfg.Shards, err = parseInts(*shards); err != nil {
		return usageError(fs, "bench sweep: --shards: %v", err)
	}
	if cfg.RecordSizes, err = parseInts(*sizes); err != nil {
		return usageError(fs, "bench sweep: --record-sizes: %v", err)
	}
	if err := cfg.validate(); err != nil {
		return usageError(fs, "bench sweep: %v", err)
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	cfg.Bench.Logger = slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mem := newMemSampler(normalizeEndpoint(cf.endpoint), *pid)
	if _, err := mem.rss(); err == nil {
		cfg.RSS = mem.rss
	}
	enc := json.NewEncoder(env.stdout)
	cfg.Cell = func(r sweepResult) {
		p := r.Bench.Put
		line := fmt.Sprintf("round %d: %5d shards, %5d B: create %.2fs, put %s records/s (p99 %v)",
			r.Round, r.Shards, r.RecordSize, r.Create.Seconds(), thousands(p.recordsPerSec()), roundLatency(p.Latency.P99))
		if g := r.Bench.Read; g != nil {
			line += fmt.Sprintf(", read %s records/s", thousands(g.recordsPerSec()))
		}
		if r.PeakRSS > 0 {
			line += fmt.Sprintf(", peak RSS %d MiB, after %d MiB", r.PeakRSS>>20, r.AfterRSS>>20)
		}
		fmt.Fprintln(env.stderr, line)
		if *asJSON {
			b := cfg.Bench
			b.Stream, b.RecordSize = fmt.Sprintf("%s-%dx%d-%d", cfg.Prefix, r.Shards, r.RecordSize, r.Round), r.RecordSize
			_ = enc.Encode(sweepLine{Round: r.Round, CreateSeconds: r.Create.Seconds(), PeakRSS: r.PeakRSS, AfterRSS: r.AfterRSS,
				benchSummary: r.Bench.summary(b)})
		}
	}
	results, err := sweep(ctx, client, cfg)
	if !*asJSON && len(results) > 0 {
		writeSweepTable(env.stdout, sweepTable(results, cfg.Shards, cfg.RecordSizes), cfg)
	}
	return err
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}
