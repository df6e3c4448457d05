package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/broker"
)

// TestServe_ReadFlags: the read cache and budget reach the broker, 0
// meaning none for both; a memory limit below what the server holds idle
// is refused before anything is opened.
func TestServe_ReadFlags(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		cache, budget int64
	}{
		{nil, 64 << 20, 64 << 20},
		{[]string{"--read-cache", "32MiB", "--read-budget", "16MiB"}, 32 << 20, 16 << 20},
		{[]string{"--read-cache", "0", "--read-budget", "0"}, -1, -1},
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var c serveConfig
		serveFlags(fs, &c)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		var bc broker.Config
		c.limits.brokerLimits(&bc)
		if bc.ReadCacheBytes != tc.cache || bc.ReadBudgetBytes != tc.budget {
			t.Errorf("%q: cache %d, budget %d; want %d, %d", tc.args, bc.ReadCacheBytes, bc.ReadBudgetBytes, tc.cache, tc.budget)
		}
	}
	env := &cmdEnv{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	err := runServe(t.Context(), env, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--memory-limit", "16MiB"})
	if err == nil || !strings.Contains(err.Error(), "--memory-limit 16MiB: want 0 or at least 64MiB") {
		t.Fatalf("--memory-limit 16MiB: %v", err)
	}
}
