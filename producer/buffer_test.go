package producer

import (
	"context"
	"testing"
	"time"
)

// TestBuffer_generations checks that a flush waits for the records put
// before it, and only for those, whatever order they finish in.
func TestBuffer_generations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBuffer(100, 1<<20)
	// Flushes with nothing buffered return at once, however many.
	for range 3 {
		if err := b.waitGen(ctx, b.nextGen()); err != nil {
			t.Fatal(err)
		}
	}
	g1, _ := b.acquire(ctx, 10, false)
	flush1 := b.nextGen()
	g2, _ := b.acquire(ctx, 10, false)
	flush2 := b.nextGen()
	g3, _ := b.acquire(ctx, 10, false)
	if g1 == g2 || g2 == g3 || flush1 != g1 || flush2 != g2 {
		t.Fatalf("generations %d %d %d, flushes %d %d", g1, g2, g3, flush1, flush2)
	}
	done := func(gen uint64) bool {
		short, stop := context.WithTimeout(ctx, 10*time.Millisecond)
		defer stop()
		return b.waitGen(short, gen) == nil
	}
	// The newer record finishing first ends neither flush.
	b.releaseAll([]*userRecord{{size: 10, gen: g2}})
	if done(flush1) || done(flush2) {
		t.Fatal("a flush ended with a record put before it still buffered")
	}
	waited := make(chan error, 1)
	go func() { waited <- b.waitGen(ctx, flush2) }()
	b.release(10, g1)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if !done(flush1) {
		t.Fatal("flush 1 did not end with its records done")
	}
	// The record put after both flushes holds neither.
	if records, bytes := b.usage(); records != 1 || bytes != 10 {
		t.Fatalf("usage %d records, %d bytes; want 1, 10", records, bytes)
	}
	flush3 := b.nextGen()
	if done(flush3) {
		t.Fatal("flush 3 ended with its record buffered")
	}
	b.release(10, g3)
	if !done(flush3) {
		t.Fatal("flush 3 did not end")
	}
}
