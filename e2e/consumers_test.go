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
