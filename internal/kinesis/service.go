package kinesis

import (
	"context"
	"time"
)

// StreamRef addresses a stream by name, by ARN, or by both (which must
// then agree).
type StreamRef struct {
	Name string
	ARN  string
}

// CreateStreamInput describes a stream to create.
type CreateStreamInput struct {
	Name       string
	ShardCount int // 0 means "not given"
	Mode       StreamMode
	Tags       map[string]string
	// MaxRecordSizeKiB is the largest record in KiB; 0 means the default.
	MaxRecordSizeKiB int
	// WarmThroughputMiBps is an ON_DEMAND stream's warm throughput; 0
	// means none.
	WarmThroughputMiBps int
}

// ListStreamsInput pages through stream names in order.
type ListStreamsInput struct {
	Limit                    int // 1..10000; at most 100 are returned
	ExclusiveStartStreamName string
	NextToken                string
}

// StreamSummary is one entry of ListStreams.
type StreamSummary struct {
	Name      string
	ARN       string
	Status    StreamStatus
	Mode      StreamMode
	CreatedAt time.Time
}

// ListStreamsOutput is a page of streams.
type ListStreamsOutput struct {
	Streams   []StreamSummary
	HasMore   bool
	NextToken string
}

// ShardFilterType selects which shards ListShards returns.
type ShardFilterType string

const (
	FilterAfterShardID    ShardFilterType = "AFTER_SHARD_ID"
	FilterAtTrimHorizon   ShardFilterType = "AT_TRIM_HORIZON"
	FilterFromTrimHorizon ShardFilterType = "FROM_TRIM_HORIZON"
	FilterAtLatest        ShardFilterType = "AT_LATEST"
	FilterAtTimestamp     ShardFilterType = "AT_TIMESTAMP"
	FilterFromTimestamp   ShardFilterType = "FROM_TIMESTAMP"
)

// ShardFilter narrows ListShards.
type ShardFilter struct {
	Type      ShardFilterType
	ShardID   string
	Timestamp *time.Time
}

// ListShardsInput is a ListShards request.
type ListShardsInput struct {
	Stream                  StreamRef
	NextToken               string
	ExclusiveStartShardID   string
	MaxResults              int // 0 means the default, 1000
	StreamCreationTimestamp *time.Time
	Filter                  *ShardFilter
}

// ListShardsOutput is a page of shards.
type ListShardsOutput struct {
	Shards    []Shard
	NextToken string
}

// StreamDescription is a stream as DescribeStream and DescribeStreamSummary
// show it: the metadata, its status now, and the shards still readable.
type StreamDescription struct {
	Stream
	Status         StreamStatus
	OpenShardCount int
	ConsumerCount  int
}

// PutRecordEntry is one record to write.
type PutRecordEntry struct {
	Data            []byte
	PartitionKey    string
	ExplicitHashKey string // "" when not given
	// SequenceNumberForOrdering is PutRecord's ordering hint; "" when not given.
	SequenceNumberForOrdering string
}

// PutRecordResult is the outcome of one entry of a put. Either ShardID and
// SequenceNumber are set, or ErrorCode and ErrorMessage are.
type PutRecordResult struct {
	ShardID        string
	SequenceNumber string
	ErrorCode      ErrorCode
	ErrorMessage   string
	EncryptionType string // "KMS" if stored encrypted; "" means NONE
}

// IteratorType is a ShardIteratorType.
type IteratorType string

const (
	AtSequenceNumber    IteratorType = "AT_SEQUENCE_NUMBER"
	AfterSequenceNumber IteratorType = "AFTER_SEQUENCE_NUMBER"
	TrimHorizon         IteratorType = "TRIM_HORIZON"
	Latest              IteratorType = "LATEST"
	AtTimestamp         IteratorType = "AT_TIMESTAMP"
)

// GetShardIteratorInput asks for a read position in a shard.
type GetShardIteratorInput struct {
	Stream                 StreamRef
	ShardID                string
	Type                   IteratorType
	StartingSequenceNumber string
	Timestamp              *time.Time
}

// Record is a stored record as readers see it.
type Record struct {
	SequenceNumber              string
	ApproximateArrivalTimestamp time.Time
	Data                        []byte
	PartitionKey                string
	EncryptionType              string // "" means NONE
}

// ChildShard is a shard that follows a closed one, listed at its end.
type ChildShard struct {
	ShardID      string
	ParentShards []string
	HashRange    HashRange
}

// GetRecordsOutput is a batch of records and where to read next.
type GetRecordsOutput struct {
	Records            []Record
	NextShardIterator  string // "" once a closed shard is read to its end
	MillisBehindLatest int64
	ChildShards        []ChildShard
}

// Limits answers DescribeLimits.
type Limits struct {
	ShardLimit               int
	OpenShardCount           int
	OnDemandStreamCount      int
	OnDemandStreamCountLimit int
}

// Service is the Kinesis Data Streams API as the protocol layer sees it.
// Methods return *Error for failures the client is to see; any other error
// is an internal failure.
type Service interface {
	CreateStream(ctx context.Context, in CreateStreamInput) error
	DeleteStream(ctx context.Context, ref StreamRef, enforceConsumerDeletion bool) error
	// DescribeStream returns the stream with all its readable shards, in
	// shard id order; paging through them is left to the caller.
	DescribeStream(ctx context.Context, ref StreamRef) (StreamDescription, error)
	ListStreams(ctx context.Context, in ListStreamsInput) (ListStreamsOutput, error)
	ListShards(ctx context.Context, in ListShardsInput) (ListShardsOutput, error)

	// PutRecords writes entries and returns one result per entry, in order.
	// Entries fail one by one (throttling, internal failures); a failure of
	// the whole request is returned as the error.
	PutRecords(ctx context.Context, ref StreamRef, entries []PutRecordEntry) ([]PutRecordResult, error)
	GetShardIterator(ctx context.Context, in GetShardIteratorInput) (string, error)
	GetRecords(ctx context.Context, iterator string, limit int) (GetRecordsOutput, error)

	// SetRetention raises (increase) or lowers the retention period.
	SetRetention(ctx context.Context, ref StreamRef, hours int, increase bool) error

	AddTags(ctx context.Context, ref StreamRef, tags map[string]string) error
	RemoveTags(ctx context.Context, ref StreamRef, keys []string) error
	ListTags(ctx context.Context, ref StreamRef) (map[string]string, error)
	// TagResource, UntagResource and ListTagsForResource address a stream
	// or a consumer by ARN.
	TagResource(ctx context.Context, arn string, tags map[string]string) error
	UntagResource(ctx context.Context, arn string, keys []string) error
	ListTagsForResource(ctx context.Context, arn string) (map[string]string, error)

	DescribeLimits(ctx context.Context) (Limits, error)

	// SplitShard closes an open shard and opens two children that split
	// its hash range at newStartingHashKey; MergeShards closes two open
	// shards with adjacent ranges and opens one child over both. Both are
	// complete when they return. Errors: ResourceNotFoundException for an
	// unknown stream or shard, ResourceInUseException for a stream not
	// ACTIVE, ValidationException for an ON_DEMAND stream,
	// InvalidArgumentException for a closed shard, a key outside the
	// shard or shards that are not adjacent, LimitExceededException past
	// the shard limit.
	SplitShard(ctx context.Context, ref StreamRef, shardID, newStartingHashKey string) error
	MergeShards(ctx context.Context, ref StreamRef, shardToMerge, adjacentShardToMerge string) error

	// UpdateMaxRecordSize sets the largest record, in KiB, that the stream
	// accepts and returns.
	UpdateMaxRecordSize(ctx context.Context, ref StreamRef, kib int) error

	ConsumerService
	FanOutService
	SettingsService
	EncryptionService
	ScalingService
	WarmThroughputService
}

// ConsumerRef addresses a consumer by ARN, or by its stream's ARN and its
// name, or by all three (which must then agree).
type ConsumerRef struct {
	ARN       string
	StreamARN string
	Name      string
}

// ConsumerDescription is a consumer as DescribeStreamConsumer and
// RegisterStreamConsumer show it.
type ConsumerDescription struct {
	Name      string
	ARN       string
	Status    ConsumerStatus
	CreatedAt time.Time
	StreamARN string
}

// ListStreamConsumersInput pages through a stream's consumers.
type ListStreamConsumersInput struct {
	StreamARN               string
	NextToken               string
	MaxResults              int // 1..100
	StreamCreationTimestamp *time.Time
}

// ListStreamConsumersOutput is a page of consumers.
type ListStreamConsumersOutput struct {
	Consumers []ConsumerDescription
	NextToken string
}

// ConsumerService is the part of Service that manages enhanced fan-out
// consumers. Errors: ResourceNotFoundException for a stream or consumer
// that does not exist, ResourceInUseException for a stream not ACTIVE or a
// name taken, LimitExceededException past the consumer limits,
// InvalidArgumentException for references that do not agree, and
// ExpiredNextTokenException for an old page token.
type ConsumerService interface {
	RegisterStreamConsumer(ctx context.Context, streamARN, name string, tags map[string]string) (ConsumerDescription, error)
	DeregisterStreamConsumer(ctx context.Context, ref ConsumerRef) error
	DescribeStreamConsumer(ctx context.Context, ref ConsumerRef) (ConsumerDescription, error)
	ListStreamConsumers(ctx context.Context, in ListStreamConsumersInput) (ListStreamConsumersOutput, error)
}

// MonitoringOutput is the outcome of Enable- or DisableEnhancedMonitoring:
// the shard-level metrics before and after.
type MonitoringOutput struct {
	StreamName string
	StreamARN  string
	Current    []string
	Desired    []string
}

// Statuses of the account's minimum throughput billing commitment.
const (
	CommitmentEnabled       = "ENABLED"
	CommitmentDisabled      = "DISABLED"
	CommitmentEnabledUntil  = "ENABLED_UNTIL_EARLIEST_ALLOWED_END"
	MinimumCommitmentPeriod = 24 * time.Hour
)

// AccountSettings are the account-level settings: the minimum throughput
// billing commitment ("On-demand Advantage"). Times are zero when unset.
type AccountSettings struct {
	CommitmentStatus     string
	StartedAt            time.Time
	EndedAt              time.Time
	EarliestAllowedEndAt time.Time
}

// SettingsService is the part of Service that keeps state the API shows
// but does not act on: enhanced monitoring, resource policies and account
// settings. Errors: ResourceNotFoundException for a stream or consumer
// that does not exist, ResourceInUseException for a stream not ACTIVE, and
// InvalidArgumentException for an unknown metric or a policy that is not a
// JSON policy document.
type SettingsService interface {
	// SetEnhancedMonitoring turns shard-level metrics on (enable) or off;
	// "ALL" stands for every metric.
	SetEnhancedMonitoring(ctx context.Context, ref StreamRef, metrics []string, enable bool) (MonitoringOutput, error)

	// PutResourcePolicy, GetResourcePolicy and DeleteResourcePolicy
	// address a stream or a consumer by ARN. GetResourcePolicy returns
	// "{}" when there is none; deleting none is no error.
	PutResourcePolicy(ctx context.Context, arn, policy string) error
	GetResourcePolicy(ctx context.Context, arn string) (string, error)
	DeleteResourcePolicy(ctx context.Context, arn string) error

	DescribeAccountSettings(ctx context.Context) (AccountSettings, error)
	// UpdateAccountSettings turns the minimum throughput billing commitment
	// on or off and returns the settings it leaves.
	UpdateAccountSettings(ctx context.Context, enableCommitment bool) (AccountSettings, error)
}
