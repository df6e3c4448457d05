package httpapi

import "context"

// DeregisterStreamConsumer removes a consumer named by ConsumerARN, or by
// StreamARN and ConsumerName, or by all three if they agree, and answers
// with an empty body. The model makes all three optional; a combination
// that names no consumer is the service's InvalidArgumentException.
// Deviation: AWS shows the consumer DELETING for a few seconds; here it is
// gone at once.

type deregisterStreamConsumerInput struct {
	StreamARN    *string `json:"StreamARN"`
	ConsumerName *string `json:"ConsumerName"`
	ConsumerARN  *string `json:"ConsumerARN"`
}

func (h *Handler) deregisterStreamConsumer(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in deregisterStreamConsumerInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	ref := v.consumerRefMembers(in.ConsumerARN, in.StreamARN, in.ConsumerName)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := h.svc.DeregisterStreamConsumer(ctx, ref); err != nil {
		return nil, err
	}
	return out(), nil
}
