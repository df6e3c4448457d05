package main

// `sluice stream create|list|describe|delete`: stream administration
// against any Kinesis endpoint.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func streamCommands() []command {
	return []command{
		{name: "create", summary: "create a stream", run: runStreamCreate},
		{name: "list", summary: "list stream names", run: runStreamList},
		{name: "describe", summary: "show a stream's status, mode, retention and shards", run: runStreamDescribe},
		{name: "delete", summary: "delete a stream", run: runStreamDelete},
		{name: "split", summary: "split a shard in two", run: runStreamSplit},
		{name: "merge", summary: "merge two adjacent shards", run: runStreamMerge},
		{name: "scale", summary: "set the open shard count, or switch to on-demand or provisioned", run: runStreamScale},
		{name: "retention", summary: "show or set the retention period", run: runStreamRetention},
		{name: "tag", summary: "show, add or remove tags", run: runStreamTag},
	}
}

// streamWaitTimeout bounds --wait; AWS usually needs well under a minute.
const streamWaitTimeout = 5 * time.Minute

func runStreamCreate(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "stream create", "sluice stream create NAME [flags]")
	var cf clientFlags
	cf.register(fs, env)
	shards := fs.Int("shards", 1, "number of `shards` of a provisioned stream")
	onDemand := fs.Bool("on-demand", false, "create an on-demand stream, whose shards the server manages (conflicts with --shards)")
	wait := fs.Bool("wait", false, "wait until the stream is ACTIVE (default false: return while it is CREATING)")
	waitTimeout := fs.Duration("wait-timeout", streamWaitTimeout, "how long --wait waits before giving up")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "stream create: want exactly one stream NAME, got %d arguments", len(pos))
	}
	in, err := createStreamInput(pos[0], *shards, *onDemand, isFlagSet(fs, "shards"))
	if err != nil {
		return usageError(fs, "stream create: %v", err)
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	if _, err := client.CreateStream(ctx, in); err != nil {
		return fmt.Errorf("create stream %s: %w", pos[0], err)
	}
	status := "CREATING"
	if *wait {
		if err := waitActive(ctx, client, pos[0], *waitTimeout); err != nil {
			return err
		}
		status = "ACTIVE"
	}
	mode := plural(int64(*shards), "shard")
	if *onDemand {
		mode = "on-demand"
	}
	fmt.Fprintf(env.stdout, "stream %s: %s (%s)\n", pos[0], status, mode)
	return nil
}

func createStreamInput(name string, shards int, onDemand, shardsSet bool) (*kinesis.CreateStreamInput, error) {
	in := &kinesis.CreateStreamInput{StreamName: aws.String(name)}
	switch {
	case onDemand && shardsSet:
		return nil, fmt.Errorf("--on-demand and --shards exclude each other")
	case onDemand:
		in.StreamModeDetails = &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}
	case shards < 1 || shards > math.MaxInt32:
		return nil, fmt.Errorf("--shards must be at least 1, got %d", shards)
	default:
		// No StreamModeDetails: PROVISIONED is the default, and older
		// emulators reject the field.
		in.ShardCount = aws.Int32(int32(shards))
	}
	return in, nil
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func runStreamList(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "stream list", "sluice stream list [flags]")
	var cf clientFlags
	cf.register(fs, env)
	asJSON := fs.Bool("json", false, "print a JSON array of stream summaries instead of one name per line")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError(fs, "stream list: unexpected arguments %q", pos)
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	streams, err := listStreams(ctx, client)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.stdout, streams)
	}
	for _, s := range streams {
		fmt.Fprintln(env.stdout, s.StreamName)
	}
	return nil
}

// streamSummaryJSON is one stream in `stream list --json`.
type streamSummaryJSON struct {
	StreamName              string     `json:"StreamName"`
	StreamARN               string     `json:"StreamARN,omitempty"`
	StreamStatus            string     `json:"StreamStatus,omitempty"`
	StreamMode              string     `json:"StreamMode,omitempty"`
	StreamCreationTimestamp *time.Time `json:"StreamCreationTimestamp,omitempty"`
}

type listStreamsAPI interface {
	ListStreams(ctx context.Context, in *kinesis.ListStreamsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListStreamsOutput, error)
}

// listStreams pages through ListStreams. Servers predating NextToken
// (kinesalite) page by ExclusiveStartStreamName and return no summaries.
func listStreams(ctx context.Context, api listStreamsAPI) ([]streamSummaryJSON, error) {
	var streams []streamSummaryJSON
	in := &kinesis.ListStreamsInput{}
	for {
		out, err := api.ListStreams(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list streams: %w", err)
		}
		if len(out.StreamSummaries) > 0 {
			for _, s := range out.StreamSummaries {
				j := streamSummaryJSON{
					StreamName:              aws.ToString(s.StreamName),
					StreamARN:               aws.ToString(s.StreamARN),
					StreamStatus:            string(s.StreamStatus),
					StreamCreationTimestamp: s.StreamCreationTimestamp,
				}
				if s.StreamModeDetails != nil {
					j.StreamMode = string(s.StreamModeDetails.StreamMode)
				}
				streams = append(streams, j)
			}
		} else {
			for _, name := range out.StreamNames {
				streams = append(streams, streamSummaryJSON{StreamName: name})
			}
		}
		switch {
		case !aws.ToBool(out.HasMoreStreams):
			return streams, nil
		case aws.ToString(out.NextToken) != "":
			in = &kinesis.ListStreamsInput{NextToken: out.NextToken}
		case len(streams) > 0:
			in = &kinesis.ListStreamsInput{ExclusiveStartStreamName: aws.String(streams[len(streams)-1].StreamName)}
		default:
			return streams, nil
		}
	}
}

func runStreamDescribe(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "stream describe", "sluice stream describe NAME [flags]")
	var cf clientFlags
	cf.register(fs, env)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "stream describe: want exactly one stream NAME, got %d arguments", len(pos))
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	d, err := describeStream(ctx, client, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.stdout, d)
	}
	return writeDescription(env.stdout, d)
}

// streamDescription is `stream describe` output; the JSON field names are
// AWS's, so it reads like `aws kinesis describe-stream`.
type streamDescription struct {
	StreamName              string      `json:"StreamName"`
	StreamARN               string      `json:"StreamARN,omitempty"`
	StreamStatus            string      `json:"StreamStatus"`
	StreamMode              string      `json:"StreamMode,omitempty"`
	RetentionPeriodHours    int32       `json:"RetentionPeriodHours"`
	StreamCreationTimestamp *time.Time  `json:"StreamCreationTimestamp,omitempty"`
	EncryptionType          string      `json:"EncryptionType,omitempty"`
	OpenShardCount          int32       `json:"OpenShardCount"`
	ConsumerCount           *int32      `json:"ConsumerCount,omitempty"`
	Shards                  []shardJSON `json:"Shards"`
}

type shardJSON struct {
	ShardId                string `json:"ShardId"`
	ParentShardId          string `json:"ParentShardId,omitempty"`
	AdjacentParentShardId  string `json:"AdjacentParentShardId,omitempty"`
	StartingHashKey        string `json:"StartingHashKey"`
	EndingHashKey          string `json:"EndingHashKey"`
	StartingSequenceNumber string `json:"StartingSequenceNumber"`
	// EndingSequenceNumber is empty while the shard is open.
	EndingSequenceNumber string `json:"EndingSequenceNumber,omitempty"`
}

type describeStreamAPI interface {
	listShardsAPI
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

func describeStream(ctx context.Context, api describeStreamAPI, stream string) (streamDescription, error) {
	name, arn := streamRef(stream)
	out, err := api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name, StreamARN: arn})
	if err != nil {
		return streamDescription{}, fmt.Errorf("describe stream %s: %w", stream, err)
	}
	s := out.StreamDescriptionSummary
	if s == nil {
		return streamDescription{}, fmt.Errorf("describe stream %s: response has no StreamDescriptionSummary", stream)
	}
	d := streamDescription{
		StreamName:              aws.ToString(s.StreamName),
		StreamARN:               aws.ToString(s.StreamARN),
		StreamStatus:            string(s.StreamStatus),
		RetentionPeriodHours:    aws.ToInt32(s.RetentionPeriodHours),
		StreamCreationTimestamp: s.StreamCreationTimestamp,
		EncryptionType:          string(s.EncryptionType),
		OpenShardCount:          aws.ToInt32(s.OpenShardCount),
		ConsumerCount:           s.ConsumerCount,
		Shards:                  []shardJSON{},
	}
	if s.StreamModeDetails != nil {
		d.StreamMode = string(s.StreamModeDetails.StreamMode)
	}
	// A stream being created or deleted has no shards to list yet (or any more).
	if s.StreamStatus == types.StreamStatusCreating || s.StreamStatus == types.StreamStatusDeleting {
		return d, nil
	}
	shards, err := listShards(ctx, api, stream)
	if err != nil {
		return streamDescription{}, err
	}
	for _, sh := range shards {
		j := shardJSON{
			ShardId:               aws.ToString(sh.ShardId),
			ParentShardId:         aws.ToString(sh.ParentShardId),
			AdjacentParentShardId: aws.ToString(sh.AdjacentParentShardId),
		}
		if r := sh.HashKeyRange; r != nil {
			j.StartingHashKey, j.EndingHashKey = aws.ToString(r.StartingHashKey), aws.ToString(r.EndingHashKey)
		}
		if r := sh.SequenceNumberRange; r != nil {
			j.StartingSequenceNumber, j.EndingSequenceNumber = aws.ToString(r.StartingSequenceNumber), aws.ToString(r.EndingSequenceNumber)
		}
		d.Shards = append(d.Shards, j)
	}
	return d, nil
}

func writeDescription(w io.Writer, d streamDescription) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	line("Name", d.StreamName)
	line("ARN", d.StreamARN)
	line("Status", d.StreamStatus)
	line("Mode", d.StreamMode)
	line("Retention", fmt.Sprintf("%dh", d.RetentionPeriodHours))
	if d.StreamCreationTimestamp != nil {
		line("Created", d.StreamCreationTimestamp.Local().Format(time.RFC3339))
	}
	line("Encryption", d.EncryptionType)
	if d.ConsumerCount != nil {
		line("Consumers", fmt.Sprint(*d.ConsumerCount))
	}
	line("Shards", fmt.Sprintf("%d open, %d listed", d.OpenShardCount, len(d.Shards)))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write description: %w", err)
	}
	if len(d.Shards) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tSTATE\tPARENTS\tHASH KEY RANGE\tSEQUENCE NUMBER RANGE")
	for _, s := range d.Shards {
		state := "open"
		if s.EndingSequenceNumber != "" {
			state = "closed"
		}
		parents := strings.Join(nonEmpty(s.ParentShardId, s.AdjacentParentShardId), ",")
		if parents == "" {
			parents = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s-%s\t%s-%s\n", s.ShardId, state, parents,
			s.StartingHashKey, s.EndingHashKey, s.StartingSequenceNumber, s.EndingSequenceNumber)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write description: %w", err)
	}
	return nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func runStreamDelete(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "stream delete", "sluice stream delete NAME [flags]")
	var cf clientFlags
	cf.register(fs, env)
	force := fs.Bool("force", false, "delete the stream even if it has registered consumers (EnforceConsumerDeletion)")
	wait := fs.Bool("wait", false, "wait until the stream is gone (default false: return while it is DELETING)")
	waitTimeout := fs.Duration("wait-timeout", streamWaitTimeout, "how long --wait waits before giving up")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "stream delete: want exactly one stream NAME, got %d arguments", len(pos))
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	name, arn := streamRef(pos[0])
	in := &kinesis.DeleteStreamInput{StreamName: name, StreamARN: arn}
	if *force {
		in.EnforceConsumerDeletion = aws.Bool(true)
	}
	if _, err := client.DeleteStream(ctx, in); err != nil {
		var inUse *types.ResourceInUseException
		if errors.As(err, &inUse) && !*force {
			if names := consumerNames(ctx, client, pos[0]); len(names) > 0 {
				return fmt.Errorf("delete stream %s: %w (it has %s: %s; pass --force to deregister them with the stream)",
					pos[0], err, plural(int64(len(names)), "registered consumer"), strings.Join(names, ", "))
			}
		}
		return fmt.Errorf("delete stream %s: %w", pos[0], err)
	}
	status := "DELETING"
	if *wait {
		w := kinesis.NewStreamNotExistsWaiter(client, func(o *kinesis.StreamNotExistsWaiterOptions) {
			o.MinDelay = 100 * time.Millisecond
			o.MaxDelay = 5 * time.Second
		})
		if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: name, StreamARN: arn}, *waitTimeout); err != nil {
			return fmt.Errorf("wait for stream %s to be deleted: %w", pos[0], err)
		}
		status = "deleted"
	}
	fmt.Fprintf(env.stdout, "stream %s: %s\n", pos[0], status)
	return nil
}

// consumerNames lists the stream consumers of a stream, for a hint; it
// returns none if they cannot be listed.
func consumerNames(ctx context.Context, client *kinesis.Client, stream string) []string {
	d, err := describeStream(ctx, client, stream)
	if err != nil || d.StreamARN == "" {
		return nil
	}
	var names []string
	p := kinesis.NewListStreamConsumersPaginator(client, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(d.StreamARN)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return names
		}
		for _, c := range out.Consumers {
			names = append(names, aws.ToString(c.ConsumerName))
		}
	}
	return names
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
