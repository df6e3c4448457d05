package console

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// The sampler reads the broker's running totals every SampleInterval and
// keeps, per stream and per shard, a ring of the rates between two
// samples: float32 values, NaN where there is no data (before a stream
// existed; the iterator age of an interval without GetRecords calls, as
// CloudWatch shows no point). Memory is bounded: History samples of
// seriesCount values per stream, ShardHistory per shard, at most
// MaxShards shards; a stream's rings go with the stream.

// Series, in the order of a ring's rows.
const (
	sIncomingRecords = iota
	sIncomingBytes
	sGetRecords
	sGetBytes
	sGetCalls
	sIteratorAge
	sWriteThrottled
	sReadThrottled
	sSubscribeRecords
	seriesCount
)

var seriesNames = [seriesCount]string{
	"incomingRecords", "incomingBytes", "getRecords", "getBytes", "getCalls",
	"iteratorAgeMillis", "writeThrottled", "readThrottled", "subscribeRecords",
}

// ring holds the last len(times) samples of every series; sample n is at
// n % size.
type ring struct {
	first int64 // index of the first sample this ring has
	vals  [seriesCount][]float32
}

func newRing(size int, first int64) *ring {
	r := &ring{first: first}
	for i := range r.vals {
		r.vals[i] = make([]float32, size)
	}
	return r
}

type totals struct {
	in, inBytes, get, getBytes, calls, wThr, rThr, sub int64
}

func (t *totals) add(a kinesis.ShardActivity) {
	t.in += a.IncomingRecords
	t.inBytes += a.IncomingBytes
	t.get += a.GetRecordsRecords
	t.getBytes += a.GetRecordsBytes
	t.calls += a.GetRecordsCalls
	t.wThr += a.WriteThrottled
	t.rThr += a.ReadThrottled
	t.sub += a.SubscribeRecords
}

type shardHist struct {
	ring *ring
	last kinesis.ShardActivity
}

type streamHist struct {
	ring   *ring
	last   totals
	shards map[string]*shardHist
	// consumers: the last totals of each fan-out consumer, and its rate.
	consumers map[string]consumerRate
}

type consumerRate struct {
	last          kinesis.ConsumerActivity
	recordsPerSec float64
}

type history struct {
	mu        sync.RWMutex
	size      int
	shardSize int
	maxShards int
	shardsNow int
	n         int64   // samples taken
	times     []int64 // Unix ms of sample i at i % size
	streams   map[string]*streamHist
	lastAt    time.Time
}

func newHistory(size, shardSize, maxShards int) *history {
	return &history{size: size, shardSize: min(shardSize, size), maxShards: maxShards, times: make([]int64, size), streams: make(map[string]*streamHist)}
}

func (c *Console) sampleLoop(ctx context.Context) {
	c.hist.sample(c.cfg.Activity.Activity(), c.cfg.Now())
	t := time.NewTicker(c.cfg.SampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.hist.sample(c.cfg.Activity.Activity(), c.cfg.Now())
	}
}

// rate is the per-second rate of a counter's change, never negative.
func rate(cur, last int64, dt float64) float32 {
	if cur <= last || dt <= 0 {
		return 0
	}
	return float32(float64(cur-last) / dt)
}

// sample folds one reading of the broker's totals into the rings. The
// first reading of a stream or shard only sets its baseline.
func (h *history) sample(acts []kinesis.StreamActivity, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	dt := now.Sub(h.lastAt).Seconds()
	first := h.lastAt.IsZero()
	h.lastAt = now
	n := h.n
	i := int(n % int64(h.size))
	h.times[i] = now.UnixMilli()
	seen := make(map[string]bool, len(acts))
	for _, a := range acts {
		seen[a.Name] = true
		sh, ok := h.streams[a.Name]
		var tot totals
		for _, s := range a.Shards {
			tot.add(s)
		}
		if !ok {
			sh = &streamHist{ring: newRing(h.size, n+1), last: tot, shards: make(map[string]*shardHist), consumers: make(map[string]consumerRate)}
			h.streams[a.Name] = sh
		}
		if ok && !first {
			v := &sh.ring.vals
			v[sIncomingRecords][i] = rate(tot.in, sh.last.in, dt)
			v[sIncomingBytes][i] = rate(tot.inBytes, sh.last.inBytes, dt)
			v[sGetRecords][i] = rate(tot.get, sh.last.get, dt)
			v[sGetBytes][i] = rate(tot.getBytes, sh.last.getBytes, dt)
			v[sGetCalls][i] = rate(tot.calls, sh.last.calls, dt)
			v[sWriteThrottled][i] = rate(tot.wThr, sh.last.wThr, dt)
			v[sReadThrottled][i] = rate(tot.rThr, sh.last.rThr, dt)
			v[sSubscribeRecords][i] = rate(tot.sub, sh.last.sub, dt)
			// The stream's iterator age is its shards' largest, among
			// shards read in the interval.
			age := float32(math.NaN())
			for _, s := range a.Shards {
				if prev, ok := sh.shards[s.ShardID]; ok && s.GetRecordsCalls > prev.last.GetRecordsCalls {
					if math.IsNaN(float64(age)) || float32(s.IteratorAgeMillis) > age {
						age = float32(s.IteratorAgeMillis)
					}
				}
			}
			v[sIteratorAge][i] = age
		}
		sh.last = tot
		h.sampleShards(sh, a.Shards, n, dt, first)
		h.sampleConsumers(sh, a.Consumers, dt)
	}
	for name, sh := range h.streams {
		if !seen[name] {
			h.shardsNow -= len(sh.shards)
			delete(h.streams, name)
		}
	}
	h.n++
}

func (h *history) sampleShards(sh *streamHist, shards []kinesis.ShardActivity, n int64, dt float64, first bool) {
	i := int(n % int64(h.shardSize))
	present := make(map[string]bool, len(shards))
	for _, s := range shards {
		present[s.ShardID] = true
		hs, ok := sh.shards[s.ShardID]
		if !ok {
			if h.shardsNow >= h.maxShards {
				continue
			}
			hs = &shardHist{ring: newRing(h.shardSize, n+1), last: s}
			sh.shards[s.ShardID] = hs
			h.shardsNow++
			continue
		}
		if !first {
			v := &hs.ring.vals
			l := hs.last
			v[sIncomingRecords][i] = rate(s.IncomingRecords, l.IncomingRecords, dt)
			v[sIncomingBytes][i] = rate(s.IncomingBytes, l.IncomingBytes, dt)
			v[sGetRecords][i] = rate(s.GetRecordsRecords, l.GetRecordsRecords, dt)
			v[sGetBytes][i] = rate(s.GetRecordsBytes, l.GetRecordsBytes, dt)
			v[sGetCalls][i] = rate(s.GetRecordsCalls, l.GetRecordsCalls, dt)
			v[sWriteThrottled][i] = rate(s.WriteThrottled, l.WriteThrottled, dt)
			v[sReadThrottled][i] = rate(s.ReadThrottled, l.ReadThrottled, dt)
			v[sSubscribeRecords][i] = rate(s.SubscribeRecords, l.SubscribeRecords, dt)
			v[sIteratorAge][i] = float32(math.NaN())
			if s.GetRecordsCalls > l.GetRecordsCalls {
				v[sIteratorAge][i] = float32(s.IteratorAgeMillis)
			}
		}
		hs.last = s
	}
	for id := range sh.shards {
		if !present[id] {
			delete(sh.shards, id)
			h.shardsNow--
		}
	}
}

func (h *history) sampleConsumers(sh *streamHist, cs []kinesis.ConsumerActivity, dt float64) {
	next := make(map[string]consumerRate, len(cs))
	for _, c := range cs {
		r := consumerRate{last: c}
		if prev, ok := sh.consumers[c.ARN]; ok {
			r.recordsPerSec = float64(rate(c.Records, prev.last.Records, dt))
		}
		next[c.ARN] = r
	}
	sh.consumers = next
}

// Series is a chart's data: sample times (Unix ms) and one array per
// series, null where there is no data.
type Series struct {
	Times  []int64               `json:"t"`
	Values map[string][]*float64 `json:"series"`
	// IntervalMillis is the sampling interval.
	IntervalMillis int64 `json:"intervalMillis"`
}

// series returns the history of a stream, or of one of its shards when
// shard is not "". ok is false when there is none.
func (h *history) series(stream, shard string, interval time.Duration) (Series, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	sh, ok := h.streams[stream]
	if !ok {
		return Series{}, false
	}
	r, size := sh.ring, h.size
	if shard != "" {
		hs, ok := sh.shards[shard]
		if !ok {
			return Series{}, false
		}
		r, size = hs.ring, h.shardSize
	}
	// Samples [from, h.n) that the ring still holds and that came after
	// its first.
	from := max(h.n-int64(size), r.first, 0)
	out := Series{Values: make(map[string][]*float64, seriesCount), IntervalMillis: interval.Milliseconds()}
	for k := from; k < h.n; k++ {
		out.Times = append(out.Times, h.times[k%int64(h.size)])
	}
	for s := range seriesCount {
		vals := make([]*float64, 0, len(out.Times))
		for k := from; k < h.n; k++ {
			v := float64(r.vals[s][k%int64(size)])
			if math.IsNaN(v) {
				vals = append(vals, nil)
				continue
			}
			vals = append(vals, &v)
		}
		out.Values[seriesNames[s]] = vals
	}
	return out, true
}

// Rates now: the mean over the last few samples, to smooth a single
// interval's noise.
const nowSamples = 3

// now returns a stream's recent rates by series; zero without history.
func (h *history) now(stream string) (out [seriesCount]float64, spark []float32) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	sh, ok := h.streams[stream]
	if !ok {
		return out, nil
	}
	from := max(h.n-nowSamples, sh.ring.first, 0)
	for s := range seriesCount {
		sum, cnt := 0.0, 0
		for k := from; k < h.n; k++ {
			v := float64(sh.ring.vals[s][k%int64(h.size)])
			if !math.IsNaN(v) {
				sum += v
				cnt++
			}
		}
		if cnt > 0 {
			out[s] = sum / float64(cnt)
		}
	}
	// The sparkline: incoming records over the last 60 samples.
	sfrom := max(h.n-60, sh.ring.first, 0)
	for k := sfrom; k < h.n; k++ {
		spark = append(spark, sh.ring.vals[sIncomingRecords][k%int64(h.size)])
	}
	return out, spark
}

// consumerRates returns the records per second sent to each fan-out
// consumer of a stream, by ARN.
func (h *history) consumerRates(stream string) map[string]float64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	sh, ok := h.streams[stream]
	if !ok {
		return nil
	}
	out := make(map[string]float64, len(sh.consumers))
	for arn, r := range sh.consumers {
		out[arn] = r.recordsPerSec
	}
	return out
}

// shardNow returns a shard's rate of a series over the last samples.
func (h *history) shardNow(stream, shard string, s int) float64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	sh, ok := h.streams[stream]
	if !ok {
		return 0
	}
	hs, ok := sh.shards[shard]
	if !ok {
		return 0
	}
	from := max(h.n-nowSamples, hs.ring.first, 0)
	sum, cnt := 0.0, 0
	for k := from; k < h.n; k++ {
		v := float64(hs.ring.vals[s][k%int64(h.shardSize)])
		if !math.IsNaN(v) {
			sum += v
			cnt++
		}
	}
	if cnt == 0 {
		return 0
	}
	return sum / float64(cnt)
}
