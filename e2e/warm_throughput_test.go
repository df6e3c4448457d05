package e2e

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestUpdateStreamWarmThroughput sets an ON_DEMAND stream's warm
// throughput through aws-sdk-go-v2: refused until the account has the
// minimum throughput billing commitment, refused for PROVISIONED streams
// and above 10 GiB/s, then shown by DescribeStreamSummary.
func TestUpdateStreamWarmThroughput(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--region", testRegion, "--account-id", testAccount)
	c := s.Client()
	ctx := t.Context()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("warm"),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "warm")
	createStream(t, c, "prov", 1)
	update := func(name string, mibps int32) (*kinesis.UpdateStreamWarmThroughputOutput, error) {
		return c.UpdateStreamWarmThroughput(ctx, &kinesis.UpdateStreamWarmThroughputInput{StreamARN: aws.String(streamARN(name)), WarmThroughputMiBps: aws.Int32(mibps)})
	}

	// Not before the account commits to a minimum throughput.
	_, err := update("warm", 100)
	wantTyped[*types.ValidationException](t, err)
	if _, err := c.UpdateAccountSettings(ctx, &kinesis.UpdateAccountSettingsInput{
		MinimumThroughputBillingCommitment: &types.MinimumThroughputBillingCommitmentInput{Status: types.MinimumThroughputBillingCommitmentInputStatusEnabled}}); err != nil {
		t.Fatal(err)
	}

	sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("warm")})
	if err != nil {
		t.Fatal(err)
	}
	if w := sum.StreamDescriptionSummary.WarmThroughput; w != nil {
		t.Errorf("WarmThroughput before it was set = %+v, want none", w)
	}

	out, err := update("warm", 100)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.StreamName) != "warm" || aws.ToString(out.StreamARN) != streamARN("warm") ||
		out.WarmThroughput == nil || aws.ToInt32(out.WarmThroughput.TargetMiBps) != 100 || aws.ToInt32(out.WarmThroughput.CurrentMiBps) != 100 {
		t.Fatalf("UpdateStreamWarmThroughput = %+v", out)
	}
	// By name too; lowering it releases capacity.
	if _, err := c.UpdateStreamWarmThroughput(ctx, &kinesis.UpdateStreamWarmThroughputInput{StreamName: aws.String("warm"), WarmThroughputMiBps: aws.Int32(50)}); err != nil {
		t.Fatal(err)
	}
	sum, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("warm")})
	if err != nil {
		t.Fatal(err)
	}
	if w := sum.StreamDescriptionSummary.WarmThroughput; w == nil || aws.ToInt32(w.TargetMiBps) != 50 || aws.ToInt32(w.CurrentMiBps) != 50 {
		t.Errorf("DescribeStreamSummary WarmThroughput = %+v, want 50/50", w)
	}

	_, err = update("prov", 100)
	wantTyped[*types.ValidationException](t, err)
	_, err = update("warm", 10241)
	wantTyped[*types.LimitExceededException](t, err)
	_, err = update("warm", -1)
	wantTyped[*types.ValidationException](t, err)
	_, err = update("nope", 100)
	wantTyped[*types.ResourceNotFoundException](t, err)
	sum, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("prov")})
	if err != nil || sum.StreamDescriptionSummary.WarmThroughput != nil {
		t.Errorf("PROVISIONED stream summary WarmThroughput = %+v, %v; want none", sum.StreamDescriptionSummary.WarmThroughput, err)
	}

	// CreateStream takes the warm throughput of a new ON_DEMAND stream.
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("warm2"), WarmThroughputMiBps: aws.Int32(20),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "warm2")
	sum, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("warm2")})
	if w := sum.StreamDescriptionSummary.WarmThroughput; err != nil || w == nil || aws.ToInt32(w.TargetMiBps) != 20 {
		t.Errorf("created with 20 MiBps: WarmThroughput = %+v, %v", w, err)
	}
	_, err = c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("prov2"), ShardCount: aws.Int32(1), WarmThroughputMiBps: aws.Int32(20)})
	wantTyped[*types.ValidationException](t, err)
}
