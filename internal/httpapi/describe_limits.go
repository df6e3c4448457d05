package httpapi

import "context"

// DescribeLimits answers the account's shard and on-demand stream limits.
// Its input has no members; any body that is a JSON object will do.

type describeLimitsOutput struct {
	ShardLimit               int `json:"ShardLimit"`
	OpenShardCount           int `json:"OpenShardCount"`
	OnDemandStreamCount      int `json:"OnDemandStreamCount"`
	OnDemandStreamCountLimit int `json:"OnDemandStreamCountLimit"`
}

func (h *Handler) describeLimits(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in struct{}
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	l, err := h.svc.DescribeLimits(ctx)
	if err != nil {
		return nil, err
	}
	return c.encode(out(), describeLimitsOutput{
		ShardLimit:               l.ShardLimit,
		OpenShardCount:           l.OpenShardCount,
		OnDemandStreamCount:      l.OnDemandStreamCount,
		OnDemandStreamCountLimit: l.OnDemandStreamCountLimit,
	})
}
