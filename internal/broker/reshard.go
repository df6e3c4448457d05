package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Resharding (SplitShard, MergeShards) closes one or two parent shards and
// opens one or two children that take over their hash ranges. It is a
// rollover of the stream's log (streamlog.go) whose compare-and-swap also
// closes the parents, at the end of the sealed log, and adds the
// children, which write to the new log. The change re-checks the request
// against the stream as stored, so of two concurrent reshards of a shard
// one wins; a reshard that lost the rollover to another of the stream
// tries again against the stream as the other left it.
//
// A writer whose append meets the sealed log reloads the stream and
// routes its records again (store, in put.go): no acknowledged record is
// lost, and every record of a key acknowledged before the seal sits in
// the parent, every later one in a child, so reading parents before
// children keeps each key's order. A server that dies between sealing and
// the compare-and-swap leaves a sealed log that the stream still shows
// current: writers then wait for a few seconds and roll the stream over
// themselves, without the reshard, and the sweep deletes the dead
// reshard's new log (orphans.go).

// SplitShard splits an open shard in two at newStartingHashKey. The split
// is complete when it returns.
func (b *Broker) SplitShard(ctx context.Context, ref kinesis.StreamRef, shardID, newStartingHashKey string) error {
	name, err := b.resolve(ref)
	if err != nil {
		return err
	}
	key, ok := kinesis.ParseHashKey(newStartingHashKey)
	if !ok {
		return kinesis.Errorf(kinesis.ErrInvalidArgument, "NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not a valid hash key.", newStartingHashKey, shardID, name, b.cfg.AccountID)
	}
	// AWS wants StartingHashKey + 1 < NewStartingHashKey < EndingHashKey:
	// no child of a single hash key.
	strict := func(s *kinesis.Stream) error {
		if err := b.checkReshardable(s); err != nil {
			return err
		}
		p, err := b.openShard(s, shardID)
		if err != nil {
			return err
		}
		r := p.HashRange
		if key.Cmp(r.Start) <= 0 || key.Sub(1).Cmp(r.Start) <= 0 || key.Cmp(r.End) >= 0 {
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not both greater than one plus the shard's StartingHashKey %s and less than the shard's EndingHashKey %s.", key, p.ID, name, b.cfg.AccountID, r.Start, r.End)
		}
		return nil
	}
	return b.splitShard(ctx, name, shardID, key, strict, byClient)
}

// reshardBy tells a reshard a client asked for (SplitShard, MergeShards),
// which counts against the shard limit and makes the stream UPDATING for
// Config.UpdateDelay, from one the server runs itself (UpdateShardCount's
// steps, the on-demand autoscaler).
type reshardBy int

const (
	byClient reshardBy = iota
	byScaling
	byAutoscaler
)

// splitShard splits an open shard at key. gate decides, before and again
// in the final compare-and-swap, whether the caller may reshard the
// stream; all but UpdateShardCount's steps check the account's shard
// limit.
func (b *Broker) splitShard(ctx context.Context, name, shardID string, key kinesis.HashKey, gate func(*kinesis.Stream) error, by reshardBy) error {
	s, _, err := b.loadStream(ctx, name)
	if err != nil {
		return err
	}
	newStartingHashKey := key.String()
	check := func(s *kinesis.Stream) (kinesis.Shard, error) {
		if err := gate(s); err != nil {
			return kinesis.Shard{}, err
		}
		p, err := b.openShard(s, shardID)
		if err != nil {
			return p, err
		}
		r := p.HashRange
		if key.Cmp(r.Start) <= 0 || key.Cmp(r.End) > 0 {
			return p, kinesis.Errorf(kinesis.ErrInvalidArgument, "NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not both greater than one plus the shard's StartingHashKey %s and less than the shard's EndingHashKey %s.", newStartingHashKey, p.ID, name, b.cfg.AccountID, r.Start, r.End)
		}
		return p, nil
	}
	parent, err := check(s)
	if err != nil {
		return err
	}
	if by != byScaling {
		if err := b.checkShardLimit(ctx, 1); err != nil {
			return err
		}
	}
	children := []kinesis.Shard{
		{ParentShardID: parent.ID, HashRange: kinesis.HashRange{Start: parent.HashRange.Start, End: key.Sub(1)}},
		{ParentShardID: parent.ID, HashRange: kinesis.HashRange{Start: key, End: parent.HashRange.End}},
	}
	return b.reshard(ctx, s, []string{parent.ID}, children, by, func(s *kinesis.Stream) error {
		_, err := check(s)
		return err
	})
}

// MergeShards merges two open shards with adjacent hash ranges into one.
// The merge is complete when it returns.
func (b *Broker) MergeShards(ctx context.Context, ref kinesis.StreamRef, shardToMerge, adjacentShardToMerge string) error {
	name, err := b.resolve(ref)
	if err != nil {
		return err
	}
	return b.mergeShards(ctx, name, shardToMerge, adjacentShardToMerge, b.checkReshardable, byClient)
}

// mergeShards merges two open adjacent shards; gate is as for splitShard.
func (b *Broker) mergeShards(ctx context.Context, name, shardToMerge, adjacentShardToMerge string, gate func(*kinesis.Stream) error, by reshardBy) error {
	s, _, err := b.loadStream(ctx, name)
	if err != nil {
		return err
	}
	check := func(s *kinesis.Stream) (kinesis.HashRange, error) {
		if err := gate(s); err != nil {
			return kinesis.HashRange{}, err
		}
		p, err := b.openShard(s, shardToMerge)
		if err != nil {
			return kinesis.HashRange{}, err
		}
		a, err := b.openShard(s, adjacentShardToMerge)
		if err != nil {
			return kinesis.HashRange{}, err
		}
		// As on AWS, ShardToMerge must be the lower of the two: the
		// adjacent shard's range starts right after its end.
		if p.ID != a.ID && p.HashRange.End.Add(1) == a.HashRange.Start && p.HashRange.End.Cmp(a.HashRange.Start) < 0 {
			return kinesis.HashRange{Start: p.HashRange.Start, End: a.HashRange.End}, nil
		}
		return kinesis.HashRange{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Shards %s and %s in stream %s under account %s are not an adjacent pair of shards eligible for merging", p.ID, a.ID, name, b.cfg.AccountID)
	}
	r, err := check(s)
	if err != nil {
		return err
	}
	// Short ids ("shardId-1") name the shards by their canonical ids.
	shardToMerge, _ = kinesis.CanonicalShardID(shardToMerge)
	adjacentShardToMerge, _ = kinesis.CanonicalShardID(adjacentShardToMerge)
	children := []kinesis.Shard{{ParentShardID: shardToMerge, AdjacentParentShardID: adjacentShardToMerge, HashRange: r}}
	return b.reshard(ctx, s, []string{shardToMerge, adjacentShardToMerge}, children, by, func(s *kinesis.Stream) error {
		_, err := check(s)
		return err
	})
}

// checkReshardable requires an ACTIVE, PROVISIONED stream.
func (b *Broker) checkReshardable(s *kinesis.Stream) error {
	if err := b.requireActive(s); err != nil {
		return err
	}
	if s.Mode != kinesis.ModeProvisioned {
		return kinesis.Errorf(kinesis.ErrValidation, "Stream %s under account %s is in ON_DEMAND mode; SplitShard and MergeShards need PROVISIONED mode.", s.Name, b.cfg.AccountID)
	}
	return nil
}

// openShard returns the stream's shard id (short ids resolved), which must
// be open.
func (b *Broker) openShard(s *kinesis.Stream, id string) (kinesis.Shard, error) {
	sh, id, ok := findShard(s, id)
	if !ok {
		return sh, kinesis.Errorf(kinesis.ErrResourceNotFound, "Could not find shard %s in stream %s under account %s.", id, s.Name, b.cfg.AccountID)
	}
	if !sh.Open() {
		return sh, kinesis.Errorf(kinesis.ErrInvalidArgument, "Shard %s in stream %s under account %s has already been merged or split, and thus is not eligible for merging or splitting.", id, s.Name, b.cfg.AccountID)
	}
	return sh, nil
}

// checkShardLimit fails when extra more open shards would pass the
// account's shard limit.
func (b *Broker) checkShardLimit(ctx context.Context, extra int) error {
	streams, err := b.allStreams(ctx)
	if err != nil {
		return err
	}
	open := 0
	for _, s := range streams {
		open += len(s.OpenShards())
	}
	if open+extra > b.cfg.ShardLimit {
		return kinesis.Errorf(kinesis.ErrLimitExceeded,
			"This request would exceed the shard limit for the account %s in %s. Current shard count for the account: %d. Limit: %d. Number of additional shards that would have resulted from this request: %d. Refer to the AWS Service Limits page ("+kinesis.ShardLimitHelpURL+") for current limits and how to request higher limits.",
			b.cfg.AccountID, b.cfg.Region, open, b.cfg.ShardLimit, extra)
	}
	return nil
}

// reshard closes parents and adds children (ids, epochs and creation time
// still to fill in), following the protocol above. recheck repeats the
// request's checks against the stream about to be changed.
func (b *Broker) reshard(ctx context.Context, s *kinesis.Stream, parents []string, children []kinesis.Shard, by reshardBy, recheck func(*kinesis.Stream) error) error {
	for attempt := 1; ; attempt++ {
		ns, err := b.rollover(ctx, s, len(children), func(ns *kinesis.Stream, first, _ uint64) error {
			if err := recheck(ns); err != nil {
				return err
			}
			now := b.cfg.Now().Truncate(time.Millisecond)
			for i := range ns.Shards {
				if slices.Contains(parents, ns.Shards[i].ID) {
					closeParent(ns, i, first, now)
				}
			}
			for i, c := range children {
				c.ID = kinesis.ShardID(ns.NextShardIndex)
				c.Epoch = first + 1 + uint64(i)
				c.FirstLog = first
				c.CreatedAt = now
				ns.NextShardIndex++
				ns.Shards = append(ns.Shards, c)
			}
			if by == byClient {
				b.startUpdating(ns, now) // AWS shows UPDATING after a split or merge
			}
			return nil
		})
		if errors.Is(err, errRolledOver) && attempt < maxRolloverAttempts {
			// Another reshard (or a writer's repair) rolled the stream
			// over first: try again on the stream as it is now.
			if s, _, err = b.loadStream(ctx, s.Name); err != nil {
				return err
			}
			if err := recheck(s); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			var kerr *kinesis.Error
			if errors.As(err, &kerr) {
				return err
			}
			return fmt.Errorf("reshard %s: %w", s.Name, err)
		}
		if ns.RetentionHours != s.RetentionHours {
			if err := b.applyRetention(ctx, ns); err != nil {
				b.cfg.Logger.Warn("set retention of the new log", "stream", s.Name, "err", err)
			}
		}
		b.cfg.Logger.Info("stream resharded", "stream", s.Name, "closed", parents, "opened", len(children))
		return nil
	}
}

// closeParent closes shard i of s at the end of the log the rollover to
// log newLog sealed.
func closeParent(s *kinesis.Stream, i int, newLog uint64, now time.Time) {
	sh := &s.Shards[i]
	sh.ClosedAt = now
	if sh.OwnLogSealed && sh.FirstLog == newLog {
		// Its stream moved to stream logs in this very rollover: it ends
		// where its own log does.
		sh.EndingMsgSeq = sh.OwnLogEnd
		sh.FirstLog, sh.OwnLogSealed, sh.OwnLogEnd = 0, false, 0
		return
	}
	sealed := s.Logs[len(s.Logs)-2]
	sh.LastLog, sh.EndingMsgSeq = sealed.Epoch, sealed.LastMsgSeq
}
