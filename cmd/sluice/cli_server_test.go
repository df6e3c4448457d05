package main

// The client subcommands against a real server (sluicetest, in-process),
// run as main runs them.

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/sluicetest"
)

// testServer starts a server with one stream of shards shards and
// returns it and the --endpoint flag for it.
func testServer(t *testing.T, stream string, shards int) (*sluicetest.Server, []string) {
	t.Helper()
	isolateAWSConfig(t)
	srv := sluicetest.Start(t)
	if stream != "" {
		srv.CreateStream(t.Context(), stream, shards)
	}
	return srv, []string{"--endpoint", srv.Endpoint()}
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestRunTail_UntilLatestAndAggregates: tail --until-latest stops at the
// end of the stream, with fewer records than --max-records too, and prints
// the user records of KPL aggregates unless --raw.
func TestRunTail_UntilLatestAndAggregates(t *testing.T) {
	_, ep := testServer(t, "s", 2)
	mustCLI(t, "p1\np2\np3\n", append([]string{"put", "s", "--partition-key", "plain"}, ep...)...)
	mustCLI(t, "a1\na2\na3\na4\n", append([]string{"put", "s", "--aggregate", "--partition-key", "agg"}, ep...)...)

	out := lines(mustCLI(t, "", append([]string{"tail", "s", "--from", "trim-horizon", "--until-latest", "--max-records", "100", "--format", `%k %s\n`}, ep...)...))
	slices.Sort(out)
	if want := []string{"agg a1", "agg a2", "agg a3", "agg a4", "plain p1", "plain p2", "plain p3"}; !slices.Equal(out, want) {
		t.Errorf("tail --until-latest printed %q, want %q", out, want)
	}

	raw := lines(mustCLI(t, "", append([]string{"tail", "s", "--from", "trim-horizon", "--until-latest", "--raw", "--format", "json"}, ep...)...))
	if len(raw) != 4 {
		t.Fatalf("tail --raw printed %d records, want 3 plain and 1 aggregate:\n%s", len(raw), strings.Join(raw, "\n"))
	}
	aggregates := 0
	for _, l := range raw {
		var r recordJSON
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.PartitionKey == "agg" {
			aggregates++
			if r.SubSequenceNumber != nil || r.Text != nil {
				t.Errorf("tail --raw: the aggregate is %+v; want it whole, its data not text", r)
			}
		}
	}
	if aggregates != 1 {
		t.Errorf("tail --raw printed %d aggregates, want 1", aggregates)
	}

	// The records of an empty stream: none, and tail still ends.
	mustCLI(t, "", append([]string{"stream", "create", "empty", "--wait"}, ep...)...)
	if out := mustCLI(t, "", append([]string{"tail", "empty", "--from", "trim-horizon", "--until-latest"}, ep...)...); out != "" {
		t.Errorf("tail of an empty stream printed %q", out)
	}
}

// TestRunTail_FanOutDeregisters: tail --fan-out deregisters the consumer
// it registered, keeps it with --keep-consumer, and never deregisters one
// it found; the stream can then be deleted without --force.
func TestRunTail_FanOutDeregisters(t *testing.T) {
	srv, ep := testServer(t, "s", 2)
	ctx := t.Context()
	mustCLI(t, "r1\nr2\n", append([]string{"put", "s"}, ep...)...)
	consumers := func() []string {
		t.Helper()
		d, err := srv.Kinesis().DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
		if err != nil {
			t.Fatal(err)
		}
		out, err := srv.Kinesis().ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: d.StreamDescriptionSummary.StreamARN})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range out.Consumers {
			names = append(names, aws.ToString(c.ConsumerName))
		}
		slices.Sort(names)
		return names
	}
	tail := append([]string{"tail", "s", "--fan-out", "--from", "trim-horizon", "--until-latest"}, ep...)
	if n := len(lines(mustCLI(t, "", tail...))); n != 2 {
		t.Errorf("tail --fan-out printed %d records, want 2", n)
	}
	if got := consumers(); len(got) != 0 {
		t.Errorf("after tail --fan-out the stream has consumers %q, want none", got)
	}
	mustCLI(t, "", append(tail, "--keep-consumer", "--consumer", "kept")...)
	mustCLI(t, "", append(tail, "--consumer", "kept")...) // found registered: kept too
	if got := consumers(); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("consumers %q, want [kept]", got)
	}
	r := runCLI(t, "", append([]string{"stream", "delete", "s"}, ep...)...)
	if r.code != exitError || !strings.Contains(r.stderr, "ResourceInUseException") || !strings.Contains(r.stderr, "1 registered consumer: kept; pass --force") {
		t.Errorf("stream delete with a consumer: exit %d, stderr %q; want the hint to pass --force", r.code, r.stderr)
	}
	mustCLI(t, "", append([]string{"stream", "delete", "s", "--force", "--wait"}, ep...)...)
}

// TestRunPut_FormatsAndHashKeys: explicit hash keys pick the shard, and
// tail --format json output put back with put --format json copies records
// with their keys.
func TestRunPut_FormatsAndHashKeys(t *testing.T) {
	srv, ep := testServer(t, "src", 2)
	mustCLI(t, "", append([]string{"stream", "create", "dst", "--shards", "2", "--wait"}, ep...)...)
	low, high := "0", maxHashKey.String()
	out := mustCLI(t, "", append([]string{"put", "src", "-v", "--explicit-hash-key", high, "--partition-key", "k1", "one"}, ep...)...)
	if !strings.HasPrefix(out, "shardId-000000000001 ") {
		t.Errorf("--explicit-hash-key 2^128-1 went to %q, want shardId-000000000001", out)
	}
	in := `{"PartitionKey":"k2","Text":"two","ExplicitHashKey":"` + low + `"}` + "\n" + `{"PartitionKey":"k3","Data":"AAEC"}` + "\n"
	out = mustCLI(t, in, append([]string{"put", "src", "-v", "--format", "json"}, ep...)...)
	if l := lines(out); len(l) != 2 || !strings.HasPrefix(l[0], "shardId-000000000000 ") {
		t.Errorf("put --format json: %q, want 2 results, the first on shardId-000000000000", l)
	}
	copied := mustCLI(t, "", append([]string{"tail", "src", "--from", "trim-horizon", "--until-latest", "--format", "json"}, ep...)...)
	mustCLI(t, copied, append([]string{"put", "dst", "--format", "json"}, ep...)...)
	got := lines(mustCLI(t, "", append([]string{"tail", "dst", "--from", "trim-horizon", "--until-latest", "--format", `%k=%s\n`}, ep...)...))
	slices.Sort(got)
	if want := []string{"k1=one", "k2=two", "k3=\x00\x01\x02"}; !slices.Equal(got, want) {
		t.Errorf("copied stream holds %q, want %q", got, want)
	}
	_ = srv
	r := runCLI(t, "", append([]string{"put", "src", "--explicit-hash-key", "-1", "x"}, ep...)...)
	if r.code != exitUsage {
		t.Errorf("--explicit-hash-key -1: exit %d, want %d", r.code, exitUsage)
	}
	r = runCLI(t, `{"Text":"no key"}`+"\n"+`not json`+"\n", append([]string{"put", "src", "--format", "json"}, ep...)...)
	if r.code != exitError || !strings.Contains(r.stderr, "line 2: not a JSON record") {
		t.Errorf("a line that is not JSON: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestRunStream_Admin splits, merges, scales, sets retention and tags a
// stream and checks each with the SDK.
func TestRunStream_Admin(t *testing.T) {
	srv, ep := testServer(t, "s", 1)
	ctx := t.Context()
	c := srv.Kinesis()
	openShards := func() []types.Shard {
		t.Helper()
		shards, err := listShards(ctx, c, "s")
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(shards, func(s types.Shard) bool { return !isOpen(s) })
	}
	out := mustCLI(t, "", append([]string{"stream", "split", "s", "shardId-000000000000", "--wait"}, ep...)...)
	if want := "stream s: split shardId-000000000000 at hash key 170141183460469231731687303715884105728 (ACTIVE)\n"; out != want {
		t.Errorf("split: %q, want %q", out, want)
	}
	open := openShards()
	if len(open) != 2 || aws.ToString(open[1].HashKeyRange.StartingHashKey) != "170141183460469231731687303715884105728" {
		t.Fatalf("after split: open shards %+v", open)
	}
	mustCLI(t, "", append([]string{"stream", "merge", "s", aws.ToString(open[0].ShardId), aws.ToString(open[1].ShardId), "--wait"}, ep...)...)
	if open = openShards(); len(open) != 1 || open[0].AdjacentParentShardId == nil {
		t.Fatalf("after merge: open shards %+v", open)
	}
	mustCLI(t, "", append([]string{"stream", "scale", "s", "2", "--wait"}, ep...)...)
	if n := len(openShards()); n != 2 {
		t.Errorf("after scale 2: %d open shards", n)
	}
	mustCLI(t, "", append([]string{"stream", "scale", "s", "--mode", "on-demand", "--wait"}, ep...)...)
	if out := mustCLI(t, "", append([]string{"stream", "retention", "s", "3d", "--wait"}, ep...)...); out != "stream s: retention 72h, was 24h (ACTIVE)\n" {
		t.Errorf("retention 3d: %q", out)
	}
	sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	if d := sum.StreamDescriptionSummary; aws.ToInt32(d.RetentionPeriodHours) != 72 || d.StreamModeDetails.StreamMode != types.StreamModeOnDemand {
		t.Errorf("retention %d, mode %s; want 72 and ON_DEMAND", aws.ToInt32(d.RetentionPeriodHours), d.StreamModeDetails.StreamMode)
	}
	mustCLI(t, "", append([]string{"stream", "retention", "s", "24"}, ep...)...)
	mustCLI(t, "", append([]string{"stream", "tag", "s", "team=data", "env=dev"}, ep...)...)
	out = mustCLI(t, "", append([]string{"stream", "tag", "s", "--remove", "env", "--json"}, ep...)...)
	var tags map[string]string
	if err := json.Unmarshal([]byte(out), &tags); err != nil || len(tags) != 1 || tags["team"] != "data" {
		t.Errorf("tags %q (%v), want only team=data", out, err)
	}
	r := runCLI(t, "", append([]string{"stream", "split", "s", "shardId-000000000099"}, ep...)...)
	if r.code != exitError || !strings.Contains(r.stderr, "has no shard shardId-000000000099") {
		t.Errorf("split of a missing shard: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestLeaseTableName(t *testing.T) {
	tests := []struct{ group, table string }{
		{"printers", "printers"},
		{"fo", "sluice-group-fo"},
		{"a", "sluice-group-a"},
		{"order totals", "sluice-group-order_totals-"},
		{"zählung", "sluice-group-z_hlung-"},
		{strings.Repeat("x", 300), "sluice-group-" + strings.Repeat("x", 255-13-9) + "-"},
	}
	for _, tt := range tests {
		got := leaseTableName(tt.group)
		if !strings.HasPrefix(got, tt.table) || !validTableName(got) {
			t.Errorf("leaseTableName(%q) = %q, want a valid table name starting %q", tt.group, got, tt.table)
		}
		if back := groupOfTable(got); len(tt.group) < 3 && back != tt.group {
			t.Errorf("groupOfTable(%q) = %q, want %q", got, back, tt.group)
		}
	}
	if leaseTableName("a b") == leaseTableName("a_b") {
		t.Error(`"a b" and "a_b" share a lease table`)
	}
}

// TestRunGroup runs a group member with a two-letter name, then lists,
// describes and resets the group: refused while a worker holds a lease,
// forced, and to a time between two batches of records.
func TestRunGroup(t *testing.T) {
	srv, ep := testServer(t, "s", 2)
	ctx := t.Context()
	put := func(prefix string, n int) {
		t.Helper()
		var in strings.Builder
		for i := range n {
			fmt.Fprintf(&in, "%s-%d\n", prefix, i)
		}
		mustCLI(t, in.String(), append([]string{"put", "s"}, ep...)...)
	}
	put("early", 10)
	// A member of group "fo" prints the records and checkpoints them.
	consumeAll := func(want int) []string {
		t.Helper()
		out := &lockedBuffer{}
		env := &cmdEnv{stdout: out, stderr: &lockedBuffer{}, getenv: func(string) string { return "" }}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- runTail(runCtx, env, append([]string{"s", "--group", "fo", "--from", "trim-horizon"}, ep...))
		}()
		for tick := time.NewTicker(20 * time.Millisecond); len(out.records()) < want; {
			select {
			case err := <-done:
				t.Fatalf("tail --group ended early: %v", err)
			case <-tick.C:
			}
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("tail --group: %v", err)
		}
		return out.records()
	}
	if got := consumeAll(10); len(got) != 10 {
		t.Fatalf("the group printed %d records, want 10", len(got))
	}

	out := mustCLI(t, "", append([]string{"group", "list", "--json"}, ep...)...)
	var groups []groupSummary
	if err := json.Unmarshal([]byte(out), &groups); err != nil || len(groups) != 1 ||
		groups[0] != (groupSummary{Group: "fo", LeaseTable: "sluice-group-fo", Leases: 2}) {
		t.Errorf("group list: %s (%v)", out, err)
	}
	var rows []groupShard
	out = mustCLI(t, "", append([]string{"group", "describe", "fo", "--stream", "s", "--json"}, ep...)...)
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("group describe: %s (%v)", out, err)
	}
	for _, r := range rows {
		if r.State != "open" || r.Owner != "" || strings.Trim(r.Checkpoint, "0123456789") != "" || r.LagMillis == nil || *r.LagMillis != 0 {
			t.Errorf("group describe: %+v, want an open, released, caught-up shard with a numeric checkpoint", r)
		}
	}

	// A worker holding a lease blocks reset, unless --force.
	store := consumer.NewDynamoDBLeaseStore(dynamodb.NewFromConfig(srv.AWSConfig()), "sluice-group-fo")
	l, err := store.GetLease(ctx, "shardId-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.TakeLease(ctx, l, "worker-7", false); err != nil {
		t.Fatal(err)
	}
	reset := append([]string{"group", "reset", "fo", "--stream", "s"}, ep...)
	r := runCLI(t, "", append(reset, "--to", "trim-horizon")...)
	if r.code != exitError || !strings.Contains(r.stderr, "workers hold leases of group fo (worker-7 holds 1 lease)") {
		t.Errorf("reset while a worker holds a lease: exit %d, stderr %q", r.code, r.stderr)
	}
	mustCLI(t, "", append(reset, "--to", "trim-horizon", "--force")...)
	leases, err := store.ListLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		if l.Owner != "" || l.Checkpoint.Sequence != consumer.SentinelTrimHorizon {
			t.Errorf("after reset --force: %+v, want released at TRIM_HORIZON", l)
		}
	}

	// To a time: the group resumes at the first record at or after it.
	// The late records must arrive in a later millisecond than the early
	// ones; wait for the clock to pass the last early arrival.
	for last := lastArrival(t, srv.Kinesis(), "s"); !time.Now().After(last.Add(time.Millisecond)); {
		runtime.Gosched()
	}
	put("late", 10)
	at := firstArrival(t, srv.Kinesis(), "s", "late-")
	mustCLI(t, "", append(reset, "--to", at.Format(time.RFC3339Nano))...)
	got := consumeAll(10)
	slices.Sort(got)
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprintf("late-%d", i))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("after reset to the time of the late records the group printed %q, want %q", got, want)
	}
}

// readAll reads every record of a stream.
func readAll(t *testing.T, c *kinesis.Client, stream string) []types.Record {
	t.Helper()
	shards, err := listShards(t.Context(), c, stream)
	if err != nil {
		t.Fatal(err)
	}
	var recs []types.Record
	for _, s := range shards {
		it, err := c.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, out.Records...)
	}
	return recs
}

func lastArrival(t *testing.T, c *kinesis.Client, stream string) time.Time {
	var last time.Time
	for _, r := range readAll(t, c, stream) {
		if at := *r.ApproximateArrivalTimestamp; at.After(last) {
			last = at
		}
	}
	return last
}

// firstArrival is the arrival time of the earliest record whose data
// starts with prefix.
func firstArrival(t *testing.T, c *kinesis.Client, stream, prefix string) time.Time {
	var first time.Time
	for _, r := range readAll(t, c, stream) {
		if at := *r.ApproximateArrivalTimestamp; strings.HasPrefix(string(r.Data), prefix) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first
}

// records are the data of the records printed in tail's text format.
func (b *lockedBuffer) records() []string {
	var out []string
	for _, l := range b.lines() {
		if f := strings.Fields(l); len(f) == 4 {
			out = append(out, f[3])
		}
	}
	return out
}
