package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// UpdateAccountSettings turns the minimum throughput billing commitment on
// or off and returns the settings, as DescribeAccountSettings would.
// Checked here: the model (the commitment and its Status, ENABLED or
// DISABLED, are required). Disabling before the earliest allowed end
// (kinesis.MinimumCommitmentPeriod, 24 hours here; AWS's window is not
// documented) leaves it ENABLED_UNTIL_EARLIEST_ALLOWED_END until then
// rather than refusing.

type updateAccountSettingsInput struct {
	MinimumThroughputBillingCommitment *struct {
		Status *string `json:"Status"`
	} `json:"MinimumThroughputBillingCommitment"`
}

type updateAccountSettingsOutput = describeAccountSettingsOutput

var commitmentStatusRule = &stringRule{enum: []string{kinesis.CommitmentEnabled, kinesis.CommitmentDisabled}}

func (h *Handler) updateAccountSettings(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in updateAccountSettingsInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	if in.MinimumThroughputBillingCommitment == nil {
		v.null("minimumThroughputBillingCommitment")
	} else {
		v.str("minimumThroughputBillingCommitment.status", in.MinimumThroughputBillingCommitment.Status, true, commitmentStatusRule)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	enable := *in.MinimumThroughputBillingCommitment.Status == kinesis.CommitmentEnabled
	a, err := h.svc.UpdateAccountSettings(ctx, enable)
	if err != nil {
		return nil, err
	}
	return c.encode(out(), updateAccountSettingsOutput{MinimumThroughputBillingCommitment: toWireCommitment(a)})
}
