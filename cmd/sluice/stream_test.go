package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestCreateStreamInput(t *testing.T) {
	in, err := createStreamInput("s", 4, false, true)
	if err != nil || aws.ToInt32(in.ShardCount) != 4 || in.StreamModeDetails != nil {
		t.Errorf("provisioned: %+v, %v", in, err)
	}
	in, err = createStreamInput("s", 1, true, false)
	if err != nil || in.ShardCount != nil || in.StreamModeDetails.StreamMode != types.StreamModeOnDemand {
		t.Errorf("on-demand: %+v, %v", in, err)
	}
	if _, err := createStreamInput("s", 2, true, true); err == nil {
		t.Error("--on-demand with --shards: want an error")
	}
	if _, err := createStreamInput("s", 0, false, true); err == nil {
		t.Error("--shards 0: want an error")
	}
}

func TestRunStream_Usage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := &cmdEnv{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	if code := env.main(context.Background(), []string{"stream", "frobnicate"}); code != exitUsage {
		t.Errorf("unknown command: exit %d, want %d", code, exitUsage)
	}
	if !strings.HasPrefix(stderr.String(), `sluice: unknown command "frobnicate"`) || !strings.Contains(stderr.String(), "describe") {
		t.Errorf("want the message first, then the commands:\n%s", stderr.String())
	}
	for _, args := range [][]string{{"create"}, {"describe", "a", "b"}, {"delete"}, {"split", "s"}, {"merge", "s", "a"},
		{"scale", "s", "0"}, {"scale", "s", "--mode", "fast"}, {"retention", "s", "1w"}, {"tag", "s", "novalue"}} {
		stderr.Reset()
		if code := env.main(context.Background(), append([]string{"stream"}, args...)); code != exitUsage {
			t.Errorf("%q: exit %d, want %d; stderr:\n%s", args, code, exitUsage, stderr.String())
		}
	}
}

type fakeListStreams struct{ pages []*kinesis.ListStreamsOutput }

func (f *fakeListStreams) ListStreams(ctx context.Context, in *kinesis.ListStreamsInput, _ ...func(*kinesis.Options)) (*kinesis.ListStreamsOutput, error) {
	switch {
	case in.NextToken != nil && *in.NextToken != "t1":
		panic("unexpected token " + *in.NextToken)
	case in.ExclusiveStartStreamName != nil && *in.ExclusiveStartStreamName != "b":
		panic("unexpected start " + *in.ExclusiveStartStreamName)
	}
	out := f.pages[0]
	f.pages = f.pages[1:]
	return out, nil
}

func TestListStreams(t *testing.T) {
	t.Run("summaries and NextToken", func(t *testing.T) {
		api := &fakeListStreams{pages: []*kinesis.ListStreamsOutput{
			{StreamSummaries: []types.StreamSummary{{StreamName: aws.String("a"), StreamStatus: types.StreamStatusActive,
				StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeProvisioned}}},
				HasMoreStreams: aws.Bool(true), NextToken: aws.String("t1")},
			{StreamSummaries: []types.StreamSummary{{StreamName: aws.String("b")}}, HasMoreStreams: aws.Bool(false)},
		}}
		got, err := listStreams(context.Background(), api)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].StreamName != "a" || got[0].StreamMode != "PROVISIONED" || got[1].StreamName != "b" {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("names and ExclusiveStartStreamName", func(t *testing.T) {
		api := &fakeListStreams{pages: []*kinesis.ListStreamsOutput{
			{StreamNames: []string{"a", "b"}, HasMoreStreams: aws.Bool(true)},
			{StreamNames: []string{"c"}, HasMoreStreams: aws.Bool(false)},
		}}
		got, err := listStreams(context.Background(), api)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[2].StreamName != "c" {
			t.Errorf("got %+v", got)
		}
	})
}

type fakeDescribe struct {
	*fakeKinesis
	status types.StreamStatus
}

func (f fakeDescribe) DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, _ ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &types.StreamDescriptionSummary{
		StreamName: in.StreamName, StreamStatus: f.status, RetentionPeriodHours: aws.Int32(24),
		OpenShardCount: aws.Int32(2), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeProvisioned},
	}}, nil
}

func TestDescribeStream(t *testing.T) {
	f := newFakeKinesis(3)
	f.add("shardId-000000000000", "x", "y")
	f.reshard([]string{"shardId-000000000000"}, "shardId-000000000003")
	d, err := describeStream(context.Background(), fakeDescribe{f, types.StreamStatusActive}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Shards) != 4 {
		t.Fatalf("got %d shards, want 4 (ListShards pages of 2 followed)", len(d.Shards))
	}
	if s := d.Shards[3]; s.ParentShardId != "shardId-000000000000" || s.EndingSequenceNumber != "" {
		t.Errorf("child shard = %+v", s)
	}
	var out bytes.Buffer
	if err := writeDescription(&out, d); err != nil {
		t.Fatal(err)
	}
	// Column widths vary with content; compare with runs of spaces collapsed.
	text := regexp.MustCompile(` +`).ReplaceAllString(out.String(), " ")
	for _, want := range []string{
		"Name: orders\n",
		"Status: ACTIVE\n",
		"Mode: PROVISIONED\n",
		"Retention: 24h\n",
		"Shards: 2 open, 4 listed\n",
		"SHARD STATE PARENTS HASH KEY RANGE SEQUENCE NUMBER RANGE\n",
		"shardId-000000000000 closed - 0-113427455640312821154458202477256070484 0-2\n",
		"shardId-000000000003 open shardId-000000000000 0-113427455640312821154458202477256070484 0-\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("description lacks %q:\n%s", want, out.String())
		}
	}

	d, err = describeStream(context.Background(), fakeDescribe{f, types.StreamStatusCreating}, "orders")
	if err != nil || len(d.Shards) != 0 {
		t.Errorf("a CREATING stream: %d shards, %v; want none listed", len(d.Shards), err)
	}
}
