//go:build cgo

package duckdb

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// guards keeps the Sinks of one process from writing one file at once.
// DuckDB's lock on a file is a POSIX record lock, which belongs to the
// process: a second DuckDB instance in the process that holds it gets the
// file too, and two instances writing one file corrupt it. So this one piece
// of state is process-wide, as the lock it stands in for.
var guards = &registry{files: map[string]*guard{}}

type registry struct {
	mu    sync.Mutex
	files map[string]*guard // by canonical path
}

// guard is the turn on one file within the process.
type guard struct {
	turn      chan struct{} // a mutex a waiter can give up on
	sinks     int
	exclusive bool
}

// acquire registers a Sink on path. An exclusive Sink must be the only one.
func (r *registry) acquire(path string, exclusive bool) (*guard, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.files[path]
	if g == nil {
		g = &guard{turn: make(chan struct{}, 1)}
		r.files[path] = g
	}
	if g.exclusive || (exclusive && g.sinks > 0) {
		return nil, errors.New("another Sink of this process has the file open and one of them is exclusive")
	}
	g.sinks++
	g.exclusive = exclusive
	return g, nil
}

// release unregisters a Sink.
func (r *registry) release(path string, g *guard) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g.sinks--
	g.exclusive = false
	if g.sinks == 0 {
		delete(r.files, path)
	}
}

// lock takes the process's turn on the file, or gives up with ctx.
func (g *guard) lock(ctx context.Context) error {
	select {
	case g.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for another write of this process: %w", ctx.Err())
	}
}

func (g *guard) unlock() { <-g.turn }
