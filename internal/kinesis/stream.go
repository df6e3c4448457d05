package kinesis

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StreamStatus is the lifecycle state of a stream.
type StreamStatus string

const (
	StatusCreating StreamStatus = "CREATING"
	StatusActive   StreamStatus = "ACTIVE"
	StatusUpdating StreamStatus = "UPDATING"
	StatusDeleting StreamStatus = "DELETING"
)

// StreamMode is the capacity mode of a stream.
type StreamMode string

const (
	ModeProvisioned StreamMode = "PROVISIONED"
	ModeOnDemand    StreamMode = "ON_DEMAND"
)

// OnDemandInitialShards is the shard count an ON_DEMAND stream starts with.
const OnDemandInitialShards = 4

// Retention bounds, in hours.
const (
	DefaultRetentionHours = 24
	MinRetentionHours     = 24
	MaxRetentionHours     = 8760
)

// Record and request size limits.
const (
	MaxRecordSize           = 1 << 20 // data plus partition key, default MaxRecordSizeInKiB
	MaxPutRecordsEntries    = 500
	MaxPutRecordsBytes      = 10 << 20 // AWS's limit since 2025-10 (5 MiB before)
	MaxGetRecordsLimit      = 10000
	MaxGetRecordsBytes      = 10 << 20
	MaxTagsPerStream        = 50
	IteratorLifetime        = 5 * time.Minute
	NextTokenLifetime       = 300 * time.Second
	DefaultMaxRecordSizeKiB = 1024
	// MaxRecordSizeKiBLimit is the largest MaxRecordSizeInKiB a stream
	// may have (10 MiB records).
	MaxRecordSizeKiBLimit = 10240
)

// TagPunctuation are the characters besides Unicode letters, digits and
// white space that tag keys and values may hold.
const TagPunctuation = "_./=+-%@"

// ShardLimitHelpURL is the page AWS's shard limit errors point to.
const ShardLimitHelpURL = "http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html"

// Shard is one shard of a stream as the metadata describes it.
type Shard struct {
	ID                    string    `json:"id"`
	ParentShardID         string    `json:"parent,omitempty"`
	AdjacentParentShardID string    `json:"adjacentParent,omitempty"`
	HashRange             HashRange `json:"hashRange"`
	// Epoch is unique across all shards ever created; it names the shard's
	// log and leads its sequence numbers.
	Epoch     uint64    `json:"epoch"`
	CreatedAt time.Time `json:"createdAt"`
	// ClosedAt and EndingMsgSeq are set once the shard is closed by a
	// reshard; EndingMsgSeq is the last message sequence it holds.
	ClosedAt     time.Time `json:"closedAt,omitzero"`
	EndingMsgSeq uint64    `json:"endingMsgSeq,omitempty"`
}

// Open reports whether the shard still accepts writes.
func (s Shard) Open() bool { return s.ClosedAt.IsZero() }

// StartingSequenceNumber is the shard's first possible sequence number.
func (s Shard) StartingSequenceNumber() string { return ShardStartingSequence(s.Epoch).String() }

// EndingSequenceNumber is the shard's last sequence number once it is
// closed, and "" while it is open.
func (s Shard) EndingSequenceNumber() string {
	if s.Open() {
		return ""
	}
	return ShardEndingSequence(s.Epoch, s.EndingMsgSeq).String()
}

// ShardID formats the n-th shard id of a stream: shardId-000000000000.
func ShardID(n int) string { return fmt.Sprintf("shardId-%012d", n) }

// MaxShardIndex is the largest shard number a short shard id may name.
const MaxShardIndex = 1<<31 - 1

// CanonicalShardID resolves a ShardId as AWS does: the number after the
// first '-' (or the whole id, without one) names the shard, so
// "shardId-1", "shard-01", "anything-1" and "1" all mean
// shardId-000000000001. It reports false for an id that names no number
// (AWS answers ResourceNotFoundException for it, naming the id as given).
// The rule is kinesalite's, whose tests were run against AWS.
func CanonicalShardID(id string) (string, bool) {
	num := id
	if _, after, found := strings.Cut(id, "-"); found {
		num, _, _ = strings.Cut(after, "-")
	}
	if num == "" {
		return "", false
	}
	n := 0
	for i := 0; i < len(num); i++ {
		c := num[i]
		if c < '0' || c > '9' {
			return "", false
		}
		if n = n*10 + int(c-'0'); n > MaxShardIndex {
			return "", false
		}
	}
	return ShardID(n), true
}

// Stream is a stream's metadata: everything but its records.
type Stream struct {
	Name string `json:"name"`
	// ID tells apart streams that had the same name at different times.
	ID             string            `json:"id"`
	ARN            string            `json:"arn"`
	Mode           StreamMode        `json:"mode"`
	RetentionHours int               `json:"retentionHours"`
	CreatedAt      time.Time         `json:"createdAt"`
	Shards         []Shard           `json:"shards"`
	NextShardIndex int               `json:"nextShardIndex"`
	Tags           map[string]string `json:"tags,omitempty"`
	// ActiveAt is when a CREATING stream becomes ACTIVE (the create delay).
	ActiveAt time.Time `json:"activeAt"`
	// DeletingAt is set by DeleteStream; the stream is gone DeleteAt.
	DeletingAt time.Time `json:"deletingAt,omitzero"`
	DeleteAt   time.Time `json:"deleteAt,omitzero"`
	// UpdatingUntil is when an UPDATING stream (after an encryption
	// change) is ACTIVE again; zero or past when it is not updating.
	UpdatingUntil time.Time `json:"updatingUntil,omitzero"`
	// EncryptionType is "KMS" while records are written encrypted, else
	// "" (NONE); KeyID is the KeyId given to StartStreamEncryption.
	EncryptionType string `json:"encryptionType,omitempty"`
	KeyID          string `json:"keyId,omitempty"`
	// DataKeys are the stream's data keys, wrapped, in creation order; the
	// last one encrypts new records while EncryptionType is KMS. Older
	// ones are kept to read records written under them.
	DataKeys          []DataKey `json:"dataKeys,omitempty"`
	ShardLevelMetrics []string  `json:"shardLevelMetrics,omitempty"`
	MaxRecordSizeKiB  int       `json:"maxRecordSizeKiB,omitempty"`
	// WarmThroughputMiBps is an ON_DEMAND stream's warm throughput, set
	// by UpdateStreamWarmThroughput; nil when never set.
	WarmThroughputMiBps *int `json:"warmThroughputMiBps,omitempty"`
	// Consumers are the stream's registered consumers, in registration
	// order.
	Consumers []Consumer `json:"consumers,omitempty"`
	// Policy is the stream's resource policy document; "" when none.
	Policy string `json:"policy,omitempty"`
	// Scaling is the UpdateShardCount in progress, if any.
	Scaling *Scaling `json:"scaling,omitempty"`
	// PendingLogs are logs of reshards not yet completed.
	PendingLogs []PendingLogs `json:"pendingLogs,omitempty"`
	// ModeSwitches are the times of the stream's recent mode changes.
	ModeSwitches []time.Time `json:"modeSwitches,omitempty"`
	// AutoscaledAt is when the on-demand autoscaler last resharded the
	// stream; its cool-down counts from there.
	AutoscaledAt time.Time `json:"autoscaledAt,omitzero"`
}

// Status derives the stream's status at time now from its timestamps, so
// that delayed transitions need no timer to survive a restart.
func (s *Stream) Status(now time.Time) StreamStatus {
	switch {
	case !s.DeletingAt.IsZero():
		return StatusDeleting
	case now.Before(s.ActiveAt):
		return StatusCreating
	case now.Before(s.UpdatingUntil), s.Scaling != nil:
		return StatusUpdating
	}
	return StatusActive
}

// MaxRecordBytes is the largest record (data plus partition key) the
// stream accepts.
func (s *Stream) MaxRecordBytes() int {
	if s.MaxRecordSizeKiB == 0 {
		return DefaultMaxRecordSizeKiB << 10
	}
	return s.MaxRecordSizeKiB << 10
}

// Retention is the stream's retention period.
func (s *Stream) Retention() time.Duration {
	return time.Duration(s.RetentionHours) * time.Hour
}

// OpenShards returns the shards that accept writes.
func (s *Stream) OpenShards() []Shard {
	open := make([]Shard, 0, len(s.Shards))
	for _, sh := range s.Shards {
		if sh.Open() {
			open = append(open, sh)
		}
	}
	return open
}

// Shard returns the shard with the given id.
func (s *Stream) Shard(id string) (Shard, bool) {
	for _, sh := range s.Shards {
		if sh.ID == id {
			return sh, true
		}
	}
	return Shard{}, false
}

// ShardByEpoch returns the shard with the given epoch.
func (s *Stream) ShardByEpoch(epoch uint64) (Shard, bool) {
	for _, sh := range s.Shards {
		if sh.Epoch == epoch {
			return sh, true
		}
	}
	return Shard{}, false
}

// ShardForHashKey returns the open shard whose range holds k.
func (s *Stream) ShardForHashKey(k HashKey) (Shard, bool) {
	for _, sh := range s.Shards {
		if sh.Open() && sh.HashRange.Contains(k) {
			return sh, true
		}
	}
	return Shard{}, false
}

// StreamARN forms a stream's ARN.
func StreamARN(region, account, name string) string {
	return "arn:aws:kinesis:" + region + ":" + account + ":stream/" + name
}

// ParseStreamARN splits a stream ARN into region, account and stream name.
func ParseStreamARN(arn string) (region, account, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "kinesis" {
		return "", "", "", false
	}
	name, found := strings.CutPrefix(parts[5], "stream/")
	if !found || name == "" || strings.Contains(name, "/") {
		return "", "", "", false
	}
	return parts[3], parts[4], name, true
}

// ConsumerStatus is the lifecycle state of a stream consumer.
type ConsumerStatus string

const (
	ConsumerCreating ConsumerStatus = "CREATING"
	ConsumerActive   ConsumerStatus = "ACTIVE"
	ConsumerDeleting ConsumerStatus = "DELETING"
)

// Consumer limits per stream.
const (
	MaxConsumersPerStream   = 20
	MaxCreatingConsumers    = 5
	DefaultListConsumersMax = 100
)

// Consumer is an enhanced fan-out consumer registered with a stream. It is
// kept in its stream's metadata.
type Consumer struct {
	Name      string    `json:"name"`
	ARN       string    `json:"arn"`
	CreatedAt time.Time `json:"createdAt"`
	// ActiveAt is when a CREATING consumer becomes ACTIVE.
	ActiveAt time.Time `json:"activeAt"`
	// GoneAt is set by deregistering: the consumer is DELETING until
	// then, and does not exist after.
	GoneAt time.Time         `json:"goneAt,omitzero"`
	Tags   map[string]string `json:"tags,omitempty"`
	// Policy is the consumer's resource policy document; "" when none.
	Policy string `json:"policy,omitempty"`
}

// Status derives the consumer's status at time now.
func (c *Consumer) Status(now time.Time) ConsumerStatus {
	if !c.GoneAt.IsZero() {
		return ConsumerDeleting
	}
	if now.Before(c.ActiveAt) {
		return ConsumerCreating
	}
	return ConsumerActive
}

// Gone reports whether a deregistered consumer's DELETING time is over:
// it no longer exists, though its stream's metadata may still hold it.
func (c *Consumer) Gone(now time.Time) bool { return !c.GoneAt.IsZero() && !now.Before(c.GoneAt) }

// Consumer returns the stream's consumer with the given name.
func (s *Stream) Consumer(name string) (*Consumer, bool) {
	for i := range s.Consumers {
		if s.Consumers[i].Name == name {
			return &s.Consumers[i], true
		}
	}
	return nil, false
}

// ConsumerARN forms a consumer's ARN from its stream's ARN, its name and
// its creation time (whole seconds).
func ConsumerARN(streamARN, name string, created time.Time) string {
	return streamARN + "/consumer/" + name + ":" + strconv.FormatInt(created.Unix(), 10)
}

// ParseConsumerARN splits a consumer ARN into its stream's ARN, the
// consumer name and the creation time in epoch seconds.
func ParseConsumerARN(arn string) (streamARN, name string, created int64, ok bool) {
	streamARN, rest, found := strings.Cut(arn, "/consumer/")
	if !found {
		return "", "", 0, false
	}
	if _, _, _, ok := ParseStreamARN(streamARN); !ok {
		return "", "", 0, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", "", 0, false
	}
	created, err := strconv.ParseInt(rest[i+1:], 10, 64)
	if err != nil || created < 0 {
		return "", "", 0, false
	}
	return streamARN, rest[:i], created, true
}

// ShardLevelMetrics are the enhanced monitoring metrics, in the order AWS
// lists them; MetricsAll stands for all of them.
var ShardLevelMetrics = []string{
	"IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
	"WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded",
	"IteratorAgeMilliseconds",
}

// MetricsAll is the ShardLevelMetrics value that means every metric.
const MetricsAll = "ALL"
