package main

// Shared by the client subcommands (stream, put, tail, bench): endpoint and
// region flags, building an aws-sdk-go-v2 Kinesis client, and small helpers
// over the Kinesis API. The client side talks to any Kinesis endpoint, AWS
// or Sluice, and never imports Sluice's internal packages.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/logging"

	"github.com/sluicehq/sluice/sdkhttp"
)

const (
	// localEndpoint is where `sluice serve` listens by default.
	localEndpoint = "http://127.0.0.1:4567"
	// awsEndpoint as --endpoint selects the SDK's own AWS endpoint for the region.
	awsEndpoint   = "aws"
	defaultRegion = "us-east-1"
	// maxIdleConns keeps one idle connection per concurrent request of
	// `sluice bench`; the SDK's default of 10 per host would close and re-dial
	// the rest after every request, and bench would measure TCP handshakes.
	maxIdleConns = 1024
)

// clientFlags are the flags every client subcommand shares.
type clientFlags struct {
	endpoint string
	region   string
}

func (c *clientFlags) register(fs *flag.FlagSet, env *cmdEnv) {
	fs.StringVar(&c.endpoint, "endpoint", defaultClientEndpoint(env.getenv),
		`Kinesis endpoint `+"`url`"+`, or "aws" for the AWS endpoint of --region; `+
			`defaults to $SLUICE_ENDPOINT, else $AWS_ENDPOINT_URL_KINESIS, else $AWS_ENDPOINT_URL, else `+localEndpoint)
	fs.StringVar(&c.region, "region", "",
		"AWS `region` to sign requests for (default from $AWS_REGION or the AWS config files, else "+defaultRegion+")")
	fs.BoolVar(&env.verbose, "verbose", false, "on failure, print the whole error chain of the AWS SDK rather than a one-line summary")
}

func defaultClientEndpoint(getenv func(string) string) string {
	for _, name := range []string{"SLUICE_ENDPOINT", "AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL"} {
		if v := getenv(name); v != "" {
			return v
		}
	}
	return localEndpoint
}

// normalizeEndpoint accepts "host:port" as shorthand for "http://host:port".
func normalizeEndpoint(endpoint string) string {
	if endpoint == "" || strings.EqualFold(endpoint, awsEndpoint) || strings.Contains(endpoint, "://") {
		return endpoint
	}
	return "http://" + endpoint
}

// newClient builds a Kinesis client from the flags and the usual AWS
// configuration (environment, shared config files, SSO, roles...).
func (c *clientFlags) newClient(ctx context.Context) (*kinesis.Client, error) {
	cfg, endpoint, err := c.awsConfig(ctx, c.endpoint)
	if err != nil {
		return nil, err
	}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		o.BaseEndpoint = endpoint // nil: ignore AWS_ENDPOINT_URL*, "aws" means AWS
	}), nil
}

// awsConfig loads the AWS configuration for a client of endpoint (a URL,
// host:port, or "aws") and returns the base endpoint to give the client:
// nil for AWS's own.
func (c *clientFlags) awsConfig(ctx context.Context, endpoint string) (aws.Config, *string, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = maxIdleConns
		t.MaxIdleConnsPerHost = maxIdleConns
	})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// Without the client-side retry quota: under sustained throttling it
		// runs dry and turns retryable throttles into instant failures,
		// which would make bench report the client rather than the server.
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		}),
	}
	if c.region != "" {
		opts = append(opts, config.WithRegion(c.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, nil, fmt.Errorf("load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	// Wrapped after loading: the SDK adds AWS_CA_BUNDLE's roots only to its
	// own buildable client. Bodies up to 64 KiB (every request but
	// PutRecords) are copied, so that a SubscribeToShard feed is not cut.
	cfg.HTTPClient = sdkhttp.OwnBodies(cfg.HTTPClient, 64<<10)
	// The SDK's only unprompted log lines are warnings about response bodies
	// it could not drain, printed whenever tail or bench cancels reads on
	// purpose as they stop; errors reach the user as returned errors.
	cfg.Logger = logging.Nop{}
	endpoint = normalizeEndpoint(endpoint)
	useAWS := endpoint == "" || strings.EqualFold(endpoint, awsEndpoint)
	// With nothing configured the SDK would fall back to EC2 instance
	// metadata, which hangs and then fails off EC2. A local Sluice accepts
	// any key, so `sluice put` works out of the box; AWS keeps the real chain.
	if !useAWS && !credentialsConfigured(cfg.ConfigSources) {
		cfg.Credentials = credentials.NewStaticCredentialsProvider("sluice", "sluice", "")
	}
	if useAWS {
		return cfg, nil, nil
	}
	return cfg, aws.String(endpoint), nil
}

// credentialsConfigured reports whether the loaded AWS configuration names
// any credential source besides the EC2 instance metadata fallback. It
// mirrors the order of the SDK's credential chain (config/resolve_credentials.go).
func credentialsConfigured(sources []any) bool {
	for _, s := range sources {
		switch c := s.(type) {
		case config.EnvConfig:
			if c.Credentials.HasKeys() || c.WebIdentityTokenFilePath != "" ||
				c.ContainerCredentialsEndpoint != "" || c.ContainerCredentialsRelativePath != "" {
				return true
			}
		case config.SharedConfig:
			if c.Credentials.HasKeys() || c.Source != nil || c.CredentialSource != "" ||
				c.WebIdentityTokenFile != "" || c.SSOSessionName != "" || c.SSOStartURL != "" ||
				c.LoginSession != "" || c.CredentialProcess != "" || c.RoleARN != "" {
				return true
			}
		}
	}
	return false
}

// parseInterspersed parses flags that come before, between or after
// positional arguments (`sluice stream create orders --shards 4`), which
// flag.FlagSet.Parse alone stops at. Everything after a bare "--" is
// positional, so a record may start with a dash: `sluice put s -- -1`.
// --help prints the command's usage and returns flag.ErrHelp; a bad flag
// is a *usageErr.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	// The flag package would print the error and the whole usage itself;
	// report prints the message and a short usage instead.
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = usage; fs.SetOutput(out) }()
	var rest []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, rest = args[:i], args[i+1:]
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				usage()
				return nil, err
			}
			return nil, &usageErr{msg: fs.Name() + ": " + flagMessage(err), fs: fs}
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(positional, rest...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// parseFlags parses a command that takes flags only.
func parseFlags(fs *flag.FlagSet, args []string) error {
	pos, err := parseInterspersed(fs, args)
	if err == nil && len(pos) > 0 {
		err = usageError(fs, "%s: unexpected arguments %q", fs.Name(), pos)
	}
	return err
}

// flagMessage words the flag package's errors with the double dashes the
// usage shows.
func flagMessage(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + name
	}
	msg = strings.Replace(msg, "flag needs an argument: -", "flag needs an argument: --", 1)
	return strings.Replace(msg, " for flag -", " for flag --", 1)
}

// newFlagSet returns a FlagSet whose --help prints usageLine (its first
// line is the synopsis shown under usage errors) and the flags on stdout.
func newFlagSet(env *cmdEnv, name, usageLine string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stdout)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nFlags:\n", usageLine)
		printFlags(fs.Output(), fs)
	}
	if env.synopses == nil {
		env.synopses = map[*flag.FlagSet]string{}
	}
	synopsis, _, _ := strings.Cut(usageLine, "\n")
	env.synopses[fs] = synopsis
	if env.onFlagSet != nil {
		env.onFlagSet(fs)
	}
	return fs
}

// printFlags lists the flags as flag.PrintDefaults does, but with the
// double dashes the rest of the help uses.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch def := f.DefValue; {
		case def == "" || def == "false" || def == "0" || def == "0s" || strings.Contains(usage, "(default"):
		case isStringFlag(f):
			fmt.Fprintf(w, " (default %q)", def)
		default:
			fmt.Fprintf(w, " (default %s)", def)
		}
		fmt.Fprintln(w)
	})
}

func isStringFlag(f *flag.Flag) bool {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	_, isString := g.Get().(string)
	return isString
}

// usageError reports wrong positional arguments or flag values: report
// prints the message, then the command's synopsis, and exits 2.
func usageError(fs *flag.FlagSet, format string, args ...any) error {
	return &usageErr{msg: fmt.Sprintf(format, args...), fs: fs}
}

// streamRef lets every command take a stream name or a stream ARN.
func streamRef(stream string) (name, arn *string) {
	if strings.HasPrefix(stream, "arn:") {
		return nil, aws.String(stream)
	}
	return aws.String(stream), nil
}

type listShardsAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}

// listShards returns every shard of a stream that has not expired, open and
// closed, following NextToken.
func listShards(ctx context.Context, api listShardsAPI, stream string) ([]types.Shard, error) {
	name, arn := streamRef(stream)
	in := &kinesis.ListShardsInput{StreamName: name, StreamARN: arn}
	var shards []types.Shard
	for {
		out, err := api.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list shards of %s: %w", stream, err)
		}
		shards = append(shards, out.Shards...)
		if aws.ToString(out.NextToken) == "" {
			return shards, nil
		}
		// ListShards rejects StreamName together with NextToken.
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// isOpen reports whether a shard still takes writes.
func isOpen(s types.Shard) bool {
	return s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil
}

// waitActive waits until the stream is ACTIVE. The SDK waiter's defaults
// (10 s to 120 s between polls) suit AWS; a local Sluice is ready in
// milliseconds, so start polling fast and back off to AWS-friendly delays.
func waitActive(ctx context.Context, api kinesis.DescribeStreamAPIClient, stream string, timeout time.Duration) error {
	name, arn := streamRef(stream)
	w := kinesis.NewStreamExistsWaiter(api, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: name, StreamARN: arn}, timeout); err != nil {
		return fmt.Errorf("wait for stream %s to become ACTIVE: %w", stream, err)
	}
	return nil
}

// sleepCtx sleeps for d or until ctx is done, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// isCanceled reports whether err only says that ctx ended, which for
// tail and put means the user pressed Ctrl-C.
func isCanceled(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
