package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// rawResponse is a response to a hand-made request.
type rawResponse struct {
	status  int
	header  http.Header
	body    []byte
	errType string // __type, without any namespace prefix
	message string
}

// post sends a hand-made AWS JSON 1.1 request for operation op ("" leaves
// X-Amz-Target out) with a dummy SigV4 Authorization header, which edit
// may change. It checks what every response must have: an
// x-amzn-RequestId header and, since the test clients never cause a server
// fault, a status below 500.
func (s *server) post(t testing.TB, op string, body string, edit ...func(*http.Request)) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.Endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	signRaw(req, op)
	for _, f := range edit {
		f(req)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read response: %v", op, err)
	}
	r := rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
	checkRawResponse(t, op, r.status, r.header, b)
	if r.status >= 300 {
		r.errType, r.message = parseError(resp.Header, b)
	}
	return r
}

// signRaw sets the headers an AWS SDK would: target, content type, date and
// a well-formed (but not verifiable) SigV4 Authorization header.
func signRaw(req *http.Request, op string) {
	now := time.Now().UTC()
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if op != "" {
		req.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
	}
	req.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDSLUICEE2E/"+now.Format("20060102")+
		"/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+strings.Repeat("ab", 32))
}

func checkRawResponse(t testing.TB, what string, status int, h http.Header, body []byte) {
	t.Helper()
	if h.Get("x-amzn-RequestId") == "" {
		t.Errorf("%s: status %d response has no x-amzn-RequestId header", what, status)
	}
	if status >= 500 {
		t.Errorf("%s: status %d for a client's mistake: %s", what, status, body)
	}
}

// parseError reads an AWS JSON error: X-Amzn-ErrorType or __type (its part
// after '#' and before ':'), and message or Message.
func parseError(h http.Header, body []byte) (errType, message string) {
	var e struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		Message2 string `json:"Message"`
	}
	json.Unmarshal(body, &e)
	errType = e.Type
	if errType == "" {
		errType = e.Code
	}
	if errType == "" {
		errType = h.Get("X-Amzn-ErrorType")
	}
	if i := strings.LastIndexByte(errType, '#'); i >= 0 {
		errType = errType[i+1:]
	}
	if i := strings.IndexByte(errType, ':'); i >= 0 {
		errType = errType[:i]
	}
	message = e.Message
	if message == "" {
		message = e.Message2
	}
	return errType, message
}

func (r rawResponse) want(t testing.TB, status int, errType string) {
	t.Helper()
	if r.status != status || r.errType != errType {
		t.Errorf("got %d %s (%s), want %d %s", r.status, r.errType, r.body, status, errType)
	}
}

// TestProtocol_BadInput sends requests AWS refuses, checks each is refused
// as AWS does (never with a 5xx), and that afterwards every record
// acknowledged before or in between is still readable and nothing of a
// refused request was written.
func TestProtocol_BadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()
	name := "proto"
	createStream(t, c, name, 2)
	acked := map[string]string{} // sequence number -> data
	for i, r := range putRecords(t, c, name, entries("before", 50)) {
		acked[*r.SequenceNumber] = fmt.Sprintf("before-%d", i)
	}

	t.Run("RequestIdOnSuccess", func(t *testing.T) {
		r := s.post(t, "DescribeStreamSummary", `{"StreamName":"proto"}`)
		if r.status != 200 {
			t.Fatalf("DescribeStreamSummary: %d %s", r.status, r.body)
		}
		var out struct {
			StreamDescriptionSummary struct{ StreamName, StreamStatus string }
		}
		if err := json.Unmarshal(r.body, &out); err != nil || out.StreamDescriptionSummary.StreamStatus != "ACTIVE" {
			t.Errorf("DescribeStreamSummary body %s: %v", r.body, err)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-amz-json-1.1") {
			t.Errorf("Content-Type = %q, want application/x-amz-json-1.1", ct)
		}
		// The SDK finds the request id of answers and of errors.
		sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := awsmiddleware.GetRequestIDMetadata(sum.ResultMetadata); !ok || id == "" {
			t.Errorf("SDK sees no request id on a success")
		}
		_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("no-such-stream")})
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.ServiceRequestID() == "" {
			t.Errorf("SDK sees no request id on an error: %v", err)
		}
	})

	t.Run("UnknownOperation", func(t *testing.T) {
		s.post(t, "Frobnicate", `{}`).want(t, 400, "UnknownOperationException")
		s.post(t, "", `{}`).want(t, 400, "UnknownOperationException")
		s.post(t, "", `{}`, func(r *http.Request) { r.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables") }).
			want(t, 400, "UnknownOperationException")
	})

	t.Run("MalformedJSON", func(t *testing.T) {
		s.post(t, "DescribeStreamSummary", `{"StreamName":`).want(t, 400, "SerializationException")
		s.post(t, "DescribeStreamSummary", `not json`).want(t, 400, "SerializationException")
		s.post(t, "DescribeStreamSummary", `{"StreamName":5}`).want(t, 400, "SerializationException")
		s.post(t, "PutRecord", `{"StreamName":"proto","PartitionKey":"k","Data":"not base64!"}`).want(t, 400, "SerializationException")
	})

	t.Run("UnknownMembersIgnored", func(t *testing.T) {
		// Newer SDKs send members an older server does not know.
		r := s.post(t, "DescribeStreamSummary", `{"StreamName":"proto","SomeFutureMember":{"a":[1,2]},"Other":"x"}`)
		if r.status != 200 {
			t.Errorf("unknown members: %d %s (%s), want 200", r.status, r.errType, r.body)
		}
	})

	t.Run("MissingAuthentication", func(t *testing.T) {
		r := s.post(t, "DescribeStreamSummary", `{"StreamName":"proto"}`, func(r *http.Request) { r.Header.Del("Authorization") })
		if r.errType != "MissingAuthenticationTokenException" || r.status < 400 || r.status > 403 {
			t.Errorf("no Authorization: got %d %s (%s), want 400 MissingAuthenticationTokenException", r.status, r.errType, r.body)
		}
	})

	t.Run("StreamNameValidation", func(t *testing.T) {
		for _, bad := range []string{"bad name!", "bad/name", "ünïcode"} {
			for _, op := range []string{"DescribeStreamSummary", "CreateStream"} {
				body, _ := json.Marshal(map[string]any{"StreamName": bad, "ShardCount": 1})
				if op == "DescribeStreamSummary" {
					body, _ = json.Marshal(map[string]any{"StreamName": bad})
				}
				r := s.post(t, op, string(body))
				r.want(t, 400, "ValidationException")
				want := "1 validation error detected: Value '" + bad + "' at 'streamName' failed to satisfy constraint: " +
					"Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
				if r.message != want {
					t.Errorf("%s %q: message\n%q, want\n%q", op, bad, r.message, want)
				}
			}
		}
		long := strings.Repeat("a", 129)
		r := s.post(t, "DescribeStreamSummary", `{"StreamName":"`+long+`"}`)
		r.want(t, 400, "ValidationException")
		want := "1 validation error detected: Value '" + long + "' at 'streamName' failed to satisfy constraint: " +
			"Member must have length less than or equal to 128"
		if r.message != want {
			t.Errorf("129 characters: message\n%q, want\n%q", r.message, want)
		}
		// 128 characters are fine.
		s.post(t, "DescribeStreamSummary", `{"StreamName":"`+long[1:]+`"}`).want(t, 400, "ResourceNotFoundException")
	})

	t.Run("PutRecordsTooMany", func(t *testing.T) {
		_, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries("toomany", 501)})
		wantTyped[*types.ValidationException](t, err)
		_, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: []types.PutRecordsRequestEntry{}})
		wantTyped[*types.ValidationException](t, err)
	})

	t.Run("PutRecordsOver10MiB", func(t *testing.T) {
		recs := make([]types.PutRecordsRequestEntry, 11)
		for i := range recs {
			recs[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint("huge", i)), Data: bytes.Repeat([]byte{'h'}, 1<<20-1024)}
		}
		_, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: recs})
		wantTyped[*types.InvalidArgumentException](t, err)
	})

	t.Run("RecordOver1MiB", func(t *testing.T) {
		data := bytes.Repeat([]byte{'x'}, 1<<20)
		_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: data})
		wantError(t, err, "ValidationException", "InvalidArgumentException")
		_, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: []types.PutRecordsRequestEntry{
			{PartitionKey: aws.String("small"), Data: []byte("small")},
			{PartitionKey: aws.String("k"), Data: data},
		}})
		wantError(t, err, "ValidationException", "InvalidArgumentException")
	})

	t.Run("PartitionKeyLength", func(t *testing.T) {
		for _, key := range []string{"", strings.Repeat("k", 257)} {
			_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String(key), Data: []byte("x")})
			wantTyped[*types.ValidationException](t, err)
		}
		out := putRecord(t, c, name, strings.Repeat("k", 256), []byte("longest key"))
		acked[*out.SequenceNumber] = "longest key"
	})

	t.Run("ExplicitHashKeyOutOfRange", func(t *testing.T) {
		tooBig := new(big.Int).Lsh(big.NewInt(1), 128).String()
		_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(tooBig), Data: []byte("x")})
		wantTyped[*types.InvalidArgumentException](t, err)
		_, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: []types.PutRecordsRequestEntry{
			{PartitionKey: aws.String("k"), Data: []byte("fine")},
			{PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(tooBig), Data: []byte("x")},
		}})
		wantTyped[*types.InvalidArgumentException](t, err)
		out, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(maxHashKey.String()), Data: []byte("max hash key")})
		if err != nil {
			t.Fatalf("ExplicitHashKey 2^128-1: %v", err)
		}
		acked[*out.SequenceNumber] = "max hash key"
	})

	t.Run("GetRecordsLimit", func(t *testing.T) {
		it := iterator(t, c, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon)
		for _, limit := range []int32{0, -1, 10001} {
			_, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(limit)})
			wantTyped[*types.ValidationException](t, err)
		}
		for _, limit := range []int32{1, 10000} {
			if _, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(limit)}); err != nil {
				t.Errorf("Limit %d: %v", limit, err)
			}
		}
	})

	t.Run("HugeContentLengthRefusedAtOnce", func(t *testing.T) {
		// Announce a 100 MiB body and send none of it: the server must
		// answer from the headers alone rather than wait for (or buffer)
		// the body.
		conn, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req, _ := http.NewRequest(http.MethodPost, s.Endpoint+"/", nil)
		signRaw(req, "PutRecord")
		var head bytes.Buffer
		fmt.Fprintf(&head, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", s.addr, 100<<20)
		req.Header.Write(&head)
		head.WriteString("\r\n")
		if _, err := conn.Write(head.Bytes()); err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no response to a 100 MiB Content-Length before the body is sent: %v", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		checkRawResponse(t, "100 MiB Content-Length", resp.StatusCode, resp.Header, body)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("100 MiB Content-Length: status %d (%s), want 4xx (413)", resp.StatusCode, body)
		}
	})

	t.Run("ChunkedBodyOverLimit", func(t *testing.T) {
		// A chunked body (no Content-Length) that grows past any sane
		// limit: refused with a 4xx once the limit is crossed, not read
		// whole into memory, and never a 5xx.
		conn, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req, _ := http.NewRequest(http.MethodPost, s.Endpoint+"/", nil)
		signRaw(req, "PutRecord")
		var head bytes.Buffer
		fmt.Fprintf(&head, "POST / HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n", s.addr)
		req.Header.Write(&head)
		head.WriteString("\r\n")
		if _, err := conn.Write(head.Bytes()); err != nil {
			t.Fatal(err)
		}
		go func() {
			// Write until the server stops reading; errors end it.
			bw := bufio.NewWriter(conn)
			prefix := `{"StreamName":"proto","PartitionKey":"k","Data":"`
			fmt.Fprintf(bw, "%x\r\n%s\r\n", len(prefix), prefix)
			chunk := strings.Repeat("A", 1<<20)
			for range 200 {
				if _, err := fmt.Fprintf(bw, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
					return
				}
			}
			bw.Flush()
		}()
		conn.SetDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no response to a 200 MiB chunked body: %v", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		checkRawResponse(t, "200 MiB chunked body", resp.StatusCode, resp.Header, body)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("200 MiB chunked body: status %d (%s), want 4xx", resp.StatusCode, body)
		}
	})

	t.Run("AcknowledgedRecordsStillReadable", func(t *testing.T) {
		n := 0
		for _, id := range []string{"shardId-000000000000", "shardId-000000000001"} {
			recs := readShard(t, c, name, id)
			checkOrdered(t, id, recs)
			for _, r := range recs {
				d, ok := acked[*r.SequenceNumber]
				switch {
				case !ok:
					t.Errorf("%s: record %s (%d bytes, key %s) was never acknowledged: a refused request wrote it",
						id, *r.SequenceNumber, len(r.Data), aws.ToString(r.PartitionKey))
				case d != string(r.Data):
					t.Errorf("%s: record %s is %q, want %q", id, *r.SequenceNumber, r.Data, d)
				}
				n++
			}
		}
		if n != len(acked) {
			t.Errorf("read %d records, acknowledged %d", n, len(acked))
		}
	})
}

// TestProtocol_H2C runs the SDK over HTTP/2 with prior knowledge (h2c), as
// the Java v2 async client and the JavaScript SDK v3 do.
func TestProtocol_H2C(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	rec := &protoRecorder{next: &http.Transport{Protocols: &protocols}}
	c := newClient(s.Endpoint, &http.Client{Transport: rec, Timeout: requestTimeout})
	name := "h2c"
	createStream(t, c, name, 2)
	big := bytes.Repeat([]byte("0123456789abcdef"), (1<<20-16)/16)
	res := putRecords(t, c, name, append(entries("h2", 499), types.PutRecordsRequestEntry{PartitionKey: aws.String("big"), Data: big}))
	one := putRecord(t, c, name, "k", []byte("over h2c"))
	n := 0
	for _, id := range []string{"shardId-000000000000", "shardId-000000000001"} {
		n += len(readShard(t, c, name, id))
	}
	if n != len(res)+1 {
		t.Errorf("read %d records over h2c, wrote %d", n, len(res)+1)
	}
	got, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{
		ShardIterator: aws.String(iterator(t, c, name, *one.ShardId, types.ShardIteratorTypeAtSequenceNumber, atSequence(*one.SequenceNumber))),
		Limit:         aws.Int32(1),
	})
	if err != nil || len(got.Records) != 1 || string(got.Records[0].Data) != "over h2c" {
		t.Fatalf("GetRecords over h2c: %v", err)
	}
	if p := rec.seen(); len(p) != 1 || p[0] != "HTTP/2.0" {
		t.Errorf("responses came over %v, want only HTTP/2.0", p)
	}
}

// protoRecorder records the protocols of the responses passing through.
type protoRecorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	proto map[string]bool
}

func (p *protoRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(req)
	if err == nil {
		p.mu.Lock()
		if p.proto == nil {
			p.proto = map[string]bool{}
		}
		p.proto[resp.Proto] = true
		p.mu.Unlock()
	}
	return resp, err
}

func (p *protoRecorder) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for k := range p.proto {
		out = append(out, k)
	}
	return out
}
