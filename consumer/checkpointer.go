package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Checkpointer errors.
var (
	// ErrLeaseLost: this worker no longer holds the shard's lease, so it may
	// not checkpoint (the KCL's ShutdownException).
	ErrLeaseLost = errors.New("lease lost: this worker no longer holds the shard")
	// ErrInvalidCheckpoint: the position is before the last checkpoint or
	// after the last record handed to the processor.
	ErrInvalidCheckpoint = errors.New("invalid checkpoint")
)

// Checkpointer records how far a shard is processed, so that the next
// owner resumes after it. A checkpoint must be at or after the previous one
// and at or before the last record handed to the processor, as in the KCL.
// It is a conditional write fenced by the lease counter.
type Checkpointer struct {
	w *shardWorker

	mu        sync.Mutex
	largest   ExtendedSequenceNumber // the last record handed to the processor
	processed ExtendedSequenceNumber // the last record processed (or dead-lettered)
	committed ExtendedSequenceNumber // the last checkpoint stored
	// handoff is the checkpoint held back during a handoff: the previous
	// owner's final write stores it and clears checkpointOwner at once;
	// with handoffState when it came with state.
	handoff      ExtendedSequenceNumber
	handoffState []byte
	stateful     bool
}

// Checkpoint checkpoints the last record handed to the processor.
func (c *Checkpointer) Checkpoint(ctx context.Context) error {
	c.mu.Lock()
	pos := c.largest
	c.mu.Unlock()
	if pos.IsZero() {
		return nil // nothing delivered yet
	}
	return c.checkpoint(ctx, pos)
}

// CheckpointRecord checkpoints r: processing resumes after it.
func (c *Checkpointer) CheckpointRecord(ctx context.Context, r Record) error {
	return c.checkpoint(ctx, r.Position())
}

// CheckpointAt checkpoints a sequence number and sub-sequence number (the
// index of a user record inside a KPL aggregate, else 0).
func (c *Checkpointer) CheckpointAt(ctx context.Context, sequenceNumber string, subSequenceNumber int64) error {
	if !validSequence(sequenceNumber) || subSequenceNumber < 0 {
		return fmt.Errorf("checkpoint %s/%d: %w: not a sequence number", sequenceNumber, subSequenceNumber, ErrInvalidCheckpoint)
	}
	return c.checkpoint(ctx, ExtendedSequenceNumber{Sequence: sequenceNumber, SubSequence: subSequenceNumber})
}

// CheckpointState checkpoints pos and stores state with it in the same
// write (Lease.CheckpointState), which the next owner of the shard gets in
// InitializeInput: application state that a restart from pos needs. Unlike
// the other methods it writes even when pos is the last checkpoint, and pos
// may be just before a record delivered: {r.SequenceNumber,
// r.SubSequenceNumber-1} resumes at r itself. The lease store must
// implement CheckpointStateStore.
func (c *Checkpointer) CheckpointState(ctx context.Context, pos ExtendedSequenceNumber, state []byte) error {
	store, ok := c.w.c.store.(CheckpointStateStore)
	if !ok {
		return fmt.Errorf("checkpoint with state: the lease store %T does not keep state", c.w.c.store)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if pos.isSentinel() {
		// Nothing to resume from yet but state to keep: stay where the
		// shard started.
		if c.committed.IsZero() {
			pos = ExtendedSequenceNumber{Sequence: c.w.startSentinel()}
		} else {
			pos = c.committed
		}
	} else if err := c.validLocked(pos); err != nil {
		return err
	}
	if c.w.inHandoff() {
		c.handoff, c.handoffState, c.stateful = pos, state, true
		return nil
	}
	err := c.w.write(ctx, OpCheckpoint, func(l Lease) (Lease, error) {
		return store.UpdateCheckpointState(ctx, l, pos, state)
	})
	if errors.Is(err, ErrLeaseConflict) && c.w.inHandoff() {
		c.handoff, c.handoffState, c.stateful = pos, state, true
		return nil
	}
	if errors.Is(err, ErrLeaseConflict) {
		return fmt.Errorf("checkpoint %s of %s: %w", pos, c.w.key, ErrLeaseLost)
	}
	if err != nil {
		return err
	}
	if !pos.isSentinel() {
		c.committed = pos
	}
	return nil
}

// PrepareCheckpoint stores a pending checkpoint and application state that
// the next owner sees in InitializeInput if this one stops before it
// commits a checkpoint (two-phase commit for side effects).
func (c *Checkpointer) PrepareCheckpoint(ctx context.Context, r Record, state []byte) error {
	pos := r.Position()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.validLocked(pos); err != nil {
		return err
	}
	return c.w.write(ctx, OpCheckpoint, func(l Lease) (Lease, error) {
		return c.w.c.store.PrepareCheckpoint(ctx, l, pos, state)
	})
}

func (c *Checkpointer) validLocked(pos ExtendedSequenceNumber) error {
	if pos.Compare(c.committed) < 0 || pos.Compare(c.largest) > 0 {
		return fmt.Errorf("checkpoint %s: %w: want between the last checkpoint %s and the last record delivered %s",
			pos, ErrInvalidCheckpoint, c.committed, c.largest)
	}
	return nil
}

func (c *Checkpointer) checkpoint(ctx context.Context, pos ExtendedSequenceNumber) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.validLocked(pos); err != nil {
		return err
	}
	return c.storeLocked(ctx, pos)
}

// storeLocked writes pos, or holds it back during a handoff.
func (c *Checkpointer) storeLocked(ctx context.Context, pos ExtendedSequenceNumber) error {
	if c.w.inHandoff() {
		c.handoff, c.handoffState, c.stateful = pos, nil, false
		return nil
	}
	if pos == c.committed {
		return nil
	}
	err := c.w.write(ctx, OpCheckpoint, func(l Lease) (Lease, error) {
		return c.w.c.store.UpdateCheckpoint(ctx, l, pos, false)
	})
	if errors.Is(err, ErrLeaseConflict) && c.w.inHandoff() {
		c.handoff, c.handoffState, c.stateful = pos, nil, false // stolen by handoff meanwhile: the final write stores it
		return nil
	}
	if errors.Is(err, ErrLeaseConflict) {
		return fmt.Errorf("checkpoint %s of %s: %w", pos, c.w.key, ErrLeaseLost)
	}
	if err != nil {
		return err
	}
	c.committed = pos
	return nil
}

// delivered notes the last record handed to the processor.
func (c *Checkpointer) delivered(pos ExtendedSequenceNumber) {
	c.mu.Lock()
	if pos.Compare(c.largest) > 0 {
		c.largest = pos
	}
	c.mu.Unlock()
}

// markProcessed notes that every record up to pos is done.
func (c *Checkpointer) markProcessed(pos ExtendedSequenceNumber) {
	c.mu.Lock()
	if pos.Compare(c.processed) > 0 {
		c.processed = pos
	}
	c.mu.Unlock()
}

// rewind forgets records delivered in a batch that was abandoned, so no
// checkpoint passes them.
func (c *Checkpointer) rewind() {
	c.mu.Lock()
	c.largest = c.processed
	c.mu.Unlock()
}

// handoffPosition is the checkpoint held back for the final handoff write,
// and its state if it was written with some.
func (c *Checkpointer) handoffPosition() (pos ExtendedSequenceNumber, state []byte, stateful bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handoff, c.handoffState, c.stateful
}
