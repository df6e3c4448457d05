package consumer

import (
	"fmt"
	"log/slog"
	"time"
)

// Option configures a Consumer.
type Option func(*options)

type options struct {
	workerID          string
	logger            *slog.Logger
	metrics           Metrics
	failover          time.Duration
	scanInterval      time.Duration
	shardSyncInterval time.Duration
	parentPoll        time.Duration
	handoffTimeout    time.Duration
	shutdownTimeout   time.Duration
	maxLeases         int
	initial           InitialPosition
	autoCheckpoint    bool
	retry             RetryPolicy
	deadLetterStream  string
	skipFailed        bool
	retrieval         Retrieval
	emptyBatches      bool
}

func defaultOptions() options {
	return options{
		failover:          10 * time.Second,
		scanInterval:      time.Second,
		shardSyncInterval: time.Minute,
		parentPoll:        500 * time.Millisecond,
		shutdownTimeout:   30 * time.Second,
		initial:           StartAtTrimHorizon(),
		autoCheckpoint:    true,
		retry: RetryPolicy{
			InitialBackoff:   100 * time.Millisecond,
			MaxBackoff:       10 * time.Second,
			AttemptsToBisect: 2,
		},
		retrieval: Polling{},
		metrics:   NopMetrics{},
	}
}

func (o *options) validate() error {
	if o.failover < 100*time.Millisecond {
		return fmt.Errorf("failover time %v is below 100ms", o.failover)
	}
	if o.scanInterval <= 0 || o.shardSyncInterval <= 0 || o.parentPoll <= 0 {
		return fmt.Errorf("intervals must be positive")
	}
	if (o.retry.MaxAttempts > 0 || o.retry.MaxRecordAge > 0) && o.deadLetterStream == "" && !o.skipFailed {
		return fmt.Errorf("a retry limit needs somewhere for the failed records to go: WithDeadLetterStream or WithSkipFailed")
	}
	if o.retry.InitialBackoff <= 0 || o.retry.MaxBackoff < o.retry.InitialBackoff {
		return fmt.Errorf("retry backoff %v..%v is invalid", o.retry.InitialBackoff, o.retry.MaxBackoff)
	}
	if o.handoffTimeout == 0 {
		o.handoffTimeout = o.failover
	}
	return nil
}

// WithWorkerID names this worker in the lease table (leaseOwner). It must
// be unique among the workers of one application; the default is the host
// name and a random suffix, new for every process.
func WithWorkerID(id string) Option { return func(o *options) { o.workerID = id } }

// WithLogger sets the logger; the default discards logs.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMetrics sets the metrics hooks; see consumer/prommetrics.
func WithMetrics(m Metrics) Option { return func(o *options) { o.metrics = m } }

// WithFailoverTime sets how long a lease's counter must stand still, on the
// observer's own clock, before another worker takes it over (default 10s).
// Leases are renewed every third of it.
func WithFailoverTime(d time.Duration) Option { return func(o *options) { o.failover = d } }

// WithLeaseScanInterval sets how often the worker reads the lease table to
// take free, expired and surplus leases (default 1s). It bounds how long a
// released lease waits for a new owner; each read is one consistent Scan.
func WithLeaseScanInterval(d time.Duration) Option { return func(o *options) { o.scanInterval = d } }

// WithShardSyncInterval sets how often the worker lists shards to create
// leases for new ones (default 1m); a shard's end creates its children's
// leases at once regardless.
func WithShardSyncInterval(d time.Duration) Option {
	return func(o *options) { o.shardSyncInterval = d }
}

// WithParentPollInterval sets how often a child shard waiting on its
// parents re-reads their leases (default 500ms).
func WithParentPollInterval(d time.Duration) Option { return func(o *options) { o.parentPoll = d } }

// WithHandoffTimeout sets how long a worker that took a lease by handoff
// waits for the previous owner's final checkpoint before it starts anyway
// from the last checkpoint (default: the failover time).
func WithHandoffTimeout(d time.Duration) Option { return func(o *options) { o.handoffTimeout = d } }

// WithShutdownTimeout bounds how long Run, once its context ends, waits for
// processors to finish their batches and checkpoint (default 30s).
func WithShutdownTimeout(d time.Duration) Option { return func(o *options) { o.shutdownTimeout = d } }

// WithMaxLeases caps the leases one worker holds (default 0: no cap).
func WithMaxLeases(n int) Option { return func(o *options) { o.maxLeases = n } }

// WithInitialPosition sets where shards without a checkpoint start when the
// lease table is new (default TRIM_HORIZON). Child shards always start at
// TRIM_HORIZON so nothing is skipped between parent and child.
func WithInitialPosition(p InitialPosition) Option { return func(o *options) { o.initial = p } }

// WithAutoCheckpoint sets whether the consumer checkpoints after each batch
// the processor returns nil for, and at shutdown and handoff (default true).
// With false, the processor checkpoints through its Checkpointer.
func WithAutoCheckpoint(on bool) Option { return func(o *options) { o.autoCheckpoint = on } }

// WithEmptyBatches makes the consumer call ProcessRecords also for reads
// that returned no records (the KCL's
// callProcessRecordsEvenForEmptyRecordList), with MillisBehindLatest and
// ReadAt: a processor learns from them that its shard is caught up, and
// when, for time-based work such as closing windows of an idle shard.
// Default off.
func WithEmptyBatches() Option { return func(o *options) { o.emptyBatches = true } }

// WithRetry sets how a failing batch is retried (see RetryPolicy).
func WithRetry(p RetryPolicy) Option { return func(o *options) { o.retry = p } }

// WithDeadLetterStream names a Kinesis stream that records go to once the
// retry policy gives up on them (as JSON, see DeadLetter); the shard then
// moves on.
func WithDeadLetterStream(stream string) Option {
	return func(o *options) { o.deadLetterStream = stream }
}

// WithSkipFailed makes the consumer skip records once the retry policy
// gives up on them, logging each and counting it as an OpSkip error. Without
// it, or a dead-letter stream, a failing record blocks its shard.
func WithSkipFailed() Option { return func(o *options) { o.skipFailed = true } }

// WithRetrieval chooses how records are read: Polling (the default) or FanOut.
func WithRetrieval(r Retrieval) Option { return func(o *options) { o.retrieval = r } }

// RetryPolicy says how a batch the processor failed is retried. The batch is
// retried whole AttemptsToBisect times, then split in halves, each retried
// and split again, down to the single failing record, so the records before
// it are processed and checkpointed and the failing one is found. A record
// is given up on after MaxAttempts attempts or once older than MaxRecordAge;
// then it goes to the dead-letter stream or is skipped, whichever is set.
// Zero limits mean retry forever: the shard blocks until it succeeds.
type RetryPolicy struct {
	InitialBackoff   time.Duration // first wait between attempts (default 100ms); doubles each time
	MaxBackoff       time.Duration // longest wait (default 10s)
	AttemptsToBisect int           // whole-batch attempts before splitting (default 2; 0: never split)
	MaxAttempts      int           // attempts of a single record before giving up (0: no limit)
	MaxRecordAge     time.Duration // give up on a record older than this (0: no limit)
}

// InitialPosition is where a new application starts reading.
type InitialPosition struct {
	sentinel string
	at       time.Time
}

// StartAtTrimHorizon starts at the oldest record kept.
func StartAtTrimHorizon() InitialPosition { return InitialPosition{sentinel: SentinelTrimHorizon} }

// StartAtLatest starts after the newest record: only new records.
func StartAtLatest() InitialPosition { return InitialPosition{sentinel: SentinelLatest} }

// StartAtTimestamp starts at the first record that arrived at or after t.
func StartAtTimestamp(t time.Time) InitialPosition {
	return InitialPosition{sentinel: SentinelAtTimestamp, at: t}
}
