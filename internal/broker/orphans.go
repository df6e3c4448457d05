package broker

import (
	"context"
	"errors"
	"slices"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// A rollover (streamlog.go: a reshard, or a stream's move to stream logs)
// creates the stream's next log before the compare-and-swap that makes it
// current. If its server dies in between, that log belongs to nobody. To
// find it without listing the log store, the rollover first records its
// epoch in the stream's PendingLogs, and its final compare-and-swap
// removes the record together with installing the log (a failed rollover
// removes it after deleting the log).
//
// The sweep (run by every broker's reaper, so also right after a start)
// deletes the logs of entries older than Config.OrphanLogGrace in three
// steps, each safe to repeat after a crash: mark the entry Swept (from
// then on the rollover's own compare-and-swap fails, so it can never
// install a log that is gone), delete the logs, drop the entry. A deleted
// stream's pending logs go with its other logs.

// addPendingLogs records epochs as pending in the stream.
func (b *Broker) addPendingLogs(ctx context.Context, name string, epochs []uint64) error {
	now := b.cfg.Now()
	_, err := b.update(ctx, name, func(s *kinesis.Stream) error {
		if !s.DeletingAt.IsZero() {
			return kinesis.StreamNotFound(name, b.cfg.AccountID)
		}
		s.PendingLogs = append(s.PendingLogs, kinesis.PendingLogs{Epochs: epochs, Since: now})
		return nil
	})
	return err
}

// dropPendingLogs forgets pending epochs whose logs are deleted.
func (b *Broker) dropPendingLogs(ctx context.Context, name string, epochs []uint64) {
	_, err := b.update(ctx, name, func(s *kinesis.Stream) error {
		if found, _ := removePending(s, epochs); !found {
			return errNoChange
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		var kerr *kinesis.Error
		if !errors.As(err, &kerr) {
			b.cfg.Logger.Warn("forget pending logs; the sweep will", "stream", name, "epochs", epochs, "err", err)
		}
	}
}

// errNoChange aborts an update that has nothing to change.
var errNoChange = errors.New("no change")

// removePending removes the pending entry of epochs from s and reports
// whether it was there and whether the sweep had marked it.
func removePending(s *kinesis.Stream, epochs []uint64) (found, swept bool) {
	for i, p := range s.PendingLogs {
		if slices.Equal(p.Epochs, epochs) {
			s.PendingLogs = slices.Delete(slices.Clone(s.PendingLogs), i, i+1)
			if len(s.PendingLogs) == 0 {
				s.PendingLogs = nil
			}
			return true, p.Swept
		}
	}
	return false, false
}

// sweepPendingLogs deletes the logs of the stream's rollovers that have
// been pending longer than the grace period.
func (b *Broker) sweepPendingLogs(ctx context.Context, s *kinesis.Stream) {
	now := b.cfg.Now()
	stale := func(p kinesis.PendingLogs) bool { return p.Swept || now.Sub(p.Since) > b.cfg.OrphanLogGrace }
	if !slices.ContainsFunc(s.PendingLogs, stale) || !s.DeletingAt.IsZero() {
		return
	}
	var swept []kinesis.PendingLogs
	_, err := b.update(ctx, s.Name, func(cur *kinesis.Stream) error {
		if cur.ID != s.ID {
			return errNoChange
		}
		swept = swept[:0]
		cur.PendingLogs = slices.Clone(cur.PendingLogs)
		for i, p := range cur.PendingLogs {
			if stale(p) {
				cur.PendingLogs[i].Swept = true
				swept = append(swept, cur.PendingLogs[i])
			}
		}
		if len(swept) == 0 {
			return errNoChange
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, errNoChange) && ctx.Err() == nil {
			b.cfg.Logger.Warn("mark pending logs swept", "stream", s.Name, "err", err)
		}
		return
	}
	for _, p := range swept {
		for _, epoch := range p.Epochs {
			if err := b.log.DeleteLog(ctx, logName(epoch)); err != nil {
				b.cfg.Logger.Warn("delete orphan log", "stream", s.Name, "log", logName(epoch), "err", err)
				return
			}
		}
		b.cfg.Logger.Info("deleted orphan logs of an interrupted rollover", "stream", s.Name, "epochs", p.Epochs)
		b.dropPendingLogs(ctx, s.Name, p.Epochs)
	}
}
