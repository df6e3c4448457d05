// Package flow runs stream-processing pipelines over Kinesis streams, on
// AWS or on Sluice: records are decoded, filtered, mapped and keyed,
// aggregated over event-time windows, and the results upserted into sinks
// (another stream, a warehouse, Parquet files, alerts, metrics) with
// exactly-once results under worker crashes.
//
// # Describing a pipeline
//
// New names a pipeline; Source reads a stream as a consumer group; the
// operators are functions that take a Stream and return another: JSON,
// Map, TryMap, Filter, FlatMap, Union, Dedup, ToStream; KeyBy (or
// KeyByColumns, for keys chosen at run time, or Global) makes a Keyed
// stream, and AggregateWindows computes Aggregates over Tumbling, Hopping
// or Session windows of each key, upserting one row per window and key
// into the aggregation's sinks. Run runs the pipeline until its context
// ends. Every process that runs a pipeline of the same name is one of its
// workers: they share the shards, and a worker that dies is replaced by
// the others after the failover time.
//
// # Time
//
// Event time is the records' arrival time unless EventTime says
// otherwise. Each source shard has its own watermark, the latest event
// time it showed minus the allowed out-of-orderness; a shard caught up and
// idle moves its watermark on by the clock. A window fires when the
// minimum over the source shards passes its end; records after the
// allowed lateness go to a late stream as LateRecord documents.
//
// # Two stages
//
// An aggregation pre-aggregates each source shard (stage 1) and merges the
// partial results of all shards per key (stage 2), connected by the
// pipeline's repartition stream, which carries the partials keyed by the
// grouping key and the shards' watermarks:
//
//	source shards ─► stage 1 ─► <pipeline>-repartition ─► stage 2 ─► sinks
//	                 pre-aggregate        partials,        merge, fire,
//	                 per (window, key)    watermarks       upsert rows
//
// A shard's checkpoint stays at the oldest record an open window still
// needs and moves only once everything written because of the records
// before it is acknowledged; it carries the state a replay needs, so a
// worker that takes a shard over rebuilds exactly the state the previous
// owner had. Partials carry a version, rows are upserts: replays replace,
// never add. docs/flow.md states the guarantees and their limits.
//
// # Observing
//
// Each worker registers in a DynamoDB table (sluice_pipelines) with its
// sources, outputs, sinks and figures, refreshed every few seconds;
// Stats returns the same figures and Metrics receives them as they come.
package flow
