package e2e

// Consumer groups: several `sluice tail --group` processes share a stream's
// shards through a lease table while a writer loads the stream. Workers
// join, leave cleanly, are killed with SIGKILL, fail batches on purpose, and
// the stream is split and merged; a checker then proves that every
// acknowledged record was printed at least once, that each partition key's
// records were printed in order, and counts duplicates.

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"regexp"
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

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/consumer/leasetest"
)

// groupFailover is the members' --failover: short by default, so the test
// is quick; docs/benchmarks.md also reports a run with the default 10s.
var groupFailover = flag.Duration("group-failover", 4*time.Second, "--failover of the consumer group members")

// groupRun is one consumer group under test and what its members printed.
type groupRun struct {
	t      *testing.T
	s      *server
	stream string
	group  string
	leases *consumer.DynamoDBLeaseStore

	mu      sync.Mutex
	printed map[string][]int // partition key -> record numbers, in the order printed
	total   int
	events  []groupEvent
}

// groupEvent is a lease log line of a member.
type groupEvent struct {
	at     time.Time
	worker string
	msg    string
	shard  string
}

var logLineRe = regexp.MustCompile(`^time=(\S+) level=\S+ msg="([^"]*)" worker=(\S+) shard=(\S+)`)

type member struct {
	id     string
	cmd    *exec.Cmd
	stderr *tailBuffer
	exited chan struct{}
	err    error
}

func (g *groupRun) start(id string, extra ...string) *member {
	g.t.Helper()
	args := append([]string{"tail", g.stream, "--group", g.group, "--endpoint", g.s.Endpoint,
		"--from", "trim-horizon", "--format", "json", "--worker-id", id, "--failover", (*groupFailover).String()}, extra...)
	m := &member{id: id, stderr: &tailBuffer{max: 1 << 20}, exited: make(chan struct{})}
	m.stderr.onLine = func(line string) {
		sm := logLineRe.FindStringSubmatch(line)
		if sm == nil {
			return
		}
		at, err := time.Parse(time.RFC3339Nano, sm[1])
		if err != nil {
			return
		}
		g.mu.Lock()
		g.events = append(g.events, groupEvent{at: at, msg: sm[2], worker: sm[3], shard: sm[4]})
		g.mu.Unlock()
	}
	m.cmd = exec.Command(sluiceBin, args...)
	m.cmd.Stderr = m.stderr
	m.cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=e2e", "AWS_SECRET_ACCESS_KEY=e2e", "AWS_REGION="+testRegion)
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		g.t.Fatal(err)
	}
	if err := m.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	go func() {
		g.read(stdout)
		m.err = m.cmd.Wait()
		close(m.exited)
	}()
	g.t.Cleanup(func() {
		m.cmd.Process.Kill()
		<-m.exited
		if g.t.Failed() {
			g.t.Logf("member %s stderr:\n%s", id, m.stderr.Tail(4000))
		}
	})
	return m
}

// read parses a member's JSON lines as they come.
func (g *groupRun) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			continue
		}
		key, num, ok := strings.Cut(rec.Text, ":")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			continue
		}
		g.mu.Lock()
		g.printed[key] = append(g.printed[key], n)
		g.total++
		g.mu.Unlock()
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (m *member) stop(t *testing.T) {
	t.Helper()
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
		if m.err != nil {
			t.Errorf("member %s exited with %v:\n%s", m.id, m.err, m.stderr.Tail(2000))
		}
	case <-time.After(time.Minute):
		t.Fatalf("member %s did not stop within a minute", m.id)
	}
}

func (m *member) kill() {
	m.cmd.Process.Kill()
	<-m.exited
}

// owners returns the shards each member holds, for unfinished leases.
func (g *groupRun) owners() map[string][]string {
	ls, err := g.leases.ListLeases(ctxFor(g.t, time.Minute))
	if err != nil {
		g.t.Fatalf("list leases: %v", err)
	}
	m := map[string][]string{}
	for _, l := range ls {
		if !l.Finished() {
			m[l.Owner] = append(m[l.Owner], l.Key)
		}
	}
	return m
}

func (g *groupRun) waitOwners(what string, cond func(map[string][]string) bool) {
	g.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		o := g.owners()
		if cond(o) {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s; owners %v", what, o)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// firstProcessing returns when a member other than not first logged
// "processing shard" for shard after since.
func (g *groupRun) firstProcessing(shard, not string, since time.Time) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range g.events {
		if e.shard == shard && e.worker != not && e.msg == "processing shard" && e.at.After(since) {
			return e.at, true
		}
	}
	return time.Time{}, false
}

func (g *groupRun) event(worker, msg, shard string) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range g.events {
		if e.worker == worker && e.msg == msg && e.shard == shard {
			return e.at, true
		}
	}
	return time.Time{}, false
}

// writer puts records "key:n" (n counting up per key) until stopped and
// remembers which were acknowledged.
type writer struct {
	mu    sync.Mutex
	acked map[string][]int
	total int
	stop  chan struct{}
	done  chan struct{}
}

func startWriter(t *testing.T, kc *kinesis.Client, stream string, keys int) *writer {
	w := &writer{acked: map[string][]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	next := make([]int, keys)
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			var entries []types.PutRecordsRequestEntry
			var sent []string
			for range 64 {
				k := len(sent) % keys
				key := fmt.Sprintf("k%02d", k)
				entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: fmt.Appendf(nil, "%s:%d", key, next[k])})
				sent = append(sent, key)
				next[k]++
			}
			out, err := kc.PutRecords(ctxFor(t, time.Minute), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
			if err != nil {
				continue // not acknowledged: the checker does not expect them
			}
			w.mu.Lock()
			for i, r := range out.Records {
				if r.ErrorCode == nil {
					_, num, _ := strings.Cut(string(entries[i].Data), ":")
					n, _ := strconv.Atoi(num)
					w.acked[sent[i]] = append(w.acked[sent[i]], n)
					w.total++
				}
			}
			w.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return w
}

func (w *writer) finish() {
	close(w.stop)
	<-w.done
}

func newGroupRun(t *testing.T, shards int) *groupRun {
	s := startServer(t)
	// The lease table lives in the same server (the members' default
	// --dynamodb-endpoint): the group needs nothing but Sluice.
	g := &groupRun{t: t, s: s, stream: "events", group: "printer", printed: map[string][]int{}}
	g.leases = consumer.NewDynamoDBLeaseStore(leasetest.DynamoDBClient(s.Endpoint), g.group)
	ctx := ctxFor(t, time.Minute)
	if err := g.leases.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	kc := s.Client()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(g.stream), ShardCount: aws.Int32(int32(shards))}); err != nil {
		t.Fatal(err)
	}
	waitStreamActive(t, kc, g.stream)
	return g
}

func waitStreamActive(t *testing.T, kc *kinesis.Client, stream string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := kc.DescribeStreamSummary(ctxFor(t, time.Minute), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s not ACTIVE: %v", stream, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// check proves every acknowledged record was printed and each key's first
// prints came in order, and returns the duplicates.
func (g *groupRun) check(w *writer) (dups int) {
	g.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		missing := g.missing(w)
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%d acknowledged records never printed", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for key, nums := range g.printed {
		seen := map[int]bool{}
		last := -1
		for _, n := range nums {
			if seen[n] {
				dups++
				continue
			}
			seen[n] = true
			if n < last {
				g.t.Errorf("key %s: record %d first printed after record %d", key, n, last)
			}
			last = n
		}
	}
	return dups
}

func (g *groupRun) missing(w *writer) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	missing := 0
	for key, nums := range w.acked {
		got := map[int]bool{}
		for _, n := range g.printed[key] {
			got[n] = true
		}
		for _, n := range nums {
			if !got[n] {
				missing++
			}
		}
	}
	return missing
}

func TestConsumerGroup_JoinLeaveKillReshardFail(t *testing.T) {
	g := newGroupRun(t, 4)
	kc := g.s.Client()
	w1 := g.start("w1")
	w2 := g.start("w2")
	g.waitOwners("w1 and w2 to share 4 leases", func(o map[string][]string) bool {
		return len(o["w1"]) == 2 && len(o["w2"]) == 2
	})
	wr := startWriter(t, kc, g.stream, 24)
	time.Sleep(2 * time.Second)

	// A worker joins and gets its share without waiting for expiry.
	joined := time.Now()
	g.start("w3")
	g.waitOwners("w3 to get a lease", func(o map[string][]string) bool { return len(o["w3"]) >= 1 && len(o[""]) == 0 })
	t.Logf("join: w3 held a lease %v after it started", time.Since(joined).Round(time.Millisecond))
	for _, shard := range g.owners()["w3"] {
		stolen, ok1 := g.event("w3", "lease stolen", shard)
		took, ok2 := g.firstProcessing(shard, "", joined)
		for !ok2 && time.Since(joined) < time.Minute {
			time.Sleep(50 * time.Millisecond)
			took, ok2 = g.firstProcessing(shard, "", joined)
		}
		if ok1 && ok2 {
			t.Logf("cooperative handoff of %s to w3: processing %v after the steal", shard, took.Sub(stolen).Round(time.Millisecond))
		}
	}

	// A worker leaves cleanly: its leases move at once.
	held := g.owners()["w1"]
	left := time.Now()
	w1.stop(t)
	g.waitOwners("w1's leases to move", func(o map[string][]string) bool { return len(o["w1"]) == 0 && len(o[""]) == 0 })
	for _, shard := range held {
		released, ok1 := g.event("w1", "lease released", shard)
		took, ok2 := g.firstProcessing(shard, "w1", left)
		for !ok2 && time.Since(left) < time.Minute {
			time.Sleep(50 * time.Millisecond)
			took, ok2 = g.firstProcessing(shard, "w1", left)
		}
		if ok1 && ok2 {
			t.Logf("planned handoff of %s: SIGTERM to w1, processing again %v later (%v after w1 released it)", shard,
				took.Sub(left).Round(time.Millisecond), took.Sub(released).Round(time.Millisecond))
		}
	}

	// A worker is killed: its leases are taken after the failover time.
	held = g.owners()["w2"]
	killed := time.Now()
	w2.kill()
	g.waitOwners("w2's leases to be taken over", func(o map[string][]string) bool { return len(o["w2"]) == 0 && len(o[""]) == 0 })
	for _, shard := range held {
		took, ok := g.firstProcessing(shard, "w2", killed)
		for !ok && time.Since(killed) < time.Minute {
			time.Sleep(50 * time.Millisecond)
			took, ok = g.firstProcessing(shard, "w2", killed)
		}
		if ok {
			t.Logf("takeover of %s after SIGKILL: %v (failover %v)", shard, took.Sub(killed).Round(time.Millisecond), *groupFailover)
		}
	}

	// A worker whose processor fails a third of its batches joins.
	g.start("w4", "--inject-failures", "0.3")
	g.start("w5", "--fan-out") // reads by SubscribeToShard; the others poll

	// Split one shard, then merge two adjacent open shards.
	ctx := ctxFor(t, 2*time.Minute)
	shards := listOpenShards(t, kc, g.stream)
	s0 := shards[0]
	mid := midHashKey(t, s0)
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(g.stream), ShardToSplit: s0.ShardId, NewStartingHashKey: aws.String(mid)}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	waitStreamActive(t, kc, g.stream)
	time.Sleep(2 * time.Second)
	shards = listOpenShards(t, kc, g.stream)
	if _, err := kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(g.stream), ShardToMerge: shards[0].ShardId, AdjacentShardToMerge: shards[1].ShardId}); err != nil {
		t.Fatalf("MergeShards: %v", err)
	}
	waitStreamActive(t, kc, g.stream)
	time.Sleep(3 * time.Second)

	wr.finish()
	dups := g.check(wr)
	g.mu.Lock()
	total := g.total
	g.mu.Unlock()
	t.Logf("%d records acknowledged, %d printed, %d duplicates", wr.total, total, dups)
	sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(g.stream)})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := kc.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: sum.StreamDescriptionSummary.StreamARN})
	if err != nil {
		t.Fatal(err)
	}
	if len(cons.Consumers) != 1 || aws.ToString(cons.Consumers[0].ConsumerName) != g.group {
		t.Errorf("stream consumers %+v, want the one the fan-out member registered for the group", cons.Consumers)
	}
}

// listOpenShards returns the stream's open shards in hash key order.
func listOpenShards(t *testing.T, kc *kinesis.Client, stream string) []types.Shard {
	t.Helper()
	out, err := kc.ListShards(ctxFor(t, time.Minute), &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var open []types.Shard
	for _, s := range out.Shards {
		if s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, s)
		}
	}
	slices.SortFunc(open, func(a, b types.Shard) int {
		return hashKeyCompare(aws.ToString(a.HashKeyRange.StartingHashKey), aws.ToString(b.HashKeyRange.StartingHashKey))
	})
	return open
}

func hashKeyCompare(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// midHashKey is the middle of a shard's hash key range.
func midHashKey(t *testing.T, s types.Shard) string {
	t.Helper()
	lo, ok1 := new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
	hi, ok2 := new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
	if !ok1 || !ok2 {
		t.Fatalf("shard %s has a bad hash range", aws.ToString(s.ShardId))
	}
	return new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1).String()
}

// TestLeaseStore_Sluice runs the lease store conformance suite against
// the DynamoDB API of a real `sluice serve` (consumer's own tests run it
// against dynalite).
func TestLeaseStore_Sluice(t *testing.T) {
	s := startServer(t)
	client := leasetest.DynamoDBClient(s.Endpoint)
	leasetest.Run(t, func(t *testing.T) consumer.LeaseStore {
		table := leasetest.TableName(t)
		leasetest.DeleteTableOnCleanup(t, client, table)
		return consumer.NewDynamoDBLeaseStore(client, table)
	})
}
