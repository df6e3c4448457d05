package broker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

func wantCode(t *testing.T, err error, code kinesis.ErrorCode) {
	t.Helper()
	if got := kinesis.CodeOf(err); err == nil || got != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

func TestBroker_StreamConsumers(t *testing.T) {
	now := time.Date(2026, 4, 5, 6, 7, 8, 0, time.UTC)
	clock := func() time.Time { return now }
	b := openBroker(t, Config{ConsumerCreateDelay: 5 * time.Second, Now: clock})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	arn := kinesis.StreamARN("us-east-1", "000000000000", "s")

	t.Run("register and describe", func(t *testing.T) {
		d, err := b.RegisterStreamConsumer(ctx, arn, "c0", map[string]string{"k": "v"})
		if err != nil {
			t.Fatal(err)
		}
		wantARN := fmt.Sprintf("%s/consumer/c0:%d", arn, now.Unix())
		if d.ARN != wantARN || d.Status != kinesis.ConsumerCreating || d.StreamARN != arn {
			t.Fatalf("registered %+v, want ARN %s CREATING", d, wantARN)
		}
		now = now.Add(5 * time.Second)
		for _, ref := range []kinesis.ConsumerRef{{ARN: d.ARN}, {StreamARN: arn, Name: "c0"}, {ARN: d.ARN, StreamARN: arn, Name: "c0"}} {
			got, err := b.DescribeStreamConsumer(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != kinesis.ConsumerActive || got.ARN != d.ARN {
				t.Errorf("describe %+v = %+v, want ACTIVE %s", ref, got, d.ARN)
			}
		}
		tags, err := b.ListTagsForResource(ctx, d.ARN)
		if err != nil || tags["k"] != "v" {
			t.Fatalf("consumer tags = %v, %v", tags, err)
		}
		_, err = b.RegisterStreamConsumer(ctx, arn, "c0", nil)
		wantCode(t, err, kinesis.ErrResourceInUse)
	})

	t.Run("bad references", func(t *testing.T) {
		_, err := b.DescribeStreamConsumer(ctx, kinesis.ConsumerRef{StreamARN: arn})
		wantCode(t, err, kinesis.ErrInvalidArgument)
		_, err = b.DescribeStreamConsumer(ctx, kinesis.ConsumerRef{StreamARN: arn, Name: "nope"})
		wantCode(t, err, kinesis.ErrResourceNotFound)
		_, err = b.DescribeStreamConsumer(ctx, kinesis.ConsumerRef{ARN: arn + "/consumer/c0:1"})
		wantCode(t, err, kinesis.ErrResourceNotFound)
		_, err = b.DescribeStreamConsumer(ctx, kinesis.ConsumerRef{ARN: fmt.Sprintf("%s/consumer/c0:%d", arn, now.Unix()), Name: "other"})
		wantCode(t, err, kinesis.ErrInvalidArgument)
		_, err = b.RegisterStreamConsumer(ctx, kinesis.StreamARN("us-east-1", "000000000000", "missing"), "c", nil)
		wantCode(t, err, kinesis.ErrResourceNotFound)
	})

	t.Run("limits", func(t *testing.T) {
		// Five CREATING at once, then no more until they are ACTIVE.
		for i := 1; i <= kinesis.MaxCreatingConsumers; i++ {
			if _, err := b.RegisterStreamConsumer(ctx, arn, fmt.Sprintf("c%02d", i), nil); err != nil {
				t.Fatal(err)
			}
		}
		_, err := b.RegisterStreamConsumer(ctx, arn, "extra", nil)
		wantCode(t, err, kinesis.ErrLimitExceeded)
		now = now.Add(5 * time.Second)
		for i := kinesis.MaxCreatingConsumers + 1; i < kinesis.MaxConsumersPerStream; i++ {
			if i%kinesis.MaxCreatingConsumers == 0 {
				now = now.Add(5 * time.Second)
			}
			if _, err := b.RegisterStreamConsumer(ctx, arn, fmt.Sprintf("c%02d", i), nil); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(5 * time.Second)
		_, err = b.RegisterStreamConsumer(ctx, arn, "extra", nil)
		wantCode(t, err, kinesis.ErrLimitExceeded)
		d, err := b.DescribeStream(ctx, kinesis.StreamRef{Name: "s"})
		if err != nil || d.ConsumerCount != kinesis.MaxConsumersPerStream {
			t.Fatalf("ConsumerCount = %d, %v; want %d", d.ConsumerCount, err, kinesis.MaxConsumersPerStream)
		}
	})

	t.Run("list pages", func(t *testing.T) {
		var names []string
		in := kinesis.ListStreamConsumersInput{StreamARN: arn, MaxResults: 7}
		for {
			out, err := b.ListStreamConsumers(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range out.Consumers {
				names = append(names, c.Name)
			}
			if out.NextToken == "" {
				break
			}
			in.NextToken = out.NextToken
		}
		if len(names) != kinesis.MaxConsumersPerStream || names[0] != "c0" || names[1] != "c01" {
			t.Fatalf("listed %v", names)
		}
		ts := now
		_, err := b.ListStreamConsumers(ctx, kinesis.ListStreamConsumersInput{StreamARN: arn, StreamCreationTimestamp: &ts})
		wantCode(t, err, kinesis.ErrResourceNotFound)
		_, err = b.ListStreamConsumers(ctx, kinesis.ListStreamConsumersInput{StreamARN: arn, NextToken: "garbage"})
		wantCode(t, err, kinesis.ErrInvalidArgument)
	})

	t.Run("deregister and delete stream", func(t *testing.T) {
		if err := b.DeregisterStreamConsumer(ctx, kinesis.ConsumerRef{StreamARN: arn, Name: "c0"}); err != nil {
			t.Fatal(err)
		}
		_, err := b.DescribeStreamConsumer(ctx, kinesis.ConsumerRef{StreamARN: arn, Name: "c0"})
		wantCode(t, err, kinesis.ErrResourceNotFound)
		err = b.DeregisterStreamConsumer(ctx, kinesis.ConsumerRef{StreamARN: arn, Name: "c0"})
		wantCode(t, err, kinesis.ErrResourceNotFound)

		wantCode(t, b.DeleteStream(ctx, kinesis.StreamRef{Name: "s"}, false), kinesis.ErrResourceInUse)
		if _, err := b.DescribeStream(ctx, kinesis.StreamRef{Name: "s"}); err != nil {
			t.Fatalf("stream gone after a refused delete: %v", err)
		}
		if err := b.DeleteStream(ctx, kinesis.StreamRef{Name: "s"}, true); err != nil {
			t.Fatal(err)
		}
		_, err = b.DescribeStream(ctx, kinesis.StreamRef{Name: "s"})
		wantCode(t, err, kinesis.ErrResourceNotFound)
	})
}

func TestBroker_ConsumerTags(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1, Tags: map[string]string{"stream": "1"}}); err != nil {
		t.Fatal(err)
	}
	arn := kinesis.StreamARN("us-east-1", "000000000000", "s")
	d, err := b.RegisterStreamConsumer(ctx, arn, "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.TagResource(ctx, d.ARN, map[string]string{"a": "1", "b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := b.UntagResource(ctx, d.ARN, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	tags, err := b.ListTagsForResource(ctx, d.ARN)
	if err != nil || len(tags) != 1 || tags["b"] != "2" {
		t.Fatalf("consumer tags = %v, %v; want b=2", tags, err)
	}
	tags, err = b.ListTagsForResource(ctx, arn)
	if err != nil || len(tags) != 1 || tags["stream"] != "1" {
		t.Fatalf("stream tags = %v, %v; want stream=1 only", tags, err)
	}
	_, err = b.ListTagsForResource(ctx, arn+"/consumer/other:1")
	wantCode(t, err, kinesis.ErrResourceNotFound)
}

func TestBroker_ConsumerDeleting(t *testing.T) {
	clock := newTestClock()
	b := openBroker(t, Config{ConsumerDeleteDelay: 5 * time.Second, Now: clock.Now})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	arn := kinesis.StreamARN("us-east-1", "000000000000", "s")
	first, err := b.RegisterStreamConsumer(ctx, arn, "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := kinesis.ConsumerRef{ARN: first.ARN}
	if err := b.DeregisterStreamConsumer(ctx, ref); err != nil {
		t.Fatal(err)
	}
	// DELETING for the delay: described, listed, counted, and its name
	// is not free.
	clock.Advance(4 * time.Second)
	if d, err := b.DescribeStreamConsumer(ctx, ref); err != nil || d.Status != kinesis.ConsumerDeleting {
		t.Fatalf("describe while deleting = %+v, %v; want DELETING", d, err)
	}
	list, err := b.ListStreamConsumers(ctx, kinesis.ListStreamConsumersInput{StreamARN: arn})
	if err != nil || len(list.Consumers) != 1 || list.Consumers[0].Status != kinesis.ConsumerDeleting {
		t.Fatalf("list while deleting = %+v, %v", list.Consumers, err)
	}
	_, err = b.RegisterStreamConsumer(ctx, arn, "c", nil)
	wantCode(t, err, kinesis.ErrResourceInUse)
	if !strings.Contains(err.Error(), "DELETING") {
		t.Errorf("re-register while deleting: %v, want it to say DELETING", err)
	}
	// Deregistering again changes nothing: the consumer is still gone on
	// time.
	if err := b.DeregisterStreamConsumer(ctx, kinesis.ConsumerRef{StreamARN: arn, Name: "c"}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteStream(ctx, kinesis.StreamRef{Name: "s"}, false); kinesis.CodeOf(err) != kinesis.ErrResourceInUse {
		t.Fatalf("DeleteStream with a DELETING consumer: %v, want ResourceInUseException", err)
	}

	// Then gone: not found, not listed, not counted, the name free again
	// under a new ARN.
	clock.Advance(time.Second)
	_, err = b.DescribeStreamConsumer(ctx, ref)
	wantCode(t, err, kinesis.ErrResourceNotFound)
	err = b.DeregisterStreamConsumer(ctx, ref)
	wantCode(t, err, kinesis.ErrResourceNotFound)
	list, err = b.ListStreamConsumers(ctx, kinesis.ListStreamConsumersInput{StreamARN: arn})
	if err != nil || len(list.Consumers) != 0 {
		t.Fatalf("list once gone = %+v, %v", list.Consumers, err)
	}
	if d, err := b.DescribeStream(ctx, kinesis.StreamRef{Name: "s"}); err != nil || d.ConsumerCount != 0 {
		t.Fatalf("ConsumerCount once gone = %d, %v", d.ConsumerCount, err)
	}
	clock.Advance(time.Second)
	again, err := b.RegisterStreamConsumer(ctx, arn, "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.ARN == first.ARN || again.Status == kinesis.ConsumerDeleting {
		t.Fatalf("re-registered %+v, want a new ARN", again)
	}
	_, err = b.DescribeStreamConsumer(ctx, ref)
	wantCode(t, err, kinesis.ErrResourceNotFound)
}
