package httpapi

import "context"

// DisableEnhancedMonitoring turns shard-level metrics off; input, output
// and checks as for EnableEnhancedMonitoring. Turning off a metric that is
// not on is no error.

func (h *Handler) disableEnhancedMonitoring(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	return h.setEnhancedMonitoring(ctx, c, body, out, false)
}
