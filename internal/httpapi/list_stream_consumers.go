package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// ListStreamConsumers pages through the consumers of a stream named by
// StreamARN, which the model requires on every call, NextToken or not.
// MaxResults defaults to 100 and is capped at 100 here. Consumers come in
// name order (AWS promises no order). Token expiry (300 s), a token of
// another stream and a StreamCreationTimestamp that does not match are the
// service's.

type listStreamConsumersInput struct {
	StreamARN               *string    `json:"StreamARN"`
	NextToken               *string    `json:"NextToken"`
	MaxResults              *int32     `json:"MaxResults"`
	StreamCreationTimestamp *Timestamp `json:"StreamCreationTimestamp"`
}

type listStreamConsumersOutput struct {
	Consumers []wireConsumer `json:"Consumers"`
	NextToken string         `json:"NextToken,omitempty"`
}

const listStreamConsumersMaxResults = 100

func (h *Handler) listStreamConsumers(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in listStreamConsumersInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("streamARN", in.StreamARN, true, streamARNRule)
	v.str("nextToken", in.NextToken, false, nextTokenRule)
	v.int32("maxResults", in.MaxResults, false, between(1, 10000))
	if err := v.err(); err != nil {
		return nil, err
	}
	max := listStreamConsumersMaxResults
	if in.MaxResults != nil {
		max = min(int(*in.MaxResults), listStreamConsumersMaxResults)
	}
	lin := kinesis.ListStreamConsumersInput{StreamARN: *in.StreamARN, NextToken: deref(in.NextToken), MaxResults: max}
	if in.StreamCreationTimestamp != nil {
		lin.StreamCreationTimestamp = &in.StreamCreationTimestamp.Time
	}
	res, err := h.svc.ListStreamConsumers(ctx, lin)
	if err != nil {
		return nil, err
	}
	o := listStreamConsumersOutput{Consumers: make([]wireConsumer, len(res.Consumers)), NextToken: res.NextToken}
	for i, d := range res.Consumers {
		o.Consumers[i] = toWireConsumer(d)
	}
	return c.encode(out(), o)
}
