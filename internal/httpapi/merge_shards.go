package httpapi

import "context"

// MergeShards merges two open, adjacent shards of a PROVISIONED stream into
// one and answers with an empty body. Both parents close; the child gets
// the next shard id, ParentShardId = ShardToMerge, AdjacentParentShardId =
// AdjacentShardToMerge and the union of their hash ranges. Shards that are
// not adjacent with ShardToMerge the lower, or closed, are
// InvalidArgumentException, as on AWS. Both may be short ids ("1").
//
// Deviation: the merge is complete when the call returns, and the stream
// then UPDATING for the server's --update-stream-delay; AWS answers at
// once and shows the stream UPDATING until the merge is done.

type mergeShardsInput struct {
	StreamName           *string `json:"StreamName"`
	StreamARN            *string `json:"StreamARN"`
	ShardToMerge         *string `json:"ShardToMerge"`
	AdjacentShardToMerge *string `json:"AdjacentShardToMerge"`
}

func (h *Handler) mergeShards(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in mergeShardsInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("shardToMerge", in.ShardToMerge, true, shardIDRule)
	v.str("adjacentShardToMerge", in.AdjacentShardToMerge, true, shardIDRule)
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if err := h.svc.MergeShards(ctx, ref, *in.ShardToMerge, *in.AdjacentShardToMerge); err != nil {
		return nil, err
	}
	return out(), nil
}
