package httpapi

import "context"

// TagResource adds or overwrites tags of a resource named by ARN (a stream
// or a consumer) and answers with an empty body.
// Checks as for AddTagsToStream; whether the ARN names a resource that
// exists is the service's to judge.

type tagResourceInput struct {
	ResourceARN *string           `json:"ResourceARN"`
	Tags        map[string]string `json:"Tags"`
}

func (h *Handler) tagResource(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in tagResourceInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("resourceARN", in.ResourceARN, true, resourceARNRule)
	v.strMap("tags", in.Tags, true, 1, maxTagMapEntries, tagKeyRule, tagValueRule)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := h.afterExistence(checkTagMapChars(in.Tags), func() error {
		_, err := h.svc.ListTagsForResource(ctx, *in.ResourceARN)
		return err
	}); err != nil {
		return nil, err
	}
	if err := h.svc.TagResource(ctx, *in.ResourceARN, in.Tags); err != nil {
		return nil, err
	}
	return out(), nil
}
