package flow

import (
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/consumer"
)

// Option configures a Pipeline.
type Option func(*options)

type options struct {
	workerID           string
	logger             *slog.Logger
	retrieval          consumer.Retrieval
	repartitionRead    consumer.Retrieval
	failover           time.Duration
	scanInterval       time.Duration
	checkpointInterval time.Duration
	markerInterval     time.Duration
	repartitionShards  int
	registryTable      string
	heartbeat          time.Duration
	deadLetterStream   string
	startAt            time.Time
	linger             time.Duration
	metrics            Metrics
}

func defaultOptions() options {
	return options{
		retrieval:          consumer.Polling{},
		repartitionRead:    consumer.Polling{IdleTime: 100 * time.Millisecond},
		failover:           10 * time.Second,
		scanInterval:       time.Second,
		checkpointInterval: time.Second,
		markerInterval:     100 * time.Millisecond,
		registryTable:      DefaultRegistryTable,
		heartbeat:          5 * time.Second,
		linger:             5 * time.Millisecond,
		metrics:            NopMetrics{},
	}
}

// DefaultRegistryTable is the DynamoDB table where running workers
// register (see WithRegistryTable).
const DefaultRegistryTable = "sluice_pipelines"

// WithWorkerID names this worker in the lease tables and the registry. It
// must be unique among the workers of a pipeline; the default is the host
// name and a random suffix.
func WithWorkerID(id string) Option { return func(o *options) { o.workerID = id } }

// WithLogger sets the logger; the default discards logs.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRetrieval chooses how source streams are read: consumer.Polling (the
// default) or consumer.FanOut.
func WithRetrieval(r consumer.Retrieval) Option { return func(o *options) { o.retrieval = r } }

// WithRepartitionRetrieval chooses how the repartition stream is read
// (default polling every 100ms when caught up, for results within a second
// of a window's close; on AWS, where a shard allows 5 reads a second, use
// 200ms or fan-out).
func WithRepartitionRetrieval(r consumer.Retrieval) Option {
	return func(o *options) { o.repartitionRead = r }
}

// WithFailoverTime sets how long a worker's leases survive it before
// others take its shards (default 10s, the consumer's).
func WithFailoverTime(d time.Duration) Option { return func(o *options) { o.failover = d } }

// WithLeaseScanInterval sets how often a worker looks for leases to take
// (default 1s).
func WithLeaseScanInterval(d time.Duration) Option { return func(o *options) { o.scanInterval = d } }

// WithCheckpointInterval sets how often a shard's checkpoint is written
// (default 1s): it bounds the records a takeover reads again beyond those
// open windows need.
func WithCheckpointInterval(d time.Duration) Option {
	return func(o *options) { o.checkpointInterval = d }
}

// WithMarkerInterval sets how often watermarks are announced to the
// repartition stream (default 100ms); it adds to the time from a window's
// close to its result.
func WithMarkerInterval(d time.Duration) Option { return func(o *options) { o.markerInterval = d } }

// WithRepartitionShards sets the shard count of the repartition stream
// when the pipeline creates it (default: as many as the source streams
// have open shards together). An existing stream is used as it is.
func WithRepartitionShards(n int) Option { return func(o *options) { o.repartitionShards = n } }

// WithRegistryTable names the DynamoDB table where workers register
// (default sluice_pipelines), on the DynamoDB endpoint of the lease tables.
func WithRegistryTable(name string) Option { return func(o *options) { o.registryTable = name } }

// WithHeartbeat sets how often a worker refreshes its registration
// (default 5s).
func WithHeartbeat(d time.Duration) Option { return func(o *options) { o.heartbeat = d } }

// WithDeadLetterStream names a stream for records an operator (decode,
// map, key, event time, aggregate input) fails on: each goes there as JSON
// with the error, and the shard moves on. Without it a failing record
// stops its shard (logged and counted), which resumes from its checkpoint
// when the worker restarts.
func WithDeadLetterStream(stream string) Option {
	return func(o *options) { o.deadLetterStream = stream }
}

// WithStartAt makes a new pipeline (no lease table yet) start reading its
// sources at the records that arrived at or after t; the default is the
// oldest record kept (TRIM_HORIZON). Use time.Now() for only new records.
func WithStartAt(t time.Time) Option { return func(o *options) { o.startAt = t } }

// WithLinger sets how long records the pipeline writes (partials, stream
// outputs, late records) wait to share a PutRecords request (default 5ms).
func WithLinger(d time.Duration) Option { return func(o *options) { o.linger = d } }

// WithMetrics receives the pipeline's measurements as they happen; Stats
// returns them summed up.
func WithMetrics(m Metrics) Option { return func(o *options) { o.metrics = m } }
