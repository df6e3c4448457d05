package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// UpdateMaxRecordSize sets the largest record (data plus partition key) a
// stream accepts, 1024 to 10240 KiB, and answers with an empty body. The
// input names the stream by StreamARN only; the range is a model
// constraint (ValidationException). The stream must be ACTIVE.
//
// Deviation: the change is in force when the call returns; AWS shows the
// stream UPDATING for a while.

type updateMaxRecordSizeInput struct {
	StreamARN          *string `json:"StreamARN"`
	MaxRecordSizeInKiB *int32  `json:"MaxRecordSizeInKiB"`
}

func (h *Handler) updateMaxRecordSize(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in updateMaxRecordSizeInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("streamARN", in.StreamARN, true, streamARNRule)
	v.int32("maxRecordSizeInKiB", in.MaxRecordSizeInKiB, true, between(kinesis.DefaultMaxRecordSizeKiB, kinesis.MaxRecordSizeKiBLimit))
	if err := v.err(); err != nil {
		return nil, err
	}
	ref := kinesis.StreamRef{ARN: *in.StreamARN}
	if err := h.svc.UpdateMaxRecordSize(ctx, ref, int(*in.MaxRecordSizeInKiB)); err != nil {
		return nil, err
	}
	return out(), nil
}
