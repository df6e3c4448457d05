package producer

import (
	"log/slog"
	"time"
)

// Defaults of the options. They follow the KPL's where the KPL's are safe
// (linger, aggregate size, TTL) and the Kinesis quotas elsewhere.
const (
	DefaultLinger             = 100 * time.Millisecond
	DefaultBatchCount         = 500     // PutRecords maximum
	DefaultBatchBytes         = 5 << 20 // PutRecords maximum everywhere (AWS allows 10 MiB since 2025)
	DefaultAggregationMaxSize = 50 << 10
	DefaultMaxRecordSize      = 1 << 20
	DefaultRecordTTL          = 30 * time.Second
	DefaultMaxBufferedRecords = 100_000
	DefaultMaxBufferedBytes   = 64 << 20
	DefaultMaxInFlight        = 16
	DefaultShardRecordsPerSec = 1000    // Kinesis write quota of a shard
	DefaultShardBytesPerSec   = 1 << 20 // Kinesis write quota of a shard
	DefaultRetryMinBackoff    = 100 * time.Millisecond
	DefaultRetryMaxBackoff    = 5 * time.Second
	DefaultRequestTimeout     = 30 * time.Second
	DefaultShardMapRefresh    = time.Minute
)

type config struct {
	linger             time.Duration
	batchCount         int
	batchBytes         int
	aggregate          bool
	aggregationMaxSize int
	maxRecordSize      int
	ttl                time.Duration
	maxBufferedRecords int
	maxBufferedBytes   int
	failFast           bool
	maxInFlight        int
	shardRecordsPerSec int
	shardBytesPerSec   int
	minBackoff         time.Duration
	maxBackoff         time.Duration
	ordered            bool
	requestTimeout     time.Duration
	shardMapRefresh    time.Duration
	metrics            Metrics
	logger             *slog.Logger
}

func defaultConfig() config {
	return config{
		linger:             DefaultLinger,
		batchCount:         DefaultBatchCount,
		batchBytes:         DefaultBatchBytes,
		aggregate:          true,
		aggregationMaxSize: DefaultAggregationMaxSize,
		maxRecordSize:      DefaultMaxRecordSize,
		ttl:                DefaultRecordTTL,
		maxBufferedRecords: DefaultMaxBufferedRecords,
		maxBufferedBytes:   DefaultMaxBufferedBytes,
		maxInFlight:        DefaultMaxInFlight,
		shardRecordsPerSec: DefaultShardRecordsPerSec,
		shardBytesPerSec:   DefaultShardBytesPerSec,
		minBackoff:         DefaultRetryMinBackoff,
		maxBackoff:         DefaultRetryMaxBackoff,
		requestTimeout:     DefaultRequestTimeout,
		shardMapRefresh:    DefaultShardMapRefresh,
	}
}

// Option configures a Producer.
type Option func(*config)

// WithLinger sets how long a record may wait for others to share its
// aggregate and its PutRecords request: the latency the producer adds to
// buy batching. Flush sends at once. Default 100 ms; 0 sends as soon as the
// producer is free to.
func WithLinger(d time.Duration) Option { return func(c *config) { c.linger = max(d, 0) } }

// WithBatchCount caps the Kinesis records of one PutRecords request.
// Default and maximum 500.
func WithBatchCount(n int) Option {
	return func(c *config) { c.batchCount = min(max(n, 1), DefaultBatchCount) }
}

// WithBatchBytes caps the data and partition keys of one PutRecords
// request, in bytes. Default 5 MiB, the limit everywhere; AWS accepts
// 10 MiB since 2025.
func WithBatchBytes(n int) Option { return func(c *config) { c.batchBytes = max(n, 1) } }

// WithAggregation turns KPL aggregation on or off. On by default: records
// bound for the same shard are packed into one Kinesis record, which
// consumers split with the deaggregate package, the KCL or any KPL
// deaggregator. Turn it off when consumers read raw records.
func WithAggregation(on bool) Option { return func(c *config) { c.aggregate = on } }

// WithAggregationMaxSize caps the size of one aggregated Kinesis record in
// bytes. Default 50 KiB (51,200 bytes), the KPL's; larger aggregates make
// fewer, bigger records and coarser checkpoints for consumers.
func WithAggregationMaxSize(n int) Option {
	return func(c *config) { c.aggregationMaxSize = max(n, 64) }
}

// WithMaxRecordSize is the largest record data Put accepts, in bytes.
// Default 1 MiB, which every stream accepts; raise it for streams whose
// maximum record size was raised (UpdateMaxRecordSize, up to 10 MiB).
func WithMaxRecordSize(n int) Option { return func(c *config) { c.maxRecordSize = max(n, 1) } }

// WithRecordTTL sets how long a record may take from Put to its
// acknowledgement, retries included. When it passes, the record's result
// is an error (wrapping ErrExpired and the last failure); records are
// never dropped silently. Default 30 s.
func WithRecordTTL(d time.Duration) Option {
	return func(c *config) { c.ttl = max(d, time.Millisecond) }
}

// WithMaxBuffered bounds the records not yet acknowledged, by count and by
// bytes of data and partition keys. When the buffer is full, Put waits for
// room (or fails with ErrBufferFull under WithFailFast). Defaults 100,000
// records and 64 MiB.
func WithMaxBuffered(records, bytes int) Option {
	return func(c *config) { c.maxBufferedRecords, c.maxBufferedBytes = max(records, 1), max(bytes, 1) }
}

// WithFailFast makes Put and PutAsync fail at once with ErrBufferFull
// instead of waiting when the buffer is full.
func WithFailFast() Option { return func(c *config) { c.failFast = true } }

// WithMaxInFlight caps concurrent PutRecords requests. Default 16.
func WithMaxInFlight(n int) Option { return func(c *config) { c.maxInFlight = max(n, 1) } }

// WithShardRateLimit sets the rate at which the producer sends to each
// shard, in Kinesis records (an aggregate counts as one) and bytes per
// second. Defaults are the shard quotas, 1000 records/s and 1 MiB/s, so a
// single producer is not throttled; 0 and 0 turn the limiter off (for
// servers without quotas, or when throttling is to be left to the
// server). Several producers writing to one shard share its quota and
// should each get a part.
func WithShardRateLimit(recordsPerSec, bytesPerSec int) Option {
	return func(c *config) { c.shardRecordsPerSec, c.shardBytesPerSec = max(recordsPerSec, 0), max(bytesPerSec, 0) }
}

// WithRetryBackoff sets the range of the jittered exponential backoff
// between attempts of a failed record. Defaults 100 ms and 5 s.
func WithRetryBackoff(minDelay, maxDelay time.Duration) Option {
	return func(c *config) {
		c.minBackoff = max(minDelay, time.Millisecond)
		c.maxBackoff = max(maxDelay, c.minBackoff)
	}
}

// WithOrdering keeps the records of each partition key in the order of
// their Puts, retries and reshards included. Like the default it allows
// one request in flight per shard; in addition it puts at most one
// aggregate of a shard in a request, retries a failed record before
// anything sent after it to that shard, pausing the shard for its backoff,
// and after a reshard sends nothing until the requests to the old shards
// are back. Off by default: then a shard's records keep their order unless
// a retry or a reshard intervenes, as with the KPL.
func WithOrdering() Option { return func(c *config) { c.ordered = true } }

// WithRequestTimeout bounds one PutRecords call, the SDK's own retries
// included. Default 30 s.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) { c.requestTimeout = max(d, time.Millisecond) }
}

// WithShardMapRefresh sets how often the shard map is reloaded with
// ListShards even when nothing suggests it changed. It is also reloaded
// whenever a record lands on a shard other than the predicted one.
// Default 1 minute.
func WithShardMapRefresh(d time.Duration) Option {
	return func(c *config) { c.shardMapRefresh = max(d, time.Second) }
}

// WithMetrics sends the producer's measurements to m (see the prommetrics
// package for Prometheus). Default none.
func WithMetrics(m Metrics) Option { return func(c *config) { c.metrics = m } }

// WithLogger receives the producer's log: shard map changes, failed
// requests, expired records. Default: discarded.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }
