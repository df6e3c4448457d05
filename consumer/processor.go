package consumer

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Record is one user record: a Kinesis record or, for a KPL aggregate,
// one record inside it.
type Record struct {
	types.Record
	// SubSequenceNumber is the record's index inside its aggregate; 0 for a
	// record that was not aggregated.
	SubSequenceNumber int64
	// ExplicitHashKey is the user record's explicit hash key inside an
	// aggregate, if it had one.
	ExplicitHashKey string
	// Aggregated reports whether the record came out of a KPL aggregate.
	Aggregated bool
}

// Position returns the record's extended sequence number.
func (r *Record) Position() ExtendedSequenceNumber {
	seq := ""
	if r.SequenceNumber != nil {
		seq = *r.SequenceNumber
	}
	return ExtendedSequenceNumber{Sequence: seq, SubSequence: r.SubSequenceNumber}
}

// RecordProcessor processes one shard for as long as this worker holds its
// lease. Calls for one shard are serial and in order: Initialize, then
// ProcessRecords for each batch, then exactly one of ShardEnded, LeaseLost or
// ShutdownRequested. A new processor is made for every lease taken.
type RecordProcessor interface {
	// Initialize is called once before the first batch. An error is retried
	// like a failed batch.
	Initialize(ctx context.Context, in InitializeInput) error
	// ProcessRecords processes one batch. An error makes the consumer retry
	// (see WithRetry); records are never skipped unless WithSkipFailed or a
	// dead-letter stream says so. ctx is cancelled when the lease is lost.
	ProcessRecords(ctx context.Context, in ProcessRecordsInput) error
	// ShardEnded is called once every record of a closed shard has been
	// processed. The consumer checkpoints SHARD_END itself when it returns
	// nil, so the shard's children can start.
	ShardEnded(ctx context.Context, in ShardEndedInput) error
	// LeaseLost is called when another worker took the lease without a
	// handoff; the processor may no longer checkpoint.
	LeaseLost(ctx context.Context, in LeaseLostInput)
	// ShutdownRequested is called when the consumer stops or hands the lease
	// to another worker: the processor may still checkpoint (with automatic
	// checkpoints, the consumer checkpoints the last processed record after
	// it returns).
	ShutdownRequested(ctx context.Context, in ShutdownRequestedInput) error
}

// InitializeInput describes the shard a processor starts on.
type InitializeInput struct {
	ShardID string
	// Checkpoint is where processing resumes: the records after it.
	Checkpoint ExtendedSequenceNumber
	// CheckpointState is the state stored with the last checkpoint written
	// with Checkpointer.CheckpointState, if any (it may belong to an
	// earlier checkpoint than Checkpoint if one was written without state
	// since).
	CheckpointState []byte
	// PendingCheckpoint and PendingCheckpointState are a checkpoint the
	// previous owner prepared but did not commit, if any.
	PendingCheckpoint      ExtendedSequenceNumber
	PendingCheckpointState []byte
}

// ProcessRecordsInput is one batch of a shard.
type ProcessRecordsInput struct {
	ShardID string
	Records []Record
	// MillisBehindLatest is how far the batch is behind the tip of the shard.
	MillisBehindLatest int64
	// ReadAt is when the read that returned the batch was sent (polling)
	// or its event arrived (fan-out), on this worker's clock: a read with
	// MillisBehindLatest 0 saw every record the shard held then. Records
	// may be empty under WithEmptyBatches.
	ReadAt time.Time
	// Checkpointer checkpoints this shard.
	Checkpointer *Checkpointer
}

// ShardEndedInput tells a processor its shard is fully processed.
type ShardEndedInput struct {
	ShardID      string
	ChildShards  []types.ChildShard
	Checkpointer *Checkpointer
}

// LeaseLostInput tells a processor another worker holds its shard now.
type LeaseLostInput struct {
	ShardID string
}

// ShutdownRequestedInput asks a processor to finish.
type ShutdownRequestedInput struct {
	ShardID      string
	Checkpointer *Checkpointer
	// Handoff is true when the lease moves to another worker, false when
	// this consumer shuts down.
	Handoff bool
}

// ProcessorFactory makes the processor for a shard whose lease was taken.
type ProcessorFactory func(shardID string) RecordProcessor

// BatchFunc processes one batch of a shard; see RecordProcessor.ProcessRecords.
type BatchFunc func(ctx context.Context, in ProcessRecordsInput) error

// Func turns a function that processes batches into a ProcessorFactory:
// the consumer checkpoints after each batch it returns nil for (unless
// WithAutoCheckpoint(false)), and at the end of the shard.
func Func(fn BatchFunc) ProcessorFactory {
	return func(string) RecordProcessor { return funcProcessor(fn) }
}

type funcProcessor BatchFunc

func (funcProcessor) Initialize(context.Context, InitializeInput) error { return nil }
func (f funcProcessor) ProcessRecords(ctx context.Context, in ProcessRecordsInput) error {
	return f(ctx, in)
}
func (funcProcessor) ShardEnded(context.Context, ShardEndedInput) error { return nil }
func (funcProcessor) LeaseLost(context.Context, LeaseLostInput)         {}
func (funcProcessor) ShutdownRequested(context.Context, ShutdownRequestedInput) error {
	return nil
}

// recordAge is how old a record is by its arrival time; 0 if unknown.
func recordAge(r *Record, now time.Time) time.Duration {
	if r.ApproximateArrivalTimestamp == nil {
		return 0
	}
	return now.Sub(*r.ApproximateArrivalTimestamp)
}
