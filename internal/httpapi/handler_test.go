package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/httplimit"
	"github.com/sluicehq/sluice/internal/kinesis"
)

const testAuth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260405/us-east-1/kinesis/aws4_request, " +
	"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abcdef0123456789"

// newRequest builds a signed-looking API request for op.
func newRequest(op, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("X-Amz-Target", targetPrefix+op)
	r.Header.Set("Content-Type", contentTypeJSON11)
	r.Header.Set("Authorization", testAuth)
	r.Header.Set("X-Amz-Date", "20260405T060708Z")
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// apiError is an error response as a client reads it.
type apiError struct {
	Status  int
	Code    string
	Message string
}

// readError checks the shape of an error response and returns it.
func readError(t testing.TB, rec *httptest.ResponseRecorder) apiError {
	t.Helper()
	var body struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if strings.HasPrefix(rec.Body.String(), "<") {
		// AWS's XML error, for methods other than POST.
		var x struct {
			XMLName xml.Name
			Message string
		}
		if err := xml.Unmarshal(rec.Body.Bytes(), &x); err != nil {
			t.Fatalf("error body %q is not XML: %v", rec.Body.String(), err)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "" {
			t.Errorf("XML error has Content-Type %q, want none", ct)
		}
		checkCommonHeaders(t, rec)
		return apiError{Status: rec.Code, Code: x.XMLName.Local, Message: x.Message}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body.String(), err)
	}
	if body.Type == "" {
		t.Fatalf("error body %q has no __type", rec.Body.String())
	}
	if got := rec.Header().Get("X-Amzn-ErrorType"); got != body.Type {
		t.Errorf("X-Amzn-ErrorType = %q, __type = %q", got, body.Type)
	}
	checkCommonHeaders(t, rec)
	return apiError{Status: rec.Code, Code: body.Type, Message: body.Message}
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func checkCommonHeaders(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	if id := rec.Header().Get("X-Amzn-RequestId"); !uuidRe.MatchString(id) {
		t.Errorf("x-amzn-RequestId = %q, want a UUID", id)
	}
	if rec.Header().Get("X-Amz-Id-2") == "" {
		t.Errorf("x-amz-id-2 missing")
	}
	if ct := rec.Header().Get("Content-Type"); ct != contentTypeJSON11 && ct != contentTypeJSON && !strings.HasPrefix(rec.Body.String(), "<") {
		t.Errorf("Content-Type = %q", ct)
	}
	if id2, err := base64.StdEncoding.DecodeString(rec.Header().Get("X-Amz-Id-2")); err != nil || len(id2) < 64 || len(id2) > 80 {
		t.Errorf("x-amz-id-2 decodes to %d bytes (%v), want 64 to 80 as AWS's", len(id2), err)
	}
	if cl := rec.Header().Get("Content-Length"); cl == "" {
		t.Errorf("Content-Length missing")
	}
}

func TestHandler_Protocol(t *testing.T) {
	h := New(newFakeService(), Options{})
	tests := []struct {
		name    string
		req     func() *http.Request
		status  int
		code    string
		message string // substring
	}{
		{"GET", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.Method = http.MethodGet
			return r
		}, 403, "AccessDeniedException", "Unable to determine service/operation name to be authorized"},
		{"no target", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.Header.Del("X-Amz-Target")
			return r
		}, 400, "UnknownOperationException", ""},
		{"other service", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
			return r
		}, 400, "UnknownOperationException", ""},
		{"unknown operation", func() *http.Request { return newRequest("FlushEverything", "{}") },
			400, "UnknownOperationException", ""},
		{"unsupported operation", func() *http.Request { return newRequest("UpdateChannel", "{}") },
			400, "InvalidArgumentException", "Operation UpdateChannel is not supported by this server yet."},
		{"other content type", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, 400, "SerializationException", "Unsupported Content-Type"},
		{"no content type", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.Header.Del("Content-Type")
			return r
		}, 400, "SerializationException", "Missing Content-Type"},
		{"application/json", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.Header.Set("Content-Type", contentTypeJSON)
			return r
		}, 400, "SerializationException", "not application/json"},
		{"form post without target", func() *http.Request {
			r := newRequest("ListStreams", "a=b")
			r.Header.Del("X-Amz-Target")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 403, "AccessDeniedException", "Unable to determine service/operation name to be authorized"},
		{"empty body", func() *http.Request { return newRequest("DescribeLimits", "") },
			400, "SerializationException", "empty"},
		{"malformed before unknown operation", func() *http.Request { return newRequest("FlushEverything", "{") },
			400, "SerializationException", "Malformed"},
		{"malformed before authentication", func() *http.Request {
			r := newRequest("ListStreams", `{"Limit":`)
			r.Header.Del("Authorization")
			return r
		}, 400, "SerializationException", "Malformed"},
		{"not an object before authentication", func() *http.Request {
			r := newRequest("ListStreams", `[]`)
			r.Header.Del("Authorization")
			return r
		}, 400, "SerializationException", "Malformed"},
		{"wrong member type after authentication", func() *http.Request {
			r := newRequest("ListStreams", `{"Limit":"ten"}`)
			r.Header.Del("Authorization")
			return r
		}, 400, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"no auth", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.Header.Del("Authorization")
			return r
		}, 400, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"auth without signature", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=a/b/c/kinesis/aws4_request, SignedHeaders=host")
			return r
		}, 400, "IncompleteSignatureException", "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256"},
		{"auth without anything", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256")
			return r
		}, 400, "IncompleteSignatureException",
			"Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{"auth without date", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.Header.Del("X-Amz-Date")
			return r
		}, 400, "IncompleteSignatureException", "requires existence of either a 'X-Amz-Date' or a 'Date' header"},
		{"header and query auth", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
			return r
		}, 400, "InvalidSignatureException", "Found both"},
		{"incomplete query auth", func() *http.Request {
			r := newRequest("ListStreams", "{}")
			r.Header.Del("Authorization")
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a"
			return r
		}, 400, "IncompleteSignatureException", "AWS query-string parameters must include 'X-Amz-Signature'."},
		{"not an object", func() *http.Request { return newRequest("ListStreams", "[]") },
			400, "SerializationException", "JSON object"},
		{"null body", func() *http.Request { return newRequest("ListStreams", "null") },
			400, "SerializationException", "JSON object"},
		{"malformed", func() *http.Request { return newRequest("ListStreams", `{"Limit":`) },
			400, "SerializationException", "Malformed JSON"},
		{"wrong member type", func() *http.Request { return newRequest("ListStreams", `{"Limit":"ten"}`) },
			400, "SerializationException", "Unexpected JSON string for member Limit; expected Integer"},
		{"fractional integer", func() *http.Request { return newRequest("ListStreams", `{"Limit":1.5}`) },
			400, "SerializationException", "member Limit"},
		{"integer overflow", func() *http.Request { return newRequest("ListStreams", `{"Limit":99999999999}`) },
			400, "SerializationException", "member Limit"},
		{"bad base64", func() *http.Request {
			return newRequest("PutRecord", `{"StreamName":"s","PartitionKey":"k","Data":"!!!!"}`)
		}, 400, "SerializationException", "base64"},
		{"bad timestamp", func() *http.Request {
			return newRequest("GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":"yesterday"}`)
		}, 400, "SerializationException", "Invalid timestamp"},
		{"stream not found", func() *http.Request { return newRequest("DescribeStreamSummary", `{"StreamName":"nope"}`) },
			400, "ResourceNotFoundException", "Stream nope under account 123456789012 not found."},
		{"no stream ref", func() *http.Request { return newRequest("DescribeStreamSummary", `{}`) },
			400, "InvalidArgumentException", "Either StreamName or StreamARN should be provided."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readError(t, serve(h, tt.req()))
			if got.Status != tt.status || got.Code != tt.code || !strings.Contains(got.Message, tt.message) {
				t.Errorf("got %d %s %q, want %d %s containing %q", got.Status, got.Code, got.Message, tt.status, tt.code, tt.message)
			}
		})
	}
}

func TestHandler_Success(t *testing.T) {
	h := New(newFakeService(), Options{})
	for i, ct := range []string{contentTypeJSON11, contentTypeJSON11 + "; charset=utf-8"} {
		// Unknown members and the reserved StreamId are ignored.
		r := newRequest("CreateStream", fmt.Sprintf(`{"StreamName":"s%d","ShardCount":1,"Unknown":{"a":[1,2]},"StreamId":"abc"}`, i))
		r.Header.Del("Content-Type")
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		rec := serve(h, r)
		if rec.Code != 200 || rec.Body.Len() != 0 {
			t.Fatalf("content type %q: %d %s", ct, rec.Code, rec.Body)
		}
		checkCommonHeaders(t, rec)
		if got := rec.Header().Get("Content-Type"); got != contentTypeJSON11 {
			t.Errorf("request content type %q: response content type %q, want %q", ct, got, contentTypeJSON11)
		}
	}
	// Operations without output answer an empty body.
	rec := serve(h, newRequest("DescribeLimits", "{}"))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"ShardLimit":20000`) {
		t.Fatalf("DescribeLimits: %d %s", rec.Code, rec.Body)
	}
	rec = serve(h, newRequest("DeleteStream", `{"StreamName":"s0"}`))
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "0" {
		t.Fatalf("DeleteStream: %d %q", rec.Code, rec.Body)
	}
}

func TestHandler_BodyLimit(t *testing.T) {
	h := New(newFakeService(), Options{MaxBodyBytes: 100})
	body := `{"StreamName":"` + strings.Repeat("a", 100) + `"}`

	t.Run("declared length", func(t *testing.T) {
		r := newRequest("DescribeStreamSummary", "")
		r.ContentLength = 101
		r.Body = io.NopCloser(failingReader{t})
		got := readError(t, serve(h, r))
		if got.Status != 413 || got.Code != "RequestEntityTooLargeException" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("unknown length", func(t *testing.T) {
		r := newRequest("DescribeStreamSummary", body)
		r.ContentLength = -1 // chunked, or HTTP/2 without content-length
		got := readError(t, serve(h, r))
		if got.Status != 413 || got.Code != "RequestEntityTooLargeException" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("at the limit", func(t *testing.T) {
		b := `{"StreamName":"` + strings.Repeat("a", 100-17) + `"}`
		if len(b) != 100 {
			t.Fatalf("body of %d bytes", len(b))
		}
		r := newRequest("DescribeStreamSummary", b)
		r.ContentLength = -1
		got := readError(t, serve(h, r))
		if got.Code != "ResourceNotFoundException" {
			t.Fatalf("got %+v", got)
		}
	})
}

// TestHandler_BodyBounds checks that a body is read into a buffer that
// grows with what arrives, never to a declared length, and that the
// refusals of httplimit reach the client as AWS's retryable errors.
func TestHandler_BodyBounds(t *testing.T) {
	h := New(newFakeService(), Options{})
	t.Run("declared 16 MiB, sent 20 bytes", func(t *testing.T) {
		r := newRequest("DescribeStreamSummary", `{"StreamName":"s"}  `)
		r.ContentLength = 16 << 20
		buf, err := h.readBody(httptest.NewRecorder(), r)
		if err != nil {
			t.Fatal(err)
		}
		defer buf.Release()
		if len(buf.B) != 20 || cap(buf.B) > 4<<10 {
			t.Errorf("read %d bytes into a buffer of %d", len(buf.B), cap(buf.B))
		}
	})
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{httplimit.ErrBusy, 400, "ThrottlingException"},
		{httplimit.ErrBodyTimeout, 408, "RequestTimeoutException"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			r := newRequest("DescribeStreamSummary", "")
			r.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"Stream`), errReader{tc.err}))
			got := readError(t, serve(h, r))
			if got.Status != tc.status || got.Code != tc.code {
				t.Fatalf("got %+v, want %d %s", got, tc.status, tc.code)
			}
			if got.Message == "" {
				t.Errorf("no message")
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type failingReader struct{ t *testing.T }

func (f failingReader) Read([]byte) (int, error) {
	f.t.Error("body read although Content-Length is over the limit")
	return 0, io.EOF
}

func TestHandler_InternalFailure(t *testing.T) {
	svc := newFakeService()
	var logs bytes.Buffer
	h := New(svc, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	svc.fail = errors.New("nats: connection to /var/run/secret refused")
	got := readError(t, serve(h, newRequest("ListStreams", "{}")))
	if got.Status != 500 || got.Code != "InternalFailureException" || got.Message != "Internal service failure." {
		t.Fatalf("got %+v", got)
	}
	if !strings.Contains(logs.String(), "/var/run/secret") {
		t.Errorf("internal error not logged: %s", logs.String())
	}

	// A service's own InternalFailure keeps its words in the log too.
	logs.Reset()
	svc.fail = kinesis.Errorf(kinesis.ErrInternalFailure, "shard log 7 is corrupt")
	got = readError(t, serve(h, newRequest("ListStreams", "{}")))
	if got.Status != 500 || got.Message != "Internal service failure." || !strings.Contains(logs.String(), "corrupt") {
		t.Fatalf("got %+v, logs %s", got, logs.String())
	}

	// Client errors are passed on as they are.
	svc.fail = kinesis.Errorf(kinesis.ErrLimitExceeded, "Rate exceeded for stream s.")
	got = readError(t, serve(h, newRequest("ListStreams", "{}")))
	if got.Status != 400 || got.Code != "LimitExceededException" || got.Message != "Rate exceeded for stream s." {
		t.Fatalf("got %+v", got)
	}

	// A canceled request is not an error worth logging.
	logs.Reset()
	svc.fail = context.Canceled
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	serve(h, newRequest("ListStreams", "{}").WithContext(ctx))
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("canceled request logged as an error: %s", logs.String())
	}
}

// An application/json call naming no operation gets the envelope of AWS's
// JSON 1.0 front door, with 200.
func TestHandler_JSON10Envelope(t *testing.T) {
	h := New(newFakeService(), Options{})
	r := newRequest("ListStreams", "{}")
	r.Header.Del("X-Amz-Target")
	r.Header.Set("Content-Type", contentTypeJSON)
	rec := serve(h, r)
	want := `{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException","message":null},"Version":"1.0"}`
	if rec.Code != 200 || rec.Body.String() != want {
		t.Fatalf("got %d %s, want 200 %s", rec.Code, rec.Body, want)
	}
}

// The Authorization header an IncompleteSignatureException quotes back to
// its caller never reaches the log, even at debug level.
func TestHandler_NoAuthorizationInLog(t *testing.T) {
	var logs strings.Builder
	h := New(newFakeService(), Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	r := newRequest("ListStreams", "{}")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Sig=0123456789abcdef")
	got := readError(t, serve(h, r))
	if got.Code != "IncompleteSignatureException" || !strings.Contains(got.Message, "Sig=0123456789abcdef") {
		t.Fatalf("got %+v", got)
	}
	if strings.Contains(logs.String(), "0123456789abcdef") || !strings.Contains(logs.String(), "Authorization=(redacted)") {
		t.Fatalf("log: %s", logs.String())
	}
}
