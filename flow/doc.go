// Package flow runs stream-processing pipelines over Kinesis streams, on
// AWS or on Sluice: records are decoded, filtered, mapped and keyed,
// aggregated over event-time windows, and the results upserted into sinks
// (another stream, a warehouse, Parquet files, alerts, metrics) with
// exactly-once results under worker crashes.
package flow
