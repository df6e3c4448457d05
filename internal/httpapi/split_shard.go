package httpapi

import "context"

// SplitShard splits an open shard of a PROVISIONED stream in two at
// NewStartingHashKey and answers with an empty body. The parent closes (its
// EndingSequenceNumber is set); the children get the next shard ids, the
// lower half first, both with the parent as ParentShardId. Errors follow
// AWS: a closed shard, or a key not above StartingHashKey + 1 and below
// EndingHashKey, is InvalidArgumentException, an ON_DEMAND stream
// ValidationException. ShardToSplit may be a short id ("1").
//
// Deviation: the split is complete when the call returns, and the stream
// then UPDATING for the server's --update-stream-delay; AWS answers at
// once and shows the stream UPDATING until the split is done. Records put
// while the split runs are never lost: those that reach the parent after
// it is sealed go to the children.

type splitShardInput struct {
	StreamName         *string `json:"StreamName"`
	StreamARN          *string `json:"StreamARN"`
	ShardToSplit       *string `json:"ShardToSplit"`
	NewStartingHashKey *string `json:"NewStartingHashKey"`
}

func (h *Handler) splitShard(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in splitShardInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("shardToSplit", in.ShardToSplit, true, shardIDRule)
	v.str("newStartingHashKey", in.NewStartingHashKey, true, hashKeyRule)
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if err := h.svc.SplitShard(ctx, ref, *in.ShardToSplit, *in.NewStartingHashKey); err != nil {
		return nil, err
	}
	return out(), nil
}
