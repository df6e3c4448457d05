package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
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
