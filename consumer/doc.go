// Package consumer runs an application over a Kinesis stream with a fleet
// of workers, like the Kinesis Client Library (KCL), on AWS or on Sluice.
//
// Each worker holds leases, one per shard, in a lease table with the KCL's
// schema (leaseKey, leaseOwner, leaseCounter, checkpoint,
// checkpointSubSequenceNumber, parentShardId, childShardIds, hash range,
// checkpointOwner, ...) behind the LeaseStore interface; the DynamoDB store
// keeps it in DynamoDB, or in Sluice, which answers the same DynamoDB calls
// on its Kinesis port. For each lease it runs a RecordProcessor, or a plain
// function (Func), that gets the shard's records batch by batch.
//
// # Leases
//
// Every lease write is a conditional update on leaseCounter, which each
// write increments: a worker that lost a lease cannot write to it. A worker
// renews its leases every third of the failover time (WithFailoverTime,
// default 10s) and reads the table every second (WithLeaseScanInterval). A
// lease whose counter has not moved for the failover time, measured on the
// reader's own clock (no clock sync), is expired. A worker that cannot
// renew for most of the failover time stops processing by itself.
//
// Each worker aims at its fair share, ceil(leases/workers). It takes free
// and expired leases first; if still short it asks the busiest worker for
// some (only one above the share, or at it while the asker is two below, so
// balanced workers never trade leases back and forth). Asking is a
// cooperative handoff, as in KCL 3: the taker becomes leaseOwner and names
// the previous owner checkpointOwner; the previous owner finishes its
// batch, calls ShutdownRequested, checkpoints and clears checkpointOwner in
// one write; only then does the taker start, from that checkpoint. A worker
// that stops (its Run context ends) likewise finishes, checkpoints and
// releases its leases, which others take within a scan. A killed worker's
// leases are taken after the failover time.
//
// # Shards
//
// Shards are discovered with ListShards. A child shard gets a lease only
// once all its parents (both, after a merge) are checkpointed at
// SHARD_END, and starts at TRIM_HORIZON, so a partition key's records are
// processed in order across a reshard. The library checkpoints SHARD_END
// itself after ShardEnded returns.
//
// # Records and checkpoints
//
// KPL aggregates are deaggregated (package deaggregate): each user record
// carries its sub-sequence number and records outside the shard's hash
// range are dropped. A checkpoint is a sequence number and sub-sequence
// number, so a restart resumes inside an aggregate. By default the consumer
// checkpoints after each batch the processor returns nil for
// (WithAutoCheckpoint); a processor may instead checkpoint itself through
// its Checkpointer, by the KCL's rules: at or after the last checkpoint, at
// or before the last record delivered. Checkpointer.CheckpointState stores
// application state in the same write as the checkpoint, which the next
// owner gets in InitializeInput (the attribute checkpointState, not a KCL
// one); its position may be just before a delivered record, so a restart
// resumes at that record. WithEmptyBatches has the processor called for
// reads that found no records too, to learn that the shard is caught up.
//
// # Failures
//
// A failing batch blocks its shard and is retried with exponential backoff,
// split in halves to isolate the failing record (RetryPolicy). Records are
// never skipped silently: only with a limit (MaxAttempts, MaxRecordAge) and
// a dead-letter stream (WithDeadLetterStream) or WithSkipFailed does a
// shard move past a record its processor fails.
//
// # Retrieval
//
// One option, WithRetrieval, chooses how shards are read. Polling (the
// default) reads with GetRecords into a prefetch buffer bounded in bytes,
// and resumes transparently when an iterator expires; it decodes responses
// itself, at about a quarter of the SDK's CPU time per record, and hands
// any response it does not expect to the SDK's decoder. A batch's records
// share backing arrays: a record's Data or strings kept after its batch
// keep the batch's buffers alive (the Data slices are capped, so appending
// to one never writes into another). FanOut registers a
// stream consumer (or reuses it) and has SubscribeToShard push each shard,
// resubscribing from the last record when a subscription ends; a watchdog
// abandons and renews a subscription that delivers nothing for
// StallTimeout, so a shard never stalls silently.
//
// # Differences from the KCL
//
// The lease rows have the KCL's attribute names and meanings, but a table
// must not be shared by KCL workers and these: balancing differs (every
// worker here takes its fair share itself; KCL 3 has a leader assign
// leases by throughput), and throughputKBps and KCL 3's worker-metrics and
// coordinator rows are not written. A failing batch is retried, never
// skipped (the KCL moves on to the next batch). Child leases wait for all
// parents. SHARD_END is checkpointed by the library, not by the processor.
// Processors that checkpoint with state add the attribute checkpointState,
// and may store a checkpointSubSequenceNumber of -1 (just before a record),
// which KCL tooling does not know.
//
// # Observability
//
// Metrics go to a Metrics hook (lag as MillisBehindLatest and iterator age,
// records, leases held, lease events, errors); consumer/prommetrics adapts
// it to Prometheus. Logs go to a *slog.Logger.
package consumer
