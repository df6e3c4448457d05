package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// commandTimeout bounds one CLI invocation.
const commandTimeout = 2 * time.Minute

// cliEnv is the environment of AWS CLI and `sluice` client runs: dummy
// credentials and region, and none of the user's own AWS configuration.
func cliEnv(t testing.TB) []string {
	dir := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "SLUICE_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"AWS_ACCESS_KEY_ID=AKIDSLUICEE2E",
		"AWS_SECRET_ACCESS_KEY=secret",
		"AWS_DEFAULT_REGION="+testRegion,
		"AWS_REGION="+testRegion,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
	)
}

// runCmd runs a command to completion and returns its stdout, failing the
// test (with its stderr) if it fails.
func runCmd(t testing.TB, env []string, stdin string, name string, args ...string) string {
	t.Helper()
	out, stderr, err := tryCmd(t, env, stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s\nstdout:\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr, out)
	}
	return out
}

// tryCmd runs a command to completion and returns its output and error.
func tryCmd(t testing.TB, env []string, stdin string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// TestAWSCLI drives a server with the AWS CLI (v1 or v2), which talks
// JSON 1.1 over HTTP/1.1 through botocore.
func TestAWSCLI(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("aws CLI not installed, and CI=true: .ci/run must install Debian's awscli")
		}
		t.Skip("aws CLI not installed; .ci/run installs Debian's awscli")
	}
	t.Parallel()
	s := startServer(t)
	env := cliEnv(t)
	versionOut, stderr, err := tryCmd(t, env, "", awsBin, "--version")
	if err != nil {
		t.Fatalf("aws --version: %v\n%s", err, stderr)
	}
	version := strings.TrimSpace(versionOut + stderr) // v1 used to print to stderr
	m := regexp.MustCompile(`aws-cli/(\d+)\.`).FindStringSubmatch(version)
	if m == nil {
		t.Fatalf("cannot tell the AWS CLI version from %q", version)
	}
	v2 := m[1] != "1"
	t.Logf("%s", version)

	awsJSON := func(out any, args ...string) {
		t.Helper()
		args = append([]string{"--endpoint-url", s.Endpoint, "--output", "json", "kinesis"}, args...)
		stdout := runCmd(t, env, "", awsBin, args...)
		if out != nil {
			if err := json.Unmarshal([]byte(stdout), out); err != nil {
				t.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, stdout)
			}
		}
	}

	awsJSON(nil, "create-stream", "--stream-name", "cli", "--shard-count", "2")
	awsJSON(nil, "wait", "stream-exists", "--stream-name", "cli")

	var summary struct {
		StreamDescriptionSummary struct {
			StreamName, StreamStatus, StreamARN  string
			OpenShardCount, RetentionPeriodHours int
		}
	}
	awsJSON(&summary, "describe-stream-summary", "--stream-name", "cli")
	if d := summary.StreamDescriptionSummary; d.StreamName != "cli" || d.StreamStatus != "ACTIVE" || d.OpenShardCount != 2 || d.RetentionPeriodHours != 24 {
		t.Errorf("describe-stream-summary: %+v", d)
	}

	var list struct{ StreamNames []string }
	awsJSON(&list, "list-streams")
	if !slices.Contains(list.StreamNames, "cli") {
		t.Errorf("list-streams: %v", list.StreamNames)
	}

	data := "hello from the aws cli"
	putArgs := []string{"put-record", "--stream-name", "cli", "--partition-key", "k", "--data", data}
	if v2 {
		// v2 reads blobs as base64 unless told otherwise; v1 takes raw text.
		putArgs = append(putArgs, "--cli-binary-format", "raw-in-base64-out")
	}
	var put struct{ ShardId, SequenceNumber string }
	awsJSON(&put, putArgs...)
	if !strings.HasPrefix(put.ShardId, "shardId-") || put.SequenceNumber == "" {
		t.Fatalf("put-record: %+v", put)
	}
	if want := shardFor(t, listAllShards(t, s.Client(), "cli"), hashKey("k")); put.ShardId != want {
		t.Errorf("put-record went to %s, want %s", put.ShardId, want)
	}

	var it struct{ ShardIterator string }
	awsJSON(&it, "get-shard-iterator", "--stream-name", "cli", "--shard-id", put.ShardId, "--shard-iterator-type", "TRIM_HORIZON")
	var recs struct {
		Records []struct {
			SequenceNumber, PartitionKey, Data string
		}
		NextShardIterator  string
		MillisBehindLatest int64
	}
	awsJSON(&recs, "get-records", "--shard-iterator", it.ShardIterator)
	if len(recs.Records) != 1 {
		t.Fatalf("get-records: %d records, want 1", len(recs.Records))
	}
	r := recs.Records[0]
	got, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil || string(got) != data || r.PartitionKey != "k" || r.SequenceNumber != put.SequenceNumber {
		t.Errorf("get-records: %+v (data %q, %v), want %q with key k and %s", r, got, err, data, put.SequenceNumber)
	}
	if recs.NextShardIterator == "" {
		t.Errorf("get-records: no NextShardIterator")
	}

	var shards struct{ Shards []struct{ ShardId string } }
	awsJSON(&shards, "list-shards", "--stream-name", "cli")
	if len(shards.Shards) != 2 {
		t.Errorf("list-shards: %+v", shards.Shards)
	}

	awsJSON(nil, "delete-stream", "--stream-name", "cli")
	_, stderr, err = tryCmd(t, env, "", awsBin, "--endpoint-url", s.Endpoint, "kinesis", "describe-stream-summary", "--stream-name", "cli")
	if err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Errorf("describe-stream-summary after delete-stream: %v, stderr %q; want ResourceNotFoundException", err, stderr)
	}
}

// TestSluiceCLI drives a server with the `sluice` client subcommands.
func TestSluiceCLI(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	env := cliEnv(t)
	sluice := func(stdin string, args ...string) string {
		t.Helper()
		return runCmd(t, env, stdin, sluiceBin, append(args, "--endpoint", s.Endpoint)...)
	}

	out := sluice("", "stream", "create", "orders", "--shards", "2", "--wait")
	if !strings.Contains(out, "orders") || !strings.Contains(out, "ACTIVE") {
		t.Errorf("stream create --wait: %q", out)
	}
	if lines := strings.Fields(sluice("", "stream", "list")); !slices.Contains(lines, "orders") {
		t.Errorf("stream list: %q", lines)
	}
	out = sluice("", "stream", "describe", "orders")
	for _, want := range []string{"orders", "ACTIVE", "shardId-000000000000", "shardId-000000000001"} {
		if !strings.Contains(out, want) {
			t.Errorf("stream describe lacks %q:\n%s", want, out)
		}
	}
	var desc struct {
		StreamName, StreamStatus string
		Shards                   []struct{ ShardId string }
	}
	if err := json.Unmarshal([]byte(sluice("", "stream", "describe", "orders", "--json")), &desc); err != nil {
		t.Fatalf("stream describe --json: %v", err)
	}
	if desc.StreamName != "orders" || desc.StreamStatus != "ACTIVE" || len(desc.Shards) != 2 {
		t.Errorf("stream describe --json: %+v", desc)
	}

	// put: one record per stdin line.
	const n = 200
	var lines strings.Builder
	want := map[string]bool{}
	for i := range n {
		fmt.Fprintf(&lines, "order-%03d\n", i)
		want[fmt.Sprintf("order-%03d", i)] = true
	}
	sluice(lines.String(), "put", "orders")
	total := 0
	for _, id := range shardIDs(2) {
		total += len(readShard(t, s.Client(), "orders", id))
	}
	if total != n {
		t.Errorf("after sluice put of %d lines the stream holds %d records", n, total)
	}

	// tail: follow from TRIM_HORIZON until every record has been printed,
	// then interrupt it as a user would.
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	tail := exec.CommandContext(ctx, sluiceBin, "tail", "orders", "--from", "trim-horizon", "--endpoint", s.Endpoint)
	tail.Env = env
	var tailErr bytes.Buffer
	tail.Stderr = &tailErr
	stdout, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(stdout)
	for len(seen) < n && sc.Scan() {
		// "shardId sequenceNumber partitionKey data"
		f := strings.Fields(sc.Text())
		if len(f) == 4 && want[f[3]] {
			if seen[f[3]] {
				t.Errorf("tail printed %s twice", f[3])
			}
			seen[f[3]] = true
		}
	}
	if len(seen) < n {
		t.Errorf("tail printed %d of %d records before its output ended: %v\nstderr:\n%s", len(seen), n, sc.Err(), tailErr.String())
	}
	tail.Process.Signal(syscall.SIGINT)
	go func() {
		for sc.Scan() {
		}
	}()
	if err := tail.Wait(); err != nil {
		t.Errorf("tail after SIGINT: %v\nstderr:\n%s", err, tailErr.String())
	}

	// bench: create a stream, load it for 2s, read it back.
	out = sluice("", "bench", "--stream", "bench", "--create", "--shards", "2", "--duration", "2s", "--read")
	if !strings.Contains(out, "records/s") {
		t.Errorf("bench output does not report records/s:\n%s", out)
	}

	out = sluice("", "stream", "delete", "orders")
	if !strings.Contains(out, "orders") {
		t.Errorf("stream delete: %q", out)
	}
	if lines := strings.Fields(sluice("", "stream", "list")); slices.Contains(lines, "orders") {
		t.Errorf("stream list after delete: %q", lines)
	}
	// Errors reach the user: a missing stream fails the command.
	if _, stderr, err := tryCmd(t, env, "", sluiceBin, "stream", "describe", "orders", "--endpoint", s.Endpoint); err == nil || !strings.Contains(stderr, "ResourceNotFound") {
		t.Errorf("stream describe of a deleted stream: %v, stderr %q", err, stderr)
	}
}
