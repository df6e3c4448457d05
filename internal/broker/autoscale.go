package broker

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// The autoscaler reshards ON_DEMAND streams by their write load. Every
// Interval each broker samples, for every open shard of its ON_DEMAND
// streams, two counters:
//
//   - the records and bytes this broker stored in the shard (its
//     appenders count them), and
//   - the shard log's last message sequence, which grows with every
//     append by any server over the store: a lower bound of the records
//     written through every server, since a message holds at least one.
//
// A shard's load over the last Window is the larger of its byte rate as a
// share of 1 MiB/s and its record rate (the larger of the two record
// counts) as a share of 1,000 records/s. A shard whose load stays above
// HotShare over a whole Window is split at the middle of its hash range; two
// adjacent shards both below ColdShare are merged, the narrowest pair
// first (so split halves rejoin), while the stream has more than
// MinShards open shards. One action per stream and Cooldown.
//
// In a cluster every broker samples and decides; one compare-and-swap of
// the stream's AutoscaledAt claims the action before any log is touched.
// The claim requires AutoscaledAt to be at least Cooldown old, so of
// brokers deciding at the same moment exactly one acts, and the others
// wait out the cool-down it started. The split or merge itself then runs
// the reshard protocol of reshard.go.
//
// Limitation: in a cluster a broker sees the bytes only of the writes it
// served, and of other servers' writes only their message count (one
// message may pack many records). A shard loaded evenly through several
// servers may therefore look cooler to each than it is.

// Per-shard write capacity of AWS, against which shares are measured.
const (
	shardBytesPerSecond   = 1 << 20
	shardRecordsPerSecond = 1000
)

// AutoscaleConfig tunes the ON_DEMAND autoscaler. Zero fields take the
// defaults.
type AutoscaleConfig struct {
	// HotShare is the share of a shard's write capacity (1 MiB/s or 1,000
	// records/s) above which a shard is hot; default 0.8.
	HotShare float64
	// ColdShare is the share below which a shard is cold; default 0.2.
	ColdShare float64
	// Window is how long a shard must stay hot or cold; default one
	// minute.
	Window time.Duration
	// Cooldown is the least time between two actions on one stream;
	// default five minutes.
	Cooldown time.Duration
	// Interval is how often shards are sampled; default a tenth of
	// Window, between 100 ms and 5 s.
	Interval time.Duration
	// MinShards is the fewest open shards merges leave; default 4, the
	// shard count of a new ON_DEMAND stream.
	MinShards int
}

func (c *AutoscaleConfig) setDefaults() {
	if c.HotShare == 0 {
		c.HotShare = 0.8
	}
	if c.ColdShare == 0 {
		c.ColdShare = 0.2
	}
	if c.Window == 0 {
		c.Window = time.Minute
	}
	if c.Cooldown == 0 {
		c.Cooldown = 5 * time.Minute
	}
	if c.Interval == 0 {
		c.Interval = min(max(c.Window/10, 100*time.Millisecond), 5*time.Second)
	}
	if c.MinShards == 0 {
		c.MinShards = kinesis.OnDemandInitialShards
	}
}

// writeCounter counts records and bytes a broker stored in one shard.
type writeCounter struct {
	records, bytes atomic.Int64
}

func (c *writeCounter) add(records, bytes int) {
	c.records.Add(int64(records))
	c.bytes.Add(int64(bytes))
}

func (b *Broker) writeCounter(epoch uint64) *writeCounter {
	c, _ := b.writes.LoadOrStore(epoch, new(writeCounter))
	return c.(*writeCounter)
}

// loadSample is one reading of a shard's counters.
type loadSample struct {
	at             time.Time
	records, bytes int64
	messages       uint64
}

// autoscaler holds one broker's samples, by shard epoch.
type autoscaler struct {
	samples map[uint64][]loadSample
}

func (b *Broker) autoscaleLoop(ctx context.Context) {
	a := &autoscaler{samples: make(map[uint64][]loadSample)}
	t := time.NewTicker(b.cfg.Autoscale.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.autoscaleOnce(ctx, a)
	}
}

// autoscaleOnce samples every ON_DEMAND stream and acts on those whose
// load calls for it.
func (b *Broker) autoscaleOnce(ctx context.Context, a *autoscaler) {
	streams, err := b.allStreams(ctx)
	if err != nil {
		if ctx.Err() == nil {
			b.cfg.Logger.Warn("autoscaler: list streams", "err", err)
		}
		return
	}
	now := b.cfg.Now()
	seen := make(map[uint64]bool)
	for _, s := range streams {
		if s.Mode != kinesis.ModeOnDemand || s.Status(now) != kinesis.StatusActive {
			continue
		}
		loads := make(map[uint64]float64)
		for _, sh := range s.OpenShards() {
			seen[sh.Epoch] = true
			if load, ok := a.sample(ctx, b, sh.Epoch, b.cfg.Now()); ok {
				loads[sh.Epoch] = load
			}
		}
		if now.Sub(s.AutoscaledAt) < b.cfg.Autoscale.Cooldown {
			continue
		}
		b.autoscaleStream(ctx, s, loads)
	}
	for epoch := range a.samples {
		if !seen[epoch] {
			delete(a.samples, epoch)
		}
	}
}

// sample reads a shard's counters and returns its load over the window,
// once the samples span a whole window.
func (a *autoscaler) sample(ctx context.Context, b *Broker, epoch uint64, now time.Time) (float64, bool) {
	st, err := b.log.State(ctx, logName(epoch))
	if err != nil {
		return 0, false
	}
	w := b.writeCounter(epoch)
	cur := loadSample{at: now, records: w.records.Load(), bytes: w.bytes.Load(), messages: st.LastSeq}
	ss := append(a.samples[epoch], cur)
	// Keep the newest sample at least a window old, and those after it.
	cut := 0
	for i := range ss {
		if now.Sub(ss[i].at) >= b.cfg.Autoscale.Window {
			cut = i
		}
	}
	ss = ss[cut:]
	a.samples[epoch] = ss
	old := ss[0]
	dt := now.Sub(old.at).Seconds()
	if now.Sub(old.at) < b.cfg.Autoscale.Window || dt <= 0 {
		return 0, false
	}
	messages := 0.0
	if cur.messages > old.messages {
		messages = float64(cur.messages - old.messages)
	}
	records := max(float64(cur.records-old.records), messages) / dt
	bytes := float64(cur.bytes-old.bytes) / dt
	return max(records/shardRecordsPerSecond, bytes/shardBytesPerSecond), true
}

// autoscaleStream splits the stream's hottest hot shard, or else merges
// its narrowest pair of adjacent cold shards.
func (b *Broker) autoscaleStream(ctx context.Context, s *kinesis.Stream, loads map[uint64]float64) {
	cfg := b.cfg.Autoscale
	open := s.OpenShards()
	slices.SortFunc(open, func(x, y kinesis.Shard) int { return x.HashRange.Start.Cmp(y.HashRange.Start) })

	var hot *kinesis.Shard
	for i, sh := range open {
		load, ok := loads[sh.Epoch]
		if ok && load > cfg.HotShare && sh.HashRange.Start != sh.HashRange.End && (hot == nil || load > loads[hot.Epoch]) {
			hot = &open[i]
		}
	}
	if hot != nil {
		if !b.claimAutoscale(ctx, s, false, hot.ID) {
			return
		}
		at := midKey(hot.HashRange)
		err := b.splitShard(ctx, s.Name, hot.ID, at, b.autoscaleGate(s.ID), byAutoscaler)
		b.logAutoscale(s.Name, "split hot shard", err, "shard", hot.ID, "load", loads[hot.Epoch])
		return
	}

	if len(open) <= cfg.MinShards {
		return
	}
	best := -1
	var bestWidth kinesis.HashKey
	for i := 0; i+1 < len(open); i++ {
		l, lok := loads[open[i].Epoch]
		r, rok := loads[open[i+1].Epoch]
		if !lok || !rok || l >= cfg.ColdShare || r >= cfg.ColdShare {
			continue
		}
		width := subKeys(open[i+1].HashRange.End, open[i].HashRange.Start)
		if best < 0 || width.Cmp(bestWidth) < 0 {
			best, bestWidth = i, width
		}
	}
	if best < 0 {
		return
	}
	left, right := open[best], open[best+1]
	if !b.claimAutoscale(ctx, s, true, left.ID, right.ID) {
		return
	}
	err := b.mergeShards(ctx, s.Name, left.ID, right.ID, b.autoscaleGate(s.ID), byAutoscaler)
	b.logAutoscale(s.Name, "merge cold shards", err, "shard", left.ID, "adjacent", right.ID, "loads", []float64{loads[left.Epoch], loads[right.Epoch]})
}

// claimAutoscale stamps the stream's AutoscaledAt if its cool-down is over
// and the shards are still open: the one compare-and-swap that lets
// exactly one broker act. A merge is also refused if the stream as stored
// now has no more than MinShards open shards: the decision was made on a
// snapshot that another broker's merge may have made stale.
func (b *Broker) claimAutoscale(ctx context.Context, s *kinesis.Stream, merge bool, shards ...string) bool {
	now := b.cfg.Now()
	_, err := b.update(ctx, s.Name, func(cur *kinesis.Stream) error {
		if cur.ID != s.ID || cur.Mode != kinesis.ModeOnDemand || cur.Status(now) != kinesis.StatusActive ||
			now.Sub(cur.AutoscaledAt) < b.cfg.Autoscale.Cooldown ||
			merge && len(cur.OpenShards()) <= b.cfg.Autoscale.MinShards {
			return errNoChange
		}
		for _, id := range shards {
			if sh, ok := cur.Shard(id); !ok || !sh.Open() {
				return errNoChange
			}
		}
		cur.AutoscaledAt = now
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) && ctx.Err() == nil {
		b.cfg.Logger.Warn("autoscaler: claim stream", "stream", s.Name, "err", err)
	}
	return err == nil
}

// autoscaleGate lets an autoscaler reshard go on unless the stream was
// deleted: once a parent is sealed the reshard must complete, so a mode
// switch meanwhile does not stop it.
func (b *Broker) autoscaleGate(id string) func(*kinesis.Stream) error {
	return func(s *kinesis.Stream) error {
		if s.ID != id || !s.DeletingAt.IsZero() {
			return kinesis.StreamNotFound(s.Name, b.cfg.AccountID)
		}
		return nil
	}
}

func (b *Broker) logAutoscale(stream, action string, err error, attrs ...any) {
	attrs = append([]any{"stream", stream}, attrs...)
	if err != nil {
		b.cfg.Logger.Warn("autoscaler: "+action+" failed", append(attrs, "err", err)...)
		return
	}
	b.cfg.Logger.Info("autoscaler: "+action, attrs...)
}

// subKeys returns x-y for x >= y.
func subKeys(x, y kinesis.HashKey) kinesis.HashKey {
	lo, borrow := x.Lo-y.Lo, uint64(0)
	if x.Lo < y.Lo {
		borrow = 1
	}
	return kinesis.HashKey{Hi: x.Hi - y.Hi - borrow, Lo: lo}
}
