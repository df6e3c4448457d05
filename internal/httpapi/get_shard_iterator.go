package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// GetShardIterator returns an iterator for a read position in a shard.
// Checked here, in AWS's words: that AT_/AFTER_SEQUENCE_NUMBER come with a
// StartingSequenceNumber and TRIM_HORIZON, LATEST and AT_TIMESTAMP without
// one, and that AT_TIMESTAMP comes with a Timestamp. The service gets only
// the members its type uses (a Timestamp given with another type is
// dropped). Whether the shard exists (ShardId may be a short id,
// "shardId-1"), whether the sequence number belongs to it and whether the
// timestamp lies in the future (refused, as AWS does) are the service's to
// judge.
//
// Deviation: DryRun=true is refused with InvalidArgumentException.

type getShardIteratorInput struct {
	StreamName             *string    `json:"StreamName"`
	StreamARN              *string    `json:"StreamARN"`
	ShardId                *string    `json:"ShardId"`
	ShardIteratorType      *string    `json:"ShardIteratorType"`
	StartingSequenceNumber *string    `json:"StartingSequenceNumber"`
	Timestamp              *Timestamp `json:"Timestamp"`
	DryRun                 *bool      `json:"DryRun"`
}

type getShardIteratorOutput struct {
	ShardIterator string `json:"ShardIterator"`
}

func (h *Handler) getShardIterator(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in getShardIteratorInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("shardId", in.ShardId, true, shardIDRule)
	v.str("shardIteratorType", in.ShardIteratorType, true, iteratorTypeRule)
	v.str("startingSequenceNumber", in.StartingSequenceNumber, false, sequenceNumberRule)
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if deref(in.DryRun) {
		return nil, invalidArgument("DryRun is not supported by this server yet.")
	}
	get := kinesis.GetShardIteratorInput{Stream: ref, ShardID: *in.ShardId, Type: kinesis.IteratorType(*in.ShardIteratorType)}
	const mismatch = "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or " +
		"(2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified %s and %s."
	switch get.Type {
	case kinesis.AtSequenceNumber, kinesis.AfterSequenceNumber:
		if in.StartingSequenceNumber == nil {
			return nil, invalidArgument(mismatch, get.Type, "no StartingSequenceNumber")
		}
		get.StartingSequenceNumber = *in.StartingSequenceNumber
	case kinesis.TrimHorizon, kinesis.Latest, kinesis.AtTimestamp:
		if in.StartingSequenceNumber != nil {
			return nil, invalidArgument(mismatch, get.Type, "also a StartingSequenceNumber")
		}
		if get.Type == kinesis.AtTimestamp {
			if in.Timestamp == nil {
				return nil, invalidArgument("Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
			}
			t := in.Timestamp.Time
			get.Timestamp = &t
		}
	}

	it, err := h.svc.GetShardIterator(ctx, get)
	if err != nil {
		return nil, err
	}
	return c.encode(out(), getShardIteratorOutput{ShardIterator: it})
}
