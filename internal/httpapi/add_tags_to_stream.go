package httpapi

import "context"

// AddTagsToStream adds or overwrites tags and answers with an empty body.
// Checked here: the model (1..200 tags, keys 1..128 and values 0..256
// characters) and the characters tags may use (InvalidArgumentException).
// The limit of 50 tags per stream, counted after the merge, and the stream
// being ACTIVE are the service's.

type addTagsToStreamInput struct {
	StreamName *string           `json:"StreamName"`
	StreamARN  *string           `json:"StreamARN"`
	Tags       map[string]string `json:"Tags"`
}

func (h *Handler) addTagsToStream(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in addTagsToStreamInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.strMap("tags", in.Tags, true, 1, maxTagMapEntries, tagKeyRule, tagValueRule)
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if err := h.afterExistence(checkTagMapChars(in.Tags), func() error { _, err := h.svc.ListTags(ctx, ref); return err }); err != nil {
		return nil, err
	}
	if err := h.svc.AddTags(ctx, ref, in.Tags); err != nil {
		return nil, err
	}
	return out(), nil
}
