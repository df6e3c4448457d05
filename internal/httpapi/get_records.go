package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// GetRecords reads from a shard iterator. Limit defaults to 10000. The
// iterator is opaque here: its validity and expiry are the service's, as
// are the 10 MiB response cap and throttling. NextShardIterator is left
// out once a closed shard is read to its end, and ChildShards when there
// are none. The JSON response is written by hand (appendGetRecordsJSON):
// a response carries up to 10000 records.
//
// Deviations: StreamARN is checked against the model but not against the
// iterator's stream; DryRun=true is refused with InvalidArgumentException.

type getRecordsInput struct {
	ShardIterator *string `json:"ShardIterator"`
	Limit         *int32  `json:"Limit"`
	StreamARN     *string `json:"StreamARN"`
	DryRun        *bool   `json:"DryRun"`
}

// getRecordsOutput is the response as reflection-based codecs encode it;
// the JSON codec writes the same bytes by hand.
type getRecordsOutput struct {
	Records            []wireRecord     `json:"Records"`
	NextShardIterator  string           `json:"NextShardIterator,omitempty"`
	MillisBehindLatest int64            `json:"MillisBehindLatest"`
	ChildShards        []wireChildShard `json:"ChildShards,omitempty"`
}

type wireRecord struct {
	SequenceNumber              string    `json:"SequenceNumber"`
	ApproximateArrivalTimestamp Timestamp `json:"ApproximateArrivalTimestamp"`
	Data                        []byte    `json:"Data"`
	PartitionKey                string    `json:"PartitionKey"`
	EncryptionType              string    `json:"EncryptionType"`
}

type wireChildShard struct {
	ShardId      string           `json:"ShardId"`
	ParentShards []string         `json:"ParentShards"`
	HashKeyRange wireHashKeyRange `json:"HashKeyRange"`
}

// toWireGetRecords converts a service answer to its wire struct.
func toWireGetRecords(out *kinesis.GetRecordsOutput) getRecordsOutput {
	w := getRecordsOutput{
		Records:            make([]wireRecord, len(out.Records)),
		NextShardIterator:  out.NextShardIterator,
		MillisBehindLatest: out.MillisBehindLatest,
	}
	for i, r := range out.Records {
		w.Records[i] = wireRecord{
			SequenceNumber:              r.SequenceNumber,
			ApproximateArrivalTimestamp: Timestamp{r.ApproximateArrivalTimestamp},
			Data:                        r.Data,
			PartitionKey:                r.PartitionKey,
			EncryptionType:              encryptionType(r.EncryptionType),
		}
		if w.Records[i].Data == nil {
			w.Records[i].Data = []byte{}
		}
	}
	for _, cs := range out.ChildShards {
		parents := cs.ParentShards
		if parents == nil {
			parents = []string{}
		}
		w.ChildShards = append(w.ChildShards, wireChildShard{
			ShardId: cs.ShardID, ParentShards: parents, HashKeyRange: toWireHashKeyRange(cs.HashRange)})
	}
	return w
}

func (h *Handler) getRecords(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in getRecordsInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("shardIterator", in.ShardIterator, true, shardIteratorRule)
	v.int32("limit", in.Limit, false, between(1, kinesis.MaxGetRecordsLimit))
	v.str("streamARN", in.StreamARN, false, streamARNRule)
	if err := v.err(); err != nil {
		return nil, err
	}
	if deref(in.DryRun) {
		return nil, invalidArgument("DryRun is not supported by this server yet.")
	}
	limit := kinesis.MaxGetRecordsLimit
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	res, err := h.svc.GetRecords(ctx, *in.ShardIterator, limit)
	if err != nil {
		return nil, err
	}
	buf := h.large.get(out(), getRecordsJSONSize(&res))
	return c.encodeGetRecords(buf, &res), nil
}
