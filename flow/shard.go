package flow

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/producer"
)

// shardRun is stage 1 on one source shard held by this worker: it runs the
// records through the operators, pre-aggregates, writes partials,
// outputs and late records, and checkpoints with the state a replay needs.
//
// A checkpoint is taken at a batch's end, after every write so far was
// acknowledged. Its position is the oldest record an open window (or a
// Dedup looking back from one) still needs; its state holds the position
// of the last record processed and each aggregation's watermark there. A
// new owner reads again from the position and replays silently, with no
// writes, up to the last record processed: every write those records made
// was acknowledged before the checkpoint. It then holds the same state the
// previous owner had and goes on.
type shardRun struct {
	rt      *runtime
	src     *source
	shardID string
	key     string // "stream/shardId"
	log     *slog.Logger

	built  map[any]any
	emit   emitFn[Record]
	pres   []*preAgg
	byAgg  map[*aggSpec]*preAgg
	dedups map[int]*dedupShard

	pending     pendingPuts
	replayUntil position // records at or before it are replayed silently
	last        position // the last record processed, or the start
	lastArrival int64
	lastCP      time.Time
	lastJump    time.Time
	ended       bool
	poison      error
	ctx         context.Context // of the ProcessRecords call in progress

	annMu     sync.Mutex
	persisted map[*preAgg]int64 // watermark at the last checkpoint written
	announce  map[*preAgg]int64 // watermark that markers may announce
}

func newShardRun(rt *runtime, src *source, shardID string) *shardRun {
	return &shardRun{
		rt: rt, src: src, shardID: shardID, key: streamName(src.name) + "/" + shardID,
		log:   rt.p.log.With("stream", src.name, "shard", shardID),
		built: map[any]any{}, byAgg: map[*aggSpec]*preAgg{}, dedups: map[int]*dedupShard{},
		persisted: map[*preAgg]int64{}, announce: map[*preAgg]int64{},
	}
}

// preAgg returns the shard's pre-aggregation of spec, made at build time.
func (r *shardRun) preAgg(spec *aggSpec) *preAgg {
	if a := r.byAgg[spec]; a != nil {
		return a
	}
	a := newPreAgg(spec, r.key)
	r.byAgg[spec] = a
	r.pres = append(r.pres, a)
	return a
}

func (r *shardRun) dedup(idx int) *dedupShard {
	if d := r.dedups[idx]; d != nil {
		return d
	}
	d := newDedupShard(r.rt.p.dedups[idx])
	r.dedups[idx] = d
	return d
}

// resumeBefore is the checkpoint that replays the record at pos and what
// deciding on it needs: the records each Dedup looks back at.
func (r *shardRun) resumeBefore(pos position, arrival int64) position {
	resume := before(pos)
	for _, d := range r.dedups {
		if p, ok := d.resumeFor(arrival); ok {
			resume = minPos(resume, p)
		}
	}
	return resume
}

func (r *shardRun) replaying() bool { return !r.replayUntil.IsZero() }

// Initialize builds the operators for the shard and restores the state
// kept with its checkpoint, or for a new child shard the watermarks its
// parents ended with.
func (r *shardRun) Initialize(ctx context.Context, in consumer.InitializeInput) error {
	if r.emit == nil {
		emit, err := r.src.stream.instance(r)
		if err != nil {
			return err
		}
		r.emit = emit
	}
	if !in.Checkpoint.IsZero() && in.Checkpoint.Sequence[0] >= '0' && in.Checkpoint.Sequence[0] <= '9' {
		r.last = in.Checkpoint
	}
	if len(in.CheckpointState) > 0 {
		st, err := decodeSourceState(in.CheckpointState)
		if err != nil {
			return fmt.Errorf("shard %s: %w", r.key, err)
		}
		if st.last.Compare(r.last) > 0 {
			r.replayUntil = st.last
		}
		for _, a := range r.pres {
			if s, ok := st.aggs[a.spec.name]; ok {
				a.restore(s.wm, s.jumps)
			}
		}
		r.log.Info("shard resumed", "checkpoint", in.Checkpoint.String(), "replay_until", st.last.String())
	} else if err := r.inherit(ctx); err != nil {
		return err
	}
	for _, a := range r.pres {
		r.persisted[a] = a.wm
		r.announce[a] = a.wm
	}
	r.rt.mu.Lock()
	r.rt.shards[r] = struct{}{}
	r.rt.mu.Unlock()
	return nil
}

// inherit starts a child shard's watermarks at the lowest its parents
// ended with, so that it judges lateness as stage 2 expects.
func (r *shardRun) inherit(ctx context.Context) error {
	store := r.rt.sourceLeases[r.src]
	if store == nil || len(r.pres) == 0 {
		return nil
	}
	l, err := store.GetLease(ctx, r.shardID)
	if err != nil || len(l.ParentShardIDs) == 0 {
		return nil // a root, or no lease to read: nothing to inherit
	}
	wms := map[*preAgg]int64{}
	for _, parent := range l.ParentShardIDs {
		pl, err := store.GetLease(ctx, parent)
		if errors.Is(err, consumer.ErrLeaseNotFound) {
			continue // expired long ago
		}
		if err != nil {
			return fmt.Errorf("read parent %s of %s: %w", parent, r.key, err)
		}
		if len(pl.CheckpointState) == 0 {
			continue
		}
		st, err := decodeSourceState(pl.CheckpointState)
		if err != nil {
			return fmt.Errorf("parent %s of %s: %w", parent, r.key, err)
		}
		for _, a := range r.pres {
			if s, ok := st.aggs[a.spec.name]; ok {
				if w, seen := wms[a]; !seen || s.wm < w {
					wms[a] = s.wm
				}
			}
		}
	}
	for a, w := range wms {
		a.restore(w, nil)
	}
	return nil
}

// ProcessRecords runs a batch through the operators.
func (r *shardRun) ProcessRecords(ctx context.Context, in consumer.ProcessRecordsInput) error {
	if r.poison != nil {
		return r.poison
	}
	r.ctx = ctx
	defer func() { r.ctx = nil }()
	if len(in.Records) == 0 {
		return r.idle(ctx, in)
	}
	var rec Record
	rec.Stream, rec.ShardID = streamName(r.src.name), r.shardID
	e := &elem{run: r, rec: &rec} // one for the batch: operators do not keep it
	for i := range in.Records {
		cr := &in.Records[i]
		pos := cr.Position()
		if r.replaying() && pos.Compare(r.replayUntil) > 0 {
			if err := r.endReplay(); err != nil {
				return err
			}
		}
		silent := r.replaying()
		if silent {
			for _, a := range r.pres {
				if len(a.jumps) > 0 {
					a.replayJumps(r.last)
				}
			}
		}
		var arrival int64
		if cr.ApproximateArrivalTimestamp != nil {
			arrival = cr.ApproximateArrivalTimestamp.UnixMilli()
			rec.ArrivalTime = *cr.ApproximateArrivalTimestamp
		}
		for _, a := range r.pres {
			if a.spec.arrival {
				a.observe(arrival)
			}
		}
		rec.PartitionKey, rec.SequenceNumber, rec.SubSequenceNumber, rec.Data = aws.ToString(cr.PartitionKey), pos.Sequence, pos.SubSequence, cr.Data
		*e = elem{run: r, rec: &rec, pos: pos, arrival: arrival, silent: silent}
		if err := r.emit(e, rec); err != nil {
			if err := r.failed(ctx, e, err); err != nil {
				return err
			}
		}
		r.last, r.lastArrival = pos, arrival
	}
	now := time.Now().UnixMilli()
	for _, a := range r.pres {
		if a.touched {
			a.touched, a.lastRecord = false, now
		}
	}
	r.rt.records.Add(int64(len(in.Records)))
	r.rt.p.opts.metrics.RecordsProcessed(r.key, len(in.Records))
	if r.replaying() && r.last == r.replayUntil {
		if err := r.endReplay(); err != nil {
			return err
		}
	}
	if r.replaying() {
		return nil
	}
	if err := r.flush(ctx, false); err != nil {
		return err
	}
	return r.checkpoint(ctx, in.Checkpointer, false)
}

// endReplay ends the silent replay: the state is now the one the previous
// owner checkpointed, with its writes done.
func (r *shardRun) endReplay() error {
	for _, a := range r.pres {
		a.replayJumps(r.replayUntil)
		if err := a.flush(nil, true, false); err != nil {
			return err
		}
	}
	r.log.Debug("replay ended", "at", r.replayUntil.String())
	r.replayUntil = position{}
	return nil
}

// flush sends the partials due, waits until they are acknowledged, and
// lets markers announce the watermarks they cover.
func (r *shardRun) flush(ctx context.Context, final bool) error {
	var parts pendingPuts
	for _, a := range r.pres {
		err := a.flush(func(p *partial) error {
			return parts.put(ctx, r.rt.repartition, producer.Record{PartitionKey: partitionKeyOf(p.key), Data: encodePartial(p)})
		}, false, final)
		if err != nil {
			return err
		}
	}
	if parts.len() > 0 {
		if err := parts.wait(ctx, r.putFailed); err != nil {
			return err
		}
	}
	r.annMu.Lock()
	for _, a := range r.pres {
		r.announce[a] = max(r.announce[a], a.rec, r.persisted[a])
	}
	r.annMu.Unlock()
	return nil
}

func (r *shardRun) putFailed(stream string, err error) {
	r.log.Warn("a write was not acknowledged; writing it again", "stream", stream, "err", err)
}

// partitionKeyOf is the repartition stream's partition key for an encoded
// grouping key.
func partitionKeyOf(key string) string {
	h := md5.Sum([]byte(key))
	return hex.EncodeToString(h[:])
}

// idle handles a read that found no records: a caught-up shard's
// watermark moves on by the clock once it has been idle long enough.
func (r *shardRun) idle(ctx context.Context, in consumer.ProcessRecordsInput) error {
	if r.replaying() || in.MillisBehindLatest != 0 || in.ReadAt.IsZero() {
		return r.checkpoint(ctx, in.Checkpointer, false)
	}
	readAt := in.ReadAt.UnixMilli()
	now := time.Now()
	moved := false
	for _, a := range r.pres {
		if !a.spec.arrival && now.UnixMilli()-a.lastRecord < a.spec.idle {
			continue
		}
		cand := addSat(readAt-a.spec.idle, -a.spec.maxOOO)
		if cand <= a.wm || !r.worthJump(a, cand, now) {
			continue
		}
		if a.advance(r.last, cand) {
			moved = true
			r.log.Debug("idle shard: watermark moved on", "aggregation", a.spec.name, "watermark", millisTime(cand))
		}
	}
	if !moved {
		return r.checkpoint(ctx, in.Checkpointer, false)
	}
	r.lastJump = now
	if err := r.flush(ctx, false); err != nil {
		return err
	}
	// A jump is announced only once persisted: a new owner could not
	// repeat it, and would judge records on time that stage 2 closed.
	return r.checkpoint(ctx, in.Checkpointer, true)
}

// worthJump reports whether moving the watermark to cand can close
// something: it crosses a window's end (or end plus lateness), or, for
// sessions, a second has passed since the last jump. Jumps cost a
// checkpoint each.
func (r *shardRun) worthJump(a *preAgg, cand int64, now time.Time) bool {
	if a.wm == minTime {
		return true
	}
	if a.spec.window.kind == session {
		return now.Sub(r.lastJump) >= time.Second
	}
	step, l := a.spec.window.step.Milliseconds(), a.spec.lateness
	return floorDiv(cand, step) > floorDiv(a.wm, step) || floorDiv(cand-l, step) > floorDiv(a.wm-l, step)
}

// failed handles an operator's error on a record: to the dead-letter
// stream if there is one, else the shard stops here.
func (r *shardRun) failed(ctx context.Context, e *elem, cause error) error {
	if e.silent {
		return nil // it failed the same way before the checkpoint, and was handled then
	}
	if dl := r.rt.deadLetter; dl != nil {
		doc, err := json.Marshal(consumer.DeadLetter{
			Stream: e.rec.Stream, ShardID: e.rec.ShardID, SequenceNumber: e.rec.SequenceNumber, SubSequenceNumber: e.rec.SubSequenceNumber,
			PartitionKey: e.rec.PartitionKey, ApproximateArrivalTimestamp: aws.Time(e.rec.ArrivalTime), Data: e.rec.Data, Error: cause.Error(), Attempts: 1,
		})
		if err != nil {
			return err
		}
		r.rt.deadCount.Add(1)
		r.rt.p.opts.metrics.DeadLetter(r.key)
		r.log.Warn("record sent to the dead-letter stream", "sequence", e.pos.String(), "err", cause)
		return r.pending.put(ctx, dl, producer.Record{PartitionKey: e.rec.PartitionKey, Data: doc})
	}
	r.poison = fmt.Errorf("record %s of %s failed, and the pipeline has no dead-letter stream: %w", e.pos.String(), r.key, cause)
	r.log.Error("shard stopped on a failing record; it resumes from its checkpoint when the worker restarts", "sequence", e.pos.String(), "err", cause)
	return r.poison
}

// put writes a value to a stream output.
func (r *shardRun) put(out *output, key, ehk string, data []byte) error {
	return r.pending.put(r.ctx, out, producer.Record{PartitionKey: key, ExplicitHashKey: ehk, Data: data})
}

// late sends a record that came after its window's allowed lateness to
// the aggregation's late stream.
func (r *shardRun) late(e *elem, spec *aggSpec, ev int64) error {
	if e.silent {
		return nil
	}
	doc, err := json.Marshal(LateRecord{
		Pipeline: r.rt.p.name, Aggregation: spec.name, ID: e.rec.ID(),
		Stream: e.rec.Stream, ShardID: e.rec.ShardID, SequenceNumber: e.rec.SequenceNumber, SubSequenceNumber: e.rec.SubSequenceNumber,
		PartitionKey: e.rec.PartitionKey, ApproximateArrivalTimestamp: e.rec.ArrivalTime, EventTime: millisTime(ev),
		Watermark: millisTime(r.byAgg[spec].wm), Data: e.rec.Data,
	})
	if err != nil {
		return err
	}
	r.rt.lateCount.Add(1)
	r.rt.p.opts.metrics.LateRecord(spec.name)
	key := e.rec.PartitionKey
	if key == "" {
		key = "late"
	}
	return r.pending.put(r.ctx, r.rt.late[spec], producer.Record{PartitionKey: key, Data: doc})
}

// checkpoint writes the checkpoint and its state, at most every
// checkpoint interval unless forced, once every write so far is
// acknowledged.
func (r *shardRun) checkpoint(ctx context.Context, cp *consumer.Checkpointer, force bool) error {
	if r.replaying() || cp == nil || (!force && time.Since(r.lastCP) < r.rt.p.opts.checkpointInterval) {
		return nil
	}
	if err := r.pending.wait(ctx, r.putFailed); err != nil {
		return err
	}
	st := &sourceState{last: r.last, ended: r.ended, aggs: map[string]aggState{}}
	resume := r.last
	if len(r.dedups) > 0 && !r.last.IsZero() {
		resume = r.resumeBefore(position{Sequence: r.last.Sequence, SubSequence: r.last.SubSequence + 1}, r.lastArrival)
	}
	wms := map[*preAgg]int64{}
	kept := map[*preAgg][]jump{}
	for _, a := range r.pres {
		res, wm, jumps, ok := a.retained()
		if ok {
			resume = minPos(resume, res)
		}
		st.aggs[a.spec.name] = aggState{wm: wm, jumps: jumps}
		wms[a], kept[a] = a.wm, jumps
	}
	if resume.IsZero() {
		resume = position{Sequence: consumer.SentinelTrimHorizon}
	}
	err := cp.CheckpointState(ctx, resume, encodeSourceState(st))
	if errors.Is(err, consumer.ErrLeaseLost) || ctx.Err() != nil {
		return err
	}
	if err != nil {
		r.log.Warn("checkpoint failed; retrying after the next batch", "err", err)
		return nil
	}
	r.lastCP = time.Now()
	r.annMu.Lock()
	for _, a := range r.pres {
		a.prune(kept[a])
		r.persisted[a] = wms[a]
		r.announce[a] = max(r.announce[a], wms[a])
	}
	r.annMu.Unlock()
	return nil
}

// announced returns the watermarks this shard's markers may announce.
func (r *shardRun) announced() []markerEntry {
	r.annMu.Lock()
	defer r.annMu.Unlock()
	out := make([]markerEntry, 0, len(r.announce))
	for a, wm := range r.announce {
		if wm == minTime {
			continue
		}
		out = append(out, markerEntry{agg: a.spec.name, source: r.key, wm: wm})
	}
	return out
}

// ShardEnded sends everything the shard holds, checkpoints that it ended
// and tells stage 2, with its children, before the consumer marks it
// finished.
func (r *shardRun) ShardEnded(ctx context.Context, in consumer.ShardEndedInput) error {
	if r.replaying() {
		if err := r.endReplay(); err != nil {
			return err
		}
	}
	if err := r.flush(ctx, true); err != nil {
		return err
	}
	r.ended = true
	if err := r.checkpoint(ctx, in.Checkpointer, true); err != nil {
		return err
	}
	if r.rt.repartition != nil && len(r.pres) > 0 {
		var children []string
		for _, c := range in.ChildShards {
			children = append(children, streamName(r.src.name)+"/"+aws.ToString(c.ShardId))
		}
		var entries []markerEntry
		for _, a := range r.pres {
			entries = append(entries, markerEntry{agg: a.spec.name, source: r.key, wm: a.wm, ended: true, final: a.wm, children: children})
		}
		var pend pendingPuts
		if err := r.rt.sendMarkers(ctx, entries, &pend); err != nil {
			return err
		}
		if err := pend.wait(ctx, r.putFailed); err != nil {
			return err
		}
	}
	r.log.Info("shard ended", "children", len(in.ChildShards))
	r.stop()
	return nil
}

// ShutdownRequested checkpoints what is acknowledged, for the next owner.
func (r *shardRun) ShutdownRequested(ctx context.Context, in consumer.ShutdownRequestedInput) error {
	defer r.stop()
	if r.poison != nil {
		return nil
	}
	if r.replaying() {
		return nil // the checkpoint stands as it was
	}
	return r.checkpoint(ctx, in.Checkpointer, true)
}

// LeaseLost drops the shard: another worker has it.
func (r *shardRun) LeaseLost(context.Context, consumer.LeaseLostInput) { r.stop() }

func (r *shardRun) stop() {
	r.rt.mu.Lock()
	delete(r.rt.shards, r)
	r.rt.mu.Unlock()
}

var _ consumer.RecordProcessor = (*shardRun)(nil)
