package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// UpdateShardCount scales a PROVISIONED stream to TargetShardCount shards
// of equal hash ranges and answers at once with the open shard count
// before and the target; the stream is UPDATING until the splits and
// merges that reach the target are done. Checked here: the model
// (TargetShardCount 1..100000, ScalingType UNIFORM_SCALING, both
// required). The bounds AWS sets (at most double, at least half the open
// shards, at most 10,000, the account's shard limit: LimitExceededException)
// and the mode (ON_DEMAND: ValidationException) are the service's.

type updateShardCountInput struct {
	StreamName       *string `json:"StreamName"`
	TargetShardCount *int32  `json:"TargetShardCount"`
	ScalingType      *string `json:"ScalingType"`
	StreamARN        *string `json:"StreamARN"`
}

type updateShardCountOutput struct {
	StreamName        string `json:"StreamName"`
	CurrentShardCount int    `json:"CurrentShardCount"`
	TargetShardCount  int    `json:"TargetShardCount"`
	StreamARN         string `json:"StreamARN"`
}

var scalingTypeRule = &stringRule{enum: []string{kinesis.ScalingUniform}}

func (h *Handler) updateShardCount(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in updateShardCountInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.int32("targetShardCount", in.TargetShardCount, true, between(1, 100000))
	v.str("scalingType", in.ScalingType, true, scalingTypeRule)
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.UpdateShardCount(ctx, ref, int(*in.TargetShardCount), *in.ScalingType)
	if err != nil {
		return nil, err
	}
	return c.encode(out(), updateShardCountOutput{
		StreamName:        res.StreamName,
		CurrentShardCount: res.CurrentShardCount,
		TargetShardCount:  res.TargetShardCount,
		StreamARN:         res.StreamARN,
	})
}
