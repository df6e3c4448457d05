package httpapi

import (
	"context"
)

// UpdateStreamWarmThroughput sets the write throughput, in MiB/s, an
// ON_DEMAND stream handles at once, in an account with the minimum
// throughput billing commitment, and answers the stream and its warm
// throughput. WarmThroughputMiBps is required and at least 0 (model
// constraints: ValidationException).
//
// Deviation: the target is reached when the call returns, so
// CurrentMiBps equals TargetMiBps at once; AWS shows the stream UPDATING
// while it scales.

type updateStreamWarmThroughputInput struct {
	StreamName          *string `json:"StreamName"`
	StreamARN           *string `json:"StreamARN"`
	WarmThroughputMiBps *int32  `json:"WarmThroughputMiBps"`
}

type updateStreamWarmThroughputOutput struct {
	StreamARN      string             `json:"StreamARN"`
	StreamName     string             `json:"StreamName"`
	WarmThroughput wireWarmThroughput `json:"WarmThroughput"`
}

type wireWarmThroughput struct {
	TargetMiBps  int `json:"TargetMiBps"`
	CurrentMiBps int `json:"CurrentMiBps"`
}

func (h *Handler) updateStreamWarmThroughput(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in updateStreamWarmThroughputInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.streamRefMembers(in.StreamName, in.StreamARN)
	v.int32("warmThroughputMiBps", in.WarmThroughputMiBps, true, atLeast(0))
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.UpdateStreamWarmThroughput(ctx, ref, int(*in.WarmThroughputMiBps))
	if err != nil {
		return nil, err
	}
	return c.encode(out(), updateStreamWarmThroughputOutput{
		StreamARN:  res.StreamARN,
		StreamName: res.StreamName,
		WarmThroughput: wireWarmThroughput{
			TargetMiBps:  res.WarmThroughput.TargetMiBps,
			CurrentMiBps: res.WarmThroughput.CurrentMiBps,
		},
	})
}
