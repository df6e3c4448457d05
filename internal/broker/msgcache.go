package broker

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// msgCache keeps recently written and read log messages decoded (and
// decrypted), shared by every reader of the broker. A stream log holds
// the records of all of a stream's shards, so its readers, one per shard,
// read the same messages: the cache fetches each message from the store
// once for all of them, and the messages this broker wrote are there
// before anyone asks. It is bounded by bytes and drops the least recently
// used messages first; a miss is one read of the log shared by every
// reader asking for the same position at the same time.
type msgCache struct {
	max int64 // bytes; 0 keeps nothing

	mu      sync.Mutex
	size    int64
	entries map[msgKey]*list.Element // of *cacheEntry
	lru     list.List                // most recently used at the front
	fetches map[msgKey]*msgFetch     // reads of the log in progress
}

type msgKey struct{ log, seq uint64 }

type cacheEntry struct {
	key  msgKey
	msg  *logMsg
	size int64
}

type msgFetch struct {
	done chan struct{}
	end  uint64 // where the read is expected to stop (exclusive), for covering
	msgs []*logMsg
	err  error
}

func newMsgCache(max int64) *msgCache {
	return &msgCache{max: max, entries: make(map[msgKey]*list.Element), fetches: make(map[msgKey]*msgFetch)}
}

// run appends to out the cached messages of log from sequence from on,
// up to the first one missing, at most want of them: under one lock, as
// a thousand readers of one log each take the same messages.
func (c *msgCache) run(log, from uint64, want int, out []*logMsg) []*logMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	for seq := from; len(out) < want; seq++ {
		e, ok := c.entries[msgKey{log, seq}]
		if !ok {
			break
		}
		c.lru.MoveToFront(e)
		out = append(out, e.Value.(*cacheEntry).msg)
	}
	return out
}

// put caches m, dropping the least recently used messages past the budget.
func (c *msgCache) put(k msgKey, m *logMsg) {
	size := int64(m.size())
	if size > c.max/4 {
		return // one huge message would flush everything else
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		c.lru.MoveToFront(e)
		return
	}
	c.entries[k] = c.lru.PushFront(&cacheEntry{key: k, msg: m, size: size})
	c.size += size
	for c.size > c.max {
		last := c.lru.Back()
		ce := last.Value.(*cacheEntry)
		c.lru.Remove(last)
		delete(c.entries, ce.key)
		c.size -= ce.size
	}
}

// clear drops every cached message (reads in progress keep theirs).
func (c *msgCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.lru.Init()
	c.size = 0
}

// fetch runs read once for every caller asking for the same key while it
// runs; each waits for it (or its own ctx).
func (c *msgCache) fetch(ctx context.Context, k msgKey, end uint64, read func() ([]*logMsg, error)) ([]*logMsg, error) {
	f := c.start(k, end, read)
	select {
	case <-f.done:
		return f.msgs, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// start runs read for k, expected to bring the messages before end,
// unless a read for k is already running, and returns the read in
// progress.
func (c *msgCache) start(k msgKey, end uint64, read func() ([]*logMsg, error)) *msgFetch {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.fetches[k]; ok {
		return f
	}
	f := &msgFetch{done: make(chan struct{}), end: end}
	c.fetches[k] = f
	go func() {
		f.msgs, f.err = read()
		c.mu.Lock()
		delete(c.fetches, k)
		c.mu.Unlock()
		close(f.done)
	}()
	return f
}

// covering returns a read of log in progress that started before seq and
// is expected to bring it, if there is one.
func (c *msgCache) covering(log, seq uint64) *msgFetch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.coveringLocked(log, seq)
}

func (c *msgCache) coveringLocked(log, seq uint64) *msgFetch {
	for k, f := range c.fetches {
		if k.log == log && k.seq < seq && seq < f.end {
			return f
		}
	}
	return nil
}

// readEnd estimates where a read of want messages and about maxBytes from
// sequence from stops, from the size of the messages cached.
func (c *msgCache) readEnd(from uint64, want, maxBytes int) uint64 {
	n := int64(want)
	if mean := c.meanSize(); mean > 0 {
		n = max(1, min(n, int64(maxBytes)/mean))
	}
	return from + uint64(n)
}

// meanSize is the mean size of the cached messages, 0 when there are none.
func (c *msgCache) meanSize() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == 0 {
		return 0
	}
	return c.size / int64(len(c.entries))
}

// wanted reports whether k is neither cached nor being read, by a read
// from k or one from before it that is expected to bring it.
func (c *msgCache) wanted(k msgKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max == 0 {
		return false
	}
	if _, cached := c.entries[k]; cached {
		return false
	}
	if _, reading := c.fetches[k]; reading {
		return false
	}
	return c.coveringLocked(k.log, k.seq) == nil
}

// Readers of a log that is far behind its end all wait for the same next
// read of it: each read of readChunkBytes ends in a pause for every one of
// them, as long as the log's answer takes. So a read that came back full
// starts the next one at once, up to readAheadChunks ahead of the readers,
// and the readers find it cached, or on its way, when they get there.
const readAheadChunks = 4

// logMessages returns decoded messages of the segment's log from
// sequence from on (from the first retained one after it, if from is
// gone), at most want of them: those the cache holds (cached), else what
// one read of the log brings, about maxBytes.
func (b *Broker) logMessages(ctx context.Context, s *kinesis.Stream, seg kinesis.Segment, from uint64, want, maxBytes int) (msgs []*logMsg, cached bool, err error) {
	if msgs = b.msgs.run(seg.Epoch, from, want, nil); len(msgs) > 0 {
		if len(msgs) < want {
			// The reader asks for the next one soon: have it on its way.
			b.readAhead(ctx, s, seg, from+uint64(len(msgs)), readAheadChunks)
		}
		return msgs, true, nil
	}
	if f := b.msgs.covering(seg.Epoch, from); f != nil {
		// A read under way from a little before brings these messages
		// too: take them from the cache when it is done rather than
		// reading them again.
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		if msgs = b.msgs.run(seg.Epoch, from, want, nil); len(msgs) > 0 {
			return msgs, true, nil
		}
	}
	end := b.msgs.readEnd(from, want, maxBytes)
	msgs, err = b.msgs.fetch(ctx, msgKey{seg.Epoch, from}, end, b.readLog(ctx, s, seg, from, want, maxBytes, readAheadChunks))
	return msgs, false, err
}

// readLog returns a read of the segment's log from sequence from, which
// caches what it decodes and, when it comes back full, reads ahead up to
// ahead more chunks. The read outlives a caller that goes away: others may
// wait for it.
func (b *Broker) readLog(ctx context.Context, s *kinesis.Stream, seg kinesis.Segment, from uint64, want, maxBytes, ahead int) func() ([]*logMsg, error) {
	rctx := context.WithoutCancel(ctx)
	return func() ([]*logMsg, error) {
		raw, err := b.log.Read(rctx, logName(seg.Epoch), from, want, maxBytes)
		if err != nil {
			return nil, err
		}
		msgs := make([]*logMsg, 0, len(raw))
		size := 0
		for _, r := range raw {
			m, err := b.decodeLogMsg(rctx, s, seg, r.Seq, r.Data)
			if err != nil {
				return nil, fmt.Errorf("decode message %d of %s: %w", r.Seq, logName(seg.Epoch), err)
			}
			b.msgs.put(msgKey{seg.Epoch, r.Seq}, m)
			msgs = append(msgs, m)
			size += len(r.Data)
		}
		b.m.logReadBytes.WithLabelValues(s.Name).Add(float64(size))
		// A read that stopped at its limits rather than at the log's end.
		if len(raw) > 0 && (len(raw) >= want || 2*size >= maxBytes) && ahead > 0 {
			b.readAhead(rctx, s, seg, raw[len(raw)-1].Seq+1, ahead)
		}
		return msgs, nil
	}
}

// readAhead starts reading the segment's log at from, unless that part is
// cached or being read.
func (b *Broker) readAhead(ctx context.Context, s *kinesis.Stream, seg kinesis.Segment, from uint64, ahead int) {
	k := msgKey{seg.Epoch, from}
	if seg.Own || (seg.Sealed && from > seg.End) || !b.msgs.wanted(k) || b.pace.ahead(k, b.paceWindow(), b.cfg.Now()) {
		return
	}
	b.msgs.start(k, b.msgs.readEnd(from, readChunkMsgs, readChunkBytes), b.readLog(ctx, s, seg, from, readChunkMsgs, readChunkBytes, ahead-1))
}

// DropReadCache lets go of the decoded messages kept for readers; later
// reads fetch them from the store again. For a server whose API has gone
// idle and that hands memory back to the OS.
func (b *Broker) DropReadCache() { b.msgs.clear() }
