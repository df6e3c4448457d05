package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Stream logs. Every open shard of a stream writes to the stream's current
// log (kinesis.Stream.Logs), packed by shard (logmsg.go): a PutRecords
// call over many shards is one durable append, and a stream is one
// JetStream stream however many shards it has, not one per shard.
//
// A rollover seals the current log and opens the next one; every change
// of the set of open shards goes through one, so that a log's sections
// belong to shards that were open for all of its life:
//
//  1. allocate an epoch for the new log (and the children's epochs) and
//     record it in the stream's PendingLogs (orphans.go);
//  2. create the new log;
//  3. seal the current log: from then on no broker can append to it, and
//     SealLog returns its last message. (A stream from before stream
//     logs seals the own log of every open shard instead.)
//  4. one compare-and-swap of the stream marks the old log sealed at that
//     message, appends the new one and applies the change (a reshard
//     closes its parents there, at the end of the sealed log, and adds
//     its children, which start in the new log). It requires the current
//     log to be the one sealed in step 3, so of two rollovers one wins;
//     the loser deletes its log and, if it was a reshard, tries again
//     against the stream as the winner left it.
//
// A writer whose append meets the sealed log reloads the stream, waits
// for the new log and routes its records again (store in put.go): nothing
// of the failed append was stored. If the new log does not come (the
// rolling-over server died between steps 3 and 4), the writer rolls the
// stream over itself after sealedWaitMax, changing no shard.

// errRolledOver fails a rollover that lost to another: the stream's
// current log is no longer the one it sealed.
var errRolledOver = errors.New("the stream's log was rolled over by another request")

// routing finds the open shard of a hash key by binary search over the
// open shards sorted by hash range.
type routing struct {
	open []kinesis.Shard
}

func newRouting(s *kinesis.Stream) *routing {
	open := s.OpenShards()
	slices.SortFunc(open, func(x, y kinesis.Shard) int { return x.HashRange.Start.Cmp(y.HashRange.Start) })
	return &routing{open: open}
}

// shardFor returns the open shard whose range holds k.
func (r *routing) shardFor(k kinesis.HashKey) (kinesis.Shard, bool) {
	i, _ := slices.BinarySearchFunc(r.open, k, func(sh kinesis.Shard, k kinesis.HashKey) int {
		if sh.HashRange.Start.Cmp(k) > 0 {
			return 1
		}
		return -1 // Start <= k: the answer is here or later
	})
	if i == 0 {
		return kinesis.Shard{}, false
	}
	sh := r.open[i-1]
	return sh, sh.HashRange.Contains(k)
}

// routing returns the routing of s, built once per version of the
// stream's metadata.
func (b *Broker) routing(s *kinesis.Stream) *routing {
	b.cacheMu.RLock()
	c, ok := b.cache[s.Name]
	b.cacheMu.RUnlock()
	if ok && c.stream == s && c.route != nil {
		return c.route
	}
	return newRouting(s)
}

// Bounds of a writer's wait for a rollover to finish once it has met a
// sealed log that the stream still shows current.
const (
	sealedWaitFirst = 20 * time.Millisecond
	sealedWaitMax   = 5 * time.Second
	// maxReroutes bounds how often one record is routed again: each time
	// its stream's log was sealed while the record was on its way.
	maxReroutes = 8
	// maxRolloverAttempts bounds how often a reshard tries again after
	// losing to another rollover of its stream.
	maxRolloverAttempts = 8
)

// nextLog returns the stream as it is once its current log is open and
// newer than sealed (a log a writer found sealed; its zero value for a
// stream without logs). It waits for a rollover in progress, and rolls
// the stream over itself if none comes in time or the stream has no log
// yet.
func (b *Broker) nextLog(ctx context.Context, s *kinesis.Stream, sealed kinesis.StreamLog) (*kinesis.Stream, error) {
	deadline := time.Now().Add(sealedWaitMax)
	for wait := sealedWaitFirst; ; wait = min(2*wait, time.Second) {
		ns, _, err := b.loadStream(ctx, s.Name)
		if err != nil {
			return nil, err
		}
		if ns.ID != s.ID {
			return nil, kinesis.StreamNotFound(s.Name, b.cfg.AccountID)
		}
		cur, ok := ns.CurrentLog()
		if ok && !cur.Sealed() && cur.Epoch != sealed.Epoch {
			return ns, nil
		}
		if !ok || time.Now().Add(wait).After(deadline) {
			// No log yet (a stream from before stream logs), or the
			// rollover that sealed the log died before completing it.
			b.cfg.Logger.Info("rolling the stream over to a new log", "stream", ns.Name, "sealed", sealed.Epoch)
			if _, err := b.rollover(ctx, ns, 0, nil); err != nil && !errors.Is(err, errRolledOver) {
				return nil, err
			}
			deadline = time.Now().Add(sealedWaitMax)
			continue
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// rollover seals s's current log (or, for a stream from before stream
// logs, the own logs of its open shards), opens the next one and applies
// change in the same compare-and-swap, following the protocol above.
// extra epochs are allocated after the new log's, for change's use (a
// reshard's children); change gets the first of them and the sealed log's
// last message, and may refuse with an error. It returns the stream as
// stored, or errRolledOver if another rollover came first.
func (b *Broker) rollover(ctx context.Context, s *kinesis.Stream, extra int, change func(s *kinesis.Stream, first, last uint64) error) (*kinesis.Stream, error) {
	// Past this point a cancelled request must not leave the work half
	// done: the steps run to the end (or fail) on their own.
	ctx = context.WithoutCancel(ctx)
	first, err := b.allocEpochs(ctx, 1+extra)
	if err != nil {
		return nil, err
	}
	epoch := []uint64{first}
	// The stream records the new log before it exists, so that if this
	// server dies before the last step a sweep finds and deletes it.
	if err := b.addPendingLogs(ctx, s.Name, epoch); err != nil {
		return nil, err
	}
	abandon := func() {
		if err := b.log.DeleteLog(ctx, logName(first)); err != nil {
			b.cfg.Logger.Warn("delete unused stream log", "stream", s.Name, "log", logName(first), "err", err)
		}
		b.dropPendingLogs(ctx, s.Name, epoch)
	}
	if err := b.log.CreateLog(ctx, logName(first), kinesis.LogConfig{MaxAge: b.retention(s)}); err != nil {
		abandon()
		return nil, fmt.Errorf("create log of %s: %w", s.Name, err)
	}
	cur, hasLog := s.CurrentLog()
	var last uint64
	ownEnds := map[uint64]uint64{}
	if hasLog {
		if last, err = b.log.SealLog(ctx, logName(cur.Epoch)); err != nil {
			abandon()
			return nil, fmt.Errorf("seal log of %s: %w", s.Name, err)
		}
	} else {
		for _, sh := range s.OpenShards() {
			end, err := b.log.SealLog(ctx, logName(sh.Epoch))
			if err != nil {
				abandon()
				return nil, fmt.Errorf("seal log of %s/%s: %w", s.Name, sh.ID, err)
			}
			ownEnds[sh.Epoch] = end
		}
	}
	now := b.cfg.Now().Truncate(time.Millisecond)
	ns, err := b.update(ctx, s.Name, func(ns *kinesis.Stream) error {
		if ns.ID != s.ID {
			return kinesis.StreamNotFound(s.Name, b.cfg.AccountID)
		}
		if c, ok := ns.CurrentLog(); ok != hasLog || (ok && (c.Epoch != cur.Epoch || c.Sealed())) {
			return errRolledOver
		}
		ns.Logs = slices.Clone(ns.Logs)
		if hasLog {
			l := &ns.Logs[len(ns.Logs)-1]
			l.SealedAt, l.LastMsgSeq = now, last
		} else {
			for i, sh := range ns.Shards {
				if end, ok := ownEnds[sh.Epoch]; ok && sh.Open() {
					ns.Shards[i].FirstLog, ns.Shards[i].OwnLogSealed, ns.Shards[i].OwnLogEnd = first, true, end
				}
			}
		}
		ns.Logs = append(ns.Logs, kinesis.StreamLog{Epoch: first, OpenedAt: now})
		if change != nil {
			if err := change(ns, first, last); err != nil {
				return err
			}
		}
		if found, swept := removePending(ns, epoch); !found || swept {
			// A sweep judged this rollover dead and deleted its log.
			return fmt.Errorf("new log %d was swept", first)
		}
		return nil
	})
	if err != nil {
		abandon()
		if hasLog && change != nil && !errors.Is(err, errRolledOver) {
			// The log is sealed but still current: open the next one
			// now rather than leave writers to find out.
			if _, rerr := b.rollover(ctx, s, 0, nil); rerr != nil && !errors.Is(rerr, errRolledOver) {
				b.cfg.Logger.Warn("open a new log after a failed rollover; writers will", "stream", s.Name, "err", rerr)
			}
		}
		return nil, err
	}
	return ns, nil
}

// dropExpiredLogs deletes the stream's sealed logs (and shards' own logs)
// whose every record is past the retention period, and forgets them in
// the stream. Readers skip logs that are gone.
func (b *Broker) dropExpiredLogs(ctx context.Context, s *kinesis.Stream) {
	retention := b.retention(s)
	now := b.cfg.Now()
	var expired []uint64
	for _, l := range s.Logs {
		if l.Sealed() && (l.LastMsgSeq == 0 || now.Sub(l.SealedAt) > retention) {
			expired = append(expired, l.Epoch)
		}
	}
	if len(expired) == 0 {
		return
	}
	// Forget them first: a reader then never looks for a deleted log it
	// still thinks is there (it skips one it cannot find, all the same).
	_, err := b.update(ctx, s.Name, func(ns *kinesis.Stream) error {
		if ns.ID != s.ID || !ns.DeletingAt.IsZero() {
			return errNoChange
		}
		n := len(ns.Logs)
		ns.Logs = slices.DeleteFunc(slices.Clone(ns.Logs), func(l kinesis.StreamLog) bool { return slices.Contains(expired, l.Epoch) })
		if len(ns.Logs) == n {
			return errNoChange
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, errNoChange) && ctx.Err() == nil {
			b.cfg.Logger.Warn("forget expired stream logs", "stream", s.Name, "err", err)
		}
		return
	}
	for _, epoch := range expired {
		if err := b.log.DeleteLog(ctx, logName(epoch)); err != nil {
			b.cfg.Logger.Warn("delete expired stream log", "stream", s.Name, "log", logName(epoch), "err", err)
		}
		b.dropAppender(epoch)
	}
}
