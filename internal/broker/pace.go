package broker

import (
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
// holds lets them catch up first: it answers with the records it has, or,
// having none, waits for them a little (paceWait at most); and no read
// ahead starts there. (Databases that share one table scan among many
// queries throttle the leading scans in the same way.) A reader is known by its shard, so two applications
// reading one shard count as one reader, where the last of them read.
type readPace struct {
	mu sync.Mutex
	// logs holds, by log epoch, where each shard's reader last was (by
	// shard epoch): between its calls too, which is most of the time when
	// the readers' own work is what bounds them.
	logs  map[uint64]map[uint64]pacePos
	swept time.Time // when idle readers were last forgotten
}

type pacePos struct {
	seq  uint64
	seen time.Time
}

const (
	// A reader that has no records yet waits for the readers behind it,
	// looking again every paceStep, at most paceWait before it fetches
	// ahead all the same.
	paceStep = 10 * time.Millisecond
	paceWait = 200 * time.Millisecond
	// paceReach is how many windows behind a reader may be and still be
	// waited for: those further behind are a group of their own (a slow
	// application, a replay from the start), which the others do not
	// wait for.
	paceReach = 4
	// paceIdle is how long a reader that has not read is still counted.
	paceIdle = 5 * time.Second
)

// at records that shard's reader is at k.
func (p *readPace) at(shard uint64, k msgKey, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logs == nil {
		p.logs = make(map[uint64]map[uint64]pacePos)
	}
	readers := p.logs[k.log]
	if readers == nil {
		readers = make(map[uint64]pacePos)
		p.logs[k.log] = readers
	}
	readers[shard] = pacePos{seq: k.seq, seen: now}
	if now.Sub(p.swept) > paceIdle {
		p.swept = now
		for log, readers := range p.logs {
			p.forget(log, readers, now)
		}
	}
}

// forget drops the readers of log idle for paceIdle, and the log once it
// has none; it returns the readers left. p.mu is held.
func (p *readPace) forget(log uint64, readers map[uint64]pacePos, now time.Time) map[uint64]pacePos {
	for shard, at := range readers {
		if now.Sub(at.seen) > paceIdle {
			delete(readers, shard)
		}
	}
	if len(readers) == 0 {
		delete(p.logs, log)
	}
	return readers
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
	behind := 0
	for _, at := range p.forget(k.log, p.logs[k.log], now) {
		if at.seq < k.seq-window && at.seq+paceReach*window >= k.seq {
			behind++
		}
	}
	return behind >= 2
}

// paceWindow is how many messages of a log the cache holds half of.
func (b *Broker) paceWindow() uint64 {
	size := b.msgs.meanSize()
	if size <= 0 {
		size = 64 << 10
	}
	return uint64(b.msgs.max / 2 / size)
}
