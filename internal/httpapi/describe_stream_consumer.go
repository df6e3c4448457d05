package httpapi

import "context"

// DescribeStreamConsumer describes a consumer named as for
// DeregisterStreamConsumer. A ConsumerARN must match exactly, creation
// time included: the ARN of a consumer since deregistered and registered
// again under its name names nothing (ResourceNotFoundException).

type describeStreamConsumerInput struct {
	StreamARN    *string `json:"StreamARN"`
	ConsumerName *string `json:"ConsumerName"`
	ConsumerARN  *string `json:"ConsumerARN"`
}

type describeStreamConsumerOutput struct {
	ConsumerDescription wireConsumerDescription `json:"ConsumerDescription"`
}

func (h *Handler) describeStreamConsumer(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in describeStreamConsumerInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	ref := v.consumerRefMembers(in.ConsumerARN, in.StreamARN, in.ConsumerName)
	if err := v.err(); err != nil {
		return nil, err
	}
	d, err := h.svc.DescribeStreamConsumer(ctx, ref)
	if err != nil {
		return nil, err
	}
	return c.encode(out(), describeStreamConsumerOutput{ConsumerDescription: wireConsumerDescription{
		ConsumerName:              d.Name,
		ConsumerARN:               d.ARN,
		ConsumerStatus:            string(d.Status),
		ConsumerCreationTimestamp: Timestamp{d.CreatedAt},
		StreamARN:                 d.StreamARN,
	}})
}
