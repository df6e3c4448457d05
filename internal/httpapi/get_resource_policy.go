package httpapi

import "context"

// GetResourcePolicy returns the policy of a stream or consumer named by
// ResourceARN, or "{}" when it has none (what AWS is believed to answer;
// unverified).

type resourceARNInput struct {
	ResourceARN *string `json:"ResourceARN"`
}

type getResourcePolicyOutput struct {
	Policy string `json:"Policy"`
}

func (h *Handler) getResourcePolicy(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in resourceARNInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("resourceARN", in.ResourceARN, true, resourceARNRule)
	if err := v.err(); err != nil {
		return nil, err
	}
	policy, err := h.svc.GetResourcePolicy(ctx, *in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return c.encode(out(), getResourcePolicyOutput{Policy: policy})
}
