// Package producer writes records to an Amazon Kinesis data stream, on AWS
// or on Sluice alike, with what the Kinesis Producer Library (KPL) does and
// without its daemon: it batches records into PutRecords calls, aggregates
// small records in the KPL format, keeps each shard within its write quota,
// retries failures with backoff, and bounds its memory.
//
// Put waits for a record's acknowledgement; PutAsync returns a Future at
// once, so thousands of records can be in flight:
//
//	p, err := producer.New(kinesis.NewFromConfig(cfg), "orders")
//	...
//	res, err := p.Put(ctx, orderID, payload) // res.ShardID, res.SequenceNumber
//	...
//	err = p.Close(ctx) // delivers everything buffered
//
// # Pipeline
//
//	Put ─► buffer ─► aggregate per predicted shard ─► per-shard rate limit ─► PutRecords ─► Future
//	         ▲ bounded: Put waits          (shard map from ListShards)                  │
//	         │ or fails fast                       ▲                                    │
//	         └──── room released ◄─────────────────┴── retries (backoff, TTL) ◄─────────┘
//
// Records wait up to the linger time (WithLinger) for others to share their
// aggregate and request; a request goes when it holds 500 records or 5 MiB,
// or when its oldest record has lingered; Flush sends at once.
//
// # Aggregation
//
// With aggregation on (the default), records bound for the same shard are
// packed into one Kinesis record in the KPL format. The shard is predicted
// from the stream's shard map, loaded with ListShards and reloaded
// periodically and whenever a record lands on a shard other than the
// predicted one (after a reshard). The aggregate's partition key is its
// first record's own key (not the KPL's fixed "a") and its explicit hash key
// that record's hash key, so it lands on the predicted shard. If a reshard
// moves an aggregate to a shard that does not hold some of its records'
// hash keys, all its records are put again: a consumer filtering by hash
// range (the KCL, deaggregate.RecordsInRange) drops such an aggregate
// whole and so sees each record exactly once, while a consumer reading
// the raw stream sees them twice. Consumers split
// aggregates with the deaggregate package, the KCL, or any KPL deaggregator;
// a lone record is sent as it is.
//
// # Failures
//
// A record refused by PutRecords (throttled or failed) or carried by a
// failed call is retried after a jittered exponential backoff until its
// time-to-live (WithRecordTTL) would pass; then its Future holds an error
// wrapping ErrExpired and the last failure. Nothing is dropped silently.
// Errors that retrying cannot heal (AccessDeniedException,
// ValidationException, InvalidArgumentException) fail the call's records at
// once.
//
// # Order
//
// As with the KPL, a shard's records are stored in the order they were put
// unless a retry (or a reshard) intervenes: a shard's aggregates go out in
// order and a shard has at most one PutRecords call in flight at a time
// (calls to different shards run at once), since two calls in flight may
// be stored in either order. A retried record may land after records put
// after it; WithOrdering keeps each partition key's order across retries
// and reshards too.
//
// # Observing
//
// WithMetrics receives counts and latencies through the Metrics interface
// (the prommetrics package exports them to Prometheus); WithLogger receives
// a log/slog log.
package producer
