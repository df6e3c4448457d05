package kinesis

import "time"

// ShardActivity is what one server has done with a shard since it started:
// running totals, never reset, which a reader turns into rates by sampling
// twice. In a cluster each server counts only the requests it served.
type ShardActivity struct {
	ShardID string
	Epoch   uint64 // see Shard.Epoch
	Open    bool
	// IncomingRecords and IncomingBytes count records stored (after the
	// durable append), as CloudWatch's IncomingRecords/IncomingBytes.
	IncomingRecords, IncomingBytes int64
	// GetRecordsCalls, GetRecordsRecords and GetRecordsBytes count
	// successful GetRecords calls and what they returned.
	GetRecordsCalls, GetRecordsRecords, GetRecordsBytes int64
	// IteratorAgeMillis is the MillisBehindLatest of the shard's latest
	// GetRecords call: a gauge, not a total.
	IteratorAgeMillis int64
	// WriteThrottled counts records and ReadThrottled GetRecords calls
	// refused by the shard's quotas (only with quotas enforced).
	WriteThrottled, ReadThrottled int64
	// SubscribeRecords and SubscribeBytes count records, and bytes of
	// record data, sent to SubscribeToShard feeds.
	SubscribeRecords, SubscribeBytes int64
}

// ConsumerActivity is what one server has sent to an enhanced fan-out
// consumer since it started.
type ConsumerActivity struct {
	ARN string
	// Subscriptions is the number of its feeds open now.
	Subscriptions int64
	// Records and Bytes are running totals.
	Records, Bytes int64
}

// StreamActivity is the activity of a stream's shards and consumers, as
// one server saw it.
type StreamActivity struct {
	Name   string
	ARN    string
	Status StreamStatus
	// Settings as the server's metadata cache has them.
	Mode           StreamMode
	RetentionHours int
	EncryptionType string // "" means NONE
	CreatedAt      time.Time
	// ShardLevelMetrics are the enhanced monitoring metrics turned on
	// (EnableEnhancedMonitoring), ALL expanded.
	ShardLevelMetrics []string
	Shards            []ShardActivity
	// Consumers are the fan-out consumers that are not gone.
	Consumers []ConsumerActivity
}

// Backlog is how far a position in a shard is behind the shard's newest
// record.
type Backlog struct {
	// Records is the number of records after the position. When Exact is
	// false it is an estimate: the records counted in the first messages
	// read, extrapolated over the messages left behind them.
	Records int64
	Exact   bool
	// MillisBehind is the arrival time of the newest record minus that of
	// the oldest record after the position; 0 when none is left.
	MillisBehind int64
}

// StorageInfo describes where a server keeps its streams, for display.
type StorageInfo struct {
	// Embedded is true for the in-process JetStream server, false for an
	// external cluster.
	Embedded bool
	// Location is the data directory (embedded) or the cluster's URLs
	// without credentials.
	Location string
	Replicas int
	// Bytes is the storage the account's JetStream streams use (every
	// replica of a log counts once); Logs is their number.
	Bytes uint64
	Logs  int
}
