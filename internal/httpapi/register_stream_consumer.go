package httpapi

import "context"

// RegisterStreamConsumer registers an enhanced fan-out consumer with a
// stream named by StreamARN (the input has no StreamName) and returns it,
// CREATING until the service's create delay is over (none by default, so
// usually ACTIVE at once, where AWS takes seconds). Checked here: the model
// and the characters of Tags. The stream being ACTIVE, a name already
// taken (ResourceInUseException) and the limits of 20 consumers per stream
// and 5 CREATING at once (LimitExceededException) are the service's.
// Deviation: the 50 consumers of "On-demand Advantage" accounts are not
// offered.

type registerStreamConsumerInput struct {
	StreamARN    *string           `json:"StreamARN"`
	ConsumerName *string           `json:"ConsumerName"`
	Tags         map[string]string `json:"Tags"`
}

type registerStreamConsumerOutput struct {
	Consumer wireConsumer `json:"Consumer"`
}

func (h *Handler) registerStreamConsumer(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in registerStreamConsumerInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("streamARN", in.StreamARN, true, streamARNRule)
	v.str("consumerName", in.ConsumerName, true, consumerNameRule)
	v.strMap("tags", in.Tags, false, 1, maxTagMapEntries, tagKeyRule, tagValueRule)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := h.afterExistence(checkTagMapChars(in.Tags), func() error {
		_, err := h.svc.ListTagsForResource(ctx, *in.StreamARN)
		return err
	}); err != nil {
		return nil, err
	}
	d, err := h.svc.RegisterStreamConsumer(ctx, *in.StreamARN, *in.ConsumerName, in.Tags)
	if err != nil {
		return nil, err
	}
	return c.encode(out(), registerStreamConsumerOutput{Consumer: toWireConsumer(d)})
}
