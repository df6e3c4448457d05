package consumer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Consumer is one worker of an application that processes a stream: it
// holds some of the stream's shard leases, balanced against the other
// workers of the same lease table, and runs a RecordProcessor per lease.
type Consumer struct {
	api          KinesisAPI
	store        LeaseStore
	stream       string // name, or "" when given an ARN
	streamARN    string
	newProcessor ProcessorFactory
	opts         options
	log          *slog.Logger
	env          *readerEnv

	syncNow chan struct{}

	mu       sync.Mutex
	held     map[string]*shardWorker // by lease key, while the worker runs
	observed map[string]*observation // every lease in the table, by key
	stopping bool
}

// observation is what this worker last saw of a lease, on its own clock:
// a lease whose counter has not moved for the failover time is expired.
type observation struct {
	counter int64
	changed time.Time // monotonic; zero for a lease first seen unowned
}

// New returns a consumer of stream (a name or an ARN) whose leases live in
// store and whose shards are processed by processors from newProcessor.
// Run starts it.
func New(api KinesisAPI, store LeaseStore, stream string, newProcessor ProcessorFactory, opts ...Option) (*Consumer, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("consumer options: %w", err)
	}
	if stream == "" || newProcessor == nil || api == nil || store == nil {
		return nil, errors.New("consumer: stream, processor, Kinesis client and lease store are required")
	}
	if o.workerID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		o.workerID = host + "-" + hex.EncodeToString(b[:])
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.metrics == nil {
		o.metrics = NopMetrics{}
	}
	c := &Consumer{
		api: api, store: store, newProcessor: newProcessor, opts: o,
		log:      o.logger.With("worker", o.workerID),
		syncNow:  make(chan struct{}, 1),
		held:     map[string]*shardWorker{},
		observed: map[string]*observation{},
	}
	if strings.HasPrefix(stream, "arn:") {
		c.streamARN = stream
	} else {
		c.stream = stream
	}
	c.env = &readerEnv{api: api, stream: c.stream, streamARN: c.streamARN, logger: c.log, metrics: o.metrics, emptyBatches: o.emptyBatches, bodies: newBodyBuffers()}
	return c, nil
}

// WorkerID returns the name this worker holds leases under.
func (c *Consumer) WorkerID() string { return c.opts.workerID }

// Run processes the stream until ctx ends, then shuts down gracefully:
// every processor finishes its batch, is told ShutdownRequested, checkpoints
// and the worker releases its leases, so other workers take them over at
// once. It returns nil after a graceful shutdown and an error if the lease
// table cannot be set up.
func (c *Consumer) Run(ctx context.Context) error {
	if err := c.store.EnsureTable(ctx); err != nil {
		return err
	}
	// Leases live on through shutdown: renewing stops only after every
	// worker has released its lease.
	leaseCtx, stopLeases := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() { c.renewLoop(leaseCtx) })
	defer func() {
		stopLeases()
		bg.Wait()
	}()
	c.log.Info("consumer starting", "stream", c.streamRef(), "failover", c.opts.failover)
	syncBackoff := newBackoff(500*time.Millisecond, 10*time.Second)
	for {
		err := c.syncShards(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		c.opts.metrics.Error(OpListShards, "")
		c.log.Warn("shard sync failed, retrying", "err", err)
		if err := syncBackoff.wait(ctx); err != nil {
			return nil
		}
	}
	scan := time.NewTicker(c.opts.scanInterval)
	defer scan.Stop()
	sync := time.NewTicker(c.opts.shardSyncInterval)
	defer sync.Stop()
	c.scanAndBalance(ctx, leaseCtx)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-scan.C:
			c.scanAndBalance(ctx, leaseCtx)
		case <-c.syncNow:
			c.syncShardsLogged(ctx)
			c.scanAndBalance(ctx, leaseCtx)
		case <-sync.C:
			c.syncShardsLogged(ctx)
		}
	}
	c.shutdown()
	return nil
}

func (c *Consumer) streamRef() string {
	if c.streamARN != "" {
		return c.streamARN
	}
	return c.stream
}

// shutdown asks every shard worker to stop gracefully and waits; after the
// shutdown timeout it cancels them.
func (c *Consumer) shutdown() {
	c.mu.Lock()
	c.stopping = true
	workers := make([]*shardWorker, 0, len(c.held))
	for _, w := range c.held {
		workers = append(workers, w)
	}
	c.mu.Unlock()
	c.log.Info("consumer shutting down", "leases", len(workers))
	for _, w := range workers {
		w.requestStop(false)
	}
	deadline := time.NewTimer(c.opts.shutdownTimeout)
	defer deadline.Stop()
	for _, w := range workers {
		select {
		case <-w.done:
		case <-deadline.C:
			c.log.Warn("shutdown timeout: cancelling processors")
			for _, w := range workers {
				w.cancel()
			}
			for _, w := range workers {
				<-w.done
			}
			return
		}
	}
}

func (c *Consumer) triggerSync() {
	select {
	case c.syncNow <- struct{}{}:
	default:
	}
}

func (c *Consumer) syncShardsLogged(ctx context.Context) {
	if err := c.syncShards(ctx); err != nil && ctx.Err() == nil {
		c.opts.metrics.Error(OpListShards, "")
		c.log.Warn("shard sync failed", "err", err)
	}
}

// renewLoop renews every held lease each third of the failover time.
func (c *Consumer) renewLoop(ctx context.Context) {
	t := time.NewTicker(c.opts.failover / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		workers := make([]*shardWorker, 0, len(c.held))
		for _, w := range c.held {
			workers = append(workers, w)
		}
		c.mu.Unlock()
		for _, w := range workers {
			w.renew(ctx)
		}
	}
}

// scanAndBalance reads the lease table, notices leases taken from this
// worker, and takes or steals leases up to this worker's fair share.
func (c *Consumer) scanAndBalance(ctx, leaseCtx context.Context) {
	leases, err := c.store.ListLeases(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.opts.metrics.Error(OpListLeases, "")
			c.log.Warn("list leases failed", "err", err)
		}
		return
	}
	now := time.Now()
	me := c.opts.workerID
	c.mu.Lock()
	seen := make(map[string]bool, len(leases))
	for _, l := range leases {
		seen[l.Key] = true
		o := c.observed[l.Key]
		switch {
		case o == nil && l.Owner == "":
			c.observed[l.Key] = &observation{counter: l.Counter}
		case o == nil:
			c.observed[l.Key] = &observation{counter: l.Counter, changed: now}
		case o.counter != l.Counter:
			o.counter, o.changed = l.Counter, now
		}
	}
	for k := range c.observed {
		if !seen[k] {
			delete(c.observed, k)
		}
	}
	held := make(map[string]*shardWorker, len(c.held))
	for k, w := range c.held {
		held[k] = w
	}
	stopping := c.stopping
	c.mu.Unlock()
	// Leases another worker took from this one: by handoff (finish, then
	// hand over) or outright (lost).
	for _, l := range leases {
		if w := held[l.Key]; w != nil && l.Owner != me && l.Owner != "" {
			w.takenBy(l)
		}
	}
	if stopping || ctx.Err() != nil {
		return
	}
	mine := 0
	for _, w := range held {
		if !w.isStopping() {
			mine++
		}
	}
	c.opts.metrics.LeasesHeld(mine)
	plan := c.plan(leases, held, mine, now)
	for _, t := range plan {
		if ctx.Err() != nil {
			return
		}
		got, err := c.store.TakeLease(ctx, t.lease, me, t.steal)
		if err != nil {
			if !errors.Is(err, ErrLeaseConflict) {
				c.opts.metrics.Error(OpTake, t.lease.Key)
				c.log.Warn("take lease failed", "shard", t.lease.Key, "err", err)
			}
			continue
		}
		ev := LeaseTaken
		if t.steal {
			ev = LeaseStolen
		}
		c.opts.metrics.LeaseEvent(got.Key, ev)
		c.log.Info("lease "+string(ev), "shard", got.Key, "from", t.lease.Owner)
		c.startWorker(leaseCtx, got)
	}
}

type takePlan struct {
	lease Lease
	steal bool
}

// plan picks the leases to take: free and expired ones first, up to the
// fair share ceil(active leases / live workers); then, if still short, a
// handoff from the most loaded worker, but only from one above the share
// (or at it while this worker is two below), so that balanced workers never
// trade leases back and forth.
func (c *Consumer) plan(leases []Lease, held map[string]*shardWorker, mine int, now time.Time) []takePlan {
	me := c.opts.workerID
	c.mu.Lock()
	defer c.mu.Unlock()
	expired := func(l *Lease) bool {
		o := c.observed[l.Key]
		return l.Owner == "" || o == nil || o.changed.IsZero() || now.Sub(o.changed) > c.opts.failover
	}
	active := 0
	owners := map[string][]Lease{}
	var free []Lease
	for _, l := range leases {
		if l.Finished() {
			continue
		}
		active++
		if held[l.Key] != nil {
			continue
		}
		if expired(&l) || l.Owner == me {
			free = append(free, l)
			continue
		}
		owners[l.Owner] = append(owners[l.Owner], l)
	}
	target := int(math.Ceil(float64(active) / float64(len(owners)+1)))
	if c.opts.maxLeases > 0 {
		target = min(target, c.opts.maxLeases)
	}
	need := target - mine
	if need <= 0 {
		return nil
	}
	// Unowned first, then the longest silent.
	slices.SortFunc(free, func(a, b Lease) int {
		if (a.Owner == "") != (b.Owner == "") {
			if a.Owner == "" {
				return -1
			}
			return 1
		}
		return c.observed[a.Key].changed.Compare(c.observed[b.Key].changed)
	})
	var plan []takePlan
	for _, l := range free[:min(need, len(free))] {
		plan = append(plan, takePlan{lease: l})
	}
	need -= len(plan)
	if need <= 0 || len(free) > 0 {
		return plan
	}
	var victim string
	for o, ls := range owners {
		if victim == "" || len(ls) > len(owners[victim]) || (len(ls) == len(owners[victim]) && mrand.IntN(2) == 0) {
			victim = o
		}
	}
	n := len(owners[victim])
	switch {
	case victim == "" || n < target || (n == target && mine >= target-1):
		return plan
	case n == target:
		need = 1
	default:
		need = min(need, n-target)
	}
	candidates := slices.DeleteFunc(slices.Clone(owners[victim]), func(l Lease) bool { return l.CheckpointOwner != "" })
	mrand.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	for _, l := range candidates[:min(need, len(candidates))] {
		plan = append(plan, takePlan{lease: l, steal: true})
	}
	return plan
}

// syncShards lists the stream's shards and creates the leases that are due:
// a shard gets a lease once all its parents are finished (or, for the first
// shards of a new application, at the initial position), and a finished
// lease is deleted once its shard has expired from the stream.
func (c *Consumer) syncShards(ctx context.Context) error {
	shards, err := c.listShards(ctx)
	if err != nil {
		return err
	}
	leases, err := c.store.ListLeases(ctx)
	if err != nil {
		return err
	}
	for _, l := range planLeases(shards, leases, c.opts.initial) {
		if err := c.store.CreateLease(ctx, l); err != nil && !errors.Is(err, ErrLeaseExists) {
			return err
		}
		c.log.Debug("lease created", "shard", l.Key, "checkpoint", l.Checkpoint.String())
	}
	listed := make(map[string]bool, len(shards))
	for _, s := range shards {
		listed[aws.ToString(s.ShardId)] = true
	}
	for _, l := range leases {
		if l.Finished() && !listed[l.Key] {
			if err := c.store.DeleteLease(ctx, l.Key); err != nil {
				return err
			}
			c.log.Debug("finished lease of an expired shard deleted", "shard", l.Key)
		}
	}
	return nil
}

// planLeases returns the leases to create for shards that have none.
func planLeases(shards []types.Shard, leases []Lease, initial InitialPosition) []Lease {
	byKey := make(map[string]*Lease, len(leases))
	for i := range leases {
		byKey[leases[i].Key] = &leases[i]
	}
	listed := make(map[string]types.Shard, len(shards))
	children := map[string][]string{}
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		listed[id] = s
		for _, p := range shardParents(s) {
			children[p] = append(children[p], id)
		}
	}
	// leasedBelow reports whether a descendant of id has a lease: then id
	// was processed already and its lease deleted.
	memo := map[string]bool{}
	var leasedBelow func(id string) bool
	leasedBelow = func(id string) bool {
		if v, ok := memo[id]; ok {
			return v
		}
		memo[id] = false
		for _, ch := range children[id] {
			if byKey[ch] != nil || leasedBelow(ch) {
				memo[id] = true
				break
			}
		}
		return memo[id]
	}
	finished := func(id string) bool {
		if l := byKey[id]; l != nil {
			return l.Finished()
		}
		return leasedBelow(id)
	}
	var out []Lease
	newTable := len(leases) == 0
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		if byKey[id] != nil || leasedBelow(id) {
			continue
		}
		parents := shardParents(s)
		var listedParents []string
		for _, p := range parents {
			if _, ok := listed[p]; ok || byKey[p] != nil {
				listedParents = append(listedParents, p)
			}
		}
		cp := SentinelTrimHorizon
		switch {
		case newTable && initial.sentinel == SentinelLatest:
			if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
				continue // closed: its open descendants start at LATEST
			}
			cp = SentinelLatest
		case len(listedParents) == 0:
			cp = initial.sentinel // a root: the application's initial position
			if cp == SentinelLatest {
				cp = SentinelTrimHorizon // a root that appeared after the table was made
			}
		case !allFinished(listedParents, finished):
			continue
		}
		l := Lease{Key: id, Checkpoint: ExtendedSequenceNumber{Sequence: cp}, ParentShardIDs: parents}
		if s.HashKeyRange != nil {
			l.StartingHashKey = aws.ToString(s.HashKeyRange.StartingHashKey)
			l.EndingHashKey = aws.ToString(s.HashKeyRange.EndingHashKey)
		}
		out = append(out, l)
	}
	return out
}

func allFinished(ids []string, finished func(string) bool) bool {
	for _, id := range ids {
		if !finished(id) {
			return false
		}
	}
	return true
}

func shardParents(s types.Shard) []string {
	var ps []string
	for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
		if aws.ToString(p) != "" {
			ps = append(ps, *p)
		}
	}
	return ps
}

func (c *Consumer) listShards(ctx context.Context) ([]types.Shard, error) {
	in := &kinesis.ListShardsInput{}
	setStream(&in.StreamName, &in.StreamARN, c.env)
	var shards []types.Shard
	for {
		out, err := c.api.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list shards of %s: %w", c.streamRef(), err)
		}
		shards = append(shards, out.Shards...)
		if aws.ToString(out.NextToken) == "" {
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// startWorker runs a shard worker for a lease just taken.
func (c *Consumer) startWorker(leaseCtx context.Context, l Lease) {
	w := newShardWorker(c, leaseCtx, l)
	c.mu.Lock()
	c.held[l.Key] = w
	c.mu.Unlock()
	go w.run()
}

func (c *Consumer) removeWorker(w *shardWorker) {
	c.mu.Lock()
	if c.held[w.key] == w {
		delete(c.held, w.key)
	}
	c.mu.Unlock()
}
