package e2e

// Helpers over the Kinesis API, used by every test.

import (
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// createStream creates a provisioned stream of n shards, waits until it is
// ACTIVE and returns its shards in id order.
func createStream(t testing.TB, c *kinesis.Client, name string, n int32) []types.Shard {
	t.Helper()
	_, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(n)})
	if err != nil {
		t.Fatalf("CreateStream %s: %v", name, err)
	}
	waitActive(t, c, name)
	shards := listAllShards(t, c, name)
	if len(shards) != int(n) {
		t.Fatalf("stream %s has %d shards, want %d", name, len(shards), n)
	}
	return shards
}

// waitActive waits with the SDK's waiter, polling fast, until the stream is
// ACTIVE.
func waitActive(t testing.TB, c *kinesis.Client, name string) {
	t.Helper()
	w := kinesis.NewStreamExistsWaiter(c, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = 500 * time.Millisecond
	})
	if err := w.Wait(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("wait for %s to be ACTIVE: %v", name, err)
	}
}

// listAllShards pages through ListShards and returns the shards sorted by
// id.
func listAllShards(t testing.TB, c *kinesis.Client, name string) []types.Shard {
	t.Helper()
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(name)}
	for range 1000 {
		out, err := c.ListShards(t.Context(), in)
		if err != nil {
			t.Fatalf("ListShards %s: %v", name, err)
		}
		shards = append(shards, out.Shards...)
		if aws.ToString(out.NextToken) == "" {
			slices.SortFunc(shards, func(a, b types.Shard) int { return strings.Compare(*a.ShardId, *b.ShardId) })
			return shards
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	t.Fatalf("ListShards %s: NextToken never ends", name)
	return nil
}

// putRecords writes entries with one PutRecords call and fails the test on
// an error or any failed entry.
func putRecords(t testing.TB, c *kinesis.Client, stream string, entries []types.PutRecordsRequestEntry) []types.PutRecordsResultEntry {
	t.Helper()
	out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil {
		t.Fatalf("PutRecords %s (%d records): %v", stream, len(entries), err)
	}
	if out.FailedRecordCount == nil {
		// AWS always sends it; Java callers unbox it without a null check.
		t.Errorf("PutRecords %s: response has no FailedRecordCount", stream)
	}
	if n := aws.ToInt32(out.FailedRecordCount); n != 0 {
		t.Fatalf("PutRecords %s: %d of %d records failed, first: %s", stream, n, len(entries), firstFailure(out.Records))
	}
	if len(out.Records) != len(entries) {
		t.Fatalf("PutRecords %s: %d results for %d records", stream, len(out.Records), len(entries))
	}
	for i, r := range out.Records {
		if aws.ToString(r.ShardId) == "" || aws.ToString(r.SequenceNumber) == "" {
			t.Fatalf("PutRecords %s: result %d has no shard id or sequence number: %+v", stream, i, r)
		}
	}
	return out.Records
}

func firstFailure(results []types.PutRecordsResultEntry) string {
	for _, r := range results {
		if r.ErrorCode != nil {
			return aws.ToString(r.ErrorCode) + ": " + aws.ToString(r.ErrorMessage)
		}
	}
	return "none"
}

// putRecord writes one record and fails the test on an error.
func putRecord(t testing.TB, c *kinesis.Client, stream, key string, data []byte) *kinesis.PutRecordOutput {
	t.Helper()
	out, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(key), Data: data})
	if err != nil {
		t.Fatalf("PutRecord %s key %s: %v", stream, key, err)
	}
	return out
}

// entries builds n PutRecords entries "<prefix>-<i>" with partition keys
// "<prefix>-key-<i>".
func entries(prefix string, n int) []types.PutRecordsRequestEntry {
	out := make([]types.PutRecordsRequestEntry, n)
	for i := range out {
		out[i] = types.PutRecordsRequestEntry{
			PartitionKey: aws.String(fmt.Sprintf("%s-key-%d", prefix, i)),
			Data:         []byte(fmt.Sprintf("%s-%d", prefix, i)),
		}
	}
	return out
}

// iterator returns a shard iterator; opt, if given, sets further fields.
func iterator(t testing.TB, c *kinesis.Client, stream, shardID string, typ types.ShardIteratorType, opt ...func(*kinesis.GetShardIteratorInput)) string {
	t.Helper()
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shardID), ShardIteratorType: typ}
	for _, f := range opt {
		f(in)
	}
	out, err := c.GetShardIterator(t.Context(), in)
	if err != nil {
		t.Fatalf("GetShardIterator %s/%s %s: %v", stream, shardID, typ, err)
	}
	if aws.ToString(out.ShardIterator) == "" {
		t.Fatalf("GetShardIterator %s/%s %s: empty iterator", stream, shardID, typ)
	}
	return *out.ShardIterator
}

func atSequence(seq string) func(*kinesis.GetShardIteratorInput) {
	return func(in *kinesis.GetShardIteratorInput) { in.StartingSequenceNumber = aws.String(seq) }
}

func atTimestamp(ts time.Time) func(*kinesis.GetShardIteratorInput) {
	return func(in *kinesis.GetShardIteratorInput) { in.Timestamp = aws.Time(ts) }
}

// readToEnd reads from it with GetRecords(limit) until a response has no
// records and MillisBehindLatest 0, and returns the records and the
// iterator to continue from. Along the way it checks what every response
// must satisfy: a NextShardIterator is present, and after a response with
// records it is an iterator never seen before.
func readToEnd(t testing.TB, c *kinesis.Client, it string, limit int32) ([]types.Record, string) {
	t.Helper()
	var recs []types.Record
	seen := map[string]bool{it: true}
	for calls := 0; calls < 100000; calls++ {
		out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(limit)})
		if err != nil {
			t.Fatalf("GetRecords (call %d, %d records so far): %v", calls+1, len(recs), err)
		}
		if int32(len(out.Records)) > limit {
			t.Fatalf("GetRecords Limit %d returned %d records", limit, len(out.Records))
		}
		next := aws.ToString(out.NextShardIterator)
		if next == "" {
			t.Fatalf("GetRecords on an open shard returned no NextShardIterator")
		}
		if out.MillisBehindLatest == nil {
			// AWS always sends it; the KCL reads it on every response.
			t.Fatalf("GetRecords response has no MillisBehindLatest")
		}
		recs = append(recs, out.Records...)
		if len(out.Records) == 0 && *out.MillisBehindLatest == 0 {
			return recs, next
		}
		if len(out.Records) > 0 && seen[next] {
			t.Fatalf("GetRecords returned a NextShardIterator it had returned before, after %d records", len(recs))
		}
		seen[next] = true
		it = next
	}
	t.Fatalf("GetRecords never caught up")
	return nil, ""
}

// readShard reads a whole shard from TRIM_HORIZON.
func readShard(t testing.TB, c *kinesis.Client, stream, shardID string) []types.Record {
	t.Helper()
	recs, _ := readToEnd(t, c, iterator(t, c, stream, shardID, types.ShardIteratorTypeTrimHorizon), 10000)
	return recs
}

// apiErrorCode is the AWS error code of err, or "" if it has none.
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// wantError fails the test unless err is an API error with one of codes,
// and returns it.
func wantError(t testing.TB, err error, codes ...string) smithy.APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", strings.Join(codes, " or "))
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v, want API error %s", err, strings.Join(codes, " or "))
	}
	if !slices.Contains(codes, ae.ErrorCode()) {
		t.Fatalf("got %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), strings.Join(codes, " or "))
	}
	checkClientError(t, err)
	return ae
}

// checkClientError fails the test if err came with a 5xx status: a request
// the client got wrong is never the server's fault.
func checkClientError(t testing.TB, err error) {
	t.Helper()
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		t.Errorf("status %d for a client error: %v", re.HTTPStatusCode(), err)
	}
}

// wantTyped fails the test unless err is (wraps) the SDK's typed exception E.
func wantTyped[E error](t testing.TB, err error) E {
	t.Helper()
	var target E
	if err == nil {
		t.Fatalf("got no error, want %T", target)
	}
	if !errors.As(err, &target) {
		t.Fatalf("got error %v (code %q), want %T", err, apiErrorCode(err), target)
	}
	checkClientError(t, err)
	return target
}

var decimalRe = regexp.MustCompile(`^(0|[1-9][0-9]{0,128})$`)

// seqNum parses a sequence number, failing the test unless it is a decimal
// string as the API model requires.
func seqNum(t testing.TB, s string) *big.Int {
	t.Helper()
	if !decimalRe.MatchString(s) {
		t.Fatalf("sequence number %q is not a decimal string matching %s", s, decimalRe)
	}
	n, _ := new(big.Int).SetString(s, 10)
	return n
}

// hashKey is the hash key Kinesis derives from a partition key: the MD5 of
// its UTF-8 bytes as a big-endian unsigned 128-bit integer.
func hashKey(partitionKey string) *big.Int {
	sum := md5.Sum([]byte(partitionKey))
	return new(big.Int).SetBytes(sum[:])
}

// shardFor returns the id of the shard whose hash key range holds k.
func shardFor(t testing.TB, shards []types.Shard, k *big.Int) string {
	t.Helper()
	for _, s := range shards {
		lo, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
		hi, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
		if lo.Cmp(k) <= 0 && k.Cmp(hi) <= 0 {
			return *s.ShardId
		}
	}
	t.Fatalf("no shard holds hash key %s", k)
	return ""
}

// maxHashKey is 2^128-1.
var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// streamName makes a stream name unique to the test, within AWS's rules.
func streamName(t testing.TB) string {
	name := badNameChars.ReplaceAllString(t.Name(), ".")
	if len(name) > 100 {
		name = name[len(name)-100:]
	}
	return name
}

var badNameChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)
