package httpapi

import "context"

// IncreaseStreamRetentionPeriod raises a stream's retention period and
// answers with an empty body. AWS's own model checks that
// RetentionPeriodHours is at least 1 (ValidationException; the published
// model has no range); the 24..8760 bounds and the direction of the change
// are the service's to check (AWS reports them after finding the stream),
// see setRetention.

type retentionInput struct {
	StreamName           *string `json:"StreamName"`
	StreamARN            *string `json:"StreamARN"`
	RetentionPeriodHours *int32  `json:"RetentionPeriodHours"`
}

func (h *Handler) increaseStreamRetentionPeriod(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	return h.setRetention(ctx, c, body, out, true)
}

// setRetention serves both retention operations.
func (h *Handler) setRetention(ctx context.Context, c codec, body []byte, out func() []byte, increase bool) ([]byte, error) {
	var in retentionInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.int32("retentionPeriodHours", in.RetentionPeriodHours, true, atLeast(1)) // the model's bound; 24..8760 is the service's
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if err := h.svc.SetRetention(ctx, ref, int(*in.RetentionPeriodHours), increase); err != nil {
		return nil, err
	}
	return out(), nil
}
