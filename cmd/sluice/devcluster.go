package main

// `sluice dev-cluster`: a 3-node NATS JetStream cluster and Sluice servers
// over it, in this process, to try cluster mode on one machine.

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/devcluster"
	"github.com/sluicehq/sluice/internal/keyring"
)

func runDevCluster(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "dev-cluster", `sluice dev-cluster [flags]

Runs a 3-node NATS JetStream cluster (R3, sync_interval: always) and Sluice
servers over it, all in this process, on 127.0.0.1: cluster mode on one
machine, to try it. Type "stop n1" to shut a node down and watch writes go
on, "start n1" to bring it back, "status" to see the nodes. docs/cluster.md
tells how to run a real cluster.`)
	dir := fs.String("dir", "./sluice-dev-cluster", "`directory` of the nodes' files and the servers' shared keyring")
	servers := fs.Int("servers", 2, "number of Sluice servers")
	addr := fs.String("addr", "127.0.0.1:4567", "`host:port` of the first Sluice server; the others take the ports after it (port 0: free ports)")
	natsPort := fs.Int("nats-port", 4222, "client `port` of the first NATS node; the others take the ports after it (route ports from 6222, monitoring from 8222); 0 picks free ports")
	logLevel := fs.String("log-level", "warn", "log `level`: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log `format`: text (key=value, for people) or json (one object per line, for log collectors)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *servers < 1 {
		return usageError(fs, "dev-cluster: --servers must be at least 1, got %d", *servers)
	}
	// The NATS nodes take 3 client ports from --nats-port, and route and
	// monitoring ports 2000 and 4000 above them.
	if *natsPort < 0 || *natsPort > 65535-4002 {
		return usageError(fs, "dev-cluster: --nats-port %d: want 0 (free ports) or a port up to %d", *natsPort, 65535-4002)
	}
	host, portStr, err := net.SplitHostPort(*addr)
	if err != nil {
		return usageError(fs, "dev-cluster: --addr %q: want host:port", *addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port+*servers-1 > 65535 {
		return usageError(fs, "dev-cluster: --addr %q: want a port from 0 to %d for %d servers", *addr, 65536-*servers, *servers)
	}
	logger, err := newLogger(env, *logLevel, *logFormat)
	if err != nil {
		return usageError(fs, "dev-cluster: %v", err)
	}

	ncfg := devcluster.Config{
		Dir: *dir, ClientPort: *natsPort, ClusterPort: *natsPort + 2000, MonitorPort: *natsPort + 4000,
		Logger: logger.With("component", "nats-server"),
	}
	if *natsPort == 0 { // any free ports
		ncfg.ClientPort, ncfg.ClusterPort, ncfg.MonitorPort = -1, -1, -1
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	cluster, err := devcluster.Start(sctx, ncfg)
	cancel()
	if err != nil {
		return err
	}
	defer cluster.Close()
	// One keyring for every server, made before any starts.
	keyringPath := filepath.Join(*dir, "keyring.json")
	if _, _, err := keyring.Open(keyringPath, true); err != nil {
		return err
	}
	urls := strings.Join(cluster.ClientURLs(), ",")
	for _, n := range cluster.Status() {
		fmt.Fprintf(env.stdout, "NATS node %s at %s (monitoring %s)\n", n.Name, n.ClientURL, n.MonitorURL)
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, *servers)
	var wg sync.WaitGroup
	for i := range *servers {
		// Each server as `sluice serve` would be started for a cluster,
		// so that every other setting keeps its default.
		sfs := flag.NewFlagSet("serve", flag.ContinueOnError)
		var c serveConfig
		serveFlags(sfs, &c)
		err := sfs.Parse([]string{
			"--addr", net.JoinHostPort(host, strconv.Itoa(nextPort(port, i))),
			"--data-dir", filepath.Join(*dir, fmt.Sprintf("sluice%d", i)),
			"--nats-url", urls,
			"--replicas", "3",
			"--keyring", keyringPath,
		})
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := serve(ctx, env, c, logger.With("server", i)); err != nil {
				errc <- fmt.Errorf("server %d: %w", i, err)
				stop()
			}
		})
	}
	go devClusterCommands(ctx, env, cluster)
	wg.Wait()
	close(errc)
	return <-errc
}

// nextPort is the i-th port from base; 0 stays 0 (any free port).
func nextPort(base, i int) int {
	if base == 0 {
		return 0
	}
	return base + i
}

// devClusterCommands reads commands from stdin until it ends.
func devClusterCommands(ctx context.Context, env *cmdEnv, c *devcluster.Cluster) {
	sc := bufio.NewScanner(env.stdin)
	for sc.Scan() && ctx.Err() == nil {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var err error
		switch {
		case f[0] == "stop" && len(f) == 2:
			if err = c.Stop(f[1]); err == nil {
				fmt.Fprintf(env.stdout, "node %s stopped\n", f[1])
			}
		case f[0] == "start" && len(f) == 2:
			if err = c.Restart(f[1]); err == nil {
				fmt.Fprintf(env.stdout, "node %s started\n", f[1])
			}
		case f[0] == "status":
			for _, n := range c.Status() {
				state := "stopped"
				if n.Running {
					state = "running"
				}
				if n.MetaLeader {
					state += ", meta leader"
				}
				fmt.Fprintf(env.stdout, "%s %s (%s)\n", n.Name, n.ClientURL, state)
			}
		default:
			fmt.Fprintln(env.stdout, `commands: "stop NODE", "start NODE", "status" (nodes are n0, n1, n2)`)
		}
		if err != nil {
			fmt.Fprintln(env.stdout, "error:", err)
		}
	}
}
