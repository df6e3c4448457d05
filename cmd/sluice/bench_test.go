package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestHistIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	prev := -1
	for v := uint64(0); v < 1<<16; v++ {
		i := histIndex(v)
		if i < prev || i > prev+1 {
			t.Fatalf("histIndex(%d) = %d after %d: buckets must be contiguous", v, i, prev)
		}
		prev = i
	}
	for range 100000 {
		v := rng.Uint64() >> rng.IntN(64)
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d, out of range", v, i)
		}
		up := histUpper(i)
		if up < v || (v >= 1<<histSubBits && float64(up-v) > float64(v)/histHalf) {
			t.Fatalf("value %d in bucket %d with upper bound %d: bound below or too far above", v, i, up)
		}
		if i+1 < histBuckets && histIndex(up+1) != i+1 {
			t.Fatalf("bucket %d ends at %d, but %d is in bucket %d", i, up, up+1, histIndex(up+1))
		}
	}
	if got := histIndex(^uint64(0)); got != histBuckets-1 {
		t.Errorf("histIndex(max) = %d, want %d", got, histBuckets-1)
	}
}

// exactQuantile is the nearest-rank definition over sorted values.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(q*float64(len(sorted)) - 1e-9)
	return sorted[min(rank, len(sorted)-1)]
}

func TestLatencyHist_Quantiles(t *testing.T) {
	t.Run("small exact", func(t *testing.T) {
		// 1..100 ns are stored exactly, so percentiles are exact.
		var h latencyHist
		for v := 100; v >= 1; v-- {
			h.record(time.Duration(v))
		}
		s := h.summary()
		if s.P50 != 50 || s.P90 != 90 || s.P99 != 99 || s.Max != 100 {
			t.Errorf("1..100: %+v, want p50 50, p90 90, p99 99, max 100", s)
		}
	})
	t.Run("random within 1%", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		var all []time.Duration
		var parts [4]latencyHist // recorded separately, then merged, as bench does
		for i := range 50000 {
			// Log-normal-ish latencies from ~100µs to seconds.
			d := time.Duration(float64(time.Millisecond) * rng.ExpFloat64() * rng.ExpFloat64() * 5)
			all = append(all, d)
			parts[i%4].record(d)
		}
		var h latencyHist
		for i := range parts {
			h.merge(&parts[i])
		}
		slices.Sort(all)
		for _, q := range []float64{0.01, 0.07, 0.5, 0.9, 0.99, 0.999, 1} {
			exact, got := exactQuantile(all, q), h.quantile(q)
			if got < exact || float64(got-exact) > float64(exact)*0.01 {
				t.Errorf("q%v = %v, exact %v: want at most 1%% above", q, got, exact)
			}
		}
		if h.summary().Max != all[len(all)-1] {
			t.Errorf("max = %v, want %v", h.summary().Max, all[len(all)-1])
		}
	})
	t.Run("empty", func(t *testing.T) {
		var h, empty latencyHist
		h.merge(&empty)
		if s := h.summary(); s != (latencySummary{}) {
			t.Errorf("empty histogram: %+v", s)
		}
	})
}

func TestBenchConfig_Validate(t *testing.T) {
	good := benchConfig{Stream: "s", Producers: 1, RecordSize: 100, Batch: 500, Duration: time.Second}
	if err := good.validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
	for _, mutate := range []func(*benchConfig){
		func(c *benchConfig) { c.Producers = 0 },
		func(c *benchConfig) { c.Batch = 501 },
		func(c *benchConfig) { c.Batch = 0 },
		func(c *benchConfig) { c.RecordSize = 0 },
		func(c *benchConfig) { c.RecordSize = 10<<20 + 1 },
		func(c *benchConfig) { c.Duration = 0 },
	} {
		c := good
		mutate(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
}

func TestBenchmark(t *testing.T) {
	for _, randomKeys := range []bool{false, true} {
		f := newFakeKinesis(4)
		var mu sync.Mutex
		var phases []string
		cfg := benchConfig{Stream: "s", Producers: 3, RecordSize: 64, Batch: 50, Duration: 1200 * time.Millisecond,
			// Reports every 50 ms: a busy machine may run a 1 s ticker
			// late enough to miss a 1.2 s phase.
			RandomKeys: randomKeys, Read: true, ProgressEvery: 50 * time.Millisecond, Progress: func(p benchProgress) {
				mu.Lock()
				defer mu.Unlock()
				phases = append(phases, p.Phase)
			}}
		res, err := benchmark(context.Background(), f, cfg)
		if err != nil {
			t.Fatal(err)
		}
		p := res.Put
		if p.Records == 0 || p.Records != int64(f.count()) || p.Bytes != p.Records*64 || p.Records != p.Requests*50 {
			t.Errorf("put %+v, stream holds %d", p, f.count())
		}
		if p.Latency.Max <= 0 || p.Latency.P50 > p.Latency.P99 || p.Latency.P99 > p.Latency.Max {
			t.Errorf("put latency %+v", p.Latency)
		}
		if res.Shards != 4 || res.Read == nil || res.Read.Records != p.Records || res.Read.Bytes != p.Bytes {
			t.Errorf("shards %d, read %+v, put %d", res.Shards, res.Read, p.Records)
		}
		// Every shard gets load: evenly by ExplicitHashKey, roughly with random keys.
		for _, s := range f.shards {
			if n := int64(len(s.records)); n < p.Records/8 {
				t.Errorf("random keys %v: %s got %d of %d records", randomKeys, s.id, n, p.Records)
			}
		}
		mu.Lock()
		if !slices.Contains(phases, "put") {
			t.Errorf("no put progress reported: %q", phases)
		}
		mu.Unlock()
	}
}

// lossyKinesis drops the last record of every GetRecords, as a server that
// lost data would.
type lossyKinesis struct{ *fakeKinesis }

func (l lossyKinesis) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	out, err := l.fakeKinesis.GetRecords(ctx, in, opts...)
	if err == nil && len(out.Records) > 0 {
		out.Records = out.Records[:len(out.Records)-1]
	}
	return out, err
}

func TestBenchmark_DetectsMissingRecords(t *testing.T) {
	f := newFakeKinesis(2)
	cfg := benchConfig{Stream: "s", Producers: 1, RecordSize: 10, Batch: 10, Duration: 50 * time.Millisecond, Read: true}
	res, err := benchmark(context.Background(), lossyKinesis{f}, cfg)
	if err == nil || !strings.Contains(err.Error(), "fewer than") {
		t.Errorf("err = %v, want a missing-records error", err)
	}
	if res.Read == nil || res.Read.Records >= res.Put.Records {
		t.Errorf("result %+v", res)
	}
}

type failingPuts struct{ *fakeKinesis }

func (failingPuts) PutRecords(context.Context, *kinesis.PutRecordsInput, ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	return nil, &types.ResourceNotFoundException{Message: aws.String("Stream s not found")}
}

func TestBenchmark_StopsOnPermanentError(t *testing.T) {
	cfg := benchConfig{Stream: "s", Producers: 2, RecordSize: 10, Batch: 10, Duration: time.Minute}
	start := time.Now()
	_, err := benchmark(context.Background(), failingPuts{newFakeKinesis(1)}, cfg)
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("benchmark kept going after a permanent error")
	}
}

func TestBenchResult_Output(t *testing.T) {
	read := benchPhase{Records: 1000, Bytes: 100000, Requests: 2, Elapsed: 500 * time.Millisecond,
		Latency: latencySummary{P50: 3 * time.Millisecond, P90: 4 * time.Millisecond, P99: 5 * time.Millisecond, Max: 6 * time.Millisecond}}
	res := benchResult{Shards: 4, Read: &read, Put: benchPhase{Records: 1000, Bytes: 100000, Requests: 2, Failed: 5,
		Elapsed: 2 * time.Second, Latency: latencySummary{P50: 1500 * time.Microsecond, P90: 2 * time.Millisecond, P99: 10 * time.Millisecond, Max: 12 * time.Millisecond}}}
	cfg := benchConfig{Stream: "s", Producers: 4, RecordSize: 100, Batch: 500, Duration: 2 * time.Second}

	var text bytes.Buffer
	res.writeReport(&text, cfg)
	for _, want := range []string{
		"put:  1000 records in 2s: 500 records/s, 0.05 MB/s; 5 records failed",
		"PutRecords latency p50 1.5ms  p90 2ms  p99 10ms  max 12ms (2 requests)",
		"read: 1000 records in 500ms: 2000 records/s, 0.20 MB/s",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}

	b, err := json.Marshal(res.summary(cfg))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{"put_records_per_s": 500, "put_mb_per_s": 0.05, "put_p50_ms": 1.5, "put_p99_ms": 10,
		"read_records": 1000, "read_p99_ms": 5, "shards": 4, "put_failed_records": 5} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v in %s", k, m[k], want, b)
		}
	}
	res.Read = nil
	b, _ = json.Marshal(res.summary(cfg))
	if strings.Contains(string(b), "read_") {
		t.Errorf("no read phase, but %s", b)
	}
}

func TestBenchProgressPrinter(t *testing.T) {
	var out bytes.Buffer
	p := &benchProgressPrinter{w: &out}
	p.print(benchProgress{Phase: "put", Elapsed: time.Second, Records: 1000, Bytes: 1e6})
	p.print(benchProgress{Phase: "put", Elapsed: 2 * time.Second, Records: 3000, Bytes: 3e6, Failed: 1})
	p.print(benchProgress{Phase: "read", Elapsed: time.Second, Records: 500, Bytes: 5e5})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, want := range []string{"1000 records/s", "2000 records/s", "500 records/s"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %q, want the interval rate %s", i, lines[i], want)
		}
	}
}
