package consumer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// shardWorker runs one held lease: it waits for a handoff and for the
// shard's parents, then feeds the shard to a processor until the shard
// ends, the lease is lost or handed off, or the consumer stops.
//
// Every write to the lease goes through write, under mu, so the counter it
// expects is always the one the last write returned (the fence).
type shardWorker struct {
	c   *Consumer
	key string
	log *slog.Logger
	cp  *Checkpointer

	// ctx is the processing context: cancelled when the lease is lost (or
	// at the shutdown timeout), not when the consumer starts to stop, so
	// in-flight batches finish.
	ctx    context.Context
	cancel context.CancelFunc
	// stopping closes when the worker is asked to stop after its batch.
	stopping chan struct{}
	done     chan struct{}

	mu      sync.Mutex
	lease   Lease     // as last written or read
	renewed time.Time // when the last successful write was sent
	// fence fires when the lease has not been written for 4/5 of the
	// failover time since that write was sent: others may take it from the
	// failover time on (measured from when they saw the write), so the
	// worker stops processing first.
	fence    *time.Timer
	handoff  bool // another worker took the lease by handoff
	lost     bool
	stopOnce sync.Once
	released bool
}

func newShardWorker(c *Consumer, leaseCtx context.Context, l Lease) *shardWorker {
	ctx, cancel := context.WithCancel(leaseCtx)
	w := &shardWorker{
		c: c, key: l.Key, log: c.log.With("shard", l.Key),
		ctx: ctx, cancel: cancel,
		stopping: make(chan struct{}), done: make(chan struct{}),
		lease: l, renewed: time.Now(),
	}
	w.cp = &Checkpointer{w: w}
	w.fence = time.AfterFunc(w.fenceAfter(), func() { w.loseLease("not renewed within the failover time") })
	return w
}

func (w *shardWorker) fenceAfter() time.Duration { return w.c.opts.failover * 4 / 5 }

func (w *shardWorker) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}

func (w *shardWorker) inHandoff() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.handoff
}

// requestStop asks the worker to stop after its in-flight batch: for a
// handoff, or because the consumer shuts down.
func (w *shardWorker) requestStop(handoff bool) {
	w.mu.Lock()
	if handoff {
		// The lease is the new owner's now; the final handoff write is
		// fenced by checkpointOwner, and the new owner's timeout bounds it.
		w.handoff = true
		w.fence.Stop()
	}
	w.mu.Unlock()
	w.stopOnce.Do(func() { close(w.stopping) })
}

// loseLease marks the lease lost and cancels processing.
func (w *shardWorker) loseLease(why string) {
	w.mu.Lock()
	already := w.lost || w.released
	w.lost = true
	w.mu.Unlock()
	if already {
		return
	}
	w.log.Warn("lease lost", "why", why)
	w.c.opts.metrics.LeaseEvent(w.key, LeaseLostEvent)
	w.stopOnce.Do(func() { close(w.stopping) })
	w.cancel()
}

// takenBy handles a scan that shows another owner.
func (w *shardWorker) takenBy(l Lease) {
	if l.CheckpointOwner == w.c.opts.workerID {
		w.mu.Lock()
		first := !w.handoff
		w.mu.Unlock()
		if first {
			w.log.Info("lease requested by another worker: handing off", "to", l.Owner)
		}
		w.requestStop(true)
		return
	}
	w.loseLease("taken by " + l.Owner)
}

// write applies a conditional write to the lease. A conflict means another
// worker took it: by handoff (the worker finishes and hands over) or not
// (lost).
func (w *shardWorker) write(ctx context.Context, op string, fn func(Lease) (Lease, error)) error {
	w.mu.Lock()
	if w.lost {
		w.mu.Unlock()
		return ErrLeaseLost
	}
	sent := time.Now()
	l, err := fn(w.lease)
	if err == nil {
		w.lease, w.renewed = l, sent
		if !w.handoff && !w.released {
			w.fence.Reset(w.fenceAfter() - time.Since(sent))
		}
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	w.c.opts.metrics.Error(op, w.key)
	if !errors.Is(err, ErrLeaseConflict) {
		return err
	}
	cur, gerr := w.c.store.GetLease(ctx, w.key)
	switch {
	case gerr == nil && cur.Owner != w.c.opts.workerID && cur.Owner != "":
		w.takenBy(cur)
	case gerr == nil || errors.Is(gerr, ErrLeaseNotFound):
		w.loseLease(op + " conflict")
	}
	return err
}

// renew renews the lease. A worker that cannot renew stops processing when
// its fence timer fires, before another worker may take over.
func (w *shardWorker) renew(ctx context.Context) {
	w.mu.Lock()
	// A lease being handed off belongs to the new owner already.
	skip := w.lost || w.released || w.handoff
	w.mu.Unlock()
	if skip {
		return
	}
	err := w.write(ctx, OpRenew, func(l Lease) (Lease, error) { return w.c.store.RenewLease(ctx, l) })
	if err != nil && !errors.Is(err, ErrLeaseConflict) && ctx.Err() == nil {
		w.mu.Lock()
		silent := time.Since(w.renewed)
		w.mu.Unlock()
		w.log.Warn("renew lease failed", "err", err, "since_last_renewal", silent)
	}
}

func (w *shardWorker) run() {
	defer close(w.done)
	defer w.c.removeWorker(w)
	defer w.cancel()
	defer w.fence.Stop()
	outcome := w.process()
	w.finish(outcome)
}

// outcome is how processing of a lease ended.
type outcome int

const (
	outcomeStopped  outcome = iota // shutdown or handoff: checkpoint and release
	outcomeLost                    // lost: nothing more may be written
	outcomeShardEnd                // shard finished and released
)

// process runs the lease until it ends, returning how.
func (w *shardWorker) process() outcome {
	ctx := w.ctx
	if !w.waitHandoff(ctx) || !w.waitParents(ctx) {
		return w.endState()
	}
	w.mu.Lock()
	l := w.lease
	w.mu.Unlock()
	if l.Finished() {
		// Finished while this worker took it: release the tombstone.
		w.write(ctx, OpCheckpoint, func(l Lease) (Lease, error) { return w.c.store.EvictLease(ctx, l) })
		return outcomeShardEnd
	}
	start := l.Checkpoint
	if !start.isSentinel() {
		w.cp.committed, w.cp.largest, w.cp.processed = start, start, start
	}
	p := w.c.newProcessor(w.key)
	in := InitializeInput{ShardID: w.key, Checkpoint: start, CheckpointState: l.CheckpointState, PendingCheckpoint: l.PendingCheckpoint, PendingCheckpointState: l.PendingCheckpointState}
	if err := w.retry(ctx, OpProcess, func() error { return p.Initialize(ctx, in) }); err != nil {
		return w.stopProcessor(p)
	}
	w.log.Info("processing shard", "from", start.String())
	f := w.c.opts.retrieval.newFeed(ctx, w.c.env, w.key, positionFor(start, w.c.opts.initial))
	defer f.close()
	// next waits until a batch arrives or the worker is asked to stop.
	nextCtx, stopNext := context.WithCancel(ctx)
	defer stopNext()
	go func() {
		select {
		case <-w.stopping:
			stopNext()
		case <-nextCtx.Done():
		}
	}()
	for {
		if w.isStopping() {
			return w.stopProcessor(p)
		}
		b, err := f.next(nextCtx)
		if err != nil { // stopping, lost; a feed's end comes as a batch with shardEnd
			return w.stopProcessor(p)
		}
		recs := w.records(b.records, l, start)
		if len(recs) > 0 {
			if last := recs[len(recs)-1]; last.ApproximateArrivalTimestamp != nil {
				w.c.opts.metrics.IteratorAge(w.key, time.Since(*last.ApproximateArrivalTimestamp))
			}
			if err := w.deliver(ctx, p, recs, b.millisBehindLatest, b.readAt); err != nil {
				w.cp.rewind() // the abandoned records are not processed
				return w.stopProcessor(p)
			}
		} else if w.c.opts.emptyBatches && !b.shardEnd {
			if err := w.retry(ctx, OpProcess, func() error {
				return p.ProcessRecords(ctx, ProcessRecordsInput{ShardID: w.key, MillisBehindLatest: b.millisBehindLatest, ReadAt: b.readAt, Checkpointer: w.cp})
			}); err != nil {
				return w.stopProcessor(p)
			}
		}
		if b.shardEnd {
			return w.shardEnded(ctx, p, b.childShards)
		}
	}
}

// endState names the outcome when processing ends before a processor ran.
func (w *shardWorker) endState() outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost {
		return outcomeLost
	}
	return outcomeStopped
}

// stopProcessor ends a processor that was running: LeaseLost if the lease
// is gone, else ShutdownRequested and a last checkpoint.
func (w *shardWorker) stopProcessor(p RecordProcessor) outcome {
	if w.endState() == outcomeLost {
		p.LeaseLost(context.WithoutCancel(w.ctx), LeaseLostInput{ShardID: w.key})
		return outcomeLost
	}
	ctx := w.ctx
	handoff := w.inHandoff()
	if err := p.ShutdownRequested(ctx, ShutdownRequestedInput{ShardID: w.key, Checkpointer: w.cp, Handoff: handoff}); err != nil {
		w.log.Warn("processor failed shutdown", "err", err)
	}
	if w.c.opts.autoCheckpoint {
		if err := w.cp.Checkpoint(ctx); err != nil && w.endState() != outcomeLost {
			w.log.Warn("final checkpoint failed", "err", err)
		}
	}
	return w.endState()
}

// finish makes the lease's last write: release after a shutdown, the
// handoff write after a handoff.
func (w *shardWorker) finish(o outcome) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), w.c.opts.failover)
	defer cancel()
	if o == outcomeLost {
		return
	}
	if o == outcomeShardEnd {
		w.markReleased()
		return
	}
	if w.inHandoff() {
		if err := w.finishHandoff(ctx); err != nil {
			w.log.Warn("finishing handoff failed", "err", err)
			return
		}
		w.markReleased()
		w.c.opts.metrics.LeaseEvent(w.key, LeaseHanded)
		pos, _, _ := w.cp.handoffPosition()
		w.log.Info("lease handed off", "checkpoint", pos.String())
		return
	}
	err := w.write(ctx, OpCheckpoint, func(l Lease) (Lease, error) { return w.c.store.EvictLease(ctx, l) })
	if err != nil {
		if !w.inHandoff() {
			w.log.Warn("releasing lease failed", "err", err)
			return
		}
		// Requested by another worker while stopping: hand it over instead.
		if err := w.finishHandoff(ctx); err != nil {
			w.log.Warn("finishing handoff failed", "err", err)
		}
	}
	w.markReleased()
	w.c.opts.metrics.LeaseEvent(w.key, LeaseReleased)
	w.log.Info("lease released")
}

// finishHandoff makes the previous owner's final write of a handoff, with
// the checkpoint (and state) held back for it.
func (w *shardWorker) finishHandoff(ctx context.Context) error {
	pos, state, stateful := w.cp.handoffPosition()
	if store, ok := w.c.store.(CheckpointStateStore); ok && stateful {
		return store.FinishHandoffState(ctx, w.key, w.c.opts.workerID, pos, state)
	}
	return w.c.store.FinishHandoff(ctx, w.key, w.c.opts.workerID, pos)
}

// startSentinel is the sentinel checkpoint the lease started from, or
// TRIM_HORIZON.
func (w *shardWorker) startSentinel() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lease.Checkpoint.isSentinel() {
		return w.lease.Checkpoint.Sequence
	}
	return SentinelTrimHorizon
}

func (w *shardWorker) markReleased() {
	w.mu.Lock()
	w.released = true
	w.fence.Stop()
	w.mu.Unlock()
}

// waitHandoff waits, after a handoff take, for the previous owner's final
// checkpoint; after the handoff timeout it clears checkpointOwner itself.
func (w *shardWorker) waitHandoff(ctx context.Context) bool {
	w.mu.Lock()
	pending := w.lease.CheckpointOwner != "" && w.lease.CheckpointOwner != w.c.opts.workerID
	w.mu.Unlock()
	if !pending {
		return true
	}
	deadline := time.Now().Add(w.c.opts.handoffTimeout)
	for time.Now().Before(deadline) {
		if err := sleepOrStop(ctx, w.stopping, 50*time.Millisecond); err != nil {
			return false
		}
		cur, err := w.c.store.GetLease(ctx, w.key)
		if err != nil {
			continue
		}
		if cur.Owner != w.c.opts.workerID {
			w.loseLease("taken during handoff by " + cur.Owner)
			return false
		}
		if cur.CheckpointOwner == "" {
			w.mu.Lock()
			w.lease.Checkpoint, w.lease.CheckpointOwner, w.lease.CheckpointState = cur.Checkpoint, "", cur.CheckpointState
			w.lease.PendingCheckpoint, w.lease.PendingCheckpointState = cur.PendingCheckpoint, cur.PendingCheckpointState
			w.mu.Unlock()
			return true
		}
	}
	w.log.Warn("previous owner did not hand the lease over in time; starting from its last checkpoint")
	err := w.write(ctx, OpTake, func(l Lease) (Lease, error) { return w.c.store.TakeLease(ctx, l, w.c.opts.workerID, false) })
	return err == nil
}

// waitParents waits until every parent shard is finished: its lease
// checkpointed at SHARD_END, or gone.
func (w *shardWorker) waitParents(ctx context.Context) bool {
	w.mu.Lock()
	parents := w.lease.ParentShardIDs
	w.mu.Unlock()
	logged := false
	for _, p := range parents {
		for {
			l, err := w.c.store.GetLease(ctx, p)
			if errors.Is(err, ErrLeaseNotFound) || (err == nil && l.Finished()) {
				break
			}
			if !logged {
				w.log.Info("waiting for parent shard", "parent", p)
				logged = true
			}
			if err := sleepOrStop(ctx, w.stopping, w.c.opts.parentPoll); err != nil {
				return false
			}
		}
	}
	return true
}

// records turns a read into the records to deliver: deaggregated, kept to
// the shard's hash range, and without those at or before the checkpoint
// the shard resumed from.
func (w *shardWorker) records(raw []types.Record, l Lease, start ExtendedSequenceNumber) []Record {
	if len(raw) == 0 {
		return nil
	}
	recs := deaggregateRecords(raw, l.StartingHashKey, l.EndingHashKey, w.log)
	if start.isSentinel() || start.IsZero() {
		return recs
	}
	i := 0
	for i < len(recs) && recs[i].Position().Compare(start) <= 0 {
		i++
	}
	return recs[i:]
}

// shardEnded runs the end of a closed shard: the processor's ShardEnded,
// then SHARD_END and the child shards recorded and the lease released in
// the lease table, then the children's leases created.
func (w *shardWorker) shardEnded(ctx context.Context, p RecordProcessor, children []types.ChildShard) outcome {
	if err := w.retry(ctx, OpProcess, func() error {
		return p.ShardEnded(ctx, ShardEndedInput{ShardID: w.key, ChildShards: children, Checkpointer: w.cp})
	}); err != nil {
		return w.stopProcessor(p)
	}
	var ids []string
	for _, ch := range children {
		ids = append(ids, aws.ToString(ch.ShardId))
	}
	if len(ids) > 0 {
		if err := w.retry(ctx, OpCheckpoint, func() error {
			return w.write(ctx, OpCheckpoint, func(l Lease) (Lease, error) {
				l.ChildShardIDs = ids
				return w.c.store.UpdateLease(ctx, l)
			})
		}); err != nil {
			return w.endLost(p)
		}
	}
	end := ExtendedSequenceNumber{Sequence: SentinelShardEnd}
	if err := w.retry(ctx, OpCheckpoint, func() error {
		return w.write(ctx, OpCheckpoint, func(l Lease) (Lease, error) { return w.c.store.UpdateCheckpoint(ctx, l, end, true) })
	}); err != nil {
		return w.endLost(p)
	}
	w.markReleased()
	w.c.opts.metrics.LeaseEvent(w.key, LeaseFinished)
	w.log.Info("shard finished", "children", ids)
	w.createChildLeases(ctx, children)
	w.c.triggerSync()
	return outcomeShardEnd
}

func (w *shardWorker) endLost(p RecordProcessor) outcome {
	if w.endState() == outcomeLost {
		p.LeaseLost(context.WithoutCancel(w.ctx), LeaseLostInput{ShardID: w.key})
		return outcomeLost
	}
	return w.stopProcessor(p)
}

// createChildLeases creates each child's lease once all its parents are
// finished; for a merge, the parent that finishes last creates it.
func (w *shardWorker) createChildLeases(ctx context.Context, children []types.ChildShard) {
	for _, ch := range children {
		ready := true
		for _, p := range ch.ParentShards {
			if p == w.key {
				continue
			}
			l, err := w.c.store.GetLease(ctx, p)
			if err != nil && !errors.Is(err, ErrLeaseNotFound) || err == nil && !l.Finished() {
				ready = false
			}
		}
		if !ready {
			continue
		}
		l := Lease{
			Key:            aws.ToString(ch.ShardId),
			Checkpoint:     ExtendedSequenceNumber{Sequence: SentinelTrimHorizon},
			ParentShardIDs: ch.ParentShards,
		}
		if ch.HashKeyRange != nil {
			l.StartingHashKey = aws.ToString(ch.HashKeyRange.StartingHashKey)
			l.EndingHashKey = aws.ToString(ch.HashKeyRange.EndingHashKey)
		}
		if err := w.c.store.CreateLease(ctx, l); err != nil && !errors.Is(err, ErrLeaseExists) {
			w.log.Warn("create child lease failed; the next shard sync creates it", "child", l.Key, "err", err)
		}
	}
}

// retry runs fn until it succeeds, with backoff; it gives up when the lease
// is lost or the worker is asked to stop.
func (w *shardWorker) retry(ctx context.Context, op string, fn func() error) error {
	bo := newBackoff(w.c.opts.retry.InitialBackoff, w.c.opts.retry.MaxBackoff)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrLeaseConflict) || ctx.Err() != nil {
			return err // write has already noted the loss or the handoff
		}
		w.c.opts.metrics.Error(op, w.key)
		w.log.Warn(op+" failed, retrying", "err", err)
		if err := sleepOrStop(ctx, w.stopping, bo.cur); err != nil {
			return err
		}
		bo.cur = min(2*bo.cur, bo.max)
	}
}
