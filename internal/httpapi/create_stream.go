package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// CreateStream creates a stream and answers 200 with an empty body, as AWS
// does. Whether ShardCount is needed or allowed for the mode, name clashes
// and limits are the service's to check.
//
// MaxRecordSizeInKiB (1024 to 10240) sets the largest record the stream
// accepts; WarmThroughputMiBps the warm throughput of an ON_DEMAND stream,
// as UpdateStreamWarmThroughput does (0 sets none). Deviation:
// RecordDistributionStrategy is ignored.

type createStreamInput struct {
	StreamName          *string            `json:"StreamName"`
	ShardCount          *clampedInt32      `json:"ShardCount"`
	StreamModeDetails   *streamModeDetails `json:"StreamModeDetails"`
	Tags                map[string]string  `json:"Tags"`
	WarmThroughputMiBps *int32             `json:"WarmThroughputMiBps"`
	MaxRecordSizeInKiB  *int32             `json:"MaxRecordSizeInKiB"`
}

func (h *Handler) createStream(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in createStreamInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("streamName", in.StreamName, true, streamNameRule)
	v.int32("shardCount", (*int32)(in.ShardCount), false, between(1, maxShardCountMember))
	if in.StreamModeDetails != nil {
		v.str("streamModeDetails.streamMode", in.StreamModeDetails.StreamMode, true, streamModeRule)
	}
	v.strMap("tags", in.Tags, false, 1, maxTagMapEntries, tagKeyRule, tagValueRule)
	v.int32("warmThroughputMiBps", in.WarmThroughputMiBps, false, atLeast(0))
	v.int32("maxRecordSizeInKiB", in.MaxRecordSizeInKiB, false, between(kinesis.DefaultMaxRecordSizeKiB, kinesis.MaxRecordSizeKiBLimit))
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkTagMapChars(in.Tags); err != nil {
		return nil, err
	}
	create := kinesis.CreateStreamInput{
		Name:                *in.StreamName,
		ShardCount:          int(deref((*int32)(in.ShardCount))),
		Tags:                in.Tags,
		MaxRecordSizeKiB:    int(deref(in.MaxRecordSizeInKiB)),
		WarmThroughputMiBps: int(deref(in.WarmThroughputMiBps)),
	}
	if in.StreamModeDetails != nil {
		create.Mode = kinesis.StreamMode(*in.StreamModeDetails.StreamMode)
	}
	if err := h.svc.CreateStream(ctx, create); err != nil {
		return nil, err
	}
	return out(), nil
}
