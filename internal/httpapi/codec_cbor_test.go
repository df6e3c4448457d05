package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Request bodies here are built as the Java SDK sends them: maps with the
// JSON member names, blobs as byte strings, timestamps as tag 1 and an
// integer of epoch milliseconds.

// cborTime is a timestamp as the Java SDK writes it.
func cborTime(t time.Time) cbor.Tag {
	return cbor.Tag{Number: 1, Content: t.UnixMilli()}
}

func mustCBOR(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newCBORRequest builds a signed-looking CBOR request for op.
func newCBORRequest(op string, body []byte) *http.Request {
	r := newRequest(op, string(body))
	r.Header.Set("Content-Type", contentTypeCBOR)
	return r
}

// serveCBOR sends body to op and checks the response is a CBOR one.
func serveCBOR(t testing.TB, h http.Handler, op string, body any) *httptest.ResponseRecorder {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		b = mustCBOR(t, body)
	}
	rec := serve(h, newCBORRequest(op, b))
	if ct := rec.Header().Get("Content-Type"); ct != contentTypeCBOR {
		t.Errorf("%s: Content-Type = %q, want %s", op, ct, contentTypeCBOR)
	}
	if rec.Header().Get("X-Amzn-RequestId") == "" || rec.Header().Get("Content-Length") == "" {
		t.Errorf("%s: headers %v", op, rec.Header())
	}
	return rec
}

// decodeCBOROK checks a 200 answer and decodes its body into v.
func decodeCBOROK(t testing.TB, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if rec.Code != 200 {
		t.Fatalf("status %d, body %x", rec.Code, rec.Body.Bytes())
	}
	if err := cbor.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("body %x is not the CBOR expected: %v", rec.Body.Bytes(), err)
	}
}

// readCBORError checks the shape of a CBOR error response and returns it.
func readCBORError(t testing.TB, rec *httptest.ResponseRecorder) apiError {
	t.Helper()
	var body map[string]string
	if err := cbor.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %x is not a CBOR map of strings: %v", rec.Body.Bytes(), err)
	}
	if len(body) != 2 || body["__type"] == "" {
		t.Fatalf("error body %v: want __type and message", body)
	}
	if got := rec.Header().Get("X-Amzn-ErrorType"); got != body["__type"] {
		t.Errorf("X-Amzn-ErrorType = %q, __type = %q", got, body["__type"])
	}
	if ct := rec.Header().Get("Content-Type"); ct != contentTypeCBOR {
		t.Errorf("error Content-Type = %q", ct)
	}
	return apiError{Status: rec.Code, Code: body["__type"], Message: body["message"]}
}

func newCBORTestHandler(t testing.TB) (*Handler, *fakeService) {
	t.Helper()
	svc := newFakeService()
	if err := svc.CreateStream(context.Background(), kinesis.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	return New(svc, Options{}), svc
}

func TestCBOR_CreateStream(t *testing.T) {
	h, svc := newCBORTestHandler(t)
	rec := serveCBOR(t, h, "CreateStream", map[string]any{
		"StreamName": "c", "ShardCount": 3, "Tags": map[string]string{"team": "data"},
		"StreamModeDetails": map[string]any{"StreamMode": "PROVISIONED"}, "Unknown": []any{1, "x"},
	})
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("got %d %x", rec.Code, rec.Body.Bytes())
	}
	in := svc.lastCall("CreateStream").(kinesis.CreateStreamInput)
	if in.Name != "c" || in.ShardCount != 3 || in.Mode != kinesis.ModeProvisioned || in.Tags["team"] != "data" {
		t.Errorf("service got %+v", in)
	}
	// A second time: the service's error comes back in CBOR.
	rec = serveCBOR(t, h, "CreateStream", map[string]any{"StreamName": "c", "ShardCount": 3})
	if e := readCBORError(t, rec); e.Status != 400 || e.Code != "ResourceInUseException" {
		t.Errorf("got %+v", e)
	}
}

// jacksonPutRecords is a PutRecords body as Jackson's CBORGenerator writes
// it: indefinite-length maps and arrays, byte strings for Data.
func jacksonPutRecords() []byte {
	b := []byte{0xbf}
	b = appendCBORText(b, "StreamName")
	b = appendCBORText(b, "s")
	b = appendCBORText(b, "Records")
	b = append(b, 0x9f)
	for i, data := range [][]byte{{0, 1, 0xff}, {}} {
		b = append(b, 0xbf)
		b = appendCBORText(b, "Data")
		b = append(b, 0x40|byte(len(data)))
		b = append(b, data...)
		b = appendCBORText(b, "PartitionKey")
		b = appendCBORText(b, fmt.Sprintf("key-%d", i))
		b = append(b, 0xff)
	}
	return append(b, 0xff, 0xff)
}

func TestCBOR_PutRecords(t *testing.T) {
	h, svc := newCBORTestHandler(t)
	body := jacksonPutRecords()
	rec := serveCBOR(t, h, "PutRecords", body)
	var out struct {
		FailedRecordCount int
		Records           []map[string]string
		EncryptionType    string
	}
	decodeCBOROK(t, rec, &out)
	if out.FailedRecordCount != 0 || len(out.Records) != 2 || out.EncryptionType != "NONE" {
		t.Fatalf("got %+v", out)
	}
	for i, r := range out.Records {
		if r["SequenceNumber"] == "" || !strings.HasPrefix(r["ShardId"], "shardId-") || len(r) != 2 {
			t.Errorf("record %d: %v", i, r)
		}
	}
	got := svc.lastCall("PutRecords").([]kinesis.PutRecordEntry)
	want := []kinesis.PutRecordEntry{{Data: []byte{0, 1, 0xff}, PartitionKey: "key-0"}, {Data: []byte{}, PartitionKey: "key-1"}}
	if len(got) != 2 || !bytes.Equal(got[0].Data, want[0].Data) || got[0].PartitionKey != "key-0" ||
		len(got[1].Data) != 0 || got[1].PartitionKey != "key-1" {
		t.Errorf("service got %+v, want %+v", got, want)
	}

	// Per-entry failures keep their CBOR shape.
	svc.failKeys = true
	rec = serveCBOR(t, h, "PutRecords", map[string]any{"StreamName": "s", "Records": []any{
		map[string]any{"Data": []byte("x"), "PartitionKey": "throttle"},
		map[string]any{"Data": []byte("y"), "PartitionKey": "ok"},
	}})
	decodeCBOROK(t, rec, &out)
	if out.FailedRecordCount != 1 || out.Records[0]["ErrorCode"] != string(kinesis.ErrProvisionedThroughput) || out.Records[1]["SequenceNumber"] == "" {
		t.Errorf("got %+v", out)
	}
}

// TestCBOR_SameValidation sends the same requests in JSON and CBOR and
// expects the same errors, word for word.
func TestCBOR_SameValidation(t *testing.T) {
	records := func(n int, data []byte, key string) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = map[string]any{"Data": data, "PartitionKey": key}
		}
		return out
	}
	tests := []struct {
		op   string
		body map[string]any
		code kinesis.ErrorCode
	}{
		{"PutRecords", map[string]any{"StreamName": "s", "Records": records(501, []byte("x"), "k")}, kinesis.ErrValidation},
		{"PutRecords", map[string]any{"StreamName": "s", "Records": records(0, nil, "")}, kinesis.ErrValidation},
		{"PutRecords", map[string]any{"StreamName": "s", "Records": []any{map[string]any{"Data": []byte("x")}}}, kinesis.ErrValidation},
		{"PutRecords", map[string]any{"StreamName": "s", "Records": []any{map[string]any{"PartitionKey": "k"}}}, kinesis.ErrValidation},
		{"PutRecords", map[string]any{"StreamName": "s", "Records": records(1, []byte("x"), strings.Repeat("k", 257))}, kinesis.ErrValidation},
		{"PutRecords", map[string]any{"StreamName": "s", "Records": []any{map[string]any{"Data": []byte("x"), "PartitionKey": "k",
			"ExplicitHashKey": "340282366920938463463374607431768211456"}}}, kinesis.ErrInvalidArgument},
		{"PutRecords", map[string]any{"Records": records(1, []byte("x"), "k")}, kinesis.ErrInvalidArgument},
		{"PutRecords", map[string]any{"StreamName": "missing", "Records": records(1, []byte("x"), "k")}, kinesis.ErrResourceNotFound},
		{"CreateStream", map[string]any{"StreamName": "bad name!", "ShardCount": 0}, kinesis.ErrValidation},
		{"GetShardIterator", map[string]any{"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP"}, kinesis.ErrInvalidArgument},
		{"GetShardIterator", map[string]any{"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "SOMEWHERE"}, kinesis.ErrValidation},
		{"GetRecords", map[string]any{"ShardIterator": "s/shardId-000000000000/0", "Limit": 0}, kinesis.ErrValidation},
		{"ListShards", map[string]any{"StreamName": "s", "NextToken": "t"}, kinesis.ErrInvalidArgument},
		{"DescribeStreamSummary", map[string]any{"StreamName": "nope"}, kinesis.ErrResourceNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			h, _ := newCBORTestHandler(t)
			js, err := json.Marshal(tt.body) // []byte becomes base64, as in JSON
			if err != nil {
				t.Fatal(err)
			}
			jsonErr := readError(t, serve(h, newRequest(tt.op, string(js))))
			cborErr := readCBORError(t, serveCBOR(t, h, tt.op, tt.body))
			if jsonErr != cborErr {
				t.Errorf("JSON %+v\nCBOR %+v", jsonErr, cborErr)
			}
			if cborErr.Code != string(tt.code) {
				t.Errorf("code %s, want %s", cborErr.Code, tt.code)
			}
		})
	}
}

func TestCBOR_GetShardIteratorAtTimestamp(t *testing.T) {
	h, svc := newCBORTestHandler(t)
	at := time.Date(2026, 4, 5, 6, 7, 8, 123_000_000, time.UTC)
	req := func(ts any) map[string]any {
		return map[string]any{"StreamName": "s", "ShardId": "shardId-000000000001",
			"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": ts}
	}
	for _, tt := range []struct {
		name string
		ts   any
		want time.Time
	}{
		{"integer milliseconds", cborTime(at), at},
		{"float milliseconds", cbor.Tag{Number: 1, Content: float64(at.UnixMilli()) + 0.5}, at.Add(500 * time.Microsecond)},
		{"before 1970", cbor.Tag{Number: 1, Content: int64(-1500)}, time.Unix(-2, 500_000_000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := serveCBOR(t, h, "GetShardIterator", req(tt.ts))
			var out map[string]string
			decodeCBOROK(t, rec, &out)
			if out["ShardIterator"] != "s/shardId-000000000001/0" {
				t.Errorf("got %v", out)
			}
			in := svc.lastCall("GetShardIterator").(kinesis.GetShardIteratorInput)
			if in.Type != kinesis.AtTimestamp || in.Timestamp == nil || !in.Timestamp.Equal(tt.want) {
				t.Errorf("service got %+v, want timestamp %v", in, tt.want)
			}
		})
	}
	for _, ts := range []any{
		at.UnixMilli(), // untagged: unit unknown
		cbor.Tag{Number: 0, Content: "2026-04-05T06:07:08Z"}, // RFC 3339 text
		cbor.Tag{Number: 1, Content: "1775369228123"},
		cbor.Tag{Number: 1, Content: uint64(1) << 63},
		cbor.Tag{Number: 1, Content: int64(-1) << 62},
		cbor.Tag{Number: 1, Content: 1e300},
		"1775369228.123",
	} {
		rec := serveCBOR(t, h, "GetShardIterator", req(ts))
		if e := readCBORError(t, rec); e.Code != "SerializationException" || e.Status != 400 {
			t.Errorf("timestamp %#v: got %+v", ts, e)
		}
	}
}

func TestCBOR_GetRecords(t *testing.T) {
	h, svc := newCBORTestHandler(t)
	rec := serveCBOR(t, h, "PutRecords", map[string]any{"StreamName": "s", "Records": []any{
		map[string]any{"Data": []byte{0xde, 0xad}, "PartitionKey": "a", "ExplicitHashKey": "1"},
		map[string]any{"Data": []byte{}, "PartitionKey": "b", "ExplicitHashKey": "2"},
	}})
	if rec.Code != 200 {
		t.Fatalf("put: %d %x", rec.Code, rec.Body.Bytes())
	}
	rec = serveCBOR(t, h, "GetRecords", map[string]any{"ShardIterator": "s/shardId-000000000000/0", "Limit": 10})
	var out struct {
		Records []struct {
			SequenceNumber              string
			ApproximateArrivalTimestamp cbor.RawTag
			Data                        cbor.RawMessage
			PartitionKey                string
			EncryptionType              string
		}
		NextShardIterator  string
		MillisBehindLatest int64
	}
	decodeCBOROK(t, rec, &out)
	if len(out.Records) != 2 || out.NextShardIterator != "s/shardId-000000000000/2" {
		t.Fatalf("got %+v", out)
	}
	for i, want := range [][]byte{{0xde, 0xad}, {}} {
		r := out.Records[i]
		if r.Data[0]>>5 != 2 {
			t.Errorf("record %d: Data %x is not a byte string", i, []byte(r.Data))
		}
		var data []byte
		if err := cbor.Unmarshal(r.Data, &data); err != nil || !bytes.Equal(data, want) {
			t.Errorf("record %d: Data %x, %v", i, data, err)
		}
		if r.ApproximateArrivalTimestamp.Number != 1 {
			t.Errorf("record %d: timestamp tag %d, want 1", i, r.ApproximateArrivalTimestamp.Number)
		}
		var ms any
		if err := cbor.Unmarshal(r.ApproximateArrivalTimestamp.Content, &ms); err != nil {
			t.Fatal(err)
		}
		// Milliseconds, as an integer: 1775369228480 (2026), not 1775369228.48.
		if ms != uint64(svc.now.UnixMilli()) {
			t.Errorf("record %d: timestamp content %T %v, want integer milliseconds %d", i, ms, ms, svc.now.UnixMilli())
		}
		if r.PartitionKey != string(rune('a'+i)) || r.EncryptionType != "NONE" || r.SequenceNumber == "" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	// An empty page still has its Records list.
	rec = serveCBOR(t, h, "GetRecords", map[string]any{"ShardIterator": "s/shardId-000000000001/0"})
	var empty map[string]any
	decodeCBOROK(t, rec, &empty)
	if recs, ok := empty["Records"].([]any); !ok || len(recs) != 0 {
		t.Errorf("empty page: %v", empty)
	}
	if got := svc.lastCall("GetRecords"); got != kinesis.MaxGetRecordsLimit {
		t.Errorf("default limit %v", got)
	}
}

func TestCBOR_ListShards(t *testing.T) {
	h, svc := newCBORTestHandler(t)
	created := svc.now
	filterAt := created.Add(90 * time.Second)
	rec := serveCBOR(t, h, "ListShards", map[string]any{
		"StreamName": "s", "StreamCreationTimestamp": cborTime(created), "MaxResults": 5,
		"ShardFilter": map[string]any{"Type": "AT_TIMESTAMP", "Timestamp": cborTime(filterAt)},
	})
	var out struct {
		Shards []struct {
			ShardId             string
			HashKeyRange        map[string]string
			SequenceNumberRange map[string]string
		}
	}
	decodeCBOROK(t, rec, &out)
	if len(out.Shards) != 2 || out.Shards[1].ShardId != "shardId-000000000001" ||
		out.Shards[0].HashKeyRange["StartingHashKey"] != "0" || out.Shards[0].SequenceNumberRange["StartingSequenceNumber"] == "" {
		t.Fatalf("got %+v", out)
	}
	in := svc.lastCall("ListShards").(kinesis.ListShardsInput)
	if in.StreamCreationTimestamp == nil || !in.StreamCreationTimestamp.Equal(created) ||
		in.Filter == nil || in.Filter.Timestamp == nil || !in.Filter.Timestamp.Equal(filterAt) || in.MaxResults != 5 {
		t.Errorf("service got %+v (filter %+v)", in, in.Filter)
	}
}

func TestCBOR_DescribeStreamSummary(t *testing.T) {
	h, svc := newCBORTestHandler(t)
	rec := serveCBOR(t, h, "DescribeStreamSummary", map[string]any{"StreamName": "s"})
	var out struct {
		StreamDescriptionSummary struct {
			StreamName              string
			StreamStatus            string
			OpenShardCount          int
			RetentionPeriodHours    int
			StreamCreationTimestamp cbor.RawTag
		}
	}
	decodeCBOROK(t, rec, &out)
	d := out.StreamDescriptionSummary
	if d.StreamName != "s" || d.OpenShardCount != 2 || d.RetentionPeriodHours != kinesis.DefaultRetentionHours {
		t.Errorf("got %+v", d)
	}
	var ms int64
	if err := cbor.Unmarshal(d.StreamCreationTimestamp.Content, &ms); err != nil || d.StreamCreationTimestamp.Number != 1 || ms != svc.now.UnixMilli() {
		t.Errorf("StreamCreationTimestamp tag %d, %d ms (%v), want tag 1, %d ms", d.StreamCreationTimestamp.Number, ms, err, svc.now.UnixMilli())
	}

	rec = serveCBOR(t, h, "DescribeStreamSummary", map[string]any{"StreamName": "nope"})
	e := readCBORError(t, rec)
	if e.Status != 400 || e.Code != "ResourceNotFoundException" || !strings.Contains(e.Message, "nope") {
		t.Errorf("got %+v", e)
	}
}

// TestCBOR_EveryOperation checks that each operation answers a CBOR request
// in CBOR.
func TestCBOR_EveryOperation(t *testing.T) {
	arn := kinesis.StreamARN("us-east-1", fakeAccount, "s")
	bodies := map[string]map[string]any{
		"AddTagsToStream":               {"StreamName": "s", "Tags": map[string]string{"a": "b"}},
		"CreateStream":                  {"StreamName": "new", "ShardCount": 1},
		"DecreaseStreamRetentionPeriod": {"StreamName": "s", "RetentionPeriodHours": 24},
		"DeleteStream":                  {"StreamName": "s"},
		"DescribeLimits":                {},
		"DescribeStream":                {"StreamName": "s", "Limit": 1},
		"DescribeStreamSummary":         {"StreamName": "s"},
		"GetRecords":                    {"ShardIterator": "s/shardId-000000000000/0"},
		"GetShardIterator":              {"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"},
		"IncreaseStreamRetentionPeriod": {"StreamName": "s", "RetentionPeriodHours": 48},
		"ListShards":                    {"StreamName": "s"},
		"ListStreams":                   {"Limit": 10},
		"ListTagsForResource":           {"ResourceARN": arn},
		"ListTagsForStream":             {"StreamName": "s"},
		"PutRecord":                     {"StreamName": "s", "Data": []byte{1}, "PartitionKey": "k"},
		"PutRecords":                    {"StreamName": "s", "Records": []any{map[string]any{"Data": []byte{1}, "PartitionKey": "k"}}},
		"RemoveTagsFromStream":          {"StreamName": "s", "TagKeys": []string{"a"}},
		"TagResource":                   {"ResourceARN": arn, "Tags": map[string]string{"a": "b"}},
		"UntagResource":                 {"ResourceARN": arn, "TagKeys": []string{"a"}},
		"RegisterStreamConsumer":        {"StreamARN": arn, "ConsumerName": "c"},
		"DeregisterStreamConsumer":      {"StreamARN": arn, "ConsumerName": "c"},
		"DescribeStreamConsumer":        {"StreamARN": arn, "ConsumerName": "c"},
		"ListStreamConsumers":           {"StreamARN": arn, "MaxResults": 5},
		"EnableEnhancedMonitoring":      {"StreamName": "s", "ShardLevelMetrics": []string{"ALL"}},
		"DisableEnhancedMonitoring":     {"StreamName": "s", "ShardLevelMetrics": []string{"ALL"}},
		"PutResourcePolicy":             {"ResourceARN": arn, "Policy": `{"Version":"2012-10-17","Statement":[]}`},
		"GetResourcePolicy":             {"ResourceARN": arn},
		"DeleteResourcePolicy":          {"ResourceARN": arn},
		"DescribeAccountSettings":       {},
		"UpdateAccountSettings":         {"MinimumThroughputBillingCommitment": map[string]any{"Status": "ENABLED"}},
	}
	for op := range operations {
		t.Run(op, func(t *testing.T) {
			body, ok := bodies[op]
			if !ok {
				t.Skipf("no CBOR request for %s in this test yet", op)
			}
			h, _ := newCBORTestHandler(t)
			rec := serveCBOR(t, h, op, body)
			if rec.Code != 200 {
				t.Fatalf("%d %+v", rec.Code, readCBORError(t, rec))
			}
			if rec.Body.Len() > 0 {
				var v map[string]any
				if err := cbor.Unmarshal(rec.Body.Bytes(), &v); err != nil {
					t.Errorf("answer %x is not a CBOR map: %v", rec.Body.Bytes(), err)
				}
			}
		})
	}
}

// TestCBOR_ConsumerTimestamp checks ConsumerCreationTimestamp is tag 1
// with epoch milliseconds, like every other timestamp of a CBOR answer.
func TestCBOR_ConsumerTimestamp(t *testing.T) {
	h, svc := newCBORTestHandler(t)
	rec := serveCBOR(t, h, "RegisterStreamConsumer", map[string]any{
		"StreamARN": kinesis.StreamARN("us-east-1", fakeAccount, "s"), "ConsumerName": "c"})
	var out struct {
		Consumer struct {
			ConsumerName              string
			ConsumerCreationTimestamp cbor.RawTag
		}
	}
	decodeCBOROK(t, rec, &out)
	var ms int64
	ts := out.Consumer.ConsumerCreationTimestamp
	if err := cbor.Unmarshal(ts.Content, &ms); err != nil || ts.Number != 1 || ms != svc.now.UnixMilli() || out.Consumer.ConsumerName != "c" {
		t.Errorf("got %+v: tag %d, %d ms (%v), want tag 1, %d ms", out, ts.Number, ms, err, svc.now.UnixMilli())
	}
}

func TestCBOR_Malformed(t *testing.T) {
	h, _ := newCBORTestHandler(t)
	deep := strings.Repeat("\xa1\x61a", 40) + "\x01"
	allOps := []string{"DescribeStreamSummary", "PutRecords", "GetRecords"}
	tests := []struct {
		name string
		body string
		ops  []string
	}{
		{"break alone", "\xff", allOps},
		{"truncated map", "\xa1\x6aStreamName", allOps},
		{"truncated text", "\xa1\x6aStreamName\x61", allOps},
		{"not a map", "\x82\x01\x02", allOps},
		{"text", "\x61s", allOps},
		{"null", "\xf6", allOps},
		{"trailing data", "\xa1\x6aStreamName\x61s\x00", allOps},
		{"duplicate member", "\xa2\x6aStreamName\x61s\x6aStreamName\x61t", allOps},
		{"nested too deep", "\xa1\x61x" + deep, allOps},
		{"huge declared array", "\xa1\x61x\x9b\x00\x00\x00\x00\xff\xff\xff\xff", allOps},
		{"huge declared string", "\xa1\x61x\x7b\x00\x00\x00\x00\xff\xff\xff\xff", allOps},
		{"too many elements", "\xa1\x61x\x9f" + strings.Repeat("\x00", cborMaxArrayElements+1) + "\xff", allOps},
		{"JSON", `{"StreamName":"s"}`, allOps},
		{"wrong member type", "\xa1\x6aStreamName\x01", []string{"DescribeStreamSummary", "PutRecords"}},
		{"invalid UTF-8", "\xa1\x6aStreamName\x62\xff\xfe", []string{"DescribeStreamSummary", "PutRecords"}},
		{"integer overflow", "\xa1\x65Limit\x1b\xff\xff\xff\xff\xff\xff\xff\xff", []string{"GetRecords"}},
		{"text for blob", "\xa2\x6aStreamName\x61s\x67Records\x81\xa1\x64Data\x61x", []string{"PutRecords"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, op := range tt.ops {
				rec := serveCBOR(t, h, op, []byte(tt.body))
				if e := readCBORError(t, rec); e.Status != 400 || e.Code != "SerializationException" ||
					strings.Contains(e.Message, "httpapi") || strings.Contains(e.Message, "Go ") {
					t.Errorf("%s: got %+v", op, e)
				}
			}
		})
	}
	// An empty body is refused, as AWS refuses it; an empty map is {}.
	if e := readCBORError(t, serveCBOR(t, h, "DescribeLimits", []byte{})); e.Status != 400 || e.Code != "SerializationException" {
		t.Errorf("empty body: got %+v", e)
	}
	rec := serveCBOR(t, h, "DescribeLimits", []byte{0xa0})
	if rec.Code != 200 {
		t.Errorf("empty map: %d %x", rec.Code, rec.Body.Bytes())
	}
	// So is a self-described map (tag 55799).
	rec = serveCBOR(t, h, "DescribeStreamSummary", append([]byte{0xd9, 0xd9, 0xf7}, mustCBOR(t, map[string]string{"StreamName": "s"})...))
	if rec.Code != 200 {
		t.Errorf("self-described body: %d %x", rec.Code, rec.Body.Bytes())
	}
}

func TestTimestamp_CBOR(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want []byte
	}{
		{time.UnixMilli(1775369228480), []byte{0xc1, 0x1b, 0, 0, 0x01, 0x9d, 0x5c, 0x40, 0x90, 0xc0}},
		{time.Unix(0, 0), []byte{0xc1, 0x00}},
		{time.UnixMilli(23), []byte{0xc1, 0x17}},
		{time.UnixMilli(24), []byte{0xc1, 0x18, 24}},
		{time.UnixMilli(-1), []byte{0xc1, 0x20}},
		{time.UnixMilli(-1000), []byte{0xc1, 0x39, 0x03, 0xe7}},
		{time.UnixMilli(70000), []byte{0xc1, 0x1a, 0, 1, 0x11, 0x70}},
		{time.Unix(1, 999_999_999), []byte{0xc1, 0x19, 0x07, 0xcf}}, // truncated to the millisecond
	} {
		got, err := Timestamp{tt.t}.MarshalCBOR()
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("%v: got %x, %v, want %x", tt.t, got, err, tt.want)
		}
		// cbor agrees on the encoding, and it reads back.
		ref := mustCBOR(t, cbor.Tag{Number: 1, Content: tt.t.UnixMilli()})
		if !bytes.Equal(got, ref) {
			t.Errorf("%v: got %x, cbor.Marshal %x", tt.t, got, ref)
		}
		var back Timestamp
		if err := back.UnmarshalCBOR(got); err != nil || !back.Equal(tt.t.Truncate(time.Millisecond)) && tt.t.UnixMilli() >= 0 {
			t.Errorf("%x: read back %v, %v", got, back.Time, err)
		}
	}
	var ts struct {
		T *Timestamp `json:"T"`
	}
	if err := cborDecMode.Unmarshal(mustCBOR(t, map[string]any{"T": nil}), &ts); err != nil || ts.T != nil {
		t.Errorf("null: %v, %v", ts.T, err)
	}
}

// TestAppendCBORText checks the length forms of error messages.
func TestAppendCBORText(t *testing.T) {
	for _, n := range []int{0, 23, 24, 255, 256, 65535, 65536, 70000} {
		var s string
		b := appendCBORText(nil, strings.Repeat("x", n))
		if err := cbor.Unmarshal(b, &s); err != nil || len(s) != n {
			t.Errorf("text of %d bytes: %d, %v", n, len(s), err)
		}
	}
}

// FuzzCBORHandler sends arbitrary CBOR bodies to every operation: never a
// 500 or a panic, and every answer is CBOR (or empty, for operations
// without output).
func FuzzCBORHandler(f *testing.F) {
	ops := slices.Sorted(func(yield func(string) bool) {
		for op := range operations {
			if !yield(op) {
				return
			}
		}
	})
	ts := cbor.Tag{Number: 1, Content: int64(1775369228480)}
	seeds := []any{
		map[string]any{},
		map[string]any{"StreamName": "s", "Limit": 1, "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP",
			"Timestamp": ts, "ShardIterator": "s/shardId-000000000000/0", "RetentionPeriodHours": 48,
			"Tags": map[string]string{"a": "b"}, "TagKeys": []string{"a"}, "Data": []byte{0}, "PartitionKey": "k",
			"ResourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
			"Records":     []any{map[string]any{"Data": []byte("x"), "PartitionKey": "k", "ExplicitHashKey": "7"}},
			"ShardFilter": map[string]any{"Type": "FROM_TIMESTAMP", "Timestamp": ts}, "StreamCreationTimestamp": ts},
		map[string]any{"StreamName": "t", "ShardCount": 2, "StreamModeDetails": map[string]any{"StreamMode": "ON_DEMAND"}},
		map[string]any{"Timestamp": cbor.Tag{Number: 1, Content: 1.5}, "Records": []any{nil, map[string]any{}}},
	}
	for i := range ops {
		for _, s := range seeds {
			f.Add(uint8(i), mustCBOR(f, s))
		}
	}
	f.Add(uint8(0), jacksonPutRecords())
	f.Add(uint8(0), []byte("\xbf\x9f\xff\xff"))
	// Deep nesting (arrays of arrays, indefinite maps in maps) and huge
	// declared lengths, past the decoder's limits.
	putRecordsOp := uint8(slices.Index(ops, "PutRecords"))
	f.Add(putRecordsOp, append([]byte("\xa1\x67Records"), bytes.Repeat([]byte{0x81}, 100_000)...))
	f.Add(putRecordsOp, append([]byte("\xa1\x67Records"), bytes.Repeat([]byte("\xbf\x61a"), 50_000)...))
	f.Add(putRecordsOp, []byte("\xa1\x67Records\x9b\x00\x00\x00\x01\x00\x00\x00\x00"))
	for _, s := range putRecordsSeeds {
		f.Add(uint8(slices.Index(ops, "PutRecords")), []byte(s))
	}
	f.Fuzz(func(t *testing.T, opIndex uint8, body []byte) {
		svc := newFakeService()
		_ = svc.CreateStream(context.Background(), kinesis.CreateStreamInput{Name: "s", ShardCount: 2})
		h := New(svc, Options{MaxBodyBytes: 1 << 20})
		op := ops[int(opIndex)%len(ops)]
		rec := serveCBOR(t, h, op, body)
		if rec.Code == 500 {
			t.Fatalf("%s %x: 500 %x", op, body, rec.Body.Bytes())
		}
		if rec.Code != 200 {
			readCBORError(t, rec)
			return
		}
		if rec.Body.Len() > 0 {
			var v map[string]any
			if err := cbor.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatalf("%s %x: answer %x is not a CBOR map: %v", op, body, rec.Body.Bytes(), err)
			}
		}
	})
}
