package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sluicehq/sluice/sluicetest"
)

// cliResult is how one command line ended.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs a sluice command line in-process, as main does.
func runCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &cmdEnv{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := env.main(ctx, args)
	return cliResult{code, stdout.String(), stderr.String()}
}

// mustCLI runs a command line that must succeed and returns its stdout.
func mustCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := runCLI(t, stdin, args...)
	if r.code != exitOK {
		t.Fatalf("sluice %s: exit %d\nstderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func TestMain_ExitStatus(t *testing.T) {
	isolateAWSConfig(t)
	tests := []struct {
		args       []string
		code       int
		stderrHead string // the first line of stderr
		stdoutHas  string
	}{
		{nil, exitUsage, "sluice: missing command", ""},
		{[]string{"-h"}, exitOK, "", "Usage: sluice <command>"},
		{[]string{"help", "tail"}, exitOK, "", "Usage: sluice tail STREAM"},
		{[]string{"tail", "--help"}, exitOK, "", "--until-latest"},
		{[]string{"frobnicate"}, exitUsage, `sluice: unknown command "frobnicate"`, ""},
		{[]string{"tail"}, exitUsage, "sluice: tail: want exactly one STREAM, got 0 arguments", ""},
		{[]string{"tail", "s", "--nope"}, exitUsage, "sluice: tail: unknown flag --nope", ""},
		{[]string{"put", "s", "--retries", "many"}, exitUsage, `sluice: put: invalid value "many" for flag --retries: parse error`, ""},
		{[]string{"group", "reset", "g"}, exitUsage, "sluice: group reset: --stream is required", ""},
		{[]string{"serve", "extra"}, exitUsage, `sluice: serve: unexpected arguments ["extra"]`, ""},
		{[]string{"version"}, exitOK, "", "sluice "},
		{[]string{"--version"}, exitOK, "", " go1."},
		{[]string{"stream", "list", "--endpoint", "http://127.0.0.1:1"}, exitError,
			"sluice: no Sluice at http://127.0.0.1:1: start one with `sluice serve` or set --endpoint", ""},
	}
	for _, tt := range tests {
		r := runCLI(t, "", tt.args...)
		head, _, _ := strings.Cut(r.stderr, "\n")
		if r.code != tt.code || head != tt.stderrHead || !strings.Contains(r.stdout, tt.stdoutHas) {
			t.Errorf("sluice %s: exit %d, stderr %q, stdout %q; want exit %d, stderr starting %q, stdout with %q",
				strings.Join(tt.args, " "), r.code, r.stderr, r.stdout, tt.code, tt.stderrHead, tt.stdoutHas)
		}
		if tt.code == exitUsage && strings.Count(r.stderr, "\n") > 16 {
			t.Errorf("sluice %s: a usage error buries its message under %d lines:\n%s", strings.Join(tt.args, " "), strings.Count(r.stderr, "\n"), r.stderr)
		}
	}
	// --verbose prints the SDK's chain instead.
	r := runCLI(t, "", "stream", "list", "--endpoint", "http://127.0.0.1:1", "--verbose")
	if r.code != exitError || !strings.Contains(r.stderr, "operation error Kinesis: ListStreams") || !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("--verbose: exit %d, stderr %q; want the SDK's error chain", r.code, r.stderr)
	}
}

func TestExplain(t *testing.T) {
	op := func(err error) error {
		return fmt.Errorf("describe stream s: %w", &smithy.OperationError{ServiceID: "Kinesis", OperationName: "DescribeStreamSummary", Err: err})
	}
	refused := &smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "http://127.0.0.1:9/",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{}}}}
	refused.Err.(*url.Error).Err = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("record 3: partition key must have 1 to 256 characters, got 0"), "record 3: partition key must have 1 to 256 characters, got 0"},
		{op(refused), "no Sluice at http://127.0.0.1:9: start one with `sluice serve` or set --endpoint"},
		{op(&smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "https://kinesis.us-east-1.amazonaws.com/",
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}}),
			"cannot connect to https://kinesis.us-east-1.amazonaws.com: check the network, or --endpoint"},
		{op(&smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "http://nosuch.invalid:4567/", Err: &net.DNSError{Name: "nosuch.invalid"}}}),
			"cannot resolve nosuch.invalid (http://nosuch.invalid:4567): check --endpoint"},
		{op(&types.ResourceNotFoundException{Message: new("Stream s under account 000000000000 not found.")}),
			"describe stream s: ResourceNotFoundException: Stream s under account 000000000000 not found."},
		{op(&smithy.GenericAPIError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}),
			"describe stream s: UnrecognizedClientException: The security token included in the request is invalid. (check the credentials: AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and --region)"},
		{fmt.Errorf("%w (a hint)", op(&types.ResourceInUseException{Message: new("in use")})), "describe stream s: ResourceInUseException: in use (a hint)"},
	}
	for _, tt := range tests {
		if got := explain(tt.err); got != tt.want {
			t.Errorf("explain(%v)\n got %q\nwant %q", tt.err, got, tt.want)
		}
	}
}

// TestRunPut_NoSummaryBeforeError puts into a stream that does not exist:
// the error alone, no summary that could pass for success.
func TestRunPut_NoSummaryBeforeError(t *testing.T) {
	isolateAWSConfig(t)
	srv := sluicetest.Start(t)
	r := runCLI(t, "", "put", "nosuch", "x", "--endpoint", srv.Endpoint())
	want := "sluice: put records: ResourceNotFoundException: Stream nosuch under account 000000000000 not found.\n"
	if r.code != exitError || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want exit 1 and only %q", r.code, r.stderr, want)
	}
}

func TestVersion(t *testing.T) {
	v := buildVersion{Module: "v1.2.3", Revision: "4be117d0c1a2b3c4", Time: "2026-05-01T10:00:00Z", Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"}
	if got, want := v.String(), "sluice v1.2.3 (commit 4be117d0c1a2, 2026-05-01T10:00:00Z, modified) go1.26.8 linux/amd64"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	v = buildVersion{Module: "(devel)", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	if got, want := v.String(), "sluice (devel) go1.26.8 linux/amd64"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := readBuildVersion(); !strings.HasPrefix(got.GoVersion, "go") {
		t.Errorf("the test binary's build info: %+v", got)
	}
}

func TestCompletions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		words []string
		want  []string
	}{
		{[]string{""}, []string{"serve", "stream", "put", "tail", "group", "bench", "pipeline", "keys", "dev-cluster", "version", "completion"}},
		{[]string{"st"}, []string{"stream"}},
		{[]string{"stream", "s"}, []string{"split", "scale"}},
		{[]string{"group", ""}, []string{"list", "describe", "reset"}},
		{[]string{"tail", "orders", "--un"}, []string{"--until-latest"}},
		{[]string{"tail", "--fr"}, []string{"--from"}},
		{[]string{"tail", "orders", "--from", ""}, []string{"latest", "trim-horizon"}},
		{[]string{"serve", "--log-f"}, []string{"--log-format"}},
		{[]string{"serve", "--data-dir", ""}, nil}, // file names: the shell's own
		{[]string{"dev-cluster", "--log-"}, []string{"--log-format", "--log-level"}},
		{[]string{"dev-cluster", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"completion", "z"}, []string{"zsh"}},
		{[]string{"nosuch", ""}, nil},
		{[]string{"__complete", ""}, nil},
	}
	for _, tt := range tests {
		got := completions(ctx, tt.words)
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("complete %q: got %q, want %q", tt.words, got, tt.want)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if out := mustCLI(t, "", "completion", shell); !strings.Contains(out, completeCommand) {
			t.Errorf("completion %s: the script does not call %s:\n%s", shell, completeCommand, out)
		}
	}
}
