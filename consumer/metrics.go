package consumer

import "time"

// Metrics receives the consumer's measurements. Implementations must be
// safe for concurrent use and return quickly. Embed NopMetrics to implement
// only some methods; consumer/prommetrics adapts them to Prometheus.
type Metrics interface {
	// RecordsProcessed counts records (and their data bytes) a processor
	// has processed successfully.
	RecordsProcessed(shardID string, records, bytes int)
	// MillisBehindLatest is the lag a shard's last read reported.
	MillisBehindLatest(shardID string, millis int64)
	// IteratorAge is how old the last record handed to a processor was.
	IteratorAge(shardID string, age time.Duration)
	// LeasesHeld is how many leases the worker holds now.
	LeasesHeld(n int)
	// LeaseEvent counts a change of a lease this worker took part in.
	LeaseEvent(shardID string, ev LeaseEventKind)
	// Error counts a failure of an operation (see the Op* constants).
	Error(op, shardID string)
}

// LeaseEventKind names what happened to a lease.
type LeaseEventKind string

// Lease events.
const (
	LeaseTaken     LeaseEventKind = "taken"      // free or expired lease taken
	LeaseStolen    LeaseEventKind = "stolen"     // taken from a busier worker by handoff
	LeaseLostEvent LeaseEventKind = "lost"       // taken by another worker without handoff
	LeaseHanded    LeaseEventKind = "handed_off" // given to another worker after a checkpoint
	LeaseReleased  LeaseEventKind = "released"   // released on shutdown
	LeaseFinished  LeaseEventKind = "finished"   // shard processed to its end
)

// Operations that Metrics.Error names.
const (
	OpProcess    = "process"
	OpCheckpoint = "checkpoint"
	OpRenew      = "renew"
	OpTake       = "take"
	OpRead       = "read"
	OpListShards = "list_shards"
	OpListLeases = "list_leases"
	OpDeadLetter = "dead_letter"
	OpSkip       = "skip" // a record skipped by WithSkipFailed
)

// NopMetrics discards every measurement.
type NopMetrics struct{}

func (NopMetrics) RecordsProcessed(string, int, int) {}
func (NopMetrics) MillisBehindLatest(string, int64)  {}
func (NopMetrics) IteratorAge(string, time.Duration) {}
func (NopMetrics) LeasesHeld(int)                    {}
func (NopMetrics) LeaseEvent(string, LeaseEventKind) {}
func (NopMetrics) Error(string, string)              {}
