package httpapi

import "context"

// RemoveTagsFromStream removes tags by key and answers with an empty body.
// Checked here: 1..50 keys of 1..128 characters, and their characters.
// Unknown keys are ignored by the service.

type removeTagsFromStreamInput struct {
	StreamName *string  `json:"StreamName"`
	StreamARN  *string  `json:"StreamARN"`
	TagKeys    []string `json:"TagKeys"`
}

func (h *Handler) removeTagsFromStream(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in removeTagsFromStreamInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.strList("tagKeys", in.TagKeys, true, 1, maxTagKeyListItems, tagKeyRule)
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if err := h.afterExistence(checkTagChars(in.TagKeys...), func() error { _, err := h.svc.ListTags(ctx, ref); return err }); err != nil {
		return nil, err
	}
	if err := h.svc.RemoveTags(ctx, ref, in.TagKeys); err != nil {
		return nil, err
	}
	return out(), nil
}
