package e2e

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// These tests check what AWS does and clients or users' tests can tell
// (issue 14): short shard ids, the order of MergeShards' shards,
// SplitShard's bounds, UPDATING and CREATING, model validation of numbers,
// strict base64, CORS and the shapes of error bodies.

// TestFidelity_ShortShardIDs checks that every operation taking a ShardId
// resolves "shardId-1", "shard-1", "anything-1" and "1" to
// shardId-000000000001, and that errors name the canonical id.
func TestFidelity_ShortShardIDs(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()
	name := streamName(t)
	createStream(t, c, name, 2)
	put := putRecord(t, c, name, "k", []byte("x"))
	short := map[string]string{"shardId-0": kinesisShard(0), "shard-1": kinesisShard(1), "anything-1": kinesisShard(1), "0": kinesisShard(0), "shardId-0000001": kinesisShard(1)}
	for id, canon := range short {
		it := iterator(t, c, name, id, types.ShardIteratorTypeTrimHorizon)
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			t.Fatalf("GetRecords of %s: %v", id, err)
		}
		if canon == *put.ShardId && (len(out.Records) != 1 || *out.Records[0].SequenceNumber != *put.SequenceNumber) {
			t.Errorf("%s read %d records, want the one put to %s", id, len(out.Records), canon)
		}
	}
	// Errors name the canonical id, or the id as given when it has no
	// number.
	_, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String("shardId-7"), ShardIteratorType: types.ShardIteratorTypeLatest})
	rnf := wantTyped[*types.ResourceNotFoundException](t, err)
	if want := "Shard shardId-000000000007 in stream " + name + " under account 000000000000 does not exist"; aws.ToString(rnf.Message) != want {
		t.Errorf("message %q, want %q", aws.ToString(rnf.Message), want)
	}
	_, err = c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String("bogus"), ShardIteratorType: types.ShardIteratorTypeLatest})
	rnf = wantTyped[*types.ResourceNotFoundException](t, err)
	if want := "Could not find shard bogus in stream " + name + " under account 000000000000."; aws.ToString(rnf.Message) != want {
		t.Errorf("message %q, want %q", aws.ToString(rnf.Message), want)
	}
	// ListShards and DescribeStream start after a short id too.
	ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name), ExclusiveStartShardId: aws.String("shardId-0")})
	if err != nil || len(ls.Shards) != 1 || *ls.Shards[0].ShardId != kinesisShard(1) {
		t.Fatalf("ListShards after shardId-0: %+v, %v", ls, err)
	}
	ds, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name), ExclusiveStartShardId: aws.String("0")})
	if err != nil || len(ds.StreamDescription.Shards) != 1 || *ds.StreamDescription.Shards[0].ShardId != kinesisShard(1) {
		t.Fatalf("DescribeStream after 0: %+v, %v", ds, err)
	}
	// SplitShard and MergeShards, with short ids; lineage names canonical
	// ids.
	shards := listAllShards(t, c, name)
	mid := midKey(shards[1].HashKeyRange)
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String("1"), NewStartingHashKey: aws.String(mid)}); err != nil {
		t.Fatalf("SplitShard of 1: %v", err)
	}
	waitActive(t, c, name)
	if _, err := c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(name), ShardToMerge: aws.String("shardId-2"), AdjacentShardToMerge: aws.String("3")}); err != nil {
		t.Fatalf("MergeShards of shardId-2 and 3: %v", err)
	}
	waitActive(t, c, name)
	all := listAllShards(t, c, name)
	merged := all[len(all)-1]
	if aws.ToString(merged.ParentShardId) != kinesisShard(2) || aws.ToString(merged.AdjacentParentShardId) != kinesisShard(3) {
		t.Errorf("merged shard's parents %s, %s; want %s, %s", aws.ToString(merged.ParentShardId), aws.ToString(merged.AdjacentParentShardId), kinesisShard(2), kinesisShard(3))
	}
	// SubscribeToShard (the server's consumers are ACTIVE at once).
	arn := registerConsumer(t, c, name, "c")
	sub, err := subscribeShard(ctx, c, arn, "shardId-0", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatalf("SubscribeToShard of shardId-0: %v", err)
	}
	sub.Close()
}

// TestFidelity_Resharding checks MergeShards' order of shards and
// SplitShard's bounds, in AWS's words.
func TestFidelity_Resharding(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()
	name := streamName(t)
	shards := createStream(t, c, name, 2)
	_, err := c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(name), ShardToMerge: shards[1].ShardId, AdjacentShardToMerge: shards[0].ShardId})
	ia := wantTyped[*types.InvalidArgumentException](t, err)
	if want := "Shards shardId-000000000001 and shardId-000000000000 in stream " + name + " under account 000000000000 are not an adjacent pair of shards eligible for merging"; aws.ToString(ia.Message) != want {
		t.Errorf("message %q, want %q", aws.ToString(ia.Message), want)
	}
	r := shards[0].HashKeyRange
	start, end := aws.ToString(r.StartingHashKey), aws.ToString(r.EndingHashKey)
	for _, key := range []string{start, "1", end} {
		_, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: shards[0].ShardId, NewStartingHashKey: aws.String(key)})
		ia := wantTyped[*types.InvalidArgumentException](t, err)
		want := "NewStartingHashKey " + key + " used in SplitShard() on shard shardId-000000000000 in stream " + name +
			" under account 000000000000 is not both greater than one plus the shard's StartingHashKey " + start + " and less than the shard's EndingHashKey " + end + "."
		if aws.ToString(ia.Message) != want {
			t.Errorf("split at %s: message %q, want %q", key, aws.ToString(ia.Message), want)
		}
	}
	// The narrowest legal split leaves children of two hash keys and of
	// the rest.
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: shards[0].ShardId, NewStartingHashKey: aws.String("2")}); err != nil {
		t.Fatalf("split at StartingHashKey + 2: %v", err)
	}
}

// TestFidelity_StatusDelays checks UPDATING after SplitShard, MergeShards
// and UpdateShardCount with --update-stream-delay, and that a CREATING
// stream lists no shards and may be deleted.
func TestFidelity_StatusDelays(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--update-stream-delay", "1h", "--create-stream-delay", "1h")
	c := s.Client()
	ctx := t.Context()
	status := func(name string) types.StreamStatus {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return out.StreamDescriptionSummary.StreamStatus
	}

	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("creating"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("creating")})
	if err != nil || d.StreamDescription.StreamStatus != types.StreamStatusCreating || d.StreamDescription.Shards == nil || len(d.StreamDescription.Shards) != 0 {
		t.Fatalf("DescribeStream of a CREATING stream: %+v, %v; want CREATING and an empty shard list", d, err)
	}
	if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("creating")}); err != nil {
		t.Fatalf("DeleteStream of a CREATING stream: %v", err)
	}
	if _, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("creating")}); err == nil {
		t.Fatal("the deleted CREATING stream is still there")
	}

	// The other delays need ACTIVE streams: a second server creates them
	// ACTIVE at once, over the same store in turn.
	s.Stop()
	s.args = []string{"--update-stream-delay", "1h"}
	s.Start()
	c = s.Client()
	for _, op := range []string{"split", "merge", "scale"} {
		name := "updating-" + op
		shards := createStream(t, c, name, 2)
		var err error
		switch op {
		case "split":
			_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: shards[0].ShardId,
				NewStartingHashKey: aws.String(midKey(shards[0].HashKeyRange))})
		case "merge":
			_, err = c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(name), ShardToMerge: shards[0].ShardId, AdjacentShardToMerge: shards[1].ShardId})
		case "scale":
			_, err = c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(name), TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling})
		}
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if st := status(name); st != types.StreamStatusUpdating {
			t.Errorf("after %s the stream is %s, want UPDATING", op, st)
		}
		// UPDATING refuses another reshard, as on AWS; writes go on.
		_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String("shardId-1"), NewStartingHashKey: aws.String("12345678901234567890123456789012345678")})
		wantTyped[*types.ResourceInUseException](t, err)
		putRecord(t, c, name, "k", []byte("during UPDATING"))
	}
}

// TestFidelity_ModelValidation checks the model's bounds on numbers:
// ShardCount past int32 is clamped and fails validation (not
// serialization), and RetentionPeriodHours must be at least 1.
func TestFidelity_ModelValidation(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	createStream(t, s.Client(), "s", 1)
	for _, tc := range []struct{ op, body, want string }{
		{"CreateStream", `{"StreamName":"big","ShardCount":3000000000}`,
			"1 validation error detected: Value '2147483647' at 'shardCount' failed to satisfy constraint: Member must have value less than or equal to 100000"},
		{"CreateStream", `{"StreamName":"big","ShardCount":100001}`,
			"1 validation error detected: Value '100001' at 'shardCount' failed to satisfy constraint: Member must have value less than or equal to 100000"},
		{"IncreaseStreamRetentionPeriod", `{"StreamName":"s","RetentionPeriodHours":-1}`,
			"1 validation error detected: Value '-1' at 'retentionPeriodHours' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"DecreaseStreamRetentionPeriod", `{"StreamName":"s","RetentionPeriodHours":0}`,
			"1 validation error detected: Value '0' at 'retentionPeriodHours' failed to satisfy constraint: Member must have value greater than or equal to 1"},
	} {
		r := s.post(t, tc.op, tc.body)
		r.want(t, 400, "ValidationException")
		if r.message != tc.want {
			t.Errorf("%s %s: message %q, want %q", tc.op, tc.body, r.message, tc.want)
		}
	}
	s.post(t, "CreateStream", `{"StreamName":"frac","ShardCount":1.5}`).want(t, 400, "SerializationException")
}

// TestFidelity_StrictBase64 checks that Data in non-canonical base64 (a
// final quantum with unused bits set) is refused, as AWS refuses it, in
// PutRecord and PutRecords alike, and that nothing of it is stored.
func TestFidelity_StrictBase64(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	name := streamName(t)
	shards := createStream(t, c, name, 1)
	for _, data := range []string{"+/+=", "QQ==x", "QR=="} {
		r := s.post(t, "PutRecord", `{"StreamName":"`+name+`","PartitionKey":"k","Data":"`+data+`"}`)
		r.want(t, 400, "SerializationException")
		s.post(t, "PutRecords", `{"StreamName":"`+name+`","Records":[{"PartitionKey":"k","Data":"QQ=="},{"PartitionKey":"k","Data":"`+data+`"}]}`).
			want(t, 400, "SerializationException")
	}
	// The canonical forms of the same bytes are stored.
	for _, data := range []string{"+/8=", "QQ=="} {
		if r := s.post(t, "PutRecord", `{"StreamName":"`+name+`","PartitionKey":"k","Data":"`+data+`"}`); r.status != 200 {
			t.Fatalf("PutRecord of %s: %d %s", data, r.status, r.body)
		}
	}
	recs := readShard(t, c, name, *shards[0].ShardId)
	if len(recs) != 2 || base64.StdEncoding.EncodeToString(recs[0].Data) != "+/8=" || string(recs[1].Data) != "A" {
		t.Fatalf("stored %d records (%v), want exactly the two canonical ones", len(recs), datasOf(recs))
	}
}

// TestFidelity_ErrorShapes checks error bodies as AWS sends them:
// SerializationException's message in "Message", UnknownOperationException
// without one, AWS's XML for methods other than POST, x-amz-id-2 of AWS's
// length, tag characters and the shard limit's help page.
func TestFidelity_ErrorShapes(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--shard-limit", "2")
	createStream(t, s.Client(), "s", 1)

	r := s.post(t, "DescribeStreamSummary", `{"StreamName":5}`)
	r.want(t, 400, "SerializationException")
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil || body["Message"] == nil || body["message"] != nil {
		t.Errorf("SerializationException body %s: want its text in Message", r.body)
	}
	r = s.post(t, "Frobnicate", `{}`)
	r.want(t, 400, "UnknownOperationException")
	body = nil
	if err := json.Unmarshal(r.body, &body); err != nil || len(body) != 1 {
		t.Errorf("UnknownOperationException body %s: want __type alone", r.body)
	}

	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, err := http.NewRequestWithContext(t.Context(), method, s.Endpoint+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json") // not a browser
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var x struct {
			XMLName xml.Name
			Message string
		}
		err = xml.NewDecoder(resp.Body).Decode(&x)
		resp.Body.Close()
		if resp.StatusCode != 403 || err != nil || x.XMLName.Local != "AccessDeniedException" ||
			x.Message != "Unable to determine service/operation name to be authorized" || resp.Header.Get("Content-Type") != "" {
			t.Errorf("%s /: %d %+v (%v), Content-Type %q; want 403 and AWS's XML AccessDeniedException", method, resp.StatusCode, x, err, resp.Header.Get("Content-Type"))
		}
	}
	if id2, err := base64.StdEncoding.DecodeString(r.header.Get("X-Amz-Id-2")); err != nil || len(id2) < 64 || len(id2) > 80 {
		t.Errorf("x-amz-id-2 %q decodes to %d bytes, want 64 to 80", r.header.Get("X-Amz-Id-2"), len(id2))
	}

	r = s.post(t, "AddTagsToStream", `{"StreamName":"s","Tags":{"team:a":"x"}}`)
	r.want(t, 400, "InvalidArgumentException")
	if want := "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @."; r.message != want {
		t.Errorf("tag with ':': %q, want %q", r.message, want)
	}
	if r := s.post(t, "AddTagsToStream", `{"StreamName":"s","Tags":{"team%a b":"x/y=z+1-2@3_4.5"}}`); r.status != 200 {
		t.Errorf("tag of every allowed character: %d %s", r.status, r.body)
	}

	r = s.post(t, "CreateStream", `{"StreamName":"big","ShardCount":5}`)
	r.want(t, 400, "LimitExceededException")
	if !strings.Contains(r.message, "Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits") {
		t.Errorf("shard limit message %q lacks AWS's help page", r.message)
	}
}

// TestFidelity_CORS checks what a browser sends and reads: a preflight
// answered 200 with the Access-Control-Allow-* headers it asks for, and
// responses (errors too) that let the page read them.
func TestFidelity_CORS(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	createStream(t, s.Client(), "s", 1)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, s.Endpoint+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "http://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "amz-sdk-invocation-id,amz-sdk-request,authorization,content-type,x-amz-content-sha256,x-amz-date,x-amz-target,x-amz-user-agent")
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 200 || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Methods") != "POST" ||
		h.Get("Access-Control-Allow-Headers") != req.Header.Get("Access-Control-Request-Headers") || h.Get("Access-Control-Max-Age") != "172800" {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}
	for _, body := range []string{`{"StreamName":"s"}`, `{"StreamName":"nope"}`} {
		r := s.post(t, "DescribeStreamSummary", body, func(r *http.Request) { r.Header.Set("Origin", "http://app.example") })
		if r.header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "x-amzn-RequestId") ||
			!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "x-amzn-ErrorType") {
			t.Errorf("%s with an Origin: headers %v", body, r.header)
		}
	}
	if r := s.post(t, "DescribeStreamSummary", `{"StreamName":"s"}`); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a request without Origin got CORS headers: %v", r.header)
	}
}

func kinesisShard(n int) string { return fmt.Sprintf("shardId-%012d", n) }

// midKey is the hash key in the middle of a range.
func midKey(r *types.HashKeyRange) string {
	lo, _ := new(big.Int).SetString(aws.ToString(r.StartingHashKey), 10)
	hi, _ := new(big.Int).SetString(aws.ToString(r.EndingHashKey), 10)
	return new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1).String()
}

// TestFidelity_CORSFromBrowser calls Sluice from a web page in headless
// Chromium, as the JavaScript SDK does in a browser: a POST from another
// origin with AWS's headers (so the browser sends a preflight first), the
// answer's body and its exposed x-amzn-RequestId and x-amzn-ErrorType
// headers read by the page's script.
func TestFidelity_CORSFromBrowser(t *testing.T) {
	t.Parallel()
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		missingTool(t, "Chromium", "install Debian's chromium (.ci/run does)")
	}
	s := startServer(t)
	createStream(t, s.Client(), "s", 1)
	page := `<html><body><pre id="out">pending</pre><script>
const call = async (target, body) => {
  const r = await fetch(` + "`${ENDPOINT}/`" + `, {method: 'POST', body: JSON.stringify(body), headers: {
    'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'Kinesis_20131202.' + target,
    'X-Amz-Date': '20260101T000000Z',
    'Authorization': 'AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00'}});
  const j = await r.json();
  return [r.status, j.StreamDescriptionSummary ? j.StreamDescriptionSummary.StreamStatus : j.__type,
    r.headers.get('x-amzn-RequestId') ? 'id' : 'no-id', r.headers.get('x-amzn-ErrorType') || '-'].join(' ');
};
(async () => {
  const out = [await call('DescribeStreamSummary', {StreamName: 's'}), await call('DescribeStreamSummary', {StreamName: 'nope'})];
  document.getElementById('out').textContent = 'result: ' + out.join(' | ');
})().catch((e) => { document.getElementById('out').textContent = 'failed: ' + e; });
</script></body></html>`
	page = strings.ReplaceAll(page, "${ENDPOINT}", s.Endpoint)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, page)
	}))
	defer origin.Close()
	ctx := ctxFor(t, 2*time.Minute)
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=30000", "--dump-dom", origin.URL+"/")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	const want = "result: 200 ACTIVE id - | 400 ResourceNotFoundException id ResourceNotFoundException"
	if !strings.Contains(string(out), want) {
		t.Fatalf("the page read:\n%s\nwant %q", out, want)
	}
}

// TestFidelity_SequenceNumbers checks AWS's 56-digit sequence numbers, that
// the 38-digit form of older servers is still taken, and that PutRecord
// takes an AWS sequence number as SequenceNumberForOrdering.
func TestFidelity_SequenceNumbers(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()
	name := streamName(t)
	shards := createStream(t, c, name, 1)
	first := putRecord(t, c, name, "k", []byte("first"))
	second := putRecord(t, c, name, "k", []byte("second"))
	for _, seq := range []string{*first.SequenceNumber, *second.SequenceNumber, *shards[0].SequenceNumberRange.StartingSequenceNumber} {
		if len(seq) != 56 || seq[:2] < "49" || seq[:2] > "74" {
			t.Errorf("sequence number %s: want 56 digits like AWS's", seq)
		}
	}
	if seqNum(t, *first.SequenceNumber).Cmp(seqNum(t, *second.SequenceNumber)) >= 0 {
		t.Errorf("%s is not below %s", *first.SequenceNumber, *second.SequenceNumber)
	}
	// The same record's number in the 38-digit form older servers gave:
	// the same fields and version, without the 60 low zero bits.
	n := seqNum(t, *second.SequenceNumber)
	legacy := new(big.Int).Rsh(n, 60).String()
	if len(legacy) != 38 {
		t.Fatalf("test setup: legacy form %s", legacy)
	}
	recs, _ := readToEnd(t, c, iterator(t, c, name, *shards[0].ShardId, types.ShardIteratorTypeAtSequenceNumber, func(in *kinesis.GetShardIteratorInput) {
		in.StartingSequenceNumber = aws.String(legacy)
	}), 10)
	if len(recs) != 1 || *recs[0].SequenceNumber != *second.SequenceNumber {
		t.Fatalf("AT_SEQUENCE_NUMBER %s (38 digits) read %v, want the record %s", legacy, datasOf(recs), *second.SequenceNumber)
	}
	// SequenceNumberForOrdering: ours, or one from AWS.
	for _, hint := range []string{*second.SequenceNumber, legacy, "49592592288669974188510550010873737925033238827737546754"} {
		out, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte("x"), SequenceNumberForOrdering: aws.String(hint)})
		if err != nil {
			t.Fatalf("SequenceNumberForOrdering %s: %v", hint, err)
		}
		if seqNum(t, *out.SequenceNumber).Cmp(n) <= 0 {
			t.Errorf("put after %s got %s, not above it", hint, *out.SequenceNumber)
		}
	}
	_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte("x"), SequenceNumberForOrdering: aws.String("12345")})
	wantTyped[*types.InvalidArgumentException](t, err)
}
