package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// CreateStream creates a stream and answers 200 with an empty body, as AWS
// does. Whether ShardCount is needed or allowed for the mode, name clashes
// and limits are the service's to check.
//
// Deviations: MaxRecordSizeInKiB other than the default 1024 and a non-zero
// WarmThroughputMiBps are refused with InvalidArgumentException, since the
// service cannot honour them yet; RecordDistributionStrategy is ignored.

type createStreamInput struct {
	StreamName          *string            `json:"StreamName"`
	ShardCount          *int32             `json:"ShardCount"`
	StreamModeDetails   *streamModeDetails `json:"StreamModeDetails"`
	Tags                map[string]string  `json:"Tags"`
	WarmThroughputMiBps *int32             `json:"WarmThroughputMiBps"`
	MaxRecordSizeInKiB  *int32             `json:"MaxRecordSizeInKiB"`
}

func (h *Handler) createStream(ctx context.Context, c codec, body, out []byte) ([]byte, error) {
	var in createStreamInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("streamName", in.StreamName, true, streamNameRule)
	v.int32("shardCount", in.ShardCount, false, atLeast(1))
	if in.StreamModeDetails != nil {
		v.str("streamModeDetails.streamMode", in.StreamModeDetails.StreamMode, true, streamModeRule)
	}
	v.strMap("tags", in.Tags, false, 1, maxTagMapEntries, tagKeyRule, tagValueRule)
	v.int32("warmThroughputMiBps", in.WarmThroughputMiBps, false, atLeast(0))
	v.int32("maxRecordSizeInKiB", in.MaxRecordSizeInKiB, false, between(1024, 10240))
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkTagMapChars(in.Tags); err != nil {
		return nil, err
	}
	if n := deref(in.MaxRecordSizeInKiB); n != 0 && n != kinesis.DefaultMaxRecordSizeKiB {
		return nil, invalidArgument("MaxRecordSizeInKiB other than %d is not supported by this server yet.", kinesis.DefaultMaxRecordSizeKiB)
	}
	if deref(in.WarmThroughputMiBps) != 0 {
		return nil, invalidArgument("WarmThroughputMiBps is not supported by this server yet.")
	}

	create := kinesis.CreateStreamInput{
		Name:       *in.StreamName,
		ShardCount: int(deref(in.ShardCount)),
		Tags:       in.Tags,
	}
	if in.StreamModeDetails != nil {
		create.Mode = kinesis.StreamMode(*in.StreamModeDetails.StreamMode)
	}
	if err := h.svc.CreateStream(ctx, create); err != nil {
		return nil, err
	}
	return out, nil
}
