package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	natsserver "github.com/nats-io/nats-server/v2/server"

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
	if code != http.StatusOK || p.Status != "ready" || p.Store == nil || !p.Store.Ready || p.Store.Mode != "embedded" || !p.Store.JetStream {
		t.Errorf("GET /ready: %d %+v %+v", code, p, p.Store)
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
	code, p := get(t, ts.URL+"/ready")
	if code != http.StatusOK || p.Store == nil || p.Store.Mode != "cluster" || p.Store.Meta == nil || p.Store.URL == "" {
		t.Fatalf("GET /ready with the server up: %d %+v", code, p.Store)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		code, p = get(t, ts.URL+"/ready")
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
	if code, _ := get(t, ts.URL+"/health"); code != http.StatusOK {
		t.Errorf("GET /health with the server gone: %d", code)
	}
}
