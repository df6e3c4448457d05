package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/sluicehq/sluice/internal/kinesis"
)

const (
	testAccount = "123456789012"
	testRegion  = "us-east-1"
)

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// testConfig has alice (a user with a token-less key), a temporary key of
// a role session, and the root user.
func testConfig(t testing.TB) *Config {
	t.Helper()
	cfg, err := ParseConfig([]byte(`{"principals": [
	  {"arn": "arn:aws:iam::123456789012:user/alice",
	   "accessKeys": [{"accessKeyId": "AKIDALICE", "secretAccessKey": "alice-secret"}],
	   "policies": [{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": ["kinesis:*", "sluice:*"], "Resource": "*"}}]},
	  {"arn": "arn:aws:sts::123456789012:assumed-role/Reader/s1",
	   "accessKeys": [{"accessKeyId": "ASIATEMP", "secretAccessKey": "temp-secret", "sessionToken": "tok3n", "expires": "2026-03-14T16:00:00Z"}]},
	  {"arn": "arn:aws:iam::123456789012:root",
	   "accessKeys": [{"accessKeyId": "AKIDROOT", "secretAccessKey": "root-secret"}]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// authServer is a real HTTP server whose handler authenticates each
// request with g, so requests are seen as a server sees them (Host moved
// out of the headers, Content-Length parsed).
func authServer(t *testing.T, g *Gate, action string) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ctx, err := g.Authenticate(r, action, body)
		if err != nil {
			var ke *kinesis.Error
			errors.As(err, &ke)
			w.WriteHeader(400)
			io.WriteString(w, string(ke.Code)+": "+ke.Message)
			return
		}
		io.WriteString(w, "OK "+IdentityFrom(ctx).Principal.ARN)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func newGate(cfg *Config, now time.Time) *Gate {
	return New(Options{Region: testRegion, Account: testAccount, Credentials: cfg, Now: func() time.Time { return now }})
}

// signed builds a request as aws-sdk-go-v2 sends a Kinesis call, signed
// at time at.
func signed(t *testing.T, url, body string, creds aws.Credentials, service string, at time.Time) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecord")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), service, testRegion, at); err != nil {
		t.Fatal(err)
	}
	return r
}

func do(t *testing.T, c *http.Client, r *http.Request) string {
	t.Helper()
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

var (
	alice = aws.Credentials{AccessKeyID: "AKIDALICE", SecretAccessKey: "alice-secret"}
	temp  = aws.Credentials{AccessKeyID: "ASIATEMP", SecretAccessKey: "temp-secret", SessionToken: "tok3n"}
)

func TestAuthenticate_HeaderSignature(t *testing.T) {
	g := newGate(testConfig(t), testNow)
	srv := authServer(t, g, "kinesis:PutRecord")
	const body = `{"StreamName":"s","PartitionKey":"k","Data":"AAEC"}`
	h2c := &http.Client{Transport: &http.Transport{Protocols: h2cOnly()}}
	tests := []struct {
		name string
		req  func() *http.Request
		want string // prefix of the answer
	}{
		{"valid", func() *http.Request { return signed(t, srv.URL, body, alice, "kinesis", testNow) }, "OK arn:aws:iam::123456789012:user/alice"},
		{"path and query", func() *http.Request {
			return signed(t, srv.URL+"/some%20path/x?b=2&a=1&a=0&c=x%2By", body, alice, "kinesis", testNow)
		}, "OK "},
		{"repeated and spaced headers", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
			r.Header.Add("X-Custom", "  one   two ")
			r.Header.Add("X-Custom", "three")
			sum := sha256.Sum256([]byte(body))
			_ = v4.NewSigner().SignHTTP(context.Background(), alice, r, hex.EncodeToString(sum[:]), "kinesis", testRegion, testNow)
			return r
		}, "OK "},
		{"4 minutes old", func() *http.Request { return signed(t, srv.URL, body, alice, "kinesis", testNow.Add(-4*time.Minute)) }, "OK "},
		{"4 minutes ahead", func() *http.Request { return signed(t, srv.URL, body, alice, "kinesis", testNow.Add(4*time.Minute)) }, "OK "},
		{"wrong secret", func() *http.Request {
			return signed(t, srv.URL, body, aws.Credentials{AccessKeyID: "AKIDALICE", SecretAccessKey: "guess"}, "kinesis", testNow)
		}, "InvalidSignatureException: " + mismatchMessage},
		{"body changed after signing", func() *http.Request {
			r := signed(t, srv.URL, body, alice, "kinesis", testNow)
			changed := strings.Replace(body, "AAEC", "AAED", 1)
			r.Body = io.NopCloser(strings.NewReader(changed))
			return r
		}, "InvalidSignatureException: " + mismatchMessage},
		{"hash header lies about the body", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
			sum := sha256.Sum256([]byte(`{}`))
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			_ = v4.NewSigner().SignHTTP(context.Background(), alice, r, hex.EncodeToString(sum[:]), "kinesis", testRegion, testNow)
			return r
		}, "InvalidSignatureException: " + mismatchMessage},
		{"header changed after signing", func() *http.Request {
			r := signed(t, srv.URL, body, alice, "kinesis", testNow)
			r.Header.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream")
			return r
		}, "InvalidSignatureException: " + mismatchMessage},
		{"zero signature", func() *http.Request {
			r := signed(t, srv.URL, body, alice, "kinesis", testNow)
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, "Signature=")]+"Signature="+strings.Repeat("0", 64))
			return r
		}, "InvalidSignatureException: " + mismatchMessage},
		{"unknown key", func() *http.Request {
			return signed(t, srv.URL, body, aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "x"}, "kinesis", testNow)
		}, "UnrecognizedClientException: The security token included in the request is invalid."},
		{"six minutes old", func() *http.Request { return signed(t, srv.URL, body, alice, "kinesis", testNow.Add(-6*time.Minute)) },
			"InvalidSignatureException: Signature expired: 20260314T150326Z is now earlier than 20260314T150426Z (20260314T150926Z - 5 min.)"},
		{"a year ahead", func() *http.Request { return signed(t, srv.URL, body, alice, "kinesis", testNow.AddDate(1, 0, 0)) },
			"InvalidSignatureException: Signature not yet current: 20270314T150926Z is still later than 20260314T151426Z (20260314T150926Z + 5 min.)"},
		{"other service", func() *http.Request { return signed(t, srv.URL, body, alice, "dynamodb", testNow) },
			"InvalidSignatureException: Credential should be scoped to correct service: 'kinesis'."},
		{"scope date not the request's", func() *http.Request {
			r := signed(t, srv.URL, body, alice, "kinesis", testNow)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20260314/", "/20260313/", 1))
			return r
		}, "InvalidSignatureException: Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260313' != '20260314', from '20260314T150926Z'."},
		{"short credential", func() *http.Request {
			r := signed(t, srv.URL, body, alice, "kinesis", testNow)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDALICE/20260314, SignedHeaders=host, Signature=00")
			return r
		}, "IncompleteSignatureException: Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDALICE/20260314'"},
		{"host not signed", func() *http.Request {
			r := signed(t, srv.URL, body, alice, "kinesis", testNow)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=content-length;content-type;host;", "SignedHeaders=content-length;content-type;", 1))
			return r
		}, "InvalidSignatureException: 'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{"bad date", func() *http.Request {
			r := signed(t, srv.URL, body, alice, "kinesis", testNow)
			r.Header.Set("X-Amz-Date", "yesterday")
			return r
		}, "IncompleteSignatureException: Date must be in ISO-8601 'basic format'. Got 'yesterday'."},
		{"other algorithm", func() *http.Request {
			r := signed(t, srv.URL, body, alice, "kinesis", testNow)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
			return r
		}, "IncompleteSignatureException: Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'"},
		{"no signature", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
			return r
		}, "MissingAuthenticationTokenException: Missing Authentication Token"},
		{"temporary key with its token", func() *http.Request { return signed(t, srv.URL, body, temp, "kinesis", testNow) },
			"OK arn:aws:sts::123456789012:assumed-role/Reader/s1"},
		{"temporary key without its token", func() *http.Request {
			return signed(t, srv.URL, body, aws.Credentials{AccessKeyID: "ASIATEMP", SecretAccessKey: "temp-secret"}, "kinesis", testNow)
		}, "UnrecognizedClientException: The security token included in the request is invalid."},
		{"temporary key with another token", func() *http.Request {
			c := temp
			c.SessionToken = "other"
			return signed(t, srv.URL, body, c, "kinesis", testNow)
		}, "UnrecognizedClientException: The security token included in the request is invalid."},
		{"a token for a permanent key", func() *http.Request {
			c := alice
			c.SessionToken = "tok3n"
			return signed(t, srv.URL, body, c, "kinesis", testNow)
		}, "UnrecognizedClientException: "},
		{"chunked payload", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
			_ = v4.NewSigner().SignHTTP(context.Background(), alice, r, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "kinesis", testRegion, testNow)
			return r
		}, "InvalidSignatureException: Chunked payload signing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for proto, c := range map[string]*http.Client{"HTTP/1.1": srv.Client(), "h2c": h2c} {
				if got := do(t, c, tt.req()); !strings.HasPrefix(got, tt.want) {
					t.Errorf("%s: got %q, want %q...", proto, got, tt.want)
				}
			}
		})
	}
}

func h2cOnly() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}

// A temporary key past its expiry gets ExpiredTokenException.
func TestAuthenticate_ExpiredToken(t *testing.T) {
	at := time.Date(2026, 3, 14, 16, 0, 0, 0, time.UTC)
	srv := authServer(t, newGate(testConfig(t), at), "kinesis:PutRecord")
	got := do(t, srv.Client(), signed(t, srv.URL, "{}", temp, "kinesis", at))
	if want := "ExpiredTokenException: The security token included in the request is expired"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// UNSIGNED-PAYLOAD, as the Java SDK sends over TLS, leaves the body out of
// the signature; everything else is still covered.
func TestAuthenticate_UnsignedPayload(t *testing.T) {
	srv := authServer(t, newGate(testConfig(t), testNow), "kinesis:PutRecord")
	sign := func(body string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(context.Background(), alice, r, "UNSIGNED-PAYLOAD", "kinesis", testRegion, testNow); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if got := do(t, srv.Client(), sign(`{"a":1}`)); !strings.HasPrefix(got, "OK ") {
		t.Fatalf("UNSIGNED-PAYLOAD: %s", got)
	}
	r := sign(`{"a":1}`)
	r.Header.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream") // not signed before: changes SignedHeaders' view
	r.Header.Set("X-Amz-Date", testNow.Add(time.Second).Format(amzDateFormat))
	if got := do(t, srv.Client(), r); !strings.HasPrefix(got, "InvalidSignatureException") {
		t.Fatalf("date changed after signing: %s", got)
	}
}

// Presigned URLs (the signature in the query) are verified like headers.
func TestAuthenticate_Presigned(t *testing.T) {
	g := newGate(testConfig(t), testNow)
	srv := authServer(t, g, "kinesis:PutRecord")
	presign := func(at time.Time, expires string) string {
		r, _ := http.NewRequest(http.MethodPost, srv.URL+"/?X-Amz-Expires="+expires, nil)
		sum := sha256.Sum256(nil)
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), alice, r, hex.EncodeToString(sum[:]), "kinesis", testRegion, at)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	post := func(u string) string {
		r, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(nil))
		return do(t, srv.Client(), r)
	}
	if got := post(presign(testNow.Add(-time.Minute), "300")); !strings.HasPrefix(got, "OK ") {
		t.Fatalf("valid presigned URL: %s", got)
	}
	if got := post(presign(testNow.Add(-20*time.Minute), "900")); !strings.HasPrefix(got, "InvalidSignatureException: Signature expired: 20260314T150426Z is now earlier than 20260314T150926Z") {
		t.Fatalf("expired presigned URL: %s", got)
	}
	u := presign(testNow, "300")
	if got := post(strings.Replace(u, "X-Amz-Expires=300", "X-Amz-Expires=3000", 1)); !strings.HasPrefix(got, "InvalidSignatureException: "+mismatchMessage) {
		t.Fatalf("expiry changed after signing: %s", got)
	}
	garbage := []struct{ query, want string }{
		{"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x&X-Amz-Signature=y&X-Amz-SignedHeaders=host&X-Amz-Date=z",
			"IncompleteSignatureException: Date must be in ISO-8601 'basic format'. Got 'z'."},
		{"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x&X-Amz-Signature=y&X-Amz-SignedHeaders=host&X-Amz-Date=20260314T150926Z",
			"IncompleteSignatureException: Credential must have exactly 5 slash-delimited elements"},
		{"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDALICE/20260314/us-east-1/kinesis/aws4_request&X-Amz-Signature=00&X-Amz-SignedHeaders=host&X-Amz-Date=20260314T150926Z",
			"InvalidSignatureException: " + mismatchMessage},
		{"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDALICE/20260314/us-east-1/kinesis/aws4_request&X-Amz-Signature=00&X-Amz-SignedHeaders=host&X-Amz-Date=20260314T150926Z&X-Amz-Expires=9999999",
			"IncompleteSignatureException: X-Amz-Expires must be less than a week"},
		{"X-Amz-Algorithm=HMAC&X-Amz-Credential=a&X-Amz-Signature=b&X-Amz-SignedHeaders=c&X-Amz-Date=d",
			"IncompleteSignatureException: Unsupported AWS 'algorithm': 'HMAC'"},
		{"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a",
			"IncompleteSignatureException: AWS query-string parameters must include 'X-Amz-Signature'."},
	}
	for _, tt := range garbage {
		if got := post(srv.URL + "/?" + tt.query); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.query, got, tt.want)
		}
	}
}

// An open gate checks only that a signature is there; the caller is the
// account's root user.
func TestAuthenticate_Open(t *testing.T) {
	srv := authServer(t, newGate(nil, testNow), "kinesis:PutRecord")
	got := do(t, srv.Client(), signed(t, srv.URL, "{}", aws.Credentials{AccessKeyID: "anything", SecretAccessKey: "x"}, "kinesis", testNow.AddDate(-1, 0, 0)))
	if got != "OK arn:aws:iam::123456789012:root" {
		t.Fatalf("open gate: %s", got)
	}
	r, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	if got := do(t, srv.Client(), r); got != "MissingAuthenticationTokenException: Missing Authentication Token" {
		t.Fatalf("unsigned: %s", got)
	}
}

// A reload swaps the keys; a gate started with credentials never opens.
func TestGate_SetConfig(t *testing.T) {
	g := newGate(testConfig(t), testNow)
	srv := authServer(t, g, "kinesis:PutRecord")
	newKey := aws.Credentials{AccessKeyID: "AKIDNEW", SecretAccessKey: "new-secret"}
	if got := do(t, srv.Client(), signed(t, srv.URL, "{}", newKey, "kinesis", testNow)); !strings.HasPrefix(got, "UnrecognizedClientException") {
		t.Fatalf("before reload: %s", got)
	}
	cfg, err := ParseConfig([]byte(`{"principals":[{"arn":"arn:aws:iam::123456789012:user/new","accessKeys":[{"accessKeyId":"AKIDNEW","secretAccessKey":"new-secret"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	g.SetConfig(cfg)
	if got := do(t, srv.Client(), signed(t, srv.URL, "{}", newKey, "kinesis", testNow)); got != "OK arn:aws:iam::123456789012:user/new" {
		t.Fatalf("after reload, new key: %s", got)
	}
	if got := do(t, srv.Client(), signed(t, srv.URL, "{}", alice, "kinesis", testNow)); !strings.HasPrefix(got, "UnrecognizedClientException") {
		t.Fatalf("after reload, removed key: %s", got)
	}
	g.SetConfig(nil)
	if got := do(t, srv.Client(), signed(t, srv.URL, "{}", newKey, "kinesis", testNow)); !strings.HasPrefix(got, "UnrecognizedClientException") {
		t.Fatalf("emptied: %s", got)
	}
}
