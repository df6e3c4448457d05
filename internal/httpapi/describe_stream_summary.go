package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// DescribeStreamSummary describes a stream without its shards.
//
// Deviations: StreamId is never sent, because SDK endpoint rules rewrite the
// host of any request carrying it, even with a custom endpoint.
// WarmThroughput is shown for an ON_DEMAND stream once its warm throughput
// has been set.

type describeStreamSummaryInput struct {
	StreamName *string `json:"StreamName"`
	StreamARN  *string `json:"StreamARN"`
}

type describeStreamSummaryOutput struct {
	StreamDescriptionSummary wireStreamDescriptionSummary `json:"StreamDescriptionSummary"`
}

type wireStreamDescriptionSummary struct {
	StreamName              string                `json:"StreamName"`
	StreamARN               string                `json:"StreamARN"`
	StreamStatus            string                `json:"StreamStatus"`
	StreamModeDetails       streamModeDetails     `json:"StreamModeDetails"`
	RetentionPeriodHours    int                   `json:"RetentionPeriodHours"`
	StreamCreationTimestamp Timestamp             `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []wireEnhancedMetrics `json:"EnhancedMonitoring"`
	EncryptionType          string                `json:"EncryptionType"`
	KeyId                   string                `json:"KeyId,omitempty"`
	OpenShardCount          int                   `json:"OpenShardCount"`
	ConsumerCount           int                   `json:"ConsumerCount"`
	MaxRecordSizeInKiB      int                   `json:"MaxRecordSizeInKiB"`
	WarmThroughput          *wireWarmThroughput   `json:"WarmThroughput,omitempty"`
}

func (h *Handler) describeStreamSummary(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in describeStreamSummaryInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	d, err := h.svc.DescribeStream(ctx, ref)
	if err != nil {
		return nil, err
	}
	maxRecord := d.MaxRecordSizeKiB
	if maxRecord == 0 {
		maxRecord = kinesis.DefaultMaxRecordSizeKiB
	}
	var warm *wireWarmThroughput
	if d.Mode == kinesis.ModeOnDemand && d.WarmThroughputMiBps != nil {
		// Set and reached at once: see UpdateStreamWarmThroughput.
		warm = &wireWarmThroughput{TargetMiBps: *d.WarmThroughputMiBps, CurrentMiBps: *d.WarmThroughputMiBps}
	}
	return c.encode(out(), describeStreamSummaryOutput{StreamDescriptionSummary: wireStreamDescriptionSummary{
		StreamName:              d.Name,
		StreamARN:               d.ARN,
		StreamStatus:            string(d.Status),
		StreamModeDetails:       toWireMode(d.Mode),
		RetentionPeriodHours:    d.RetentionHours,
		StreamCreationTimestamp: Timestamp{d.CreatedAt},
		EnhancedMonitoring:      toWireEnhancedMonitoring(d.ShardLevelMetrics),
		EncryptionType:          encryptionType(d.EncryptionType),
		KeyId:                   d.KeyID,
		OpenShardCount:          d.OpenShardCount,
		ConsumerCount:           d.ConsumerCount,
		MaxRecordSizeInKiB:      maxRecord,
		WarmThroughput:          warm,
	}})
}
