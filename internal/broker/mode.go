package broker

import (
	"context"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// UpdateStreamMode switches a stream between PROVISIONED and ON_DEMAND.
// The open shards stay as they are: an ON_DEMAND stream is from then on
// resharded by the autoscaler (autoscale.go), a PROVISIONED one only by
// SplitShard, MergeShards and UpdateShardCount. As on AWS a stream may
// switch at most twice in 24 hours, and the account's ON_DEMAND streams
// are limited. A stream switched to PROVISIONED loses its warm
// throughput; one switched to ON_DEMAND may be given one, under the rules
// of UpdateStreamWarmThroughput.
func (b *Broker) UpdateStreamMode(ctx context.Context, streamARN string, mode kinesis.StreamMode, warmMiBps *int) error {
	name, err := b.resolve(kinesis.StreamRef{ARN: streamARN})
	if err != nil {
		return err
	}
	if mode != kinesis.ModeProvisioned && mode != kinesis.ModeOnDemand {
		return kinesis.Errorf(kinesis.ErrInvalidArgument, "StreamMode %s is not one of %s, %s.", mode, kinesis.ModeProvisioned, kinesis.ModeOnDemand)
	}
	committed := false
	if warmMiBps != nil {
		if mode != kinesis.ModeOnDemand {
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "WarmThroughputMiBps can only be specified when switching to ON_DEMAND mode.")
		}
		if *warmMiBps < 0 {
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "WarmThroughputMiBps must not be negative, got %d.", *warmMiBps)
		}
		acct, _, err := b.loadAccount(ctx)
		if err != nil {
			return err
		}
		committed = acct.describe(b.cfg.Now()).CommitmentStatus != kinesis.CommitmentDisabled
	}
	onDemand := 0
	if mode == kinesis.ModeOnDemand {
		streams, err := b.allStreams(ctx)
		if err != nil {
			return err
		}
		for _, s := range streams {
			if s.Mode == kinesis.ModeOnDemand && s.Name != name {
				onDemand++
			}
		}
	}
	now := b.cfg.Now()
	_, err = b.update(ctx, name, func(s *kinesis.Stream) error {
		if err := b.requireActive(s); err != nil {
			return err
		}
		if s.Mode == mode {
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "Stream %s under account %s is already in %s mode.", name, b.cfg.AccountID, mode)
		}
		recent := slices.DeleteFunc(slices.Clone(s.ModeSwitches), func(t time.Time) bool { return now.Sub(t) >= kinesis.ModeSwitchWindow })
		if len(recent) >= kinesis.MaxModeSwitches {
			return kinesis.Errorf(kinesis.ErrLimitExceeded, "Stream %s under account %s has switched capacity mode %d times in the last 24 hours, the most allowed. Try again later.", name, b.cfg.AccountID, len(recent))
		}
		if mode == kinesis.ModeOnDemand && onDemand >= b.cfg.OnDemandStreamLimit {
			return kinesis.Errorf(kinesis.ErrLimitExceeded, "This request would exceed the limit of %d ON_DEMAND streams for the account %s in %s.", b.cfg.OnDemandStreamLimit, b.cfg.AccountID, b.cfg.Region)
		}
		if warmMiBps != nil {
			if !committed {
				return kinesis.Errorf(kinesis.ErrValidation, "Warm throughput requires MinimumThroughputBillingCommitment to be enabled for account %s.", b.cfg.AccountID)
			}
			if *warmMiBps > kinesis.MaxWarmThroughputMiBps {
				return kinesis.Errorf(kinesis.ErrLimitExceeded, "Requested warm throughput of %d MiBps for stream %s under account %s exceeds the limit of %d MiBps.", *warmMiBps, s.Name, b.cfg.AccountID, kinesis.MaxWarmThroughputMiBps)
			}
			w := *warmMiBps
			s.WarmThroughputMiBps = &w
		}
		if mode == kinesis.ModeProvisioned {
			s.WarmThroughputMiBps = nil
		}
		s.Mode = mode
		s.ModeSwitches = append(recent, now)
		return nil
	})
	if err != nil {
		return err
	}
	b.cfg.Logger.Info("stream mode switched", "stream", name, "mode", mode)
	return nil
}
