package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// ListShards pages through a stream's shards. The stream is named by
// StreamName/StreamARN on the first call and by the service's NextToken on
// the next ones, never both. Checked here: that exactly one of the two is
// given, that NextToken comes without ExclusiveStartShardId or
// StreamCreationTimestamp, and that a ShardFilter has the ShardId or
// Timestamp its type needs. MaxResults is capped at 1000 here (0 lets the
// service use its default, 1000). Token expiry, filtering and a
// StreamCreationTimestamp that does not match are the service's.

type listShardsInput struct {
	StreamName              *string          `json:"StreamName"`
	StreamARN               *string          `json:"StreamARN"`
	NextToken               *string          `json:"NextToken"`
	ExclusiveStartShardId   *string          `json:"ExclusiveStartShardId"`
	MaxResults              *int32           `json:"MaxResults"`
	StreamCreationTimestamp *Timestamp       `json:"StreamCreationTimestamp"`
	ShardFilter             *wireShardFilter `json:"ShardFilter"`
}

type wireShardFilter struct {
	Type      *string    `json:"Type"`
	ShardId   *string    `json:"ShardId"`
	Timestamp *Timestamp `json:"Timestamp"`
}

type listShardsOutput struct {
	Shards    []wireShard `json:"Shards"`
	NextToken string      `json:"NextToken,omitempty"`
}

const listShardsMaxResults = 1000

func (h *Handler) listShards(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in listShardsInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.int32("maxResults", in.MaxResults, false, between(1, 10000))
	v.str("exclusiveStartShardId", in.ExclusiveStartShardId, false, shardIDRule)
	v.streamRefMembers(in.StreamName, in.StreamARN)
	v.str("nextToken", in.NextToken, false, nextTokenRule)
	if f := in.ShardFilter; f != nil {
		v.str("shardFilter.type", f.Type, true, shardFilterRule)
		v.str("shardFilter.shardId", f.ShardId, false, shardIDRule)
	}
	if err := v.err(); err != nil {
		return nil, err
	}

	named := in.StreamName != nil || in.StreamARN != nil
	switch {
	case in.NextToken == nil && !named:
		return nil, invalidArgument("Either NextToken or StreamName should be provided.")
	case in.NextToken != nil && named:
		return nil, invalidArgument("NextToken and StreamName cannot be provided together.")
	case in.NextToken != nil && in.ExclusiveStartShardId != nil:
		return nil, invalidArgument("NextToken and ExclusiveStartShardId cannot be provided together.")
	case in.NextToken != nil && in.StreamCreationTimestamp != nil:
		return nil, invalidArgument("NextToken and StreamCreationTimestamp cannot be provided together.")
	}
	list := kinesis.ListShardsInput{
		Stream:                kinesis.StreamRef{Name: deref(in.StreamName), ARN: deref(in.StreamARN)},
		NextToken:             deref(in.NextToken),
		ExclusiveStartShardID: deref(in.ExclusiveStartShardId),
	}
	if in.MaxResults != nil {
		list.MaxResults = min(int(*in.MaxResults), listShardsMaxResults)
	}
	if in.StreamCreationTimestamp != nil {
		t := in.StreamCreationTimestamp.Time
		list.StreamCreationTimestamp = &t
	}
	if f := in.ShardFilter; f != nil {
		filter, err := shardFilter(f)
		if err != nil {
			return nil, err
		}
		list.Filter = filter
	}

	res, err := h.svc.ListShards(ctx, list)
	if err != nil {
		return nil, err
	}
	return c.encode(out(), listShardsOutput{Shards: toWireShards(res.Shards), NextToken: res.NextToken})
}

// shardFilter checks that a validated filter carries what its type needs
// and passes on only that.
func shardFilter(f *wireShardFilter) (*kinesis.ShardFilter, error) {
	typ := kinesis.ShardFilterType(*f.Type)
	out := &kinesis.ShardFilter{Type: typ}
	switch typ {
	case kinesis.FilterAfterShardID:
		if f.ShardId == nil {
			return nil, invalidArgument("ShardFilter of type %s must specify a ShardId.", typ)
		}
		out.ShardID = *f.ShardId
	case kinesis.FilterAtTimestamp, kinesis.FilterFromTimestamp:
		if f.Timestamp == nil {
			return nil, invalidArgument("ShardFilter of type %s must specify a Timestamp.", typ)
		}
		t := f.Timestamp.Time
		out.Timestamp = &t
	}
	return out, nil
}
