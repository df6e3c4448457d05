//go:build linux

package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// natsConfig is a node's config: docs/cluster.md's, with the harness's
// ports and proxies. Routes go through a proxy per pair of nodes, and
// advertise points nowhere (port 1), so that no node learns another's
// real route address by gossip and connects around the proxies.
var natsConfig = template.Must(template.New("nats").Parse(`server_name: {{.Name}}
listen: 127.0.0.1:{{.ClientPort}}
http: 127.0.0.1:{{.HTTPPort}}
{{if .MaxPayload}}max_payload: {{.MaxPayload}}{{end}}

jetstream {
  store_dir: "{{.StoreDir}}"
  sync_interval: always
}

cluster {
  name: sluice
  listen: 127.0.0.1:{{.RoutePort}}
  advertise: "127.0.0.1:1"
  no_advertise: true
  routes: [{{range .Routes}}
    nats-route://{{.}}{{end}}
  ]
}
`))

// node is one nats-server process, restartable on its ports and files.
type node struct {
	name                            string
	dir, storeDir, conf             string
	clientPort, routePort, httpPort int
	client                          *proxy   // Sluice connects through it
	routes                          []string // the proxies to the other nodes' route ports

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
}

// cluster is three nodes, the proxies between them, and the Sluice
// servers over them.
type cluster struct {
	t       testing.TB
	dir     string
	nodes   []*node
	routes  map[[2]int]*proxy // [from, to]: the route from dials through it
	sluices []*sluice
	keyring string
	tmpfs   string // mount point of the store of the last node, if any

	maxPayload string // of every node's configuration; "": NATS's default
}

// startCluster starts 3 nodes, waits for the meta leader and every node
// current, then starts nSluice servers over them. With tmpfsBytes > 0 the
// last node's store is a tmpfs of that size (the disk-full scenario);
// if it cannot be mounted, tmpfs is "".
func startCluster(t testing.TB, nSluice int, tmpfsBytes int64) *cluster {
	return startClusterWith(t, nSluice, tmpfsBytes, "8MB")
}

// startClusterWith is startCluster with the nodes' max_payload ("": the
// NATS default, 1 MB).
func startClusterWith(t testing.TB, nSluice int, tmpfsBytes int64, maxPayload string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), routes: make(map[[2]int]*proxy), maxPayload: maxPayload}
	if keep := os.Getenv(envDir); keep != "" {
		// Kept for a look at the logs after the test.
		if err := os.MkdirAll(keep, 0o755); err != nil {
			t.Fatal(err)
		}
		dir, err := os.MkdirTemp(keep, "cluster-")
		if err != nil {
			t.Fatal(err)
		}
		c.dir = dir
		t.Logf("cluster files in %s", dir)
	}
	const n = 3
	for i := range n {
		nd := &node{name: fmt.Sprintf("n%d", i), clientPort: freePort(t), routePort: freePort(t), httpPort: freePort(t)}
		nd.dir = filepath.Join(c.dir, nd.name)
		nd.storeDir = filepath.Join(nd.dir, "store")
		nd.conf = filepath.Join(nd.dir, "nats.conf")
		if err := os.MkdirAll(nd.storeDir, 0o755); err != nil {
			t.Fatal(err)
		}
		nd.client = startProxy(t, fmt.Sprintf("127.0.0.1:%d", nd.clientPort))
		c.nodes = append(c.nodes, nd)
	}
	if tmpfsBytes > 0 {
		last := c.nodes[n-1]
		if err := mountTmpfs(last.storeDir, tmpfsBytes); err != nil {
			t.Logf("no tmpfs for the disk-full scenario: %v", err)
		} else {
			c.tmpfs = last.storeDir
			t.Cleanup(func() { unmount(last.storeDir) })
		}
	}
	for i, from := range c.nodes {
		var routes []string
		for j, to := range c.nodes {
			if i == j {
				continue
			}
			p := startProxy(t, fmt.Sprintf("127.0.0.1:%d", to.routePort))
			c.routes[[2]int{i, j}] = p
			routes = append(routes, p.addr())
		}
		from.routes = routes
		c.writeConf(from)
	}
	for _, nd := range c.nodes {
		c.start(nd)
	}
	t.Cleanup(c.stopAll)
	c.waitHealthy(90 * time.Second)
	c.keyring = filepath.Join(c.dir, "keyring.json")
	for i := range nSluice {
		c.sluices = append(c.sluices, c.startSluice(i))
	}
	return c
}

// writeConf writes a node's nats-server configuration.
func (c *cluster) writeConf(nd *node) {
	c.t.Helper()
	var conf bytes.Buffer
	err := natsConfig.Execute(&conf, map[string]any{
		"Name": nd.name, "ClientPort": nd.clientPort, "HTTPPort": nd.httpPort, "RoutePort": nd.routePort,
		"StoreDir": nd.storeDir, "Routes": nd.routes, "MaxPayload": c.maxPayload,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(nd.conf, conf.Bytes(), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// rebind starts a node that could not listen on its ports again on new
// ones: freePort's ports are free only a moment, and another test's
// connection may take one before the node binds it. The proxies in front
// of the node follow it.
func (c *cluster) rebind(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	nd.clientPort, nd.routePort, nd.httpPort = freePort(c.t), freePort(c.t), freePort(c.t)
	nd.client.retarget(fmt.Sprintf("127.0.0.1:%d", nd.clientPort))
	for pair, p := range c.routes {
		if pair[1] == i {
			p.retarget(fmt.Sprintf("127.0.0.1:%d", nd.routePort))
		}
	}
	c.writeConf(nd)
	c.t.Logf("%s could not listen; starting it again on new ports", nd.name)
	c.start(nd)
}

// lostPort reports whether a node's process exited because one of its
// ports was taken.
func (nd *node) lostPort() bool {
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.mu.Unlock()
	if cmd == nil {
		return false
	}
	select {
	case <-exited:
	default:
		return false
	}
	log, _ := os.ReadFile(filepath.Join(nd.dir, "nats.log"))
	return bytes.Contains(log, []byte("address already in use"))
}

func (c *cluster) natsURLs() string {
	var urls []string
	for _, nd := range c.nodes {
		urls = append(urls, "nats://"+nd.client.addr())
	}
	return strings.Join(urls, ",")
}

// start starts (or restarts) a node's process.
func (c *cluster) start(nd *node) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(nd.dir, "nats.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(natsBin, "-c", nd.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = dieWithTest()
	if err := cmd.Start(); err != nil {
		logf.Close()
		c.t.Fatalf("start %s: %v", nd.name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	nd.mu.Lock()
	nd.cmd, nd.exited, nd.paused = cmd, exited, false
	nd.mu.Unlock()
}

// signal sends sig to a node; SIGKILL waits for it to exit.
func (c *cluster) signal(nd *node, sig syscall.Signal) {
	c.t.Helper()
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	switch sig {
	case syscall.SIGSTOP:
		nd.paused = true
	case syscall.SIGCONT:
		nd.paused = false
	}
	nd.mu.Unlock()
	if cmd == nil {
		return
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.t.Errorf("signal %v to %s: %v", sig, nd.name, err)
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			c.t.Errorf("%s did not exit after %v", nd.name, sig)
		}
		nd.mu.Lock()
		nd.cmd = nil
		nd.mu.Unlock()
	}
}

func (nd *node) running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.cmd != nil
}

// heal undoes every fault: resumes paused nodes, starts stopped ones,
// reconnects every proxy.
func (c *cluster) heal() {
	c.t.Helper()
	for _, nd := range c.nodes {
		nd.mu.Lock()
		paused := nd.paused
		nd.mu.Unlock()
		if paused {
			c.signal(nd, syscall.SIGCONT)
		}
		if !nd.running() {
			c.start(nd)
		}
		nd.client.heal()
	}
	for _, p := range c.routes {
		p.heal()
	}
	for _, s := range c.sluices {
		if !s.running() {
			s.start()
		}
	}
}

// partition cuts node i off from the other nodes and from Sluice.
func (c *cluster) partition(i int) {
	c.nodes[i].client.cut()
	for pair, p := range c.routes {
		if pair[0] == i || pair[1] == i {
			p.cut()
		}
	}
}

func (c *cluster) stopAll() {
	for _, s := range c.sluices {
		s.stop()
	}
	for _, nd := range c.nodes {
		nd.mu.Lock()
		cmd, exited, paused := nd.cmd, nd.exited, nd.paused
		nd.mu.Unlock()
		if cmd == nil {
			continue
		}
		if paused {
			cmd.Process.Signal(syscall.SIGCONT)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
}

// jsz is the part of a node's /jsz monitoring page the harness reads.
type jsz struct {
	Meta struct {
		Leader string `json:"leader"`
	} `json:"meta_cluster"`
	Accounts []struct {
		Streams []struct {
			Name    string `json:"name"`
			Cluster struct {
				Leader string `json:"leader"`
			} `json:"cluster"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// monitor reads /jsz from a running, unpaused node.
func (c *cluster) monitor(nd *node) (jsz, error) {
	var j jsz
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz?accounts=true&streams=true", nd.httpPort))
	if err != nil {
		return j, err
	}
	defer resp.Body.Close()
	return j, json.NewDecoder(resp.Body).Decode(&j)
}

// healthz reports whether a node says it is healthy: JetStream enabled
// and every stream current.
func (c *cluster) healthz(nd *node) bool {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", nd.httpPort))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitHealthy waits until every node is healthy and they agree on a meta
// leader.
func (c *cluster) waitHealthy(limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok := true
		leaders := map[string]bool{}
		for i, nd := range c.nodes {
			if nd.lostPort() {
				c.rebind(i)
			}
			if !c.healthz(nd) {
				ok = false
				break
			}
			j, err := c.monitor(nd)
			if err != nil || j.Meta.Leader == "" {
				ok = false
				break
			}
			leaders[j.Meta.Leader] = true
		}
		if ok && len(leaders) == 1 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster not healthy after %v:\n%s", limit, c.describe())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// describe says, for a failure, how each node stands: whether its
// process runs, what /healthz answers, and how its log ends (the files
// are gone once the test ends, unless SLUICE_FAULT_DIR keeps them).
func (c *cluster) describe() string {
	var b strings.Builder
	for _, nd := range c.nodes {
		nd.mu.Lock()
		cmd, exited := nd.cmd, nd.exited
		nd.mu.Unlock()
		state := "not running"
		if cmd != nil {
			state = "running"
			select {
			case <-exited:
				state = "exited"
			default:
			}
		}
		health := "no answer"
		cl := http.Client{Timeout: 2 * time.Second}
		if resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", nd.httpPort)); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
			resp.Body.Close()
			health = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
		logs, _ := os.ReadFile(filepath.Join(nd.dir, "nats.log"))
		fmt.Fprintf(&b, "%s (%s), /healthz: %s; its log ends:\n%s\n", nd.name, state, health, logs[max(0, len(logs)-1500):])
	}
	return b.String()
}

// nodeNamed returns the node of a server name.
func (c *cluster) nodeNamed(name string) (int, bool) {
	for i, nd := range c.nodes {
		if nd.name == name {
			return i, true
		}
	}
	return 0, false
}

// metaLeader returns the index of the JetStream meta leader.
func (c *cluster) metaLeader() int {
	c.t.Helper()
	for _, nd := range c.nodes {
		if j, err := c.monitor(nd); err == nil {
			if i, ok := c.nodeNamed(j.Meta.Leader); ok {
				return i
			}
		}
	}
	c.t.Fatal("no node knows the meta leader")
	return 0
}

// streamLeaders returns the leader of each stream whose name has prefix.
func (c *cluster) streamLeaders(prefix string) map[string]string {
	out := map[string]string{}
	for _, nd := range c.nodes {
		j, err := c.monitor(nd)
		if err != nil {
			continue
		}
		for _, a := range j.Accounts {
			for _, s := range a.Streams {
				if strings.HasPrefix(s.Name, prefix) && s.Cluster.Leader != "" {
					out[s.Name] = s.Cluster.Leader
				}
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return out
}

// sluice is one `sluice serve` process, restartable on its port.
type sluice struct {
	c        *cluster
	name     string
	dir      string
	addr     string
	endpoint string

	started bool // it has been ready once: clients know its port

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

var readyLine = regexp.MustCompile(`Sluice is serving the Kinesis API .*at (http://\S+)`)

func (c *cluster) startSluice(i int) *sluice {
	s := &sluice{c: c, name: fmt.Sprintf("s%d", i), dir: filepath.Join(c.dir, fmt.Sprintf("sluice%d", i))}
	s.addr = fmt.Sprintf("127.0.0.1:%d", freePort(c.t))
	s.endpoint = "http://" + s.addr
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	s.start()
	return s
}

// start starts the process and waits for its ready line. A port taken
// meanwhile by another process of this busy machine is a retry: with a
// new port on a first start, with the same one (the writers know it)
// after a wait on a restart.
func (s *sluice) start() {
	t := s.c.t
	t.Helper()
	first := !s.started
	for attempt := 1; ; attempt++ {
		tail, ok := s.tryStart()
		if ok {
			s.started = true
			return
		}
		if !strings.Contains(tail, "address already in use") || attempt == 5 {
			t.Fatalf("%s exited before it was ready; its log ends:\n%s", s.name, tail)
		}
		if first {
			s.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
			s.endpoint = "http://" + s.addr
		} else {
			time.Sleep(time.Second)
		}
	}
}

// tryStart starts the process once: ok once it is ready, else the end of
// its log.
func (s *sluice) tryStart() (tail string, ok bool) {
	t := s.c.t
	t.Helper()
	logPath := filepath.Join(s.dir, "sluice.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sluiceBin, "serve", "--addr", s.addr, "--data-dir", s.dir,
		"--nats-url", s.c.natsURLs(), "--replicas", "3", "--keyring", s.c.keyring, "--log-level", "info")
	cmd.Env = append(os.Environ(), "SLUICE_LOG_LEVEL=")
	cmd.Stderr = logf
	cmd.SysProcAttr = dieWithTest()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.name, err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.OnceFunc(func() { close(ready) })
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if readyLine.MatchString(sc.Text()) {
				once()
			}
		}
	}()
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	select {
	case <-ready:
	case <-exited:
		b, _ := os.ReadFile(logPath)
		return string(b[max(0, len(b)-2000):]), false
	case <-time.After(90 * time.Second):
		t.Fatalf("%s not ready in time (see %s)", s.name, logPath)
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return "", true
}

func (s *sluice) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// kill ends the process with SIGKILL, calls in flight or not.
func (s *sluice) kill() { s.end(syscall.SIGKILL) }

func (s *sluice) stop() { s.end(syscall.SIGTERM) }

func (s *sluice) end(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// ready reads the server's /ready probe: its status code.
func (s *sluice) ready(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+"/ready", nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// dieWithTest has the kernel kill a child process when the test process
// dies (a timeout, an interrupt), so that none outlives it.
func dieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
