package producer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// requireKinesisAgg returns the directory of testdata/node, skipping the
// test when node or aws-kinesis-agg is missing, unless CI=true.
func requireKinesisAgg(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "aws-kinesis-agg")); err != nil {
		missing = "aws-kinesis-agg is not installed (npm ci --prefix testdata/node)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("interop with aws-kinesis-agg: %s", missing)
		}
		t.Skipf("interop with aws-kinesis-agg: %s; .ci/run installs it", missing)
	}
	return dir
}

// kinesisAgg runs testdata/node/kinesis-agg.js, which drives the npm
// package aws-kinesis-agg, in mode with in as its JSON input, and decodes
// its JSON output into out.
func kinesisAgg(t *testing.T, mode string, in, out any) {
	t.Helper()
	dir := requireKinesisAgg(t)
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(dir, "kinesis-agg.js"), mode)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node kinesis-agg.js %s: %v\n%s", mode, err, stderr.Bytes())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("node kinesis-agg.js %s: decode output: %v\n%s", mode, err, stdout)
	}
}

// TestInterop_awsKinesisAggDeaggregates checks that aws-kinesis-agg reads
// the aggregates this package writes: every user record, with its own
// partition key, explicit hash key, sequence and sub-sequence numbers.
func TestInterop_awsKinesisAggDeaggregates(t *testing.T) {
	requireKinesisAgg(t)
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 2)
	p := newProducer(t, srv, "s")
	type want struct {
		key, ehk string
		res      producer.Result
	}
	wants := map[string]want{} // by data
	var futures []*producer.Future
	var recs []producer.Record
	for i := range 400 {
		r := producer.Record{PartitionKey: fmt.Sprintf("key-%d", i%13), Data: []byte(fmt.Sprintf("record %d \x00\xff", i))}
		if i%10 == 0 {
			r.ExplicitHashKey = fmt.Sprint(i * 7919)
		}
		f, err := p.PutRecordAsync(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		futures, recs = append(futures, f), append(recs, r)
	}
	aggregated := 0
	for i, f := range futures {
		res, err := f.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Aggregated {
			aggregated++
		}
		wants[string(recs[i].Data)] = want{recs[i].PartitionKey, recs[i].ExplicitHashKey, res}
	}
	if aggregated == 0 {
		t.Fatal("nothing was aggregated")
	}

	type nodeRecord struct {
		Data           string `json:"data"`
		PartitionKey   string `json:"partitionKey"`
		SequenceNumber string `json:"sequenceNumber"`
	}
	var raw []nodeRecord
	for _, r := range readRaw(ctx, t, srv.Kinesis(), "s") {
		raw = append(raw, nodeRecord{base64.StdEncoding.EncodeToString(r.Data), *r.PartitionKey, *r.SequenceNumber})
	}
	var users []struct {
		PartitionKey         string `json:"partitionKey"`
		ExplicitPartitionKey string `json:"explicitPartitionKey"`
		SequenceNumber       string `json:"sequenceNumber"`
		SubSequenceNumber    int64  `json:"subSequenceNumber"`
		Data                 []byte `json:"data"`
	}
	kinesisAgg(t, "deaggregate", raw, &users)
	if len(users) != len(wants) {
		t.Errorf("aws-kinesis-agg found %d user records, want %d", len(users), len(wants))
	}
	for _, u := range users {
		w, ok := wants[string(u.Data)]
		if !ok {
			t.Errorf("aws-kinesis-agg found unknown data %q", u.Data)
			continue
		}
		if u.PartitionKey != w.key || u.SequenceNumber != w.res.SequenceNumber || u.SubSequenceNumber != w.res.SubSequenceNumber {
			t.Errorf("record %q: aws-kinesis-agg read key %s at %s/%d, producer wrote key %s at %s/%d",
				u.Data, u.PartitionKey, u.SequenceNumber, u.SubSequenceNumber, w.key, w.res.SequenceNumber, w.res.SubSequenceNumber)
		}
		// Records sent alone carry no explicit hash key in the stream; and
		// aws-kinesis-agg reads an absent explicit_hash_key_index as the
		// proto2 default 0, so only keys that were set can be compared.
		if w.res.Aggregated && w.ehk != "" && u.ExplicitPartitionKey != w.ehk {
			t.Errorf("record %q: explicit hash key %q, want %q", u.Data, u.ExplicitPartitionKey, w.ehk)
		}
	}
}

// TestInterop_deaggregateReadsAwsKinesisAgg checks that the deaggregate
// package reads aggregates written by aws-kinesis-agg and put through
// Sluice.
func TestInterop_deaggregateReadsAwsKinesisAgg(t *testing.T) {
	type userRecord struct {
		PartitionKey    string `json:"partitionKey"`
		ExplicitHashKey string `json:"explicitHashKey,omitempty"`
		Data            []byte `json:"data"`
	}
	var in []userRecord
	for i := range 300 {
		u := userRecord{PartitionKey: fmt.Sprintf("key-%d", i%17), Data: []byte(fmt.Sprintf("user record %d", i))}
		if i%3 == 0 {
			u.ExplicitHashKey = "12345678901234567890"
		}
		in = append(in, u)
	}
	var encoded []struct {
		PartitionKey    string `json:"partitionKey"`
		ExplicitHashKey string `json:"explicitHashKey"`
		Data            []byte `json:"data"`
	}
	kinesisAgg(t, "aggregate", in, &encoded)
	if len(encoded) == 0 {
		t.Fatal("aws-kinesis-agg produced nothing")
	}

	ctx := testContext(t)
	srv := sluicetest.Start(t)
	// One shard: aws-kinesis-agg aggregates records of every hash key into
	// one record, which a range filter would split over shards.
	srv.CreateStream(ctx, "s", 1)
	entries := make([]types.PutRecordsRequestEntry, len(encoded))
	for i, e := range encoded {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(e.PartitionKey), Data: e.Data}
		if e.ExplicitHashKey != "" {
			entries[i].ExplicitHashKey = aws.String(e.ExplicitHashKey)
		}
	}
	out, err := srv.Kinesis().PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("put records: %v (%d failed)", err, aws.ToInt32(out.FailedRecordCount))
	}
	got := readAll(ctx, t, srv.Kinesis(), "s")
	if len(got) != len(in) {
		t.Fatalf("deaggregate found %d user records, want %d", len(got), len(in))
	}
	for i, g := range got {
		w := in[i]
		if g.PartitionKey != w.PartitionKey || g.ExplicitHashKey != w.ExplicitHashKey || !bytes.Equal(g.Data, w.Data) || !g.Aggregated {
			t.Errorf("user record %d: got key %s ehk %q data %q aggregated %v, want key %s ehk %q data %q",
				i, g.PartitionKey, g.ExplicitHashKey, g.Data, g.Aggregated, w.PartitionKey, w.ExplicitHashKey, w.Data)
		}
	}
}

// readRaw reads every record of every shard without deaggregating.
func readRaw(ctx context.Context, t *testing.T, c *kinesis.Client, stream string) []types.Record {
	t.Helper()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var all []types.Record
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, out.Records...)
			iter = out.NextShardIterator
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
		}
	}
	return all
}
