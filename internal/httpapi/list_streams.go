package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// ListStreams lists stream names and summaries, a page at a time. Limit
// defaults to 100 and is capped at 100 here, so the service sees 1..100.
// NextToken is the service's opaque token; its expiry and whether it may be
// combined with ExclusiveStartStreamName are the service's to judge.

type listStreamsInput struct {
	Limit                    *int32  `json:"Limit"`
	ExclusiveStartStreamName *string `json:"ExclusiveStartStreamName"`
	NextToken                *string `json:"NextToken"`
}

type listStreamsOutput struct {
	StreamNames     []string            `json:"StreamNames"`
	HasMoreStreams  bool                `json:"HasMoreStreams"`
	NextToken       string              `json:"NextToken,omitempty"`
	StreamSummaries []wireStreamSummary `json:"StreamSummaries"`
}

type wireStreamSummary struct {
	StreamName              string            `json:"StreamName"`
	StreamARN               string            `json:"StreamARN"`
	StreamStatus            string            `json:"StreamStatus"`
	StreamModeDetails       streamModeDetails `json:"StreamModeDetails"`
	StreamCreationTimestamp Timestamp         `json:"StreamCreationTimestamp"`
}

const (
	listStreamsDefaultLimit = 100
	listStreamsMaxLimit     = 100
)

func (h *Handler) listStreams(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in listStreamsInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.int32("limit", in.Limit, false, between(1, 10000))
	v.str("exclusiveStartStreamName", in.ExclusiveStartStreamName, false, streamNameRule)
	v.str("nextToken", in.NextToken, false, nextTokenRule)
	if err := v.err(); err != nil {
		return nil, err
	}
	limit := listStreamsDefaultLimit
	if in.Limit != nil {
		limit = min(int(*in.Limit), listStreamsMaxLimit)
	}
	res, err := h.svc.ListStreams(ctx, kinesis.ListStreamsInput{
		Limit:                    limit,
		ExclusiveStartStreamName: deref(in.ExclusiveStartStreamName),
		NextToken:                deref(in.NextToken),
	})
	if err != nil {
		return nil, err
	}
	o := listStreamsOutput{
		StreamNames:     make([]string, len(res.Streams)),
		HasMoreStreams:  res.HasMore,
		NextToken:       res.NextToken,
		StreamSummaries: make([]wireStreamSummary, len(res.Streams)),
	}
	for i, s := range res.Streams {
		o.StreamNames[i] = s.Name
		o.StreamSummaries[i] = wireStreamSummary{
			StreamName:              s.Name,
			StreamARN:               s.ARN,
			StreamStatus:            string(s.Status),
			StreamModeDetails:       toWireMode(s.Mode),
			StreamCreationTimestamp: Timestamp{s.CreatedAt},
		}
	}
	return c.encode(out(), o)
}
