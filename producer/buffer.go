package producer

import (
	"context"
	"sync"
)

// buffer bounds the records between Put and their result, and tracks them
// by flush generation so that Flush waits only for records put before it.
type buffer struct {
	mu         sync.Mutex
	maxRecords int
	maxBytes   int
	records    int
	bytes      int
	closed     bool
	// perGen counts the records not done by generation, from firstGen on;
	// its last entry is the generation of records put now. Generations
	// only grow, and leading ones are dropped as they empty.
	firstGen uint64
	perGen   []int
	// Waiters for room (acquire) and for a generation to end (waitGen)
	// are woken apart, so that completing records one by one wakes a
	// Flush only when a generation ends.
	roomWaiting int
	room        chan struct{} // closed and replaced on a release while some wait
	genWaiting  int
	genDone     chan struct{} // closed and replaced when a generation ends
}

func newBuffer(maxRecords, maxBytes int) *buffer {
	return &buffer{maxRecords: maxRecords, maxBytes: maxBytes, perGen: []int{0}, room: make(chan struct{}), genDone: make(chan struct{})}
}

// acquire takes room for one record of size bytes and returns its
// generation. A record larger than the whole buffer is let in when the
// buffer is empty.
func (b *buffer) acquire(ctx context.Context, size int, failFast bool) (uint64, error) {
	b.mu.Lock()
	for {
		if b.closed {
			b.mu.Unlock()
			return 0, ErrClosed
		}
		if b.records == 0 || (b.records < b.maxRecords && b.bytes+size <= b.maxBytes) {
			break
		}
		if failFast {
			b.mu.Unlock()
			return 0, ErrBufferFull
		}
		ch := b.room
		b.roomWaiting++
		b.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		b.mu.Lock()
		b.roomWaiting--
		if err != nil {
			b.mu.Unlock()
			return 0, err
		}
	}
	b.records++
	b.bytes += size
	b.perGen[len(b.perGen)-1]++
	g := b.firstGen + uint64(len(b.perGen)-1)
	b.mu.Unlock()
	return g, nil
}

// release returns the room of a record that is done.
func (b *buffer) release(size int, gen uint64) {
	b.mu.Lock()
	b.releaseLocked(1, size, gen)
	b.wake()
	b.mu.Unlock()
}

// releaseAll returns the room of records that are done, under one lock.
func (b *buffer) releaseAll(users []*userRecord) {
	b.mu.Lock()
	for _, u := range users {
		b.releaseLocked(1, u.size, u.gen)
	}
	b.wake()
	b.mu.Unlock()
}

func (b *buffer) releaseLocked(records, size int, gen uint64) {
	b.records -= records
	b.bytes -= size
	b.perGen[gen-b.firstGen] -= records
	if gen == b.firstGen && records > 0 {
		b.trim()
	}
}

// trim drops the leading generations that are done, and wakes the Flushes
// waiting for them.
func (b *buffer) trim() {
	n := 0
	for n < len(b.perGen)-1 && b.perGen[n] == 0 {
		n++
	}
	if n == 0 {
		return
	}
	b.perGen = b.perGen[n:]
	b.firstGen += uint64(n)
	if b.genWaiting > 0 {
		close(b.genDone)
		b.genDone = make(chan struct{})
	}
}

// wake wakes the goroutines waiting for room.
func (b *buffer) wake() {
	if b.roomWaiting > 0 {
		close(b.room)
		b.room = make(chan struct{})
	}
}

// nextGen starts a new generation and returns the last one, which a flush
// waits for.
func (b *buffer) nextGen() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.perGen = append(b.perGen, 0)
	gen := b.firstGen + uint64(len(b.perGen)-2)
	b.trim()
	return gen
}

// waitGen waits until no record of generation gen or older is left.
func (b *buffer) waitGen(ctx context.Context, gen uint64) error {
	for {
		b.mu.Lock()
		// Leading generations are dropped once done (but the current
		// one), so gen is done when it is before the first.
		if gen < b.firstGen {
			b.mu.Unlock()
			return nil
		}
		ch := b.genDone
		b.genWaiting++
		b.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		b.mu.Lock()
		b.genWaiting--
		b.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

func (b *buffer) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.room)
		b.room = make(chan struct{})
	}
}

func (b *buffer) usage() (records, bytes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.records, b.bytes
}
