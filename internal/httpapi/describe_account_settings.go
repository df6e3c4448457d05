package httpapi

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// DescribeAccountSettings returns the account's minimum throughput billing
// commitment: DISABLED until UpdateAccountSettings enables it. Times are
// sent only when set. Deviation: the commitment is state only; it raises
// no limit and enables no warm throughput.

type describeAccountSettingsOutput struct {
	MinimumThroughputBillingCommitment wireCommitment `json:"MinimumThroughputBillingCommitment"`
}

// wireCommitment is MinimumThroughputBillingCommitmentOutput.
type wireCommitment struct {
	Status               string     `json:"Status"`
	StartedAt            *Timestamp `json:"StartedAt,omitempty"`
	EndedAt              *Timestamp `json:"EndedAt,omitempty"`
	EarliestAllowedEndAt *Timestamp `json:"EarliestAllowedEndAt,omitempty"`
}

func toWireCommitment(a kinesis.AccountSettings) wireCommitment {
	at := func(t time.Time) *Timestamp {
		if t.IsZero() {
			return nil
		}
		return &Timestamp{t}
	}
	return wireCommitment{
		Status:               a.CommitmentStatus,
		StartedAt:            at(a.StartedAt),
		EndedAt:              at(a.EndedAt),
		EarliestAllowedEndAt: at(a.EarliestAllowedEndAt),
	}
}

func (h *Handler) describeAccountSettings(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in struct{}
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	a, err := h.svc.DescribeAccountSettings(ctx)
	if err != nil {
		return nil, err
	}
	return c.encode(out(), describeAccountSettingsOutput{MinimumThroughputBillingCommitment: toWireCommitment(a)})
}
