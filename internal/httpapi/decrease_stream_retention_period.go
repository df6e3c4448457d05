package httpapi

import "context"

// DecreaseStreamRetentionPeriod lowers a stream's retention period and
// answers with an empty body; checks as for IncreaseStreamRetentionPeriod.

func (h *Handler) decreaseStreamRetentionPeriod(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	return h.setRetention(ctx, c, body, out, false)
}
