package httpapi

import (
	"context"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// DescribeStream describes a stream with one page of its shards. The
// service returns every readable shard in shard id order; the page is cut
// here: up to Limit (default 100, at most 100) shards whose id sorts after
// ExclusiveStartShardId, which need not name an existing shard. Shards go
// out in id order, which AWS does not promise but clients may rely on.

type describeStreamInput struct {
	StreamName            *string `json:"StreamName"`
	StreamARN             *string `json:"StreamARN"`
	Limit                 *int32  `json:"Limit"`
	ExclusiveStartShardId *string `json:"ExclusiveStartShardId"`
}

type describeStreamOutput struct {
	StreamDescription wireStreamDescription `json:"StreamDescription"`
}

type wireStreamDescription struct {
	StreamName              string                `json:"StreamName"`
	StreamARN               string                `json:"StreamARN"`
	StreamStatus            string                `json:"StreamStatus"`
	StreamModeDetails       streamModeDetails     `json:"StreamModeDetails"`
	Shards                  []wireShard           `json:"Shards"`
	HasMoreShards           bool                  `json:"HasMoreShards"`
	RetentionPeriodHours    int                   `json:"RetentionPeriodHours"`
	StreamCreationTimestamp Timestamp             `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []wireEnhancedMetrics `json:"EnhancedMonitoring"`
	EncryptionType          string                `json:"EncryptionType"`
	KeyId                   string                `json:"KeyId,omitempty"`
}

// Shard page sizes of DescribeStream.
const (
	describeStreamDefaultLimit = 100
	describeStreamMaxLimit     = 100
)

func (h *Handler) describeStream(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in describeStreamInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.streamRefMembers(in.StreamName, in.StreamARN)
	v.int32("limit", in.Limit, false, between(1, 10000))
	v.str("exclusiveStartShardId", in.ExclusiveStartShardId, false, shardIDRule)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	d, err := h.svc.DescribeStream(ctx, ref)
	if err != nil {
		return nil, err
	}

	limit := describeStreamDefaultLimit
	if in.Limit != nil {
		limit = min(int(*in.Limit), describeStreamMaxLimit)
	}
	shards := d.Shards
	if !sortedShards(shards) {
		shards = slices.SortedFunc(slices.Values(shards), func(a, b kinesis.Shard) int { return strings.Compare(a.ID, b.ID) })
	}
	if start := deref(in.ExclusiveStartShardId); start != "" {
		if canon, ok := kinesis.CanonicalShardID(start); ok {
			start = canon // "shardId-1" as AWS reads it
		}
		i := 0
		for i < len(shards) && shards[i].ID <= start {
			i++
		}
		shards = shards[i:]
	}
	more := len(shards) > limit
	if more {
		shards = shards[:limit]
	}
	return c.encode(out(), describeStreamOutput{StreamDescription: wireStreamDescription{
		StreamName:              d.Name,
		StreamARN:               d.ARN,
		StreamStatus:            string(d.Status),
		StreamModeDetails:       toWireMode(d.Mode),
		Shards:                  toWireShards(shards),
		HasMoreShards:           more,
		RetentionPeriodHours:    d.RetentionHours,
		StreamCreationTimestamp: Timestamp{d.CreatedAt},
		EnhancedMonitoring:      toWireEnhancedMonitoring(d.ShardLevelMetrics),
		EncryptionType:          encryptionType(d.EncryptionType),
		KeyId:                   d.KeyID,
	}})
}

// sortedShards reports whether shards are in id order, as the service
// promises; paging relies on it, so a service that breaks the promise only
// costs a sort.
func sortedShards(shards []kinesis.Shard) bool {
	for i := 1; i < len(shards); i++ {
		if shards[i-1].ID >= shards[i].ID {
			return false
		}
	}
	return true
}
