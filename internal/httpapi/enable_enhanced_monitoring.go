package httpapi

import (
	"context"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// EnableEnhancedMonitoring turns shard-level metrics on and answers with
// the metrics before (Current) and after (Desired); ALL stands for all
// seven. Checked here: the model (1..7 metric names of the enum). The
// stream being ACTIVE is the service's. The state is kept, shown by
// DescribeStream and DescribeStreamSummary, and with `sluice serve
// --shard-metrics enhanced` (the default) turns on the stream's
// sluice_shard_* series on /metrics (internal/opsmetrics) in place of
// CloudWatch's shard-level metrics.

type enhancedMonitoringInput struct {
	StreamName        *string  `json:"StreamName"`
	StreamARN         *string  `json:"StreamARN"`
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

type enhancedMonitoringOutput struct {
	StreamName               string   `json:"StreamName"`
	StreamARN                string   `json:"StreamARN"`
	CurrentShardLevelMetrics []string `json:"CurrentShardLevelMetrics"`
	DesiredShardLevelMetrics []string `json:"DesiredShardLevelMetrics"`
}

// metricsNames is the MetricsName enum in model order.
var metricsNames = append(slices.Clone(kinesis.ShardLevelMetrics), kinesis.MetricsAll)

func (h *Handler) enableEnhancedMonitoring(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	return h.setEnhancedMonitoring(ctx, c, body, out, true)
}

// setEnhancedMonitoring serves both Enable- and DisableEnhancedMonitoring.
func (h *Handler) setEnhancedMonitoring(ctx context.Context, c codec, body []byte, out func() []byte, enable bool) ([]byte, error) {
	var in enhancedMonitoringInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.metricsNames("shardLevelMetrics", in.ShardLevelMetrics)
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.SetEnhancedMonitoring(ctx, ref, in.ShardLevelMetrics, enable)
	if err != nil {
		return nil, err
	}
	return c.encode(out(), enhancedMonitoringOutput{
		StreamName:               res.StreamName,
		StreamARN:                res.StreamARN,
		CurrentShardLevelMetrics: nonNil(res.Current),
		DesiredShardLevelMetrics: nonNil(res.Desired),
	})
}

// metricsNames checks a required MetricsNameList: 1..7 names of the enum,
// reported once for the whole list as Coral does.
func (v *validator) metricsNames(path string, l []string) {
	if l == nil {
		v.null(path)
		return
	}
	shown := func() string { return "[" + strings.Join(l, ", ") + "]" }
	v.count(path, len(l), shown, 1, len(kinesis.ShardLevelMetrics))
	if slices.ContainsFunc(l, func(m string) bool { return !slices.Contains(metricsNames, m) }) {
		s := shown()
		v.add(path, &s, "Member must satisfy constraint: [Member must satisfy enum value set: ["+strings.Join(metricsNames, ", ")+"]]")
	}
}

// nonNil makes an empty list [] on the wire rather than null.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
