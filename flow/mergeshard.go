package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sluicehq/sluice/consumer"
)

// mergeShard is stage 2 on one repartition shard held by this worker: it
// merges the partials of every source shard, tracks their watermarks from
// the markers, fires windows and upserts their rows into the sinks, and
// checkpoints like stage 1: at the oldest partial still held, with the
// source tables of that point and the last record processed, so that a new
// owner replays silently (without writing rows) up to there.
type mergeShard struct {
	rt      *runtime
	shardID string
	log     *slog.Logger
	aggs    map[string]*mergeAgg

	replayUntil position
	last        position
	lastCP      time.Time
	poison      error
}

func newMergeShard(rt *runtime, shardID string) *mergeShard {
	m := &mergeShard{rt: rt, shardID: shardID, log: rt.p.log.With("stream", rt.p.RepartitionStream(), "shard", shardID), aggs: map[string]*mergeAgg{}}
	for _, a := range rt.p.aggs {
		m.aggs[a.name] = newMergeAgg(a, a.streams())
	}
	return m
}

func (m *mergeShard) replaying() bool { return !m.replayUntil.IsZero() }

// Initialize restores the checkpoint's state and learns the source
// streams' shards.
func (m *mergeShard) Initialize(ctx context.Context, in consumer.InitializeInput) error {
	if !in.Checkpoint.IsZero() && in.Checkpoint.Sequence[0] >= '0' && in.Checkpoint.Sequence[0] <= '9' {
		m.last = in.Checkpoint
	}
	if len(in.CheckpointState) > 0 {
		st, err := decodeMergeState(in.CheckpointState)
		if err != nil {
			return fmt.Errorf("repartition shard %s: %w", m.shardID, err)
		}
		if st.last.Compare(m.last) > 0 {
			m.replayUntil = st.last
		}
		for name, t := range st.tables {
			if a := m.aggs[name]; a != nil {
				a.src = t
			}
		}
	}
	// The root shards of each source stream, once: later shards are
	// children, announced by their parents' end markers.
	for _, a := range m.aggs {
		for _, s := range a.spec.sources {
			name := streamName(s.name)
			if a.src.listed[name] {
				continue
			}
			shards, err := listShards(ctx, m.rt.p.kc, s.name)
			if err != nil {
				return err
			}
			listed := map[string]bool{}
			for _, sh := range shards {
				listed[aws.ToString(sh.ShardId)] = true
			}
			var roots []string
			for _, sh := range shards {
				if p := aws.ToString(sh.ParentShardId); p != "" && listed[p] {
					continue
				}
				if p := aws.ToString(sh.AdjacentParentShardId); p != "" && listed[p] {
					continue
				}
				roots = append(roots, name+"/"+aws.ToString(sh.ShardId))
			}
			a.src = a.src.withRoots(name, roots)
		}
	}
	m.rt.mu.Lock()
	m.rt.merges[m] = struct{}{}
	m.rt.mu.Unlock()
	return nil
}

// ProcessRecords merges a batch and writes the rows of the windows that
// fired.
func (m *mergeShard) ProcessRecords(ctx context.Context, in consumer.ProcessRecordsInput) error {
	if m.poison != nil {
		return m.poison
	}
	for i := range in.Records {
		r := &in.Records[i]
		pos := r.Position()
		if m.replaying() && pos.Compare(m.replayUntil) > 0 {
			if err := m.endReplay(); err != nil {
				return err
			}
		}
		if err := m.apply(r.Data, pos); err != nil {
			m.log.Error("skipping a record of the repartition stream that is not a partial or a marker", "sequence", pos.String(), "err", err)
		}
		m.last = pos
	}
	if m.replaying() && m.last == m.replayUntil {
		if err := m.endReplay(); err != nil {
			return err
		}
	}
	if m.replaying() {
		return nil
	}
	if err := m.fire(ctx, false); err != nil {
		return err
	}
	return m.checkpoint(ctx, in.Checkpointer, false)
}

func (m *mergeShard) apply(data []byte, pos position) error {
	if len(data) == 0 {
		return errors.New("empty record")
	}
	switch data[0] {
	case kindPartial:
		p, err := decodePartial(data)
		if err != nil {
			return err
		}
		a := m.aggs[p.agg]
		if a == nil {
			return fmt.Errorf("partial of an unknown aggregation %q", p.agg)
		}
		if len(p.accs) != len(a.spec.aggs) {
			return fmt.Errorf("partial of %s with %d accumulators, want %d", p.agg, len(p.accs), len(a.spec.aggs))
		}
		a.add(p, pos)
	case kindMarker:
		ms, err := decodeMarkers(data)
		if err != nil {
			return err
		}
		for _, e := range ms {
			if a := m.aggs[e.agg]; a != nil {
				a.marker(e)
			}
		}
	default:
		return fmt.Errorf("unknown record kind %q", data[0])
	}
	return nil
}

func (m *mergeShard) endReplay() error {
	// Silent: nothing is written, so no context is needed.
	if err := m.fire(context.Background(), true); err != nil {
		return err
	}
	m.log.Debug("replay ended", "at", m.replayUntil.String())
	m.replayUntil = position{}
	return nil
}

// fire writes the rows of the windows due to every sink of their
// aggregation (unless silent), retrying until the sinks take them.
func (m *mergeShard) fire(ctx context.Context, silent bool) error {
	for _, a := range m.aggs {
		results, err := a.fire()
		if err != nil {
			m.poison = fmt.Errorf("aggregation %s on %s: %w", a.spec.name, m.shardID, err)
			return m.poison
		}
		if silent || len(results) == 0 {
			continue
		}
		rows := make([]Row, 0, len(results))
		var lastEnd int64 = minTime
		for _, res := range results {
			keys, err := decodeKey(res.key, a.spec.table.Keys)
			if err != nil {
				m.poison = fmt.Errorf("aggregation %s: %w", a.spec.name, err)
				return m.poison
			}
			rows = append(rows, Row{Window: Window{Start: millisTime(res.start), End: millisTime(res.end)}, Keys: keys, Values: res.values, Final: res.final})
			lastEnd = max(lastEnd, res.end)
		}
		for _, s := range a.spec.sinks {
			if err := m.write(ctx, s, a.spec.table, rows); err != nil {
				return err
			}
		}
		m.rt.rows.Add(int64(len(rows)))
		for {
			old := m.rt.lastWindow.Load()
			if lastEnd <= old || m.rt.lastWindow.CompareAndSwap(old, lastEnd) {
				break
			}
		}
		m.rt.p.opts.metrics.RowsWritten(a.spec.name, len(rows), millisTime(lastEnd))
		m.log.Debug("rows written", "aggregation", a.spec.name, "rows", len(rows), "last_window_end", millisTime(lastEnd))
	}
	return nil
}

// write upserts rows into a sink, retrying with backoff until it succeeds
// or ctx ends (the lease is lost or the worker stops).
func (m *mergeShard) write(ctx context.Context, s Sink, t Table, rows []Row) error {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		err := s.Write(ctx, t, rows)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.log.Warn("sink write failed; retrying", "sink", sinkName(s, t), "rows", len(rows), "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// checkpoint writes the checkpoint at the oldest partial held, with the
// source tables there and the last record processed.
func (m *mergeShard) checkpoint(ctx context.Context, cp *consumer.Checkpointer, force bool) error {
	if m.replaying() || cp == nil || (!force && time.Since(m.lastCP) < m.rt.p.opts.checkpointInterval) {
		return nil
	}
	st := &mergeState{last: m.last, tables: map[string]*srcTable{}}
	resume := m.last
	for name, a := range m.aggs {
		res, table, ok := a.retained()
		if ok {
			resume = minPos(resume, res)
			st.tables[name] = table
		} else {
			st.tables[name] = a.src
		}
	}
	if resume.IsZero() {
		resume = position{Sequence: consumer.SentinelTrimHorizon}
	}
	err := cp.CheckpointState(ctx, resume, encodeMergeState(st))
	if errors.Is(err, consumer.ErrLeaseLost) || ctx.Err() != nil {
		return err
	}
	if err != nil {
		m.log.Warn("checkpoint failed; retrying after the next batch", "err", err)
		return nil
	}
	m.lastCP = time.Now()
	return nil
}

// ShardEnded refuses the end of a repartition shard: the stream was
// resharded, and the windows this shard holds would be split.
func (m *mergeShard) ShardEnded(context.Context, consumer.ShardEndedInput) error {
	m.poison = fmt.Errorf("repartition shard %s ended: the repartition stream %s was resharded, which pipelines do not support", m.shardID, m.rt.p.RepartitionStream())
	m.log.Error("repartition stream resharded; this shard stops", "err", m.poison)
	return m.poison
}

// ShutdownRequested checkpoints, for the next owner.
func (m *mergeShard) ShutdownRequested(ctx context.Context, in consumer.ShutdownRequestedInput) error {
	defer m.stop()
	if m.poison != nil || m.replaying() {
		return nil
	}
	return m.checkpoint(ctx, in.Checkpointer, true)
}

// LeaseLost drops the shard.
func (m *mergeShard) LeaseLost(context.Context, consumer.LeaseLostInput) { m.stop() }

func (m *mergeShard) stop() {
	m.rt.mu.Lock()
	delete(m.rt.merges, m)
	m.rt.mu.Unlock()
}

var _ consumer.RecordProcessor = (*mergeShard)(nil)
