package httpapi

import "context"

// ListTagsForResource lists all tags of a resource named by ARN, sorted by
// key; the operation has no pagination.

type listTagsForResourceInput struct {
	ResourceARN *string `json:"ResourceARN"`
}

type listTagsForResourceOutput struct {
	Tags []wireTag `json:"Tags"`
}

func (h *Handler) listTagsForResource(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in listTagsForResourceInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("resourceARN", in.ResourceARN, true, resourceARNRule)
	if err := v.err(); err != nil {
		return nil, err
	}
	tags, err := h.svc.ListTagsForResource(ctx, *in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return c.encode(out(), listTagsForResourceOutput{Tags: toWireTags(tags)})
}
