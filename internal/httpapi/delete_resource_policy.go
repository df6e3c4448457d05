package httpapi

import "context"

// DeleteResourcePolicy removes the policy of a stream or consumer named by
// ResourceARN and answers with an empty body. Deleting a policy that is not
// there is no error here (AWS's answer is unverified).

func (h *Handler) deleteResourcePolicy(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in resourceARNInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("resourceARN", in.ResourceARN, true, resourceARNRule)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := h.svc.DeleteResourcePolicy(ctx, *in.ResourceARN); err != nil {
		return nil, err
	}
	return out(), nil
}
