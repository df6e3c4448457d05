// Package natstest starts NATS JetStream servers inside a test process, for
// tests of the jetstream backend and end-to-end tests of several Sluice
// servers sharing one cluster. Only tests import it.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// maxPayload matches jetstream.DefaultMaxMessageBytes, so that a backend
// stores every message whole.
const maxPayload = 16 << 20

// Option changes the servers StartCluster starts.
type Option func(*server.Options)

// MaxPayload sets the servers' max_payload (default 16 MiB): the NATS
// default of 1 MB, say, to test messages stored in parts.
func MaxPayload(n int32) Option {
	return func(o *server.Options) { o.MaxPayload = n }
}

// StartCluster starts an n-node JetStream cluster in this process and
// returns the client URL of each node ("nats://127.0.0.1:port"), which
// other processes can connect to as well. Every node listens on 127.0.0.1
// with random client and route ports, runs with SyncAlways, and stores its
// files under t.TempDir(). It returns once a meta leader is elected, all
// nodes are current and the leader can place replicas on every node
// (an R3 stream can be created at once), and shuts the nodes down in t.Cleanup. With n = 1 it
// starts a single non-clustered server. Set NATSTEST_LOG=1 to see the
// servers' notices, warnings and errors in the test log.
func StartCluster(t testing.TB, n int, options ...Option) []string {
	t.Helper()
	if n < 1 {
		t.Fatalf("natstest: cluster of %d nodes", n)
	}
	dir := t.TempDir()
	verbose := os.Getenv("NATSTEST_LOG") != ""
	var routes []*url.URL
	routePorts := make([]int, n)
	if n > 1 {
		// Every node gets every route, so each knows the cluster size
		// from the start (JetStream sizes its meta group from the routes).
		for i := range routePorts {
			routePorts[i] = freePort(t)
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", routePorts[i])})
		}
	}
	servers := make([]*server.Server, n)
	for i := range servers {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i)),
			SyncAlways: true,
			MaxPayload: maxPayload,
			NoSigs:     true,
			NoLog:      true,
		}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "sluice-test", Host: "127.0.0.1", Port: routePorts[i]}
			opts.Routes = routes
		}
		for _, o := range options {
			o(opts)
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("natstest: server %d: %v", i, err)
		}
		if verbose {
			srv.SetLogger(testLogger{t, opts.ServerName}, false, false)
		}
		srv.Start()
		t.Cleanup(func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		})
		servers[i] = srv
	}
	urls := make([]string, n)
	for i, srv := range servers {
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("natstest: server %d not ready", i)
		}
		urls[i] = srv.ClientURL()
	}
	if n > 1 {
		waitMetaLeader(t, servers)
	}
	return urls
}

// waitMetaLeader waits until one node leads the JetStream meta group,
// every node is current with it, and the leader can place assets on every
// node. An elected leader that has not yet heard from a peer counts it as
// offline and refuses to place an R3 stream ("no suitable peers for
// placement, peer offline"); JetStreamClusterPeers lists only the peers it
// can place on.
func waitMetaLeader(t testing.TB, servers []*server.Server) {
	t.Helper()
	const limit = 60 * time.Second // generous: the machine may be busy
	deadline := time.Now().Add(limit)
	var leader *server.Server
	var current int
	for time.Now().Before(deadline) {
		leader, current = nil, 0
		for _, srv := range servers {
			if srv.JetStreamIsLeader() {
				leader = srv
			}
			if srv.JetStreamIsCurrent() {
				current++
			}
		}
		if leader != nil && current == len(servers) && len(leader.JetStreamClusterPeers()) == len(servers) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	if leader == nil {
		t.Fatalf("natstest: no JetStream meta leader after %v", limit)
	}
	t.Fatalf("natstest: after %v, %d of %d nodes are current and the meta leader can place on %v",
		limit, current, len(servers), leader.JetStreamClusterPeers())
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testLogger writes a server's log to the test log until the test ends.
type testLogger struct {
	t    testing.TB
	name string
}

func (l testLogger) logf(level, format string, v []any) {
	defer func() { _ = recover() }() // logging after the test ended panics
	l.t.Logf("%s %s: %s", l.name, level, fmt.Sprintf(format, v...))
}

func (l testLogger) Noticef(format string, v ...any) { l.logf("INF", format, v) }
func (l testLogger) Warnf(format string, v ...any)   { l.logf("WRN", format, v) }
func (l testLogger) Errorf(format string, v ...any)  { l.logf("ERR", format, v) }
func (l testLogger) Fatalf(format string, v ...any)  { l.logf("FTL", format, v) }
func (l testLogger) Debugf(format string, v ...any)  {}
func (l testLogger) Tracef(format string, v ...any)  {}
