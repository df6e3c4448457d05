package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/fxamacker/cbor/v2"
)

// postCBOR sends a CBOR request (application/x-amz-cbor-1.1), as the Java
// SDKs and the KCL do by default, and decodes a 200 answer into out (nil:
// the body must be empty). Errors come back as their __type.
func (s *server) postCBOR(t testing.TB, op string, body any, out any) (status int, errType, message string) {
	t.Helper()
	b, err := cbor.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.Endpoint+"/", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	signRaw(req, op)
	req.Header.Set("Content-Type", "application/x-amz-cbor-1.1")
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read response: %v", op, err)
	}
	checkRawResponse(t, op, resp.StatusCode, resp.Header, rb)
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-cbor-1.1" {
		t.Errorf("%s: response Content-Type %q, want application/x-amz-cbor-1.1", op, ct)
	}
	if resp.StatusCode != http.StatusOK {
		var e map[string]string
		if err := cbor.Unmarshal(rb, &e); err != nil {
			t.Fatalf("%s: error body %x is not CBOR: %v", op, rb, err)
		}
		if e["__type"] != resp.Header.Get("X-Amzn-ErrorType") {
			t.Errorf("%s: __type %q, X-Amzn-ErrorType %q", op, e["__type"], resp.Header.Get("X-Amzn-ErrorType"))
		}
		return resp.StatusCode, e["__type"], e["message"]
	}
	if out == nil {
		if len(rb) != 0 {
			t.Errorf("%s: body %x, want none", op, rb)
		}
		return resp.StatusCode, "", ""
	}
	if err := cbor.Unmarshal(rb, out); err != nil {
		t.Fatalf("%s: body %x: %v", op, rb, err)
	}
	return resp.StatusCode, "", ""
}

// cborMillis is a timestamp as the Java SDK writes it: tag 1 and an
// integer of epoch milliseconds (not RFC 8949's seconds).
func cborMillis(t time.Time) cbor.Tag { return cbor.Tag{Number: 1, Content: t.UnixMilli()} }

// TestCBOR_JavaSDKWireFormat drives a real server over raw HTTP with CBOR
// bodies built as the Java SDK builds them: create, put, an AT_TIMESTAMP
// iterator from a tag-1 millisecond timestamp, read. The arrival times read
// back must be milliseconds near now (a seconds/milliseconds mix-up lands
// in 1970 or in the year 58000), and a JSON client must see the same
// records.
func TestCBOR_JavaSDKWireFormat(t *testing.T) {
	s := startServer(t)
	const stream = "cbor"

	if status, typ, msg := s.postCBOR(t, "CreateStream", map[string]any{"StreamName": stream, "ShardCount": 1}, nil); status != 200 {
		t.Fatalf("CreateStream: %d %s %s", status, typ, msg)
	}
	c := s.Client()
	ctx := ctxFor(t, time.Minute)
	if err := kinesis.NewStreamExistsWaiter(c).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var summary struct {
		StreamDescriptionSummary struct {
			StreamStatus            string
			StreamCreationTimestamp cbor.RawTag
		}
	}
	s.postCBOR(t, "DescribeStreamSummary", map[string]any{"StreamName": stream}, &summary)
	checkMillisNearNow(t, "StreamCreationTimestamp", summary.StreamDescriptionSummary.StreamCreationTimestamp, time.Minute)

	// Records written before `before` must not be read from it.
	var early struct{ FailedRecordCount int }
	s.postCBOR(t, "PutRecords", map[string]any{"StreamName": stream, "Records": []any{
		map[string]any{"Data": []byte("too early"), "PartitionKey": "k"},
	}}, &early)
	before := waitNextMillisecond()

	payloads := [][]byte{{0x00, 0xff, 0x80}, []byte("hello cbor"), {}}
	recs := make([]any, len(payloads))
	for i, p := range payloads {
		recs[i] = map[string]any{"Data": p, "PartitionKey": fmt.Sprintf("pk-%d", i)}
	}
	var put struct {
		FailedRecordCount int
		Records           []struct{ SequenceNumber, ShardId string }
	}
	if status, typ, msg := s.postCBOR(t, "PutRecords", map[string]any{"StreamName": stream, "Records": recs}, &put); status != 200 {
		t.Fatalf("PutRecords: %d %s %s", status, typ, msg)
	}
	if put.FailedRecordCount != 0 || len(put.Records) != len(payloads) {
		t.Fatalf("PutRecords: %+v", put)
	}

	var it struct{ ShardIterator string }
	if status, typ, msg := s.postCBOR(t, "GetShardIterator", map[string]any{"StreamName": stream, "ShardId": put.Records[0].ShardId,
		"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": cborMillis(before)}, &it); status != 200 {
		t.Fatalf("GetShardIterator AT_TIMESTAMP: %d %s %s", status, typ, msg)
	}
	var got struct {
		Records []struct {
			SequenceNumber              string
			ApproximateArrivalTimestamp cbor.RawTag
			Data                        cbor.RawMessage
			PartitionKey                string
		}
		NextShardIterator  string
		MillisBehindLatest int64
	}
	if status, typ, msg := s.postCBOR(t, "GetRecords", map[string]any{"ShardIterator": it.ShardIterator}, &got); status != 200 {
		t.Fatalf("GetRecords: %d %s %s", status, typ, msg)
	}
	if len(got.Records) != len(payloads) || got.NextShardIterator == "" {
		t.Fatalf("GetRecords from AT_TIMESTAMP: %d records, want %d (the early one excluded)", len(got.Records), len(payloads))
	}
	for i, r := range got.Records {
		if len(r.Data) == 0 || r.Data[0]>>5 != 2 {
			t.Errorf("record %d: Data %x is not a CBOR byte string", i, []byte(r.Data))
		}
		var data []byte
		if err := cbor.Unmarshal(r.Data, &data); err != nil || !bytes.Equal(data, payloads[i]) {
			t.Errorf("record %d: data %x (%v), want %x", i, data, err, payloads[i])
		}
		if r.PartitionKey != fmt.Sprintf("pk-%d", i) || r.SequenceNumber != put.Records[i].SequenceNumber {
			t.Errorf("record %d: %s %s, want pk-%d %s", i, r.PartitionKey, r.SequenceNumber, i, put.Records[i].SequenceNumber)
		}
		checkMillisNearNow(t, fmt.Sprintf("record %d ApproximateArrivalTimestamp", i), r.ApproximateArrivalTimestamp, 10*time.Second)
	}

	// A JSON client sees the same records from the same position.
	gi, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(put.Records[0].ShardId),
		ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(before)})
	if err != nil {
		t.Fatal(err)
	}
	gr, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: gi.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(gr.Records) != len(payloads) {
		t.Fatalf("JSON GetRecords: %d records, want %d", len(gr.Records), len(payloads))
	}
	for i, r := range gr.Records {
		var ms int64
		_ = cbor.Unmarshal(got.Records[i].ApproximateArrivalTimestamp.Content, &ms)
		if !bytes.Equal(r.Data, payloads[i]) || aws.ToString(r.SequenceNumber) != got.Records[i].SequenceNumber ||
			r.ApproximateArrivalTimestamp.UnixMilli() != ms {
			t.Errorf("JSON record %d: %x %s %v, CBOR %x %s %d ms", i, r.Data, aws.ToString(r.SequenceNumber),
				r.ApproximateArrivalTimestamp, payloads[i], got.Records[i].SequenceNumber, ms)
		}
	}

	// A timestamp in seconds, the classic mistake, is a date in 1970: the
	// iterator starts at the oldest record, the early one included.
	s.postCBOR(t, "GetShardIterator", map[string]any{"StreamName": stream, "ShardId": put.Records[0].ShardId,
		"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": cbor.Tag{Number: 1, Content: before.Unix()}}, &it)
	s.postCBOR(t, "GetRecords", map[string]any{"ShardIterator": it.ShardIterator}, &got)
	if len(got.Records) != len(payloads)+1 {
		t.Errorf("AT_TIMESTAMP of %d ms: %d records, want all %d", before.Unix(), len(got.Records), len(payloads)+1)
	}

	// Errors are CBOR too.
	if status, typ, _ := s.postCBOR(t, "DescribeStreamSummary", map[string]any{"StreamName": "absent"}, nil); status != 400 || typ != "ResourceNotFoundException" {
		t.Errorf("absent stream: %d %s", status, typ)
	}
	if status, typ, _ := s.postCBOR(t, "PutRecords", map[string]any{"StreamName": stream, "Records": []any{}}, nil); status != 400 || typ != "ValidationException" {
		t.Errorf("empty PutRecords: %d %s", status, typ)
	}
}

// checkMillisNearNow checks a CBOR timestamp is tag 1 with an integer of
// epoch milliseconds within d of now.
func checkMillisNearNow(t testing.TB, what string, tag cbor.RawTag, d time.Duration) {
	t.Helper()
	var n any
	if err := cbor.Unmarshal(tag.Content, &n); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	ms, ok := n.(uint64)
	if tag.Number != 1 || !ok {
		t.Fatalf("%s: tag %d content %T %v, want tag 1 and an integer", what, tag.Number, n, n)
	}
	at := time.UnixMilli(int64(ms))
	if diff := time.Since(at); diff > d || diff < -d {
		t.Errorf("%s: %d ms is %v, %v from now: not epoch milliseconds of now", what, ms, at.UTC(), diff)
	}
}
