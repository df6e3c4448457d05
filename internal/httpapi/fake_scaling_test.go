package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

func (f *fakeService) UpdateShardCount(ctx context.Context, ref kinesis.StreamRef, target int, scalingType string) (kinesis.UpdateShardCountOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("UpdateShardCount", []any{target, scalingType}); err != nil {
		return kinesis.UpdateShardCountOutput{}, err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return kinesis.UpdateShardCountOutput{}, err
	}
	return kinesis.UpdateShardCountOutput{StreamName: s.Name, StreamARN: s.ARN, CurrentShardCount: len(s.OpenShards()), TargetShardCount: target}, nil
}

func (f *fakeService) UpdateStreamMode(ctx context.Context, streamARN string, mode kinesis.StreamMode, warmMiBps *int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("UpdateStreamMode", []string{streamARN, string(mode)}); err != nil {
		return err
	}
	_, err := f.lookup(kinesis.StreamRef{ARN: streamARN})
	return err
}
