package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

func TestFlagsFromEnv(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c serveConfig
	serveFlags(fs, &c)
	if err := fs.Parse([]string{"--addr", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SLUICE_ADDR":                "127.0.0.1:2", // the command line wins
		"SLUICE_DATA_DIR":            "/data",
		"SLUICE_CREATE_STREAM_DELAY": "2s",
		"SLUICE_SHARD_LIMIT":         "7",
	}
	if err := flagsFromEnv(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:1" || c.dataDir != "/data" || c.createDelay != 2*time.Second || c.shardLimit != 7 {
		t.Errorf("got %+v", c)
	}
	fresh := flag.NewFlagSet("serve", flag.ContinueOnError)
	serveFlags(fresh, &c)
	env = map[string]string{"SLUICE_SHARD_LIMIT": "many"}
	if err := flagsFromEnv(fresh, func(k string) string { return env[k] }); err == nil {
		t.Error("a malformed SLUICE_SHARD_LIMIT was accepted")
	}
}

func TestValidAccountID(t *testing.T) {
	for id, want := range map[string]bool{"000000000000": true, "123456789012": true, "12": false, "12345678901a": false, "": false} {
		if got := validAccountID(id); got != want {
			t.Errorf("validAccountID(%q) = %v", id, got)
		}
	}
}

func TestServe_ShardLimitsFlag(t *testing.T) {
	env := &cmdEnv{stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string {
		if k == "SLUICE_SHARD_LIMITS" {
			return "strict"
		}
		return ""
	}}
	// Refused before anything is opened or listened on.
	err := runServe(t.Context(), env, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--shard-limits") {
		t.Fatalf("SLUICE_SHARD_LIMITS=strict: %v, want an error naming --shard-limits", err)
	}
}

// An open server on an address other than loopback is refused before it
// binds, unless --insecure; credentials make it fine.
func TestServe_RefusesExposedOpenServer(t *testing.T) {
	env := &cmdEnv{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	err := runServe(t.Context(), env, []string{"--addr", "0.0.0.0:0", "--data-dir", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "refusing to serve on [::]:0 without credentials") && !strings.Contains(err.Error(), "refusing to serve on 0.0.0.0:0 without credentials") {
		t.Fatalf("got %v", err)
	}
	for _, addr := range []string{":4567", "[::]:4567", "192.0.2.1:4567", "0.0.0.0:4567"} {
		if err := checkExposure(authConfig{}, true, literalAddr(addr)); err == nil {
			t.Errorf("%s: served open", addr)
		}
		if err := checkExposure(authConfig{insecure: true}, true, literalAddr(addr)); err != nil {
			t.Errorf("%s with --insecure: %v", addr, err)
		}
		if err := checkExposure(authConfig{}, false, literalAddr(addr)); err != nil {
			t.Errorf("%s with credentials: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:4567", "[::1]:4567", "localhost:4567"} {
		if err := checkExposure(authConfig{}, true, literalAddr(addr)); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

func TestAllowedHosts(t *testing.T) {
	loop, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	if got := allowedHosts(authConfig{}, loop); !slices.Equal(got, []string{"localhost", ".localhost", "127.0.0.1", "::1", "127.0.0.1"}) {
		t.Errorf("loopback: %v", got)
	}
	if got := allowedHosts(authConfig{allowedHosts: " kinesis.example.com, .internal ,"}, loop); !slices.Equal(got, []string{"kinesis.example.com", ".internal"}) {
		t.Errorf("given: %v", got)
	}
	exposed := fakeListener{&net.TCPAddr{IP: net.IPv4zero, Port: 4567}}
	if got := allowedHosts(authConfig{}, loop, exposed); got != nil {
		t.Errorf("exposed: %v", got)
	}
}

type fakeListener struct{ addr net.Addr }

func (l fakeListener) Accept() (net.Conn, error) { return nil, errors.New("fake") }
func (l fakeListener) Close() error              { return nil }
func (l fakeListener) Addr() net.Addr            { return l.addr }

func TestLoadCredentials(t *testing.T) {
	file := filepath.Join(t.TempDir(), "creds.json")
	os.WriteFile(file, []byte(`{"principals":[{"arn":"arn:aws:iam::123456789012:user/a","accessKeys":[{"accessKeyId":"A","secretAccessKey":"s"}]}]}`), 0o600)
	cfg, err := loadCredentials(authConfig{credentials: file, rootKeyID: "R", rootSecret: "r"}, "123456789012")
	if err != nil || cfg.Keys() != 2 || !cfg.Key("R").Principal.Root() || cfg.Key("A").Principal.Root() {
		t.Fatalf("file and environment: %v %v", cfg, err)
	}
	if cfg, err := loadCredentials(authConfig{}, "123456789012"); cfg != nil || err != nil {
		t.Fatalf("none: %v %v", cfg, err)
	}
	if _, err := loadCredentials(authConfig{rootKeyID: "R"}, "123456789012"); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("key without secret: %v", err)
	}
	if _, err := loadCredentials(authConfig{credentials: file + ".missing"}, "123456789012"); err == nil {
		t.Fatal("missing file accepted")
	}
	if _, err := loadCredentials(authConfig{credentials: file, rootKeyID: "A", rootSecret: "x"}, "123456789012"); err == nil {
		t.Fatal("a key listed twice was accepted")
	}
}

// With --tls-only the server listens only for TLS, and says so.
func TestServe_TLSOnly(t *testing.T) {
	dir := t.TempDir()
	out, stdout := io.Pipe()
	env := &cmdEnv{stdout: stdout, stderr: io.Discard, getenv: func(k string) string {
		return map[string]string{"SLUICE_ACCESS_KEY_ID": "AKIDTLS", "SLUICE_SECRET_ACCESS_KEY": "tls-secret"}[k]
	}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, env, []string{"--tls-only", "--tls-self-signed", "--tls-addr", "127.0.0.1:0", "--addr", "127.0.0.1:1", "--data-dir", dir})
		stdout.Close()
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	lines := bufio.NewScanner(out)
	var endpoint string
	for lines.Scan() {
		if m := regexp.MustCompile(`serving the Kinesis API .* at (\S+) `).FindStringSubmatch(lines.Text()); m != nil {
			endpoint = m[1]
			break
		}
	}
	go io.Copy(io.Discard, out)
	if !strings.HasPrefix(endpoint, "https://127.0.0.1:") {
		t.Fatalf("ready line names %q, want https", endpoint)
	}
	pem, err := os.ReadFile(filepath.Join(dir, "tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	client := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), HTTPClient: hc,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTLS", "tls-secret", "")})
	if _, err := client.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("ListStreams over TLS: %v", err)
	}
	bad := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), HTTPClient: hc, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTLS", "guess", "")})
	if _, err := bad.ListStreams(ctx, &kinesis.ListStreamsInput{}); err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Fatalf("wrong secret over TLS: %v", err)
	}
	if c, err := net.Dial("tcp", "127.0.0.1:1"); err == nil {
		c.Close()
		t.Error("something listens on --addr with --tls-only")
	}
}
