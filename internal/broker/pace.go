package broker

import (
	"slices"
	"sync"
	"time"
)

// The readers of a stream log, one per shard, take their records from
// the same messages, which the cache (msgcache.go) fetches from the store
// once for all of them, as long as the readers stay within what it holds.
// Left alone, a thousand readers of a long backlog spread over more of the
// log than that: those ahead bring in new messages, which push out the
// ones the readers behind have yet to take, and those fetch them again (a
// 140 MB backlog was read five times over). So a reader about to fetch
// messages further ahead of the log's other readers than half the cache
// holds lets them catch up first: it waits for them a little (paceWait at
// most), then answers with the records it has, or, having none, fetches
// all the same; and no read ahead starts there. (Databases that share one table scan among many
// queries throttle the leading scans in the same way.) A reader is known
// by its shard, so two applications reading one shard count as one
// reader, where the last of them read.
type readPace struct {
	mu    sync.Mutex
	logs  map[uint64]*logReaders // by log epoch
	swept time.Time              // when idle readers were last forgotten
}

// logReaders is where each reader of a log last was: between its calls
// too, which is most of the time when the readers' own work is what
// bounds them.
type logReaders struct {
	at map[uint64]pacePos // by shard epoch
	// sorted holds the positions in order as they were at taken, for
	// ahead's count: a thousand readers each checking the others one by
	// one cost more than the reads they saved.
	sorted []uint64
	taken  time.Time
}

type pacePos struct {
	seq  uint64
	seen time.Time
}

const (
	// A reader ahead waits for the readers behind it, looking again
	// every paceStep, at most paceWait in a call.
	paceStep = 10 * time.Millisecond
	paceWait = 200 * time.Millisecond
	// paceReach is how many windows behind a reader may be and still be
	// waited for: those further behind are a group of their own (a slow
	// application, a replay from the start), which the others do not
	// wait for.
	paceReach = 4
	// paceIdle is how long a reader that has not read is still counted.
	paceIdle = 5 * time.Second
	// paceFresh is how old ahead's view of where the readers are may be.
	paceFresh = 20 * time.Millisecond
)

// at records that shard's reader is at k.
func (p *readPace) at(shard uint64, k msgKey, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logs == nil {
		p.logs = make(map[uint64]*logReaders)
	}
	lr := p.logs[k.log]
	if lr == nil {
		lr = &logReaders{at: make(map[uint64]pacePos)}
		p.logs[k.log] = lr
	}
	lr.at[shard] = pacePos{seq: k.seq, seen: now}
	if now.Sub(p.swept) > paceIdle {
		p.swept = now
		for log, lr := range p.logs {
			p.forget(log, lr, now)
		}
	}
}

// forget drops the readers of log idle for paceIdle, and the log once it
// has none. p.mu is held.
func (p *readPace) forget(log uint64, lr *logReaders, now time.Time) {
	for shard, at := range lr.at {
		if now.Sub(at.seen) > paceIdle {
			delete(lr.at, shard)
		}
	}
	if len(lr.at) == 0 {
		delete(p.logs, log)
	}
}

// ahead reports whether a fetch of the log at k would run more than
// window messages ahead of two or more of the log's readers that are
// still within paceReach windows of it: readers further behind read on
// their own, and are not waited for.
func (p *readPace) ahead(k msgKey, window uint64, now time.Time) bool {
	if k.seq <= window {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lr := p.logs[k.log]
	if lr == nil {
		return false
	}
	if now.Sub(lr.taken) > paceFresh || len(lr.sorted) != len(lr.at) {
		p.forget(k.log, lr, now)
		lr.sorted = lr.sorted[:0]
		for _, at := range lr.at {
			lr.sorted = append(lr.sorted, at.seq)
		}
		slices.Sort(lr.sorted)
		lr.taken = now
	}
	// Readers at lo <= seq < hi: behind, and within reach.
	lo, hi := uint64(0), k.seq-window
	if k.seq > paceReach*window {
		lo = k.seq - paceReach*window
	}
	from, _ := slices.BinarySearch(lr.sorted, lo)
	to, _ := slices.BinarySearch(lr.sorted, hi)
	return to-from >= 2
}

// paceWindow is how many messages of a log the cache holds half of.
func (b *Broker) paceWindow() uint64 {
	size := b.msgs.meanSize()
	if size <= 0 {
		size = 64 << 10
	}
	return uint64(b.msgs.max / 2 / size)
}
