// Package devcluster runs a NATS JetStream cluster inside one process, on
// ports of 127.0.0.1, for trying Sluice's cluster mode on one machine
// (`sluice dev-cluster`). Its nodes are configured as docs/cluster.md
// says (`sync_interval: always`, max_payload 8 MB), and each can be
// stopped and started again on its files, to watch Sluice ride out the
// loss of a node.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config places the cluster. Zero fields select the defaults.
type Config struct {
	// Dir holds node n<i>'s files in Dir/n<i>. Required.
	Dir string
	// Nodes is the number of nodes; default 3.
	Nodes int
	// ClientPort, ClusterPort and MonitorPort are node n0's ports; node
	// n<i> listens on each plus i. Defaults 4222, 6222 and 8222, NATS's
	// own; -1 picks free ports.
	ClientPort, ClusterPort, MonitorPort int
	// Logger receives the nodes' log: warnings and errors at info level
	// (routine while the cluster forms or a node is stopped), notices at
	// debug level. Nil discards.
	Logger *slog.Logger
}

// Cluster is a running cluster.
type Cluster struct {
	cfg   Config
	mu    sync.Mutex
	nodes []*node
}

type node struct {
	name string
	opts server.Options
	srv  *server.Server // nil while stopped
}

// NodeStatus is what Status reports of one node.
type NodeStatus struct {
	Name       string
	Running    bool
	ClientURL  string
	MonitorURL string
	// MetaLeader: the node leads the JetStream meta group.
	MetaLeader bool
}

// Start starts the nodes and waits, bounded by ctx, until they have
// elected a meta leader and every node is current.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("devcluster: Dir required")
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.ClientPort == 0 {
		cfg.ClientPort = 4222
	}
	if cfg.ClusterPort == 0 {
		cfg.ClusterPort = 6222
	}
	if cfg.MonitorPort == 0 {
		cfg.MonitorPort = 8222
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg}
	port := func(base, i int) int {
		if base < 0 {
			return -1
		}
		return base + i
	}
	// Every node gets every route, so each knows the cluster's size from
	// the start: route ports must be known before the nodes start.
	clusterPorts := make([]int, cfg.Nodes)
	var routes []*url.URL
	for i := range clusterPorts {
		if clusterPorts[i] = port(cfg.ClusterPort, i); clusterPorts[i] < 0 {
			var err error
			if clusterPorts[i], err = freePort(); err != nil {
				return nil, err
			}
		}
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", clusterPorts[i])})
	}
	for i := range cfg.Nodes {
		name := fmt.Sprintf("n%d", i)
		c.nodes = append(c.nodes, &node{name: name, opts: server.Options{
			ServerName: name,
			Host:       "127.0.0.1",
			Port:       port(cfg.ClientPort, i),
			HTTPHost:   "127.0.0.1",
			HTTPPort:   port(cfg.MonitorPort, i),
			JetStream:  true,
			StoreDir:   filepath.Join(cfg.Dir, name),
			SyncAlways: true,    // sync_interval: always
			MaxPayload: 8 << 20, // max_payload: 8MB
			Cluster: server.ClusterOpts{
				Name: "sluice-dev",
				Host: "127.0.0.1",
				Port: clusterPorts[i],
			},
			Routes: routes,
			NoSigs: true,
		}})
	}
	for _, n := range c.nodes {
		if err := c.start(n); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.waitMetaLeader(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(n *node) error {
	opts := n.opts // NewServer keeps and changes its options
	srv, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("devcluster: node %s: %w", n.name, err)
	}
	l := logger{log: c.cfg.Logger.With("node", n.name)}
	srv.SetLoggerV2(l, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("devcluster: node %s not ready (are its ports %d, %d and %d free?)", n.name, n.opts.Port, n.opts.Cluster.Port, n.opts.HTTPPort)
	}
	n.srv = srv
	// A random port, once chosen, is kept across restarts.
	if a, ok := srv.Addr().(*net.TCPAddr); ok {
		n.opts.Port = a.Port
	}
	if a := srv.MonitorAddr(); a != nil {
		n.opts.HTTPPort = a.Port
	}
	return nil
}

// waitMetaLeader waits until one node leads the meta group, every node
// is current, and the leader can place replicas on every node.
func (c *Cluster) waitMetaLeader(ctx context.Context) error {
	for {
		c.mu.Lock()
		var leader *server.Server
		current := 0
		for _, n := range c.nodes {
			if n.srv.JetStreamIsLeader() {
				leader = n.srv
			}
			if n.srv.JetStreamIsCurrent() {
				current++
			}
		}
		ok := leader != nil && current == len(c.nodes) && len(leader.JetStreamClusterPeers()) == len(c.nodes)
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devcluster: waiting for a meta leader: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ClientURLs returns every node's client URL, running or not.
func (c *Cluster) ClientURLs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.clientPort()))
	}
	return urls
}

// clientPort is the node's client port: the one it listens on, or, while
// stopped, the one it will (a random port once chosen is kept).
func (n *node) clientPort() int {
	if n.srv != nil {
		if a, ok := n.srv.Addr().(*net.TCPAddr); ok {
			n.opts.Port = a.Port
		}
	}
	return n.opts.Port
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("devcluster: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Status reports each node.
func (c *Cluster) Status() []NodeStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []NodeStatus
	for _, n := range c.nodes {
		st := NodeStatus{Name: n.name, Running: n.srv != nil, ClientURL: fmt.Sprintf("nats://127.0.0.1:%d", n.clientPort())}
		if n.srv != nil {
			st.MetaLeader = n.srv.JetStreamIsLeader()
			if a := n.srv.MonitorAddr(); a != nil {
				st.MonitorURL = "http://" + a.String()
			}
		}
		out = append(out, st)
	}
	return out
}

// Stop shuts node name down, as a server going away does: its clients
// and routes see their connections close.
func (c *Cluster) Stop(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(name)
	if err != nil {
		return err
	}
	if n.srv == nil {
		return fmt.Errorf("node %s is not running", name)
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
	return nil
}

// Restart starts a stopped node again on its files.
func (c *Cluster) Restart(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(name)
	if err != nil {
		return err
	}
	if n.srv != nil {
		return fmt.Errorf("node %s is running", name)
	}
	return c.start(n)
}

func (c *Cluster) node(name string) (*node, error) {
	for _, n := range c.nodes {
		if n.name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no node %q", name)
}

// Close shuts every node down.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.srv != nil {
			n.srv.Shutdown()
			n.srv.WaitForShutdown()
			n.srv = nil
		}
	}
}

// logger adapts slog to nats-server's Logger. A node's warnings and
// errors go to info level: in a cluster that forms, or has a node
// stopped on purpose, they are routine (routes that cannot connect yet).
type logger struct{ log *slog.Logger }

func (l logger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l logger) Warnf(format string, v ...any)   { l.log.Info(fmt.Sprintf(format, v...)) }
func (l logger) Errorf(format string, v ...any)  { l.log.Info(fmt.Sprintf(format, v...)) }
func (l logger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l logger) Debugf(format string, v ...any)  {}
func (l logger) Tracef(format string, v ...any)  {}
