package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// UpdateStreamMode switches a stream, named by StreamARN only, between
// PROVISIONED and ON_DEMAND and answers with an empty body. Checked here:
// the model (StreamARN and StreamModeDetails.StreamMode required, the mode
// one of the enum). The service refuses a stream that is not ACTIVE
// (ResourceInUseException), the mode it already has
// (InvalidArgumentException), a third switch in 24 hours and the
// on-demand stream limit (LimitExceededException).
//
// WarmThroughputMiBps, allowed only with ON_DEMAND, sets the stream's warm
// throughput as UpdateStreamWarmThroughput does.
//
// Deviation: the switch is complete when the call returns (AWS shows the
// stream UPDATING for a while).

type updateStreamModeInput struct {
	StreamARN           *string            `json:"StreamARN"`
	StreamModeDetails   *streamModeDetails `json:"StreamModeDetails"`
	WarmThroughputMiBps *int32             `json:"WarmThroughputMiBps"`
}

func (h *Handler) updateStreamMode(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in updateStreamModeInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("streamARN", in.StreamARN, true, streamARNRule)
	if in.StreamModeDetails == nil {
		v.null("streamModeDetails")
	} else {
		v.str("streamModeDetails.streamMode", in.StreamModeDetails.StreamMode, true, streamModeRule)
	}
	v.int32("warmThroughputMiBps", in.WarmThroughputMiBps, false, atLeast(0))
	if err := v.err(); err != nil {
		return nil, err
	}
	mode := kinesis.StreamMode(*in.StreamModeDetails.StreamMode)
	var warm *int
	if in.WarmThroughputMiBps != nil {
		w := int(*in.WarmThroughputMiBps)
		warm = &w
	}
	if err := h.svc.UpdateStreamMode(ctx, *in.StreamARN, mode, warm); err != nil {
		return nil, err
	}
	return out(), nil
}
