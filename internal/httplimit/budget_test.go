package httplimit

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestBudget_Limits(t *testing.T) {
	b := newBudget(100, 25)
	if !b.acquire(context.Background(), 75, false, 0) {
		t.Fatal("large acquisition up to size-reserve refused")
	}
	if b.acquire(context.Background(), 1, false, 0) {
		t.Fatal("large acquisition into the reserve granted")
	}
	if !b.acquire(context.Background(), 25, true, 0) {
		t.Fatal("small acquisition of the reserve refused")
	}
	if b.acquire(context.Background(), 1, true, 0) {
		t.Fatal("acquisition past the size granted")
	}
	if b.acquire(context.Background(), 101, true, time.Hour) {
		t.Fatal("acquisition larger than the budget granted")
	}
	b.release(100)
	if got := b.inUse(); got != 0 {
		t.Fatalf("in use after releasing everything: %d", got)
	}
}

func TestBudget_Wait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(100, 25)
		b.acquire(context.Background(), 75, false, 0)
		b.acquire(context.Background(), 25, true, 0)

		// A large waiter ahead does not hold up a small one that fits.
		large := make(chan bool)
		go func() { large <- b.acquire(context.Background(), 50, false, time.Minute) }()
		synctest.Wait()
		small := make(chan bool)
		go func() { small <- b.acquire(context.Background(), 10, true, time.Minute) }()
		synctest.Wait()
		b.release(25) // the reserve: fits the small one only
		if !<-small {
			t.Fatal("small waiter not granted")
		}
		select {
		case <-large:
			t.Fatal("large waiter granted into the reserve")
		default:
		}
		b.release(75)
		if !<-large {
			t.Fatal("large waiter not granted once room came")
		}

		// Nobody releases: the wait ends in a refusal, and takes nothing.
		before := b.inUse()
		start := time.Now()
		if b.acquire(context.Background(), 80, true, 2*time.Second) {
			t.Fatal("granted without room")
		}
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("waited %v, want the 2s wait", waited)
		}
		if b.inUse() != before || len(b.waiters) != 0 {
			t.Errorf("a refused waiter left %d bytes and %d waiters", b.inUse()-before, len(b.waiters))
		}

		// A canceled context ends the wait too.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan bool)
		go func() { done <- b.acquire(ctx, 80, true, time.Hour) }()
		synctest.Wait()
		cancel()
		if <-done {
			t.Fatal("granted after cancel")
		}
	})
}
