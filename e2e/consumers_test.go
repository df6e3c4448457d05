package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestConsumers drives the stream consumer registrations through
// aws-sdk-go-v2: register, describe, list with paging, the limit of 20,
// duplicates, deregister, consumer tags, and DeleteStream refusing a
// stream with consumers unless told to delete them.
func TestConsumers(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--region", testRegion, "--account-id", testAccount)
	c := s.Client()
	ctx := t.Context()
	createStream(t, c, "fan", 1)
	arn := aws.String(streamARN("fan"))

	var first *types.Consumer
	t.Run("Register", func(t *testing.T) {
		out, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{
			StreamARN: arn, ConsumerName: aws.String("app0"), Tags: map[string]string{"team": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		first = out.Consumer
		if !strings.HasPrefix(aws.ToString(first.ConsumerARN), *arn+"/consumer/app0:") {
			t.Errorf("ConsumerARN = %q", aws.ToString(first.ConsumerARN))
		}
		if st := first.ConsumerStatus; st != types.ConsumerStatusCreating && st != types.ConsumerStatusActive {
			t.Errorf("ConsumerStatus = %s", st)
		}
		_, err = c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String("app0")})
		wantTyped[*types.ResourceInUseException](t, err)
	})

	t.Run("Describe", func(t *testing.T) {
		for _, in := range []*kinesis.DescribeStreamConsumerInput{
			{ConsumerARN: first.ConsumerARN},
			{StreamARN: arn, ConsumerName: aws.String("app0")},
		} {
			out, err := c.DescribeStreamConsumer(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			d := out.ConsumerDescription
			if aws.ToString(d.ConsumerARN) != aws.ToString(first.ConsumerARN) || aws.ToString(d.StreamARN) != *arn ||
				d.ConsumerStatus != types.ConsumerStatusActive || !aws.ToTime(d.ConsumerCreationTimestamp).Equal(aws.ToTime(first.ConsumerCreationTimestamp)) {
				t.Errorf("ConsumerDescription = %+v, want ACTIVE %s", d, aws.ToString(first.ConsumerARN))
			}
		}
		_, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String("nope")})
		wantTyped[*types.ResourceNotFoundException](t, err)
		_, err = c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: arn})
		wantTyped[*types.InvalidArgumentException](t, err)
		_, err = c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerName: aws.String("bad name")})
		wantError(t, err, "ValidationException")
		tags, err := c.ListTagsForResource(ctx, &kinesis.ListTagsForResourceInput{ResourceARN: first.ConsumerARN})
		if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" {
			t.Errorf("consumer tags = %+v, %v", tags, err)
		}
	})

	t.Run("LimitAndList", func(t *testing.T) {
		for i := 1; i < 20; i++ {
			_, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String(fmt.Sprintf("app%02d", i))})
			if err != nil {
				t.Fatal(err)
			}
		}
		_, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String("app20")})
		wantTyped[*types.LimitExceededException](t, err)

		var names []string
		pages := 0
		p := kinesis.NewListStreamConsumersPaginator(c, &kinesis.ListStreamConsumersInput{StreamARN: arn, MaxResults: aws.Int32(6)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, cs := range out.Consumers {
				names = append(names, aws.ToString(cs.ConsumerName))
			}
		}
		if len(names) != 20 || pages != 4 {
			t.Errorf("listed %d consumers in %d pages, want 20 in 4: %v", len(names), pages, names)
		}
		sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn})
		if err != nil || aws.ToInt32(sum.StreamDescriptionSummary.ConsumerCount) != 20 {
			t.Errorf("ConsumerCount = %v, %v; want 20", sum, err)
		}
	})

	t.Run("Deregister", func(t *testing.T) {
		if _, err := c.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: first.ConsumerARN}); err != nil {
			t.Fatal(err)
		}
		_, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: first.ConsumerARN})
		wantTyped[*types.ResourceNotFoundException](t, err)
		_, err = c.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String("app0")})
		wantTyped[*types.ResourceNotFoundException](t, err)
	})

	t.Run("DeleteStream", func(t *testing.T) {
		_, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamARN: arn})
		wantTyped[*types.ResourceInUseException](t, err)
		if _, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn}); err != nil {
			t.Fatalf("stream gone after a refused DeleteStream: %v", err)
		}
		if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamARN: arn, EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		_, err = c.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: arn})
		wantTyped[*types.ResourceNotFoundException](t, err)
	})
}

// TestSettings drives enhanced monitoring, resource policies and account
// settings through aws-sdk-go-v2.
func TestSettings(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--region", testRegion, "--account-id", testAccount)
	c := s.Client()
	ctx := t.Context()
	createStream(t, c, "mon", 1)
	arn := aws.String(streamARN("mon"))

	t.Run("EnhancedMonitoring", func(t *testing.T) {
		en, err := c.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{
			StreamName: aws.String("mon"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes}})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(en.StreamARN) != *arn || len(en.CurrentShardLevelMetrics) != 0 ||
			len(en.DesiredShardLevelMetrics) != 1 || en.DesiredShardLevelMetrics[0] != types.MetricsNameIncomingBytes {
			t.Errorf("Enable = %+v", en)
		}
		en, err = c.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{
			StreamARN: arn, ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}})
		if err != nil || len(en.DesiredShardLevelMetrics) != 7 {
			t.Fatalf("Enable ALL = %+v, %v", en, err)
		}
		sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn})
		if err != nil || len(sum.StreamDescriptionSummary.EnhancedMonitoring) != 1 ||
			len(sum.StreamDescriptionSummary.EnhancedMonitoring[0].ShardLevelMetrics) != 7 {
			t.Errorf("summary EnhancedMonitoring = %+v, %v", sum, err)
		}
		dis, err := c.DisableEnhancedMonitoring(ctx, &kinesis.DisableEnhancedMonitoringInput{
			StreamName: aws.String("mon"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}})
		if err != nil || len(dis.CurrentShardLevelMetrics) != 7 || dis.DesiredShardLevelMetrics == nil || len(dis.DesiredShardLevelMetrics) != 0 {
			t.Fatalf("Disable ALL = %+v, %v", dis, err)
		}
		d, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("mon")})
		if err != nil || len(d.StreamDescription.EnhancedMonitoring) != 1 || len(d.StreamDescription.EnhancedMonitoring[0].ShardLevelMetrics) != 0 {
			t.Errorf("DescribeStream EnhancedMonitoring = %+v, %v", d, err)
		}
		_, err = c.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{
			StreamName: aws.String("mon"), ShardLevelMetrics: []types.MetricsName{"Bogus"}})
		wantError(t, err, "ValidationException")
	})

	t.Run("ResourcePolicy", func(t *testing.T) {
		reg, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String("app")})
		if err != nil {
			t.Fatal(err)
		}
		const policy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kinesis:GetRecords","Resource":"*"}]}`
		for _, res := range []*string{arn, reg.Consumer.ConsumerARN} {
			got, err := c.GetResourcePolicy(ctx, &kinesis.GetResourcePolicyInput{ResourceARN: res})
			if err != nil || aws.ToString(got.Policy) != "{}" {
				t.Fatalf("policy of %s before put = %+v, %v", *res, got, err)
			}
			if _, err := c.PutResourcePolicy(ctx, &kinesis.PutResourcePolicyInput{ResourceARN: res, Policy: aws.String(policy)}); err != nil {
				t.Fatal(err)
			}
			got, err = c.GetResourcePolicy(ctx, &kinesis.GetResourcePolicyInput{ResourceARN: res})
			if err != nil || aws.ToString(got.Policy) != policy {
				t.Fatalf("policy of %s = %+v, %v", *res, got, err)
			}
			if _, err := c.DeleteResourcePolicy(ctx, &kinesis.DeleteResourcePolicyInput{ResourceARN: res}); err != nil {
				t.Fatal(err)
			}
			got, err = c.GetResourcePolicy(ctx, &kinesis.GetResourcePolicyInput{ResourceARN: res})
			if err != nil || aws.ToString(got.Policy) != "{}" {
				t.Fatalf("policy of %s after delete = %+v, %v", *res, got, err)
			}
		}
		_, err = c.PutResourcePolicy(ctx, &kinesis.PutResourcePolicyInput{ResourceARN: arn, Policy: aws.String("not json")})
		wantTyped[*types.InvalidArgumentException](t, err)
		_, err = c.GetResourcePolicy(ctx, &kinesis.GetResourcePolicyInput{ResourceARN: aws.String(streamARN("missing"))})
		wantTyped[*types.ResourceNotFoundException](t, err)
	})

	t.Run("AccountSettings", func(t *testing.T) {
		d, err := c.DescribeAccountSettings(ctx, &kinesis.DescribeAccountSettingsInput{})
		if err != nil || d.MinimumThroughputBillingCommitment == nil ||
			d.MinimumThroughputBillingCommitment.Status != types.MinimumThroughputBillingCommitmentOutputStatusDisabled {
			t.Fatalf("initial settings = %+v, %v", d, err)
		}
		u, err := c.UpdateAccountSettings(ctx, &kinesis.UpdateAccountSettingsInput{
			MinimumThroughputBillingCommitment: &types.MinimumThroughputBillingCommitmentInput{Status: types.MinimumThroughputBillingCommitmentInputStatusEnabled}})
		if err != nil {
			t.Fatal(err)
		}
		m := u.MinimumThroughputBillingCommitment
		if m.Status != types.MinimumThroughputBillingCommitmentOutputStatusEnabled || m.StartedAt == nil || m.EarliestAllowedEndAt == nil || m.EndedAt != nil {
			t.Errorf("enabled = %+v", m)
		}
		u, err = c.UpdateAccountSettings(ctx, &kinesis.UpdateAccountSettingsInput{
			MinimumThroughputBillingCommitment: &types.MinimumThroughputBillingCommitmentInput{Status: types.MinimumThroughputBillingCommitmentInputStatusDisabled}})
		if err != nil {
			t.Fatal(err)
		}
		if m := u.MinimumThroughputBillingCommitment; m.Status != types.MinimumThroughputBillingCommitmentOutputStatusEnabledUntilEarliestAllowedEnd || m.EndedAt == nil {
			t.Errorf("disabled before the earliest end = %+v", m)
		}
		d, err = c.DescribeAccountSettings(ctx, &kinesis.DescribeAccountSettingsInput{})
		if err != nil || d.MinimumThroughputBillingCommitment.Status != types.MinimumThroughputBillingCommitmentOutputStatusEnabledUntilEarliestAllowedEnd {
			t.Errorf("settings = %+v, %v", d, err)
		}
	})
}
