package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// State the API shows but the broker does not act on: enhanced monitoring
// (no per-shard metrics are produced), resource policies (no request is
// authorized by them) and account settings (no warm throughput or higher
// consumer limit follows). Monitoring and policies live in the stream
// descriptor; account settings in a key of their own.

// accountKey holds the account settings, as accountSettings JSON.
const accountKey = "account/settings"

// SetEnhancedMonitoring turns shard-level metrics on or off.
func (b *Broker) SetEnhancedMonitoring(ctx context.Context, ref kinesis.StreamRef, metrics []string, enable bool) (kinesis.MonitoringOutput, error) {
	name, err := b.resolve(ref)
	if err != nil {
		return kinesis.MonitoringOutput{}, err
	}
	given := make(map[string]bool, len(kinesis.ShardLevelMetrics))
	for _, m := range metrics {
		switch {
		case m == kinesis.MetricsAll:
			for _, all := range kinesis.ShardLevelMetrics {
				given[all] = true
			}
		case slices.Contains(kinesis.ShardLevelMetrics, m):
			given[m] = true
		default:
			return kinesis.MonitoringOutput{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Unknown shard-level metric %s.", m)
		}
	}
	var current []string
	s, err := b.update(ctx, name, func(s *kinesis.Stream) error {
		if err := b.requireActive(s); err != nil {
			return err
		}
		current = slices.Clone(s.ShardLevelMetrics)
		var next []string
		for _, m := range kinesis.ShardLevelMetrics { // keeps the canonical order
			if on := slices.Contains(current, m); given[m] && enable || on && !given[m] {
				next = append(next, m)
			}
		}
		s.ShardLevelMetrics = next
		return nil
	})
	if err != nil {
		return kinesis.MonitoringOutput{}, err
	}
	return kinesis.MonitoringOutput{StreamName: s.Name, StreamARN: s.ARN, Current: current, Desired: slices.Clone(s.ShardLevelMetrics)}, nil
}

// PutResourcePolicy attaches a policy document to a stream or consumer,
// replacing any it had. The document must be a JSON object with a
// Statement; what it allows is not checked.
func (b *Broker) PutResourcePolicy(ctx context.Context, arn, policy string) error {
	r, err := b.resolveResource(arn)
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(policy), &doc); err != nil || doc["Statement"] == nil {
		return kinesis.Errorf(kinesis.ErrInvalidArgument, "Policy is not a valid JSON policy document: it must be a JSON object with a Statement.")
	}
	return b.updateResource(ctx, r, func(_ *map[string]string, cur *string) error {
		*cur = policy
		return nil
	})
}

// GetResourcePolicy returns the policy of a stream or consumer, "{}" when
// it has none.
func (b *Broker) GetResourcePolicy(ctx context.Context, arn string) (string, error) {
	r, err := b.resolveResource(arn)
	if err != nil {
		return "", err
	}
	s, _, err := b.loadStream(ctx, r.stream)
	if err != nil {
		return "", err
	}
	_, policy, err := b.resourceFields(s, r)
	if err != nil {
		return "", err
	}
	if *policy == "" {
		return "{}", nil
	}
	return *policy, nil
}

// DeleteResourcePolicy removes the policy of a stream or consumer, if any.
func (b *Broker) DeleteResourcePolicy(ctx context.Context, arn string) error {
	r, err := b.resolveResource(arn)
	if err != nil {
		return err
	}
	return b.updateResource(ctx, r, func(_ *map[string]string, cur *string) error {
		*cur = ""
		return nil
	})
}

// accountSettings is what the account key holds. The status is derived
// from the times, like a stream's: never started is DISABLED, started and
// not ended ENABLED, ending in the future ENABLED_UNTIL_EARLIEST_ALLOWED_END.
type accountSettings struct {
	StartedAt            time.Time `json:"startedAt,omitzero"`
	EndedAt              time.Time `json:"endedAt,omitzero"`
	EarliestAllowedEndAt time.Time `json:"earliestAllowedEndAt,omitzero"`
}

func (a accountSettings) describe(now time.Time) kinesis.AccountSettings {
	out := kinesis.AccountSettings{StartedAt: a.StartedAt, EndedAt: a.EndedAt, EarliestAllowedEndAt: a.EarliestAllowedEndAt}
	switch {
	case a.StartedAt.IsZero():
		out.CommitmentStatus = kinesis.CommitmentDisabled
	case a.EndedAt.IsZero():
		out.CommitmentStatus = kinesis.CommitmentEnabled
	case now.Before(a.EndedAt):
		out.CommitmentStatus = kinesis.CommitmentEnabledUntil
	default:
		out.CommitmentStatus = kinesis.CommitmentDisabled
	}
	return out
}

// loadAccount reads the account settings and their revision, 0 when none
// are stored.
func (b *Broker) loadAccount(ctx context.Context) (accountSettings, uint64, error) {
	e, err := b.meta.Get(ctx, accountKey)
	if errors.Is(err, kinesis.ErrKeyNotFound) {
		return accountSettings{}, 0, nil
	}
	if err != nil {
		return accountSettings{}, 0, fmt.Errorf("load account settings: %w", err)
	}
	var a accountSettings
	if err := json.Unmarshal(e.Value, &a); err != nil {
		return accountSettings{}, 0, fmt.Errorf("decode account settings: %w", err)
	}
	return a, e.Revision, nil
}

// DescribeAccountSettings returns the account settings.
func (b *Broker) DescribeAccountSettings(ctx context.Context) (kinesis.AccountSettings, error) {
	a, _, err := b.loadAccount(ctx)
	if err != nil {
		return kinesis.AccountSettings{}, err
	}
	return a.describe(b.cfg.Now()), nil
}

// UpdateAccountSettings starts or ends the minimum throughput billing
// commitment. Enabling starts a commitment of at least
// kinesis.MinimumCommitmentPeriod, or resumes one that is ending;
// disabling before its earliest end lets it run until then.
func (b *Broker) UpdateAccountSettings(ctx context.Context, enable bool) (kinesis.AccountSettings, error) {
	for attempt := 0; ; attempt++ {
		a, rev, err := b.loadAccount(ctx)
		if err != nil {
			return kinesis.AccountSettings{}, err
		}
		now := b.cfg.Now().Truncate(time.Millisecond)
		status := a.describe(now).CommitmentStatus
		switch {
		case enable && status == kinesis.CommitmentDisabled:
			a = accountSettings{StartedAt: now, EarliestAllowedEndAt: now.Add(kinesis.MinimumCommitmentPeriod)}
		case enable && status == kinesis.CommitmentEnabledUntil:
			a.EndedAt = time.Time{}
		case !enable && status == kinesis.CommitmentEnabled:
			a.EndedAt = now
			if now.Before(a.EarliestAllowedEndAt) {
				a.EndedAt = a.EarliestAllowedEndAt
			}
		default:
			return a.describe(now), nil
		}
		val, err := json.Marshal(a)
		if err != nil {
			return kinesis.AccountSettings{}, fmt.Errorf("encode account settings: %w", err)
		}
		if rev == 0 {
			_, err = b.meta.Create(ctx, accountKey, val)
		} else {
			_, err = b.meta.Update(ctx, accountKey, val, rev)
		}
		if (errors.Is(err, kinesis.ErrRevisionMismatch) || errors.Is(err, kinesis.ErrKeyExists)) && attempt < 100 {
			continue
		}
		if err != nil {
			return kinesis.AccountSettings{}, fmt.Errorf("store account settings: %w", err)
		}
		return a.describe(now), nil
	}
}
