package httpapi

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// PutRecord writes one record: PutRecords with one entry, whose failure
// becomes the operation's exception (ProvisionedThroughputExceededException,
// or a 500 InternalFailureException). Input checks are those of a
// PutRecords entry plus SequenceNumberForOrdering's pattern; whether that
// sequence number is one of the stream's is the service's to judge.
//
// Deviation: DryRun=true is refused with InvalidArgumentException.

type putRecordInput struct {
	StreamName                *string `json:"StreamName"`
	StreamARN                 *string `json:"StreamARN"`
	Data                      blob    `json:"Data"`
	PartitionKey              *string `json:"PartitionKey"`
	ExplicitHashKey           *string `json:"ExplicitHashKey"`
	SequenceNumberForOrdering *string `json:"SequenceNumberForOrdering"`
	DryRun                    *bool   `json:"DryRun"`
}

type putRecordOutput struct {
	ShardId        string `json:"ShardId"`
	SequenceNumber string `json:"SequenceNumber"`
	EncryptionType string `json:"EncryptionType"`
}

func (h *Handler) putRecord(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in putRecordInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("partitionKey", in.PartitionKey, true, partitionKeyRule)
	v.blob("data", in.Data, in.Data != nil, true, maxDataBytes)
	v.str("explicitHashKey", in.ExplicitHashKey, false, hashKeyRule)
	v.str("sequenceNumberForOrdering", in.SequenceNumberForOrdering, false, sequenceNumberRule)
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
	entry := kinesis.PutRecordEntry{
		Data:                      in.Data,
		PartitionKey:              *in.PartitionKey,
		ExplicitHashKey:           deref(in.ExplicitHashKey),
		SequenceNumberForOrdering: deref(in.SequenceNumberForOrdering),
	}
	if err := checkExplicitHashKey(entry.ExplicitHashKey); err != nil {
		return nil, err
	}

	results, err := h.svc.PutRecords(ctx, ref, []kinesis.PutRecordEntry{entry})
	if err != nil {
		return nil, err
	}
	if len(results) != 1 {
		return nil, fmt.Errorf("put record: service returned %d results for 1 record", len(results))
	}
	r := results[0]
	if r.ErrorCode != "" {
		// An internal failure keeps its words for the log only (writeError).
		return nil, &kinesis.Error{Code: r.ErrorCode, Message: r.ErrorMessage}
	}
	return c.encode(out(), putRecordOutput{ShardId: r.ShardID, SequenceNumber: r.SequenceNumber, EncryptionType: encryptionType(r.EncryptionType)})
}
