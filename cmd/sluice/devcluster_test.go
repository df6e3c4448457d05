package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDevCluster_Usage: wrong flags and arguments are usage errors (exit
// 2, the message first, then the synopsis), before anything starts.
func TestDevCluster_Usage(t *testing.T) {
	tests := []struct {
		args []string
		head string
	}{
		{[]string{"extra"}, `sluice: dev-cluster: unexpected arguments ["extra"]`},
		{[]string{"--nope"}, "sluice: dev-cluster: unknown flag --nope"},
		{[]string{"--servers", "two"}, `sluice: dev-cluster: invalid value "two" for flag --servers: parse error`},
		{[]string{"--servers", "0"}, "sluice: dev-cluster: --servers must be at least 1, got 0"},
		{[]string{"--nats-port", "70000"}, "sluice: dev-cluster: --nats-port 70000: want 0 (free ports) or a port up to 61533"},
		{[]string{"--addr", "4567"}, `sluice: dev-cluster: --addr "4567": want host:port`},
		{[]string{"--addr", "127.0.0.1:http"}, `sluice: dev-cluster: --addr "127.0.0.1:http": want a port from 0 to 65534 for 2 servers`},
		{[]string{"--log-level", "loud"}, `sluice: dev-cluster: --log-level: slog: level string "loud": unknown name`},
		{[]string{"--log-format", "xml"}, `sluice: dev-cluster: --log-format "xml": want text or json`},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		r := runCLI(t, "", append([]string{"dev-cluster", "--dir", dir}, tt.args...)...)
		lines := strings.Split(r.stderr, "\n")
		if r.code != exitUsage || lines[0] != tt.head || len(lines) < 2 || lines[1] != "Usage: sluice dev-cluster [flags]" {
			t.Errorf("dev-cluster %q: exit %d, stderr %q; want exit %d, %q, then the synopsis", tt.args, r.code, r.stderr, exitUsage, tt.head)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("dev-cluster %q: wrote %d files before failing", tt.args, len(entries))
		}
	}
	if out := mustCLI(t, "", "dev-cluster", "--help"); !strings.Contains(out, "--log-format") || !strings.Contains(out, "Usage: sluice dev-cluster [flags]") {
		t.Errorf("--help: want the usage and the flags on stdout, got:\n%s", out)
	}
}

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
