package devcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/devcluster"
	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// TestCluster_NodeStopsAndStarts: the cluster forms with a meta leader; a
// store over it (R3) keeps appending while one node is stopped, and the
// node comes back on its files.
func TestCluster_NodeStopsAndStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Config{Dir: t.TempDir(), ClientPort: -1, ClusterPort: -1, MonitorPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	leaders := 0
	for _, n := range c.Status() {
		if !n.Running || n.MonitorURL == "" {
			t.Errorf("node %+v not running with monitoring", n)
		}
		if n.MetaLeader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d meta leaders", leaders)
	}
	b, err := jetstream.Open(ctx, jetstream.Config{URL: strings.Join(c.ClientURLs(), ","), Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.CreateLog(ctx, "dev", kinesis.LogConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "dev", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop("n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop("n1"); err == nil {
		t.Error("stopping a stopped node succeeded")
	}
	if _, err := b.Append(ctx, "dev", []byte("while n1 is down")); err != nil {
		t.Fatalf("append with one node of three down: %v", err)
	}
	if err := c.Restart("n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "dev", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart("nope"); err == nil {
		t.Error("starting an unknown node succeeded")
	}
	for _, n := range c.Status() {
		if !n.Running {
			t.Errorf("node %s not running after restart", n.Name)
		}
	}
}
