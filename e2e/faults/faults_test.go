//go:build linux

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/nats-io/nats.go"

	sk "github.com/sluicehq/sluice/internal/kinesis"
)

// The long form runs every scenario SLUICE_FAULT_RUNS times, each run on
// a fresh cluster; the short form runs the scenarios marked short, once.
// SLUICE_FAULT_REPORT names a file that gets one JSON line per scenario.
// SLUICE_FAULT_DIR keeps each cluster's files (logs, stores) in a
// directory under it.
const (
	envRuns   = "SLUICE_FAULT_RUNS"
	envReport = "SLUICE_FAULT_REPORT"
	envDir    = "SLUICE_FAULT_DIR"
	// SLUICE_FAULT_ONLY runs only the scenarios it names, comma-separated.
	envOnly = "SLUICE_FAULT_ONLY"
)

// Workload shape: 4 writers, each with 8 keys over a 4-shard stream, so
// that every call spans the shards.
const (
	writers = 4
	keys    = 8
	shards  = 4
	// tmpfsSize is the disk of the last node in the long form.
	tmpfsSize = 512 << 20
)

// scenario is one fault, injected under load and then undone.
type scenario struct {
	name  string
	short bool // part of the short form
	// inject injects the fault and returns how to undo it. It may block
	// (hold the fault) until the workload shows what it needs to.
	inject func(r *scenarioRun) (undo func())
	// quorumLoss: a majority of nodes is down, so writes must stop; a
	// write answered as failed meanwhile may still be stored once the
	// quorum is back (docs/cluster.md, "What a failed write means").
	quorumLoss bool
	needsTmpfs bool
}

func killNode(pick func(r *scenarioRun) int) func(r *scenarioRun) func() {
	return func(r *scenarioRun) func() {
		i := pick(r)
		r.faulted = r.c.nodes[i].name
		r.c.signal(r.c.nodes[i], syscall.SIGKILL)
		r.holdUntilResumed(time.Second)
		return func() { r.c.start(r.c.nodes[i]) }
	}
}

func pauseNode(pick func(r *scenarioRun) int) func(r *scenarioRun) func() {
	return func(r *scenarioRun) func() {
		i := pick(r)
		r.faulted = r.c.nodes[i].name
		r.c.signal(r.c.nodes[i], syscall.SIGSTOP)
		// Held until writes went on without the node for a while, so
		// that what it holds arrives late, after newer writes.
		r.holdUntilResumed(2 * time.Second)
		return func() { r.c.signal(r.c.nodes[i], syscall.SIGCONT) }
	}
}

func nodeAt(i int) func(*scenarioRun) int { return func(*scenarioRun) int { return i } }

// streamLeader picks the node that leads most shards of the stream.
func streamLeader(r *scenarioRun) int {
	count := map[string]int{}
	for _, l := range r.leaders {
		count[l]++
	}
	best, bestN := 0, -1
	for i, nd := range r.c.nodes {
		if count[nd.name] > bestN {
			best, bestN = i, count[nd.name]
		}
	}
	return best
}

func metaLeader(r *scenarioRun) int { return r.c.metaLeader() }

var scenarios = []scenario{
	{name: "kill-stream-leader", short: true, inject: killNode(streamLeader)},
	{name: "pause-stream-leader", short: true, inject: pauseNode(streamLeader)},
	{name: "kill-n0", inject: killNode(nodeAt(0))},
	{name: "kill-n1", inject: killNode(nodeAt(1))},
	{name: "kill-n2", inject: killNode(nodeAt(2))},
	{name: "pause-n0", inject: pauseNode(nodeAt(0))},
	{name: "pause-n1", inject: pauseNode(nodeAt(1))},
	{name: "pause-n2", inject: pauseNode(nodeAt(2))},
	{name: "kill-meta-leader", inject: killNode(metaLeader)},
	{name: "pause-meta-leader", inject: pauseNode(metaLeader)},
	{name: "partition-stream-leader", short: true, inject: func(r *scenarioRun) func() {
		i := streamLeader(r)
		r.faulted = r.c.nodes[i].name
		r.c.partition(i)
		r.holdUntilResumed(2 * time.Second)
		return r.c.heal
	}},
	{name: "kill-sluice", short: true, inject: func(r *scenarioRun) func() {
		s := r.c.sluices[0]
		r.faulted = s.name
		s.kill() // with calls in flight: the writers never stop
		r.hold(3 * time.Second)
		return s.start
	}},
	{name: "two-nodes-down", short: true, quorumLoss: true, inject: func(r *scenarioRun) func() {
		first := streamLeader(r)
		second := (first + 1) % len(r.c.nodes)
		r.faulted = r.c.nodes[first].name + "+" + r.c.nodes[second].name
		r.c.signal(r.c.nodes[first], syscall.SIGKILL)
		r.c.signal(r.c.nodes[second], syscall.SIGKILL)
		r.downAt = time.Now() // both have exited
		// Down for longer than an append waits (AppendTimeout, 20 s): the
		// writes under way fail unanswered, and once the nodes are back
		// the checker sees whether they were stored afterwards (docs/
		// cluster.md, "What a failed write means").
		r.hold(6 * time.Second)
		r.readyWhileDown = r.c.sluices[1].ready(r.ctx)
		r.hold(20 * time.Second)
		return func() {
			r.c.start(r.c.nodes[first])
			r.c.start(r.c.nodes[second])
		}
	}},
	{name: "disk-full", needsTmpfs: true, inject: func(r *scenarioRun) func() {
		nd := r.c.nodes[len(r.c.nodes)-1]
		r.faulted = nd.name
		path, err := fillDisk(r.c.tmpfs)
		if err != nil {
			r.t.Fatalf("fill %s: %v", r.c.tmpfs, err)
		}
		r.holdUntilResumed(2 * time.Second)
		return func() {
			os.Remove(path)
			// A node that ran out of disk turns JetStream off; it comes
			// back with a restart.
			r.c.signal(nd, syscall.SIGTERM)
			r.c.start(nd)
		}
	}},
}

// scenarioRun is one scenario on one cluster.
type scenarioRun struct {
	t   *testing.T
	c   *cluster
	ctx context.Context
	w   *workload
	obs *elections

	leaders        map[string]string // shard stream -> leader, before the fault
	faulted        string
	faultAt        time.Time
	downAt         time.Time // quorum loss: when the second node had exited
	readyWhileDown int
}

// hold waits d.
func (r *scenarioRun) hold(d time.Duration) {
	select {
	case <-r.ctx.Done():
	case <-time.After(d):
	}
}

// holdUntilResumed holds the fault until writes have been acknowledged
// again for settle (or 40 s have passed).
func (r *scenarioRun) holdUntilResumed(settle time.Duration) {
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) && r.ctx.Err() == nil {
		acks := r.w.ackTimes()
		var after []time.Time
		for _, a := range acks {
			if a.After(r.faultAt) {
				after = append(after, a)
			}
		}
		// Resumed: acks after the fault spread over settle, not just
		// calls that were under way when it struck.
		if len(after) > 0 && after[len(after)-1].Sub(after[0]) >= settle && len(after) > 20 {
			return
		}
		r.hold(100 * time.Millisecond)
	}
}

// result is one scenario's line of the report.
type result struct {
	Run        int     `json:"run"`
	Scenario   string  `json:"scenario"`
	Faulted    string  `json:"faulted"`
	GapSeconds float64 `json:"longest_gap_s"`
	// ElectionSeconds is the longest a shard of the stream whose leader
	// was faulted took to announce a new leader; 0 if none was.
	ElectionSeconds float64 `json:"election_s"`
	ReadyWhileDown  int     `json:"ready_while_down,omitempty"`
	verdict
}

func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster and two Sluice servers and injects faults; skipped with -short")
	}
	runs, long := 1, false
	if v := os.Getenv(envRuns); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a number of runs", envRuns, v)
		}
		runs, long = n, true
	}
	var report *os.File
	if path := os.Getenv(envReport); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		report = f
	}
	var results []result
	for run := range runs {
		t.Run(fmt.Sprintf("run%d", run), func(t *testing.T) {
			var disk int64
			if long {
				disk = tmpfsSize
			}
			c := startCluster(t, 2, disk)
			obs := watchElections(t, c)
			for _, sc := range scenarios {
				if only := os.Getenv(envOnly); only != "" && !slices.Contains(strings.Split(only, ","), sc.name) {
					continue
				}
				if !long && !sc.short {
					continue
				}
				t.Run(sc.name, func(t *testing.T) {
					if sc.needsTmpfs && c.tmpfs == "" {
						t.Skip("needs a tmpfs to fill (run as root where mount works)")
					}
					res := runScenario(t, c, obs, sc)
					res.Run = run
					results = append(results, res)
					t.Logf("%s: faulted %s, acked %d, lost %d, reordered %d, duplicates %d (%d from unanswered attempts), stored after failure %d, unexpected %d, longest write gap %.2fs, election %.2fs",
						sc.name, res.Faulted, res.Acked, res.Lost, res.Reordered, res.Duplicates, res.Unanswered, res.AfterFailed, res.Unexpected, res.GapSeconds, res.ElectionSeconds)
					if report != nil {
						line, _ := json.Marshal(res)
						fmt.Fprintln(report, string(line))
					}
				})
			}
		})
	}
	if len(results) > 1 {
		logSummary(t, results)
	}
}

func runScenario(t *testing.T, c *cluster, obs *elections, sc scenario) result {
	ctx := t.Context()
	c.heal()
	c.waitHealthy(90 * time.Second)
	stream := fmt.Sprintf("faults-%s-%d", sc.name, time.Now().UnixNano())
	admin := newClient(c.sluices[1].endpoint)
	createStream(t, admin, stream)
	defer admin.DeleteStream(context.WithoutCancel(ctx), &kinesis.DeleteStreamInput{StreamName: aws.String(stream)})

	w := &workload{stream: stream, writers: writers, keys: keys}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var endpoints []string
	for _, s := range c.sluices {
		endpoints = append(endpoints, s.endpoint)
	}
	wg.Go(func() { w.run(wctx, endpoints) })
	r := &scenarioRun{t: t, c: c, ctx: ctx, w: w, obs: obs}
	// Warm up: writes flow through every shard.
	warm := time.Now().Add(60 * time.Second)
	for len(w.ackTimes()) < 200 && time.Now().Before(warm) {
		r.hold(100 * time.Millisecond)
	}
	if len(w.ackTimes()) == 0 {
		stop()
		wg.Wait()
		t.Fatalf("no write acknowledged before the fault")
	}
	r.leaders = c.streamLeaders("KDS-")
	epochs := streamEpochs(w)
	for s := range r.leaders {
		if !epochs[s] {
			delete(r.leaders, s)
		}
	}
	r.faultAt = time.Now()
	undo := sc.inject(r)
	healAt := time.Now()
	undo()
	r.hold(5 * time.Second) // writes go on; late deliveries land
	stop()
	wg.Wait()
	end := time.Now()

	c.heal()
	c.waitHealthy(120 * time.Second)
	for _, s := range c.sluices {
		waitReady(t, s)
	}
	gap, _ := longestGap(w.ackTimes(), r.faultAt, end)
	res := result{Scenario: sc.name, Faulted: r.faulted, GapSeconds: gap.Seconds(), ReadyWhileDown: r.readyWhileDown}
	res.ElectionSeconds = obs.longest(r.leaders, r.faulted, r.faultAt, healAt).Seconds()

	// Read back; a replica may lag a moment after healing: read again
	// while anything acknowledged seems missing.
	var v verdict
	for try := 1; ; try++ {
		records, foreign, err := readAll(ctx, admin, stream)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if foreign > 0 {
			t.Errorf("%d records not written by the workload", foreign)
		}
		v = w.check(records)
		if v.Lost == 0 || try == 5 {
			break
		}
		r.hold(time.Second)
	}
	res.verdict = v
	for _, e := range v.Examples {
		t.Log(e)
	}
	if v.Lost > 0 {
		t.Errorf("%d acknowledged records lost", v.Lost)
	}
	if v.Reordered > 0 {
		t.Errorf("%d records stored after a later record of their key", v.Reordered)
	}
	if v.Unexpected > 0 {
		t.Errorf("%d records stored that no attempt explains", v.Unexpected)
	}
	if v.AfterFailed > 0 && !sc.quorumLoss {
		t.Errorf("%d records stored after Sluice answered that they failed", v.AfterFailed)
	}
	if v.Acked == 0 {
		t.Errorf("nothing acknowledged")
	}
	if sc.quorumLoss {
		// With two of three nodes down nothing can be stored: no call
		// sent once both were gone may be acknowledged before the
		// restart, and /ready says so. A call under way when they died
		// may be, late: a quorum stored its records just before, the
		// connection to a killed node lost the acknowledgement, and the
		// append sent again is answered by the surviving node, still
		// leading (a JetStream leader steps down 10 s after it last
		// heard from a quorum), from its duplicate window; or the call
		// spans a shard whose append ran out of time (20 s) and is
		// answered only then.
		for _, a := range w.ackedBetween(r.faultAt, healAt) {
			if a.sent.After(r.downAt) {
				t.Errorf("a write sent %v after two nodes were down was acknowledged %v after it",
					a.sent.Sub(r.downAt), a.at.Sub(r.downAt))
				break
			}
			if a.at.After(r.downAt.Add(3 * time.Second)) {
				t.Logf("w%d k%d n%d, sent %v before two nodes were down, acknowledged %v after (stored before)",
					a.writer, a.key, a.n, r.downAt.Sub(a.sent), a.at.Sub(r.downAt))
			}
		}
		if r.readyWhileDown != 503 {
			t.Errorf("GET /ready with two nodes down: %d, want 503", r.readyWhileDown)
		}
	}
	return res
}

func createStream(t *testing.T, c *kinesis.Client, name string) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s not active: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitReady(t *testing.T, s *sluice) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for s.ready(t.Context()) != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after healing (see %s/sluice.log)", s.name, s.dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// streamEpochs returns the log streams ("KDS-<epoch>") the workload's
// acknowledged records went to.
func streamEpochs(w *workload) map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]bool{}
	for _, a := range w.attempts {
		if a.outcome != acked {
			continue
		}
		if sn, ok := sk.ParseSequenceNumber(a.seq); ok {
			out["KDS-"+strconv.FormatUint(sn.Epoch, 10)] = true
		}
	}
	return out
}

// elections records JetStream's stream leader elections, as announced:
// through a connection to each node, so that a paused or cut-off node
// loses none, at the time the announcing server gives.
type elections struct {
	mu sync.Mutex
	at map[string][]time.Time // stream -> times a leader was elected
}

func watchElections(t *testing.T, c *cluster) *elections {
	e := &elections{at: map[string][]time.Time{}}
	for _, nd := range c.nodes {
		nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", nd.clientPort), nats.MaxReconnects(-1),
			nats.ReconnectWait(100*time.Millisecond), nats.PingInterval(time.Second), nats.MaxPingsOutstanding(2))
		if err != nil {
			t.Fatalf("watch elections: %v", err)
		}
		t.Cleanup(nc.Close)
		_, err = nc.Subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.*", func(m *nats.Msg) {
			var adv struct {
				Stream string    `json:"stream"`
				Time   time.Time `json:"timestamp"`
			}
			if json.Unmarshal(m.Data, &adv) != nil || adv.Stream == "" {
				return
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			if !slices.ContainsFunc(e.at[adv.Stream], adv.Time.Equal) {
				e.at[adv.Stream] = append(e.at[adv.Stream], adv.Time)
			}
		})
		if err != nil {
			t.Fatalf("watch elections: %v", err)
		}
	}
	return e
}

// longest is how long, after the fault, the slowest of the streams led by
// the faulted node(s) took to announce a new leader (up to the undo).
func (e *elections) longest(leaders map[string]string, faulted string, from, to time.Time) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	var longest time.Duration
	for stream, leader := range leaders {
		if !slices.Contains(strings.Split(faulted, "+"), leader) {
			continue
		}
		first := time.Time{}
		for _, at := range e.at[stream] {
			if at.After(from) && at.Before(to.Add(time.Second)) && (first.IsZero() || at.Before(first)) {
				first = at
			}
		}
		if !first.IsZero() {
			longest = max(longest, first.Sub(from))
		}
	}
	return longest
}

// logSummary logs, per scenario over every run, the worst counts and the
// median and longest write gap.
func logSummary(t *testing.T, results []result) {
	by := map[string][]result{}
	var names []string
	for _, r := range results {
		if _, ok := by[r.Scenario]; !ok {
			names = append(names, r.Scenario)
		}
		by[r.Scenario] = append(by[r.Scenario], r)
	}
	t.Logf("%-24s %5s %6s %5s %9s %10s %11s %9s %9s %9s", "scenario", "runs", "acked", "lost", "reordered", "duplicates", "afterFailed", "gap p50", "gap max", "elect max")
	for _, name := range names {
		rs := by[name]
		var gaps []float64
		var acked, lost, reord, dups, after int
		var elect float64
		for _, r := range rs {
			gaps = append(gaps, r.GapSeconds)
			acked += r.Acked
			lost += r.Lost
			reord += r.Reordered
			dups += r.Duplicates
			after += r.AfterFailed
			elect = max(elect, r.ElectionSeconds)
		}
		slices.Sort(gaps)
		t.Logf("%-24s %5d %6d %5d %9d %10d %11d %8.2fs %8.2fs %8.2fs", name, len(rs), acked, lost, reord, dups, after, gaps[len(gaps)/2], gaps[len(gaps)-1], elect)
	}
}
