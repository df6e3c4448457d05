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
// Deviations: the switch is complete when the call returns (AWS shows the
// stream UPDATING for a while); a non-zero WarmThroughputMiBps is refused
// with InvalidArgumentException, as in CreateStream.

type updateStreamModeInput struct {
	StreamARN           *string            `json:"StreamARN"`
	StreamModeDetails   *streamModeDetails `json:"StreamModeDetails"`
	WarmThroughputMiBps *int32             `json:"WarmThroughputMiBps"`
}

func (h *Handler) updateStreamMode(ctx context.Context, c codec, body, out []byte) ([]byte, error) {
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
	if in.WarmThroughputMiBps != nil && mode != kinesis.ModeOnDemand {
		return nil, invalidArgument("WarmThroughputMiBps can only be specified when switching to ON_DEMAND mode.")
	}
	if deref(in.WarmThroughputMiBps) != 0 {
		return nil, invalidArgument("WarmThroughputMiBps is not supported by this server yet.")
	}
	if err := h.svc.UpdateStreamMode(ctx, *in.StreamARN, mode); err != nil {
		return nil, err
	}
	return out, nil
}
