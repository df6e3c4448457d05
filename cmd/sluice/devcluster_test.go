package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDevCluster: `sluice dev-cluster` starts a 3-node cluster and two
// servers that answer /ready, takes commands on stdin, and stops when
// its context ends.
func TestDevCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster; skipped with -short")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdinR, stdinW := io.Pipe()
	var out lockedBuffer // read as it is written
	env := &cmdEnv{stdin: stdinR, stdout: &out, stderr: io.Discard, getenv: func(string) string { return "" }}
	done := make(chan error, 1)
	go func() {
		done <- runDevCluster(ctx, env, []string{"--dir", t.TempDir(), "--nats-port", "0", "--addr", "127.0.0.1:0"})
	}()
	ready := regexp.MustCompile(`Sluice is serving the Kinesis API .*at (http://\S+)`)
	deadline := time.Now().Add(90 * time.Second)
	var endpoints [][]string
	for len(endpoints) < 2 {
		select {
		case err := <-done:
			t.Fatalf("dev-cluster ended: %v\n%s", err, strings.Join(out.lines(), "\n"))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev-cluster not ready:\n%s", strings.Join(out.lines(), "\n"))
		}
		endpoints = ready.FindAllStringSubmatch(strings.Join(out.lines(), "\n"), -1)
	}
	for _, m := range endpoints {
		resp, err := http.Get(m[1] + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s/ready: %d", m[1], resp.StatusCode)
		}
	}
	if _, err := io.WriteString(stdinW, "status\nstop n2\nstatus\n"); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(strings.Join(out.lines(), "\n"), "n2 nats://") || !strings.Contains(strings.Join(out.lines(), "\n"), "(stopped)") {
		if time.Now().After(deadline) {
			t.Fatalf("no status after stop:\n%s", strings.Join(out.lines(), "\n"))
		}
		time.Sleep(20 * time.Millisecond) // polls the output; no timing asserted
	}
	cancel()
	stdinW.Close()
	if err := <-done; err != nil {
		t.Fatalf("dev-cluster after its context ended: %v", err)
	}
}
