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
	gen        uint64         // generation of records put now
	perGen     map[uint64]int // records not done, by generation
	waiting    int            // goroutines waiting on changed
	changed    chan struct{}  // closed and replaced on a release while some wait
}

func newBuffer(maxRecords, maxBytes int) *buffer {
	return &buffer{maxRecords: maxRecords, maxBytes: maxBytes, perGen: map[uint64]int{}, changed: make(chan struct{})}
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
		ch := b.changed
		b.waiting++
		b.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		b.mu.Lock()
		b.waiting--
		if err != nil {
			b.mu.Unlock()
			return 0, err
		}
	}
	b.records++
	b.bytes += size
	b.perGen[b.gen]++
	g := b.gen
	b.mu.Unlock()
	return g, nil
}

// release returns the room of a record that is done.
func (b *buffer) release(size int, gen uint64) {
	b.mu.Lock()
	b.records--
	b.bytes -= size
	if b.perGen[gen]--; b.perGen[gen] == 0 {
		delete(b.perGen, gen)
	}
	if b.waiting > 0 {
		close(b.changed)
		b.changed = make(chan struct{})
	}
	b.mu.Unlock()
}

// nextGen starts a new generation and returns the last one, which a flush
// waits for.
func (b *buffer) nextGen() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gen++
	return b.gen - 1
}

// waitGen waits until no record of generation gen or older is left.
func (b *buffer) waitGen(ctx context.Context, gen uint64) error {
	for {
		b.mu.Lock()
		left := false
		for g := range b.perGen {
			if g <= gen {
				left = true
				break
			}
		}
		if !left {
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.waiting++
		b.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		b.mu.Lock()
		b.waiting--
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
		close(b.changed)
		b.changed = make(chan struct{})
	}
}

func (b *buffer) usage() (records, bytes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.records, b.bytes
}
