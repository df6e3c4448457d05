package broker

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// UpdateShardCount reaches TargetShardCount shards of equal hash ranges
// the way AWS does, through ordinary splits and merges, so that lineage
// stays what consumers expect: a split child has one parent, a merged
// child two adjacent ones, and every step closes its parents with the
// reshard protocol of reshard.go (no acknowledged record is lost, each
// key's order holds when parents are read before children).
//
// The request stores a Scaling in the stream's metadata with one
// compare-and-swap (the stream is UPDATING from then on) and returns; a
// goroutine then takes one step at a time, computed afresh from the
// stream as stored (nextScalingStep), and clears Scaling once the open
// shards are the target ranges. Since each step is derived from the
// stored state and is itself a compare-and-swap, a step repeated or raced
// by another server fails harmlessly and the next one is planned again.
// The running server stamps Scaling.UpdatedAt after every step; if its
// stamp is older than scalingStale (it died), any broker's reaper takes
// the scaling over.

// scalingStale is how long a scaling may go without a step before another
// broker takes it over.
const scalingStale = 30 * time.Second

func (b *Broker) UpdateShardCount(ctx context.Context, ref kinesis.StreamRef, target int, scalingType string) (kinesis.UpdateShardCountOutput, error) {
	var out kinesis.UpdateShardCountOutput
	name, err := b.resolve(ref)
	if err != nil {
		return out, err
	}
	if scalingType != kinesis.ScalingUniform {
		return out, kinesis.Errorf(kinesis.ErrInvalidArgument, "ScalingType %s is not supported; use %s.", scalingType, kinesis.ScalingUniform)
	}
	if target < 1 {
		return out, kinesis.Errorf(kinesis.ErrInvalidArgument, "TargetShardCount must be at least 1.")
	}
	streams, err := b.allStreams(ctx)
	if err != nil {
		return out, err
	}
	accountOpen := 0
	for _, s := range streams {
		accountOpen += len(s.OpenShards())
	}
	now := b.cfg.Now()
	s, err := b.update(ctx, name, func(s *kinesis.Stream) error {
		if err := b.requireActive(s); err != nil {
			return err
		}
		if s.Mode != kinesis.ModeProvisioned {
			return kinesis.Errorf(kinesis.ErrValidation, "UpdateShardCount is not supported for stream %s under account %s in ON_DEMAND mode.", name, b.cfg.AccountID)
		}
		cur := len(s.OpenShards())
		fail := func(why string, args ...any) error {
			return kinesis.Errorf(kinesis.ErrLimitExceeded, "UpdateShardCount failed for stream %s under account %s: "+why, append([]any{name, b.cfg.AccountID}, args...)...)
		}
		switch {
		case target > 2*cur:
			return fail("the target shard count %d is more than double the current shard count %d.", target, cur)
		case 2*target < cur:
			return fail("the target shard count %d is less than half the current shard count %d.", target, cur)
		case target > kinesis.MaxShardsPerStream:
			return fail("the target shard count %d is more than the limit of %d shards per stream.", target, kinesis.MaxShardsPerStream)
		case accountOpen+target-cur > b.cfg.ShardLimit:
			return kinesis.Errorf(kinesis.ErrLimitExceeded,
				"This request would exceed the shard limit for the account %s in %s. Current shard count for the account: %d. Limit: %d. Number of additional shards that would have resulted from this request: %d. Refer to the AWS Service Limits page ("+kinesis.ShardLimitHelpURL+") for current limits and how to request higher limits.",
				b.cfg.AccountID, b.cfg.Region, accountOpen, b.cfg.ShardLimit, target-cur)
		}
		out = kinesis.UpdateShardCountOutput{StreamName: s.Name, StreamARN: s.ARN, CurrentShardCount: cur, TargetShardCount: target}
		s.Scaling = &kinesis.Scaling{Target: target, Owner: b.id, StartedAt: now, UpdatedAt: now}
		// UPDATING while the scaling runs, and for at least UpdateDelay.
		b.startUpdating(s, now)
		return nil
	})
	if err != nil {
		return out, err
	}
	b.cfg.Logger.Info("scaling stream", "stream", name, "from", out.CurrentShardCount, "to", target)
	b.startScaling(s)
	return out, nil
}

// startScaling runs the stream's scaling in the background unless this
// broker already runs it.
func (b *Broker) startScaling(s *kinesis.Stream) {
	b.scalingMu.Lock()
	defer b.scalingMu.Unlock()
	if b.scalingRuns[s.ID] {
		return
	}
	b.scalingRuns[s.ID] = true
	b.wg.Go(func() {
		defer func() {
			b.scalingMu.Lock()
			delete(b.scalingRuns, s.ID)
			b.scalingMu.Unlock()
		}()
		b.runScaling(b.bg, s.Name, s.ID)
	})
}

// resumeScaling takes over a scaling whose server stopped stamping it.
func (b *Broker) resumeScaling(ctx context.Context, s *kinesis.Stream) {
	if s.Scaling == nil || b.cfg.Now().Sub(s.Scaling.UpdatedAt) < scalingStale || !s.DeletingAt.IsZero() {
		return
	}
	stamp := s.Scaling.UpdatedAt
	next, err := b.update(ctx, s.Name, func(cur *kinesis.Stream) error {
		if cur.ID != s.ID || cur.Scaling == nil || !cur.Scaling.UpdatedAt.Equal(stamp) {
			return errNoChange // finished, or someone else took it
		}
		cur.Scaling.Owner = b.id
		cur.Scaling.UpdatedAt = b.cfg.Now()
		return nil
	})
	if err != nil {
		return
	}
	b.cfg.Logger.Warn("taking over a stalled scaling", "stream", s.Name, "target", next.Scaling.Target)
	b.startScaling(next)
}

// runScaling takes scaling steps until the stream's open shards are the
// target ranges, another broker owns the scaling, or ctx ends.
func (b *Broker) runScaling(ctx context.Context, name, id string) {
	gate := func(s *kinesis.Stream) error {
		// Only a deleted stream stops a step; see nextScalingStep for why
		// a step of a scaling that is over does no harm.
		if s.ID != id || !s.DeletingAt.IsZero() {
			return kinesis.StreamNotFound(name, b.cfg.AccountID)
		}
		return nil
	}
	failures := 0
	for ctx.Err() == nil {
		s, _, err := b.loadStream(ctx, name)
		if err != nil || s.ID != id || s.Scaling == nil || s.Scaling.Owner != b.id || !s.DeletingAt.IsZero() {
			if err != nil && kinesis.CodeOf(err) != kinesis.ErrResourceNotFound && ctx.Err() == nil {
				b.cfg.Logger.Warn("scaling stopped; another broker will take it over", "stream", name, "err", err)
			}
			return
		}
		step, done := nextScalingStep(s.OpenShards(), s.Scaling.Target)
		if done {
			_, err := b.update(ctx, name, func(cur *kinesis.Stream) error {
				if cur.ID != id || cur.Scaling == nil || cur.Scaling.Owner != b.id {
					return errNoChange
				}
				cur.Scaling = nil
				return nil
			})
			if err == nil {
				b.cfg.Logger.Info("stream scaled", "stream", name, "shards", s.Scaling.Target)
				return
			}
			if errors.Is(err, errNoChange) {
				return
			}
		} else if step.shard == "" {
			err = fmt.Errorf("open shards of %s do not cover the hash key space", name)
		} else if step.merge != "" {
			err = b.mergeShards(ctx, name, step.shard, step.merge, gate, byScaling)
		} else {
			err = b.splitShard(ctx, name, step.shard, step.at, gate, byScaling)
		}
		if err != nil {
			// A step raced by another server fails; plan again.
			failures++
			if kinesis.CodeOf(err) == "" && ctx.Err() == nil {
				b.cfg.Logger.Warn("scaling step failed; retrying", "stream", name, "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(min(time.Duration(failures)*50*time.Millisecond, 2*time.Second)):
			}
			continue
		}
		failures = 0
		b.update(ctx, name, func(cur *kinesis.Stream) error {
			if cur.ID != id || cur.Scaling == nil || cur.Scaling.Owner != b.id {
				return errNoChange
			}
			cur.Scaling.UpdatedAt = b.cfg.Now()
			return nil
		})
	}
}

// scalingStep is one split (merge == "") of shard at at, or one merge of
// shard with the shard merge to its right.
type scalingStep struct {
	shard string
	at    kinesis.HashKey
	merge string
}

// nextScalingStep plans the next step from open shards to target equal
// ranges, or reports that they are reached. It works through the target
// ranges from the lowest: a shard that straddles the range's start or end
// is split there; then the shards inside the range are merged from the
// left until one is left. Going range by range keeps the number of shards
// open at any time close to the larger of the two counts.
//
// Every shard a step closes is one that the target does not keep, so a
// step planned from an older state (another server's, or this one's before
// a race) can only close shards that must close anyway: it cannot undo
// progress, and its compare-and-swap fails when the shard is already
// closed.
func nextScalingStep(open []kinesis.Shard, target int) (scalingStep, bool) {
	slices.SortFunc(open, func(x, y kinesis.Shard) int { return x.HashRange.Start.Cmp(y.HashRange.Start) })
	holding := func(k kinesis.HashKey) (int, bool) {
		return slices.BinarySearchFunc(open, k, func(sh kinesis.Shard, k kinesis.HashKey) int {
			switch {
			case sh.HashRange.End.Cmp(k) < 0:
				return -1
			case sh.HashRange.Start.Cmp(k) > 0:
				return 1
			}
			return 0
		})
	}
	for _, r := range kinesis.SplitHashSpace(target) {
		// Open shards always tile the key space; if they did not, there
		// is no step to take (runScaling waits and plans again).
		first, ok1 := holding(r.Start)
		last, ok2 := holding(r.End)
		if !ok1 || !ok2 {
			return scalingStep{}, false
		}
		if sh := open[first]; sh.HashRange.Start.Cmp(r.Start) < 0 {
			return scalingStep{shard: sh.ID, at: r.Start}, false
		}
		if sh := open[last]; sh.HashRange.End.Cmp(r.End) > 0 {
			return scalingStep{shard: sh.ID, at: r.End.Add(1)}, false
		}
		if last > first {
			return scalingStep{shard: open[first].ID, merge: open[first+1].ID}, false
		}
	}
	return scalingStep{}, true
}

// midKey is the first key of the upper half of r, which must hold at
// least two keys.
func midKey(r kinesis.HashRange) kinesis.HashKey {
	toBig := func(k kinesis.HashKey) *big.Int {
		n := new(big.Int).SetUint64(k.Hi)
		return n.Lsh(n, 64).Or(n, new(big.Int).SetUint64(k.Lo))
	}
	lo, hi := toBig(r.Start), toBig(r.End)
	m := new(big.Int).Sub(hi, lo)
	m.Add(m, big.NewInt(1)).Rsh(m, 1).Add(m, lo)
	mask := new(big.Int).SetUint64(^uint64(0))
	return kinesis.HashKey{Hi: new(big.Int).Rsh(m, 64).Uint64(), Lo: new(big.Int).And(m, mask).Uint64()}
}
