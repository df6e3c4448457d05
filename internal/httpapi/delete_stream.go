package httpapi

import "context"

// DeleteStream deletes a stream and answers with an empty body. Refusing
// while consumers exist without EnforceConsumerDeletion is the service's
// job.

type deleteStreamInput struct {
	StreamName              *string `json:"StreamName"`
	StreamARN               *string `json:"StreamARN"`
	EnforceConsumerDeletion *bool   `json:"EnforceConsumerDeletion"`
}

func (h *Handler) deleteStream(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in deleteStreamInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if err := h.svc.DeleteStream(ctx, ref, deref(in.EnforceConsumerDeletion)); err != nil {
		return nil, err
	}
	return out(), nil
}
