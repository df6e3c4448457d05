package consumer

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Lease is one row of the lease table: one shard, who holds it and how far
// it has been processed. The fields and their attribute names are the KCL's
// (see the DynamoDB store), so a table can be read by KCL tooling.
type Lease struct {
	// Key is the shard id (attribute leaseKey, the table's hash key).
	Key string
	// Owner is the worker holding the lease; "" means unowned (leaseOwner).
	Owner string
	// Counter is the fencing and heartbeat counter (leaseCounter). Every
	// write by a holder is conditional on the value it last saw and adds 1.
	Counter int64
	// Checkpoint is how far the shard is processed (checkpoint and
	// checkpointSubSequenceNumber): a sequence number or a sentinel.
	Checkpoint ExtendedSequenceNumber
	// PendingCheckpoint is a prepared, not yet committed checkpoint
	// (pendingCheckpoint, pendingCheckpointSubSequenceNumber); zero if none.
	PendingCheckpoint ExtendedSequenceNumber
	// PendingCheckpointState is application state stored with the prepared
	// checkpoint (pendingCheckpointState).
	PendingCheckpointState []byte
	// OwnerSwitchesSinceCheckpoint counts owner changes since the last
	// checkpoint (ownerSwitchesSinceCheckpoint): a duplicate-risk signal.
	OwnerSwitchesSinceCheckpoint int64
	// ParentShardIDs are the shard's parents, 1 after a split, 2 after a
	// merge (parentShardId, a string set). The shard is processed only once
	// every parent is finished.
	ParentShardIDs []string
	// ChildShardIDs are written when the shard ends (childShardIds).
	ChildShardIDs []string
	// StartingHashKey and EndingHashKey are the shard's hash range.
	StartingHashKey, EndingHashKey string
	// CheckpointOwner is set while a lease is handed over: the previous
	// owner, the only worker that may still checkpoint (checkpointOwner).
	CheckpointOwner string
	// CheckpointState is application state stored in one write with the
	// checkpoint it belongs to (Checkpointer.CheckpointState), so the next
	// owner resumes from both (checkpointState, binary; not a KCL
	// attribute). A checkpoint written without state leaves it as it is.
	CheckpointState []byte
}

// Finished reports whether the shard has been processed to its end.
func (l *Lease) Finished() bool { return l.Checkpoint.Sequence == SentinelShardEnd }

// Checkpoint sentinels, stored as literal strings like the KCL's.
const (
	SentinelTrimHorizon = "TRIM_HORIZON"
	SentinelLatest      = "LATEST"
	SentinelAtTimestamp = "AT_TIMESTAMP"
	SentinelShardEnd    = "SHARD_END"
)

// ExtendedSequenceNumber is a position in a shard: a record's sequence
// number and, for a user record inside a KPL aggregate, its index in the
// aggregate. It is ordered by sequence number, then sub-sequence number.
// Sequence may instead hold one of the Sentinel* values.
type ExtendedSequenceNumber struct {
	Sequence    string
	SubSequence int64
}

func (e ExtendedSequenceNumber) String() string {
	if e.SubSequence == 0 {
		return e.Sequence
	}
	return fmt.Sprintf("%s/%d", e.Sequence, e.SubSequence)
}

// IsZero reports whether e is unset.
func (e ExtendedSequenceNumber) IsZero() bool { return e.Sequence == "" && e.SubSequence == 0 }

// isSentinel reports whether e holds a sentinel rather than a number.
func (e ExtendedSequenceNumber) isSentinel() bool {
	return e.Sequence != "" && (e.Sequence[0] < '0' || e.Sequence[0] > '9')
}

// Compare orders two numeric extended sequence numbers: -1, 0 or +1.
// Sentinels order as TRIM_HORIZON/LATEST/AT_TIMESTAMP before every number and
// SHARD_END after every number.
func (e ExtendedSequenceNumber) Compare(o ExtendedSequenceNumber) int {
	if c := compareSequence(e.Sequence, o.Sequence); c != 0 {
		return c
	}
	switch {
	case e.SubSequence < o.SubSequence:
		return -1
	case e.SubSequence > o.SubSequence:
		return 1
	}
	return 0
}

func sentinelRank(s string) int {
	switch s {
	case "", SentinelTrimHorizon, SentinelLatest, SentinelAtTimestamp:
		return 0
	case SentinelShardEnd:
		return 2
	}
	return 1 // a number
}

// compareSequence compares decimal sequence numbers of up to 128 bits
// (Kinesis's are decimal strings) without parsing when lengths differ.
func compareSequence(a, b string) int {
	ra, rb := sentinelRank(a), sentinelRank(b)
	if ra != rb || ra != 1 {
		switch {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	}
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// validSequence reports whether s is a decimal sequence number.
func validSequence(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	_, ok := new(big.Int).SetString(s, 10)
	return ok && s[0] != '-' && s[0] != '+'
}

// Errors a LeaseStore returns; callers branch on them with errors.Is.
var (
	// ErrLeaseNotFound: no lease with that key.
	ErrLeaseNotFound = errors.New("lease not found")
	// ErrLeaseExists: CreateLease found a lease with that key.
	ErrLeaseExists = errors.New("lease already exists")
	// ErrLeaseConflict: a conditional write found the lease changed since
	// it was read (another counter or owner): the writer lost its fence.
	ErrLeaseConflict = errors.New("lease changed since read")
)

// LeaseStore keeps the lease table. Every write that changes a lease is
// conditional: it applies only if the stored counter (and, where noted, the
// owner) still equal those of the lease passed in, and it returns the lease
// as stored after the write. Methods return ErrLeaseConflict when the
// condition fails and ErrLeaseNotFound when the row is missing, wrapped;
// other errors are the store's.
type LeaseStore interface {
	// EnsureTable creates the lease table if it is missing and waits until
	// it can be used.
	EnsureTable(ctx context.Context) error
	// ListLeases returns every lease, read consistently.
	ListLeases(ctx context.Context) ([]Lease, error)
	// GetLease returns one lease, read consistently.
	GetLease(ctx context.Context, key string) (Lease, error)
	// CreateLease stores a new lease if none has its key (ErrLeaseExists
	// otherwise).
	CreateLease(ctx context.Context, l Lease) error
	// RenewLease adds 1 to the counter; expects l's counter and owner.
	RenewLease(ctx context.Context, l Lease) (Lease, error)
	// TakeLease makes owner the holder and adds 1 to the counter, counts an
	// owner switch and clears CheckpointOwner; expects l's counter and owner
	// (unowned if l.Owner is ""). With handoff, the previous owner is
	// recorded as CheckpointOwner so it may still checkpoint: a cooperative
	// steal.
	TakeLease(ctx context.Context, l Lease, owner string, handoff bool) (Lease, error)
	// EvictLease clears the owner and adds 1 to the counter; expects l's
	// counter and owner.
	EvictLease(ctx context.Context, l Lease) (Lease, error)
	// UpdateCheckpoint stores cp, resets the owner switches and clears any
	// pending checkpoint, adds 1 to the counter and, with release, clears the
	// owner in the same write; expects l's counter and owner.
	UpdateCheckpoint(ctx context.Context, l Lease, cp ExtendedSequenceNumber, release bool) (Lease, error)
	// PrepareCheckpoint stores a pending checkpoint and state; expects l's
	// counter and owner and adds 1 to the counter.
	PrepareCheckpoint(ctx context.Context, l Lease, cp ExtendedSequenceNumber, state []byte) (Lease, error)
	// FinishHandoff is the previous owner's last write in a cooperative
	// handoff: it stores cp (unless zero) and clears CheckpointOwner. It
	// expects CheckpointOwner to be from, not the counter, which belongs to
	// the new owner.
	FinishHandoff(ctx context.Context, key, from string, cp ExtendedSequenceNumber) error
	// UpdateLease stores l's shard metadata (child shards, parents, hash
	// range); expects l's counter and owner and adds 1 to the counter.
	UpdateLease(ctx context.Context, l Lease) (Lease, error)
	// DeleteLease removes a lease; deleting a missing lease is no error.
	DeleteLease(ctx context.Context, key string) error
}

// CheckpointStateStore is a LeaseStore that also keeps application state
// with a checkpoint (Lease.CheckpointState), as the DynamoDB store does.
// Checkpointer.CheckpointState needs one.
type CheckpointStateStore interface {
	LeaseStore
	// UpdateCheckpointState is UpdateCheckpoint (without release) storing
	// state in the same write.
	UpdateCheckpointState(ctx context.Context, l Lease, cp ExtendedSequenceNumber, state []byte) (Lease, error)
	// FinishHandoffState is FinishHandoff storing state with cp.
	FinishHandoffState(ctx context.Context, key, from string, cp ExtendedSequenceNumber, state []byte) error
}
