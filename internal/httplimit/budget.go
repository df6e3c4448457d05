package httplimit

import (
	"context"
	"sync"
	"time"
)

// budget is a semaphore counted in bytes with a reserve: small
// acquisitions may use all of size, large ones only size-reserve. Waiters
// are granted in order of arrival among those that fit, so a large waiter
// never holds up a small one behind it.
type budget struct {
	size, reserve int64

	mu      sync.Mutex
	used    int64
	waiters []*waiter
}

type waiter struct {
	n       int64
	small   bool
	ready   chan struct{}
	granted bool // under budget.mu
}

func newBudget(size, reserve int64) *budget {
	return &budget{size: size, reserve: reserve}
}

func (b *budget) limit(small bool) int64 {
	if small {
		return b.size
	}
	return b.size - b.reserve
}

// acquire takes n bytes, waiting at most wait for them, or until ctx
// ends. It reports whether it got them.
func (b *budget) acquire(ctx context.Context, n int64, small bool, wait time.Duration) bool {
	b.mu.Lock()
	if b.used+n <= b.limit(small) && len(b.waiters) == 0 {
		b.used += n
		b.mu.Unlock()
		return true
	}
	if n > b.limit(small) || wait <= 0 {
		b.mu.Unlock()
		return false
	}
	w := &waiter{n: n, small: small, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.grantLocked() // others waiting may not fit where this one does
	b.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.ready:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.granted { // granted while the timer fired: keep it
		return true
	}
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	return false
}

// release returns n bytes and wakes the waiters that now fit.
func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.grantLocked()
	b.mu.Unlock()
}

func (b *budget) grantLocked() {
	kept := b.waiters[:0]
	for _, w := range b.waiters {
		if b.used+w.n <= b.limit(w.small) {
			b.used += w.n
			w.granted = true
			close(w.ready)
			continue
		}
		kept = append(kept, w)
	}
	clear(b.waiters[len(kept):])
	b.waiters = kept
}

// inUse is the bytes held now.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
