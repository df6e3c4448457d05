package producer

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestFuture checks both orders of asking for Done and completing.
func TestFuture(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	waited := &Future{}
	ch := waited.Done()
	if ch != waited.Done() {
		t.Fatal("Done returned two channels")
	}
	select {
	case <-ch:
		t.Fatal("Done closed before the result")
	default:
	}
	got := make(chan Result, 1)
	go func() {
		res, _ := waited.Wait(ctx)
		got <- res
	}()
	waited.res = Result{ShardID: "shardId-000000000001"}
	waited.resolve()
	<-ch
	if res := <-got; res.ShardID != "shardId-000000000001" {
		t.Fatalf("Wait returned %+v", res)
	}

	early := &Future{}
	early.err = ErrClosed
	early.resolve()
	<-early.Done()
	if _, err := early.Wait(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait returned %v", err)
	}

	pending := &Future{}
	short, stop := context.WithTimeout(ctx, time.Millisecond)
	defer stop()
	if _, err := pending.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a pending future returned %v", err)
	}
}
