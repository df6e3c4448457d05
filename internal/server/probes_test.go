package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/server"
)

type probe struct {
	Status string               `json:"status"`
	Store  *jetstream.Readiness `json:"store"`
}

func get(t *testing.T, url string) (int, probe) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", url, ct)
	}
	var p probe
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
	return resp.StatusCode, p
}

func open(t *testing.T, store jetstream.Config) *httptest.Server {
	t.Helper()
	s, err := server.Open(t.Context(), server.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// TestProbes_Embedded: /health and /ready answer GET with JSON, and the
// Kinesis API still answers its calls sent to those paths.
func TestProbes_Embedded(t *testing.T) {
	ts := open(t, jetstream.Config{DataDir: t.TempDir()})
	if code, p := get(t, ts.URL+"/health"); code != http.StatusOK || p.Status != "ok" {
		t.Errorf("GET /health: %d %+v", code, p)
	}
	code, p := get(t, ts.URL+"/ready")
	if code != http.StatusOK || p.Status != "ready" || p.Store != nil {
		t.Errorf("GET /ready: %d %+v %+v", code, p, p.Store)
	}
	code, p = get(t, ts.URL+"/ready?verbose")
	if code != http.StatusOK || p.Status != "ready" || p.Store == nil || !p.Store.Ready || p.Store.Mode != "embedded" || !p.Store.JetStream {
		t.Errorf("GET /ready?verbose: %d %+v %+v", code, p, p.Store)
	}
	for _, path := range []string{"/health", "/ready"} {
		c := kinesis.New(kinesis.Options{
			Region:       "us-east-1",
			Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
			BaseEndpoint: aws.String(ts.URL + path),
		})
		if _, err := c.ListStreams(t.Context(), &kinesis.ListStreamsInput{}); err != nil {
			t.Errorf("ListStreams at %s: %v", path, err)
		}
	}
}

// TestProbes_ClusterDown: with an external server, /ready answers 503
// once the server is gone, and says why; /health stays 200.
func TestProbes_ClusterDown(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: filepath.Join(t.TempDir(), "nats"),
		SyncAlways: true, NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	ts := open(t, jetstream.Config{URL: ns.ClientURL(), Replicas: 1})
	code, p := get(t, ts.URL+"/ready?verbose")
	if code != http.StatusOK || p.Store == nil || p.Store.Mode != "cluster" || p.Store.Meta == nil || p.Store.URL == "" {
		t.Fatalf("GET /ready with the server up: %d %+v", code, p.Store)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		code, p = get(t, ts.URL+"/ready?verbose")
		if code == http.StatusServiceUnavailable {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET /ready with the server gone: %d %+v", code, p.Store)
		case <-time.After(50 * time.Millisecond): // the client notices the closed connection
		}
	}
	if p.Status != "not ready" || p.Store == nil || p.Store.Ready || p.Store.Error == "" {
		t.Errorf("GET /ready with the server gone: %+v %+v", p, p.Store)
	}
	if code, p := get(t, ts.URL+"/ready"); code != http.StatusServiceUnavailable || p.Status != "not ready" || p.Store != nil {
		t.Errorf("GET /ready with the server gone: %d %+v", code, p)
	}
	if code, _ := get(t, ts.URL+"/health"); code != http.StatusOK {
		t.Errorf("GET /health with the server gone: %d", code)
	}
}

// TestProbes_BehindAuth: on a server with credentials and a list of
// allowed hosts, the probes answer anyone under any Host (a load
// balancer or kubelet names the server by its address and cannot sign),
// with nothing in the body but the status; /ready?verbose and /metrics
// still need credentials and an allowed Host.
func TestProbes_BehindAuth(t *testing.T) {
	creds, err := auth.ParseConfig([]byte(`{"principals":[{"arn":"arn:aws:iam::000000000000:user/ops",
		"accessKeys":[{"accessKeyId":"AKIDOPS","secretAccessKey":"ops-secret"}],
		"policies":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sluice:GetMetrics","Resource":"*"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.Open(t.Context(), server.Config{
		Store: jetstream.Config{DataDir: t.TempDir()},
		Auth: auth.New(auth.Options{Region: "us-east-1", Account: "000000000000", Credentials: creds,
			AllowedHosts: []string{"sluice.example.com"}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	do := func(method, path, host string, basic bool) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, ts.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if basic {
			req.SetBasicAuth("AKIDOPS", "ops-secret") // from loopback: accepted without TLS
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	for _, host := range []string{"10.1.2.3:4567", "[fd00::7]:4567", "sluice.example.com"} {
		if code, body := do("GET", "/health", host, false); code != http.StatusOK || body != "{\"status\":\"ok\"}\n" {
			t.Errorf("GET /health, Host %s: %d %q", host, code, body)
		}
		if code, body := do("GET", "/ready", host, false); code != http.StatusOK || body != "{\"status\":\"ready\"}\n" {
			t.Errorf("GET /ready, Host %s: %d %q", host, code, body)
		}
		if code, _ := do("HEAD", "/ready", host, false); code != http.StatusOK {
			t.Errorf("HEAD /ready, Host %s: %d", host, code)
		}
	}
	for _, c := range []struct {
		path, host string
		basic      bool
		want       int
	}{
		{"/ready?verbose", "sluice.example.com", false, http.StatusUnauthorized},
		{"/ready?verbose", "10.1.2.3:4567", true, http.StatusMisdirectedRequest},
		{"/ready?verbose", "sluice.example.com", true, http.StatusOK},
		{"/metrics", "10.1.2.3:4567", false, http.StatusMisdirectedRequest},
		{"/metrics", "sluice.example.com", false, http.StatusUnauthorized},
		{"/metrics", "sluice.example.com", true, http.StatusOK},
	} {
		code, body := do("GET", c.path, c.host, c.basic)
		if code != c.want {
			t.Errorf("GET %s, Host %s, credentials %v: %d, want %d (%.200s)", c.path, c.host, c.basic, code, c.want, body)
		}
		if c.path == "/ready?verbose" && code == http.StatusOK && !strings.Contains(body, `"mode":"embedded"`) {
			t.Errorf("GET /ready?verbose with credentials: %s", body)
		}
	}
}
