package main

// `sluice stream split|merge|scale|retention|tag`: resharding, capacity,
// retention and tags, as `rpk topic add-partitions|alter-config` do for
// Kafka, against any Kinesis endpoint.

import (
	"context"
	"flag"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// waitFlags are --wait and --wait-timeout of the commands that change a
// stream: the change leaves it UPDATING for a while on AWS (milliseconds
// on Sluice).
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (w *waitFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&w.wait, "wait", false, "wait until the stream is ACTIVE again (default false: return while it is UPDATING)")
	fs.DurationVar(&w.timeout, "wait-timeout", streamWaitTimeout, "how long --wait waits before giving up")
}

// done waits if asked and returns the status to print.
func (w *waitFlags) done(ctx context.Context, api kinesis.DescribeStreamAPIClient, stream string) (string, error) {
	if !w.wait {
		return "UPDATING", nil
	}
	if err := waitActive(ctx, api, stream, w.timeout); err != nil {
		return "", err
	}
	return "ACTIVE", nil
}

func runStreamSplit(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "stream split", "sluice stream split STREAM SHARD [flags]\n\n"+
		"Splits an open shard in two at a hash key (default: the middle of its hash key range).")
	var cf clientFlags
	cf.register(fs, env)
	at := fs.String("at", "", "hash `key` where the second child's range starts (a decimal number inside the shard's range, above its start)")
	var w waitFlags
	w.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError(fs, "stream split: want STREAM and SHARD, got %d arguments", len(pos))
	}
	if *at != "" {
		if err := checkHashKey(*at); err != nil {
			return usageError(fs, "stream split: --at: %v", err)
		}
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	stream, shardID := pos[0], pos[1]
	newStart := *at
	if newStart == "" {
		shards, err := listShards(ctx, client, stream)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(shards, func(s types.Shard) bool { return aws.ToString(s.ShardId) == shardID })
		if i < 0 {
			return fmt.Errorf("stream %s has no shard %s (see `sluice stream describe %s`)", stream, shardID, stream)
		}
		if newStart, err = midpoint(shards[i].HashKeyRange); err != nil {
			return fmt.Errorf("split %s: %w", shardID, err)
		}
	}
	name, arn := streamRef(stream)
	if _, err := client.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: name, StreamARN: arn,
		ShardToSplit: aws.String(shardID), NewStartingHashKey: aws.String(newStart)}); err != nil {
		return fmt.Errorf("split %s of %s: %w", shardID, stream, err)
	}
	status, err := w.done(ctx, client, stream)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "stream %s: split %s at hash key %s (%s)\n", stream, shardID, newStart, status)
	return nil
}

// midpoint is the hash key that halves a shard's range: the first key of
// its upper half.
func midpoint(r *types.HashKeyRange) (string, error) {
	if r == nil {
		return "", fmt.Errorf("the shard has no hash key range")
	}
	lo, ok1 := new(big.Int).SetString(aws.ToString(r.StartingHashKey), 10)
	hi, ok2 := new(big.Int).SetString(aws.ToString(r.EndingHashKey), 10)
	if !ok1 || !ok2 || hi.Cmp(lo) <= 0 {
		return "", fmt.Errorf("the shard's hash key range %s-%s cannot be split", aws.ToString(r.StartingHashKey), aws.ToString(r.EndingHashKey))
	}
	mid := new(big.Int).Add(lo, hi)
	mid.Rsh(mid, 1)
	return mid.Add(mid, big.NewInt(1)).String(), nil
}

func runStreamMerge(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "stream merge", "sluice stream merge STREAM SHARD ADJACENT_SHARD [flags]\n\n"+
		"Merges two open shards whose hash key ranges are adjacent into one.")
	var cf clientFlags
	cf.register(fs, env)
	var w waitFlags
	w.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		return usageError(fs, "stream merge: want STREAM, SHARD and ADJACENT_SHARD, got %d arguments", len(pos))
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	name, arn := streamRef(pos[0])
	if _, err := client.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: name, StreamARN: arn,
		ShardToMerge: aws.String(pos[1]), AdjacentShardToMerge: aws.String(pos[2])}); err != nil {
		return fmt.Errorf("merge %s and %s of %s: %w", pos[1], pos[2], pos[0], err)
	}
	status, err := w.done(ctx, client, pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "stream %s: merged %s and %s (%s)\n", pos[0], pos[1], pos[2], status)
	return nil
}

func runStreamScale(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "stream scale", "sluice stream scale STREAM SHARDS [flags]\n"+
		"       sluice stream scale STREAM --mode on-demand|provisioned\n\n"+
		"Sets a provisioned stream's open shard count (UpdateShardCount, uniform scaling), or switches\n"+
		"the stream's capacity mode (UpdateStreamMode).")
	var cf clientFlags
	cf.register(fs, env)
	mode := fs.String("mode", "", "switch the capacity `mode`: on-demand or provisioned (the shard count stays)")
	var w waitFlags
	w.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	var count int64
	switch {
	case *mode != "" && len(pos) != 1:
		return usageError(fs, "stream scale: --mode takes STREAM alone, got %d arguments", len(pos))
	case *mode != "" && *mode != "on-demand" && *mode != "provisioned":
		return usageError(fs, "stream scale: --mode must be on-demand or provisioned, got %q", *mode)
	case *mode == "" && len(pos) != 2:
		return usageError(fs, "stream scale: want STREAM and SHARDS, got %d arguments", len(pos))
	case *mode == "":
		if count, err = strconv.ParseInt(pos[1], 10, 32); err != nil || count < 1 {
			return usageError(fs, "stream scale: SHARDS must be a whole number of at least 1, got %q", pos[1])
		}
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	stream := pos[0]
	var what string
	if *mode != "" {
		d, err := describeStream(ctx, client, stream)
		if err != nil {
			return err
		}
		m := types.StreamModeOnDemand
		if *mode == "provisioned" {
			m = types.StreamModeProvisioned
		}
		if _, err := client.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: aws.String(d.StreamARN),
			StreamModeDetails: &types.StreamModeDetails{StreamMode: m}}); err != nil {
			return fmt.Errorf("switch %s to %s: %w", stream, *mode, err)
		}
		what = "capacity mode " + string(m)
	} else {
		name, arn := streamRef(stream)
		if _, err := client.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: name, StreamARN: arn,
			TargetShardCount: aws.Int32(int32(count)), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
			return fmt.Errorf("scale %s to %s: %w", stream, plural(count, "shard"), err)
		}
		what = "scaling to " + plural(count, "open shard")
	}
	status, err := w.done(ctx, client, stream)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "stream %s: %s (%s)\n", stream, what, status)
	return nil
}

func runStreamRetention(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "stream retention", "sluice stream retention STREAM [PERIOD] [flags]\n\n"+
		"Prints the stream's retention period, or sets it to PERIOD: hours (48), or a number with h or d\n"+
		"(48h, 7d); from 24h to 8760h (365d). It calls Increase- or DecreaseStreamRetentionPeriod.")
	var cf clientFlags
	cf.register(fs, env)
	var w waitFlags
	w.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError(fs, "stream retention: want STREAM and optionally PERIOD, got %d arguments", len(pos))
	}
	var hours int32
	if len(pos) == 2 {
		if hours, err = parseRetention(pos[1]); err != nil {
			return usageError(fs, "stream retention: %v", err)
		}
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	stream := pos[0]
	name, arn := streamRef(stream)
	sum, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name, StreamARN: arn})
	if err != nil {
		return fmt.Errorf("describe stream %s: %w", stream, err)
	}
	current := aws.ToInt32(sum.StreamDescriptionSummary.RetentionPeriodHours)
	switch {
	case len(pos) == 1:
		fmt.Fprintf(env.stdout, "stream %s: retention %dh\n", stream, current)
		return nil
	case hours == current:
		fmt.Fprintf(env.stdout, "stream %s: retention %dh (unchanged)\n", stream, current)
		return nil
	case hours > current:
		_, err = client.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: name, StreamARN: arn, RetentionPeriodHours: aws.Int32(hours)})
	default:
		_, err = client.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: name, StreamARN: arn, RetentionPeriodHours: aws.Int32(hours)})
	}
	if err != nil {
		return fmt.Errorf("set the retention of %s to %dh: %w", stream, hours, err)
	}
	status, err := w.done(ctx, client, stream)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "stream %s: retention %dh, was %dh (%s)\n", stream, hours, current, status)
	return nil
}

// parseRetention reads a retention period in whole hours: 48, 48h or 2d.
func parseRetention(s string) (int32, error) {
	unit := int64(1)
	num := s
	switch {
	case strings.HasSuffix(s, "d"):
		unit, num = 24, strings.TrimSuffix(s, "d")
	case strings.HasSuffix(s, "h"):
		num = strings.TrimSuffix(s, "h")
	}
	n, err := strconv.ParseInt(num, 10, 32)
	if err != nil || n < 1 || n*unit > 1<<31-1 {
		return 0, fmt.Errorf("PERIOD must be hours (48), or a number with h or d (48h, 7d), got %q", s)
	}
	return int32(n * unit), nil
}

func runStreamTag(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "stream tag", "sluice stream tag STREAM [KEY=VALUE...] [--remove KEY]... [flags]\n\n"+
		"Adds or changes tags (KEY=VALUE), removes tags (--remove KEY), then prints the stream's tags.\n"+
		"With no change asked for it only prints them.")
	var cf clientFlags
	cf.register(fs, env)
	var remove []string
	fs.Func("remove", "remove the tag `key`; repeat for several", func(v string) error { remove = append(remove, v); return nil })
	asJSON := fs.Bool("json", false, "print the tags as a JSON object")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 {
		return usageError(fs, "stream tag: missing STREAM")
	}
	add := map[string]string{}
	for _, kv := range pos[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError(fs, "stream tag: want KEY=VALUE, got %q", kv)
		}
		add[k] = v
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	stream := pos[0]
	name, arn := streamRef(stream)
	if len(add) > 0 {
		if _, err := client.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: name, StreamARN: arn, Tags: add}); err != nil {
			return fmt.Errorf("tag %s: %w", stream, err)
		}
	}
	if len(remove) > 0 {
		if _, err := client.RemoveTagsFromStream(ctx, &kinesis.RemoveTagsFromStreamInput{StreamName: name, StreamARN: arn, TagKeys: remove}); err != nil {
			return fmt.Errorf("remove tags of %s: %w", stream, err)
		}
	}
	tags := map[string]string{}
	in := &kinesis.ListTagsForStreamInput{StreamName: name, StreamARN: arn}
	for {
		out, err := client.ListTagsForStream(ctx, in)
		if err != nil {
			return fmt.Errorf("list tags of %s: %w", stream, err)
		}
		for _, t := range out.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		if !aws.ToBool(out.HasMoreTags) || len(out.Tags) == 0 {
			break
		}
		in.ExclusiveStartTagKey = out.Tags[len(out.Tags)-1].Key
	}
	if *asJSON {
		return writeJSON(env.stdout, tags)
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\n", k, tags[k])
	}
	return tw.Flush()
}
