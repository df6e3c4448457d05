package broker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

func TestBroker_SetEnhancedMonitoring(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	out, err := b.SetEnhancedMonitoring(ctx, ref, []string{"IteratorAgeMilliseconds", "IncomingBytes"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Current) != 0 || !slices.Equal(out.Desired, []string{"IncomingBytes", "IteratorAgeMilliseconds"}) {
		t.Fatalf("enable = %+v", out)
	}
	out, err = b.SetEnhancedMonitoring(ctx, ref, []string{"ALL"}, true)
	if err != nil || len(out.Desired) != 7 || len(out.Current) != 2 {
		t.Fatalf("enable ALL = %+v, %v", out, err)
	}
	out, err = b.SetEnhancedMonitoring(ctx, ref, []string{"IncomingBytes"}, false)
	if err != nil || len(out.Desired) != 6 || slices.Contains(out.Desired, "IncomingBytes") {
		t.Fatalf("disable one = %+v, %v", out, err)
	}
	d, err := b.DescribeStream(ctx, ref)
	if err != nil || !slices.Equal(d.ShardLevelMetrics, out.Desired) {
		t.Fatalf("DescribeStream metrics = %v, %v; want %v", d.ShardLevelMetrics, err, out.Desired)
	}
	if out, err = b.SetEnhancedMonitoring(ctx, ref, []string{"ALL"}, false); err != nil || len(out.Desired) != 0 {
		t.Fatalf("disable ALL = %+v, %v", out, err)
	}
	_, err = b.SetEnhancedMonitoring(ctx, ref, []string{"Bogus"}, true)
	wantCode(t, err, kinesis.ErrInvalidArgument)
	_, err = b.SetEnhancedMonitoring(ctx, kinesis.StreamRef{Name: "missing"}, []string{"ALL"}, true)
	wantCode(t, err, kinesis.ErrResourceNotFound)
}

func TestBroker_ResourcePolicy(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	arn := kinesis.StreamARN("us-east-1", "000000000000", "s")
	c, err := b.RegisterStreamConsumer(ctx, arn, "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	const policy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kinesis:GetRecords"}]}`
	for _, res := range []string{arn, c.ARN} {
		if got, err := b.GetResourcePolicy(ctx, res); err != nil || got != "{}" {
			t.Fatalf("policy before put = %q, %v", got, err)
		}
		if err := b.PutResourcePolicy(ctx, res, policy); err != nil {
			t.Fatal(err)
		}
		if got, err := b.GetResourcePolicy(ctx, res); err != nil || got != policy {
			t.Fatalf("policy = %q, %v", got, err)
		}
	}
	if err := b.DeleteResourcePolicy(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.GetResourcePolicy(ctx, arn); got != "{}" {
		t.Fatalf("stream policy after delete = %q", got)
	}
	if got, _ := b.GetResourcePolicy(ctx, c.ARN); got != policy {
		t.Fatalf("consumer policy after the stream's delete = %q", got)
	}
	for _, bad := range []string{"", "not json", `[]`, `{"Version":"2012-10-17"}`} {
		wantCode(t, b.PutResourcePolicy(ctx, arn, bad), kinesis.ErrInvalidArgument)
	}
	wantCode(t, b.PutResourcePolicy(ctx, arn+"/consumer/x:1", policy), kinesis.ErrResourceNotFound)
	wantCode(t, b.PutResourcePolicy(ctx, kinesis.StreamARN("us-east-1", "000000000000", "missing"), policy), kinesis.ErrResourceNotFound)
}

func TestBroker_AccountSettings(t *testing.T) {
	now := time.Date(2026, 4, 5, 6, 7, 8, 0, time.UTC)
	b := openBroker(t, Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	status := func() string {
		t.Helper()
		a, err := b.DescribeAccountSettings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return a.CommitmentStatus
	}
	if got := status(); got != kinesis.CommitmentDisabled {
		t.Fatalf("initial status %s", got)
	}
	a, err := b.UpdateAccountSettings(ctx, true)
	if err != nil || a.CommitmentStatus != kinesis.CommitmentEnabled || !a.StartedAt.Equal(now) || !a.EarliestAllowedEndAt.Equal(now.Add(kinesis.MinimumCommitmentPeriod)) {
		t.Fatalf("enable = %+v, %v", a, err)
	}
	now = now.Add(time.Hour)
	a, err = b.UpdateAccountSettings(ctx, false)
	if err != nil || a.CommitmentStatus != kinesis.CommitmentEnabledUntil || !a.EndedAt.Equal(a.EarliestAllowedEndAt) {
		t.Fatalf("early disable = %+v, %v", a, err)
	}
	now = now.Add(kinesis.MinimumCommitmentPeriod)
	if got := status(); got != kinesis.CommitmentDisabled {
		t.Fatalf("status after the earliest end = %s", got)
	}
	if a, err = b.UpdateAccountSettings(ctx, true); err != nil || !a.StartedAt.Equal(now) || !a.EndedAt.IsZero() {
		t.Fatalf("enable again = %+v, %v", a, err)
	}
	now = now.Add(48 * time.Hour)
	if a, err = b.UpdateAccountSettings(ctx, false); err != nil || a.CommitmentStatus != kinesis.CommitmentDisabled || !a.EndedAt.Equal(now) {
		t.Fatalf("late disable = %+v, %v", a, err)
	}
}
