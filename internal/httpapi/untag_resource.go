package httpapi

import "context"

// UntagResource removes tags by key from a resource named by ARN and
// answers with an empty body. Checks as for RemoveTagsFromStream.

type untagResourceInput struct {
	ResourceARN *string  `json:"ResourceARN"`
	TagKeys     []string `json:"TagKeys"`
}

func (h *Handler) untagResource(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in untagResourceInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("resourceARN", in.ResourceARN, true, resourceARNRule)
	v.strList("tagKeys", in.TagKeys, true, 1, maxTagKeyListItems, tagKeyRule)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := h.afterExistence(checkTagChars(in.TagKeys...), func() error {
		_, err := h.svc.ListTagsForResource(ctx, *in.ResourceARN)
		return err
	}); err != nil {
		return nil, err
	}
	if err := h.svc.UntagResource(ctx, *in.ResourceARN, in.TagKeys); err != nil {
		return nil, err
	}
	return out(), nil
}
