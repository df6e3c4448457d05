package kinesis

import (
	"context"
	"time"
)

// ScalingUniform is the only ScalingType of UpdateShardCount.
const ScalingUniform = "UNIFORM_SCALING"

// Bounds of UpdateShardCount and the capacity modes.
const (
	// MaxShardsPerStream is the largest TargetShardCount.
	MaxShardsPerStream = 10000
	// MaxModeSwitches is how often a stream may change capacity mode in
	// ModeSwitchWindow.
	MaxModeSwitches  = 2
	ModeSwitchWindow = 24 * time.Hour
)

// UpdateShardCountOutput answers UpdateShardCount.
type UpdateShardCountOutput struct {
	StreamName        string
	StreamARN         string
	CurrentShardCount int
	TargetShardCount  int
}

// Scaling is an UpdateShardCount in progress, kept in the stream's
// metadata: while it is there the stream is UPDATING. Whichever server
// runs it stamps UpdatedAt after every step, so that another server can
// tell a scaling whose server died and take it over.
type Scaling struct {
	Target    int       `json:"target"`
	Owner     string    `json:"owner"`
	StartedAt time.Time `json:"startedAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// PendingLogs are shard logs a reshard has created (or is about to) for
// children it has not yet added to the stream. A reshard that completes or
// fails removes them; one whose server died leaves them for a sweep to
// delete once Since is old enough.
type PendingLogs struct {
	Epochs []uint64  `json:"epochs"`
	Since  time.Time `json:"since"`
	// Swept is set by the sweep before it deletes the logs: the reshard
	// can then no longer complete.
	Swept bool `json:"swept,omitempty"`
}

// ScalingService is the part of Service that changes a stream's capacity.
type ScalingService interface {
	// UpdateShardCount starts scaling the stream's open shards to target
	// shards of equal hash ranges, through splits and merges, and returns
	// at once; the stream is UPDATING until it is done. Errors:
	// ResourceNotFoundException, ResourceInUseException for a stream not
	// ACTIVE, ValidationException for an ON_DEMAND stream,
	// InvalidArgumentException for another scaling type,
	// LimitExceededException for a target past double or below half the
	// open shards, past MaxShardsPerStream or the account's shard limit.
	UpdateShardCount(ctx context.Context, ref StreamRef, target int, scalingType string) (UpdateShardCountOutput, error)
	// UpdateStreamMode switches a stream between PROVISIONED and
	// ON_DEMAND; warmMiBps, when not nil, sets the warm throughput of a
	// stream switched to ON_DEMAND. Errors: ResourceNotFoundException,
	// ResourceInUseException for a stream not ACTIVE,
	// InvalidArgumentException for the mode it already has or a warm
	// throughput with PROVISIONED, ValidationException for a warm
	// throughput without the account's commitment,
	// LimitExceededException past the on-demand stream limit, the warm
	// throughput limit or MaxModeSwitches in ModeSwitchWindow.
	UpdateStreamMode(ctx context.Context, streamARN string, mode StreamMode, warmMiBps *int) error
}
