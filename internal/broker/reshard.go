package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Resharding (SplitShard, MergeShards) closes one or two parent shards and
// opens one or two children that take over their hash ranges. It is safe
// with any number of brokers over one store:
//
//  1. check the request against the stream as stored;
//  2. allocate epochs for the children and create their logs;
//  3. seal each parent log: from then on no broker can append to it, and
//     SealLog returns the parent's last message, its EndingMsgSeq;
//  4. one compare-and-swap of the stream closes the parents (ClosedAt,
//     EndingMsgSeq) and adds the children. The change re-checks that the
//     parents are still open, so of two concurrent reshards of a shard
//     one wins; the loser deletes its child logs.
//
// A writer whose append meets a sealed parent reloads the stream and
// re-routes its records to the children (see PutRecords): no acknowledged
// record is lost, and every record of a key acknowledged before the seal
// sits in the parent, every later one in a child, so reading parents
// before children keeps each key's order.
//
// Known limitation: a broker that crashes between steps 3 and 4 leaves a
// sealed parent that the stream still shows open. Writes to its hash range
// then fail with InternalFailure (after a few seconds of waiting) until the
// reshard is repeated: a SplitShard or MergeShards of that parent completes
// normally, since sealing again is harmless and yields the same end. The
// records already stored stay readable. The crashed attempt's child logs
// are listed in the stream's PendingLogs before they are created, and a
// sweep deletes them once they are old enough (see orphans.go).

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
	// Past this point a cancelled request must not leave the work half
	// done: the steps run to the end (or fail) on their own.
	ctx = context.WithoutCancel(ctx)
	first, err := b.allocEpochs(ctx, len(children))
	if err != nil {
		return err
	}
	epochs := make([]uint64, len(children))
	for i := range children {
		children[i].Epoch = first + uint64(i)
		epochs[i] = children[i].Epoch
	}
	// The stream records the children's logs before they exist, so that
	// if this server dies before the last step a sweep finds and deletes
	// them (see sweepPendingLogs).
	if err := b.addPendingLogs(ctx, s.Name, epochs); err != nil {
		return err
	}
	abandon := func() {
		b.deleteChildLogs(ctx, children)
		b.dropPendingLogs(ctx, s.Name, epochs)
	}
	if err := b.createLogs(ctx, s, children); err != nil {
		abandon()
		return err
	}
	ending := make(map[string]uint64, len(parents))
	for _, id := range parents {
		sh, _ := s.Shard(id)
		last, err := b.log.SealLog(ctx, logName(sh.Epoch))
		if err != nil {
			// A parent already sealed stays sealed; its writers wait and
			// then fail, as after a crash (see above).
			abandon()
			return fmt.Errorf("seal log of %s/%s: %w", s.Name, id, err)
		}
		ending[id] = last
	}
	now := b.cfg.Now().Truncate(time.Millisecond)
	_, err = b.update(ctx, s.Name, func(s *kinesis.Stream) error {
		if err := recheck(s); err != nil {
			return err
		}
		if found, swept := removePending(s, epochs); !found || swept {
			// A sweep judged this reshard dead and deleted its logs.
			return fmt.Errorf("child logs %v were swept", epochs)
		}
		for i := range s.Shards {
			if last, ok := ending[s.Shards[i].ID]; ok {
				s.Shards[i].ClosedAt = now
				s.Shards[i].EndingMsgSeq = last
			}
		}
		for _, c := range children {
			c.ID = kinesis.ShardID(s.NextShardIndex)
			c.CreatedAt = now
			s.NextShardIndex++
			s.Shards = append(s.Shards, c)
		}
		if by == byClient {
			b.startUpdating(s, now) // AWS shows UPDATING after a split or merge
		}
		return nil
	})
	if err != nil {
		abandon()
		var kerr *kinesis.Error
		if errors.As(err, &kerr) {
			return err
		}
		return fmt.Errorf("reshard %s: %w", s.Name, err)
	}
	b.cfg.Logger.Info("stream resharded", "stream", s.Name, "closed", parents, "opened", len(children))
	return nil
}

func (b *Broker) deleteChildLogs(ctx context.Context, children []kinesis.Shard) {
	for _, c := range children {
		if err := b.log.DeleteLog(ctx, logName(c.Epoch)); err != nil {
			b.cfg.Logger.Warn("delete unused child log", "log", logName(c.Epoch), "err", err)
		}
	}
}

// Bounds of a writer's wait for a reshard to finish once it has met a
// sealed parent that the stream still shows open.
const (
	sealedWaitFirst = 20 * time.Millisecond
	sealedWaitMax   = 5 * time.Second
	// maxReroutes bounds how often one record is re-routed: each time its
	// shard was resharded while the record was on its way.
	maxReroutes = 8
)

// storeResealed stores records whose append to the shard of epoch sealed
// failed because a reshard sealed its log. It waits for the stream to show
// the shard closed, routes each record to the open shard that now holds
// its hash key and appends them there, in order per shard, filling in
// results at idx. Records it cannot place fail with InternalFailure.
func (b *Broker) storeResealed(ctx context.Context, name string, sealed uint64, recs []packedRecord, keys []kinesis.HashKey, idx []int, results []kinesis.PutRecordResult, depth int) {
	fail := func(msg string, err error) {
		for _, i := range idx {
			results[i] = kinesis.PutRecordResult{ErrorCode: kinesis.ErrInternalFailure, ErrorMessage: "Internal service failure."}
		}
		b.cfg.Logger.Error(msg, "stream", name, "epoch", sealed, "records", len(recs), "err", err)
	}
	if depth >= maxReroutes {
		fail("re-route records after reshard", errors.New("too many reshards"))
		return
	}
	var s *kinesis.Stream
	deadline := time.Now().Add(sealedWaitMax)
	for wait := sealedWaitFirst; ; wait = min(2*wait, time.Second) {
		var err error
		s, _, err = b.loadStream(ctx, name)
		if err != nil {
			fail("reload stream after reshard", err)
			return
		}
		if sh, ok := s.ShardByEpoch(sealed); !ok || !sh.Open() {
			break
		}
		// The resharding broker is between sealing and storing the new
		// shards, or it crashed there.
		if time.Now().Add(wait).After(deadline) {
			fail("re-route records after reshard", errors.New("shard log is sealed but the shard is still open"))
			return
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			fail("re-route records after reshard", ctx.Err())
			return
		}
	}

	key, err := b.writeCipher(ctx, s)
	if err != nil {
		fail("re-route records after reshard", err)
		return
	}
	type group struct {
		shard kinesis.Shard
		recs  []packedRecord
		keys  []kinesis.HashKey
		idx   []int
	}
	var groups []*group
	byEpoch := make(map[uint64]*group, 2)
	for j, k := range keys {
		sh, ok := s.ShardForHashKey(k)
		if !ok {
			fail("re-route records after reshard", fmt.Errorf("no open shard holds hash key %s", k))
			return
		}
		g := byEpoch[sh.Epoch]
		if g == nil {
			g = &group{shard: sh}
			byEpoch[sh.Epoch] = g
			groups = append(groups, g)
		}
		g.recs = append(g.recs, recs[j])
		g.keys = append(g.keys, k)
		g.idx = append(g.idx, idx[j])
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() {
			msgSeq, first, err := b.appenderFor(g.shard.Epoch).append(ctx, g.recs, key)
			if errors.Is(err, kinesis.ErrLogSealed) {
				b.storeResealed(ctx, name, g.shard.Epoch, g.recs, g.keys, g.idx, results, depth+1)
				return
			}
			for j, i := range g.idx {
				if err != nil {
					results[i] = kinesis.PutRecordResult{ErrorCode: kinesis.ErrInternalFailure, ErrorMessage: "Internal service failure."}
					continue
				}
				results[i] = kinesis.PutRecordResult{
					ShardID:        g.shard.ID,
					SequenceNumber: kinesis.SequenceNumber{Epoch: g.shard.Epoch, MsgSeq: msgSeq, Index: uint16(first + j)}.String(),
					EncryptionType: key.encryptionType(),
				}
			}
			if err != nil {
				b.cfg.Logger.Error("append records", "stream", name, "shard", g.shard.ID, "err", err)
			}
		})
	}
	wg.Wait()
}
