package broker

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// UpdateStreamWarmThroughput sets an ON_DEMAND stream's warm throughput.
// AWS scales the stream towards the target over minutes; Sluice needs no
// capacity set aside, so the target is reached when the call returns and
// the current value equals it.
func (b *Broker) UpdateStreamWarmThroughput(ctx context.Context, ref kinesis.StreamRef, mibps int) (kinesis.WarmThroughputOutput, error) {
	name, err := b.resolve(ref)
	if err != nil {
		return kinesis.WarmThroughputOutput{}, err
	}
	if mibps < 0 {
		return kinesis.WarmThroughputOutput{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "WarmThroughputMiBps must not be negative, got %d.", mibps)
	}
	s, err := b.update(ctx, name, func(s *kinesis.Stream) error {
		if err := b.checkWarmThroughput(ctx, s.Name, s.Mode, mibps); err != nil {
			return err
		}
		if err := b.requireActive(s); err != nil {
			return err
		}
		s.WarmThroughputMiBps = &mibps
		return nil
	})
	if err != nil {
		return kinesis.WarmThroughputOutput{}, err
	}
	return kinesis.WarmThroughputOutput{StreamName: s.Name, StreamARN: s.ARN, WarmThroughput: warmThroughputOf(s)}, nil
}

// checkWarmThroughput checks that a stream of the given mode may have
// mibps of warm throughput: ON_DEMAND only, in an account with the minimum
// throughput billing commitment, and at most 10 GiB/s.
func (b *Broker) checkWarmThroughput(ctx context.Context, stream string, mode kinesis.StreamMode, mibps int) error {
	if mode != kinesis.ModeOnDemand {
		return kinesis.Errorf(kinesis.ErrValidation, "Stream %s under account %s is in %s mode; warm throughput is only supported for streams in ON_DEMAND mode.", stream, b.cfg.AccountID, mode)
	}
	acct, _, err := b.loadAccount(ctx)
	if err != nil {
		return err
	}
	if acct.describe(b.cfg.Now()).CommitmentStatus == kinesis.CommitmentDisabled {
		return kinesis.Errorf(kinesis.ErrValidation, "Warm throughput requires MinimumThroughputBillingCommitment to be enabled for account %s.", b.cfg.AccountID)
	}
	if mibps > kinesis.MaxWarmThroughputMiBps {
		return kinesis.Errorf(kinesis.ErrLimitExceeded, "Requested warm throughput of %d MiBps for stream %s under account %s exceeds the limit of %d MiBps.", mibps, stream, b.cfg.AccountID, kinesis.MaxWarmThroughputMiBps)
	}
	return nil
}

// warmThroughputOf is the warm throughput a stream shows: the value set,
// reached at once.
func warmThroughputOf(s *kinesis.Stream) kinesis.WarmThroughput {
	v := 0
	if s.WarmThroughputMiBps != nil {
		v = *s.WarmThroughputMiBps
	}
	return kinesis.WarmThroughput{TargetMiBps: v, CurrentMiBps: v}
}
