package e2e

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// keyedLoad writes numbered records for a few keys per writer until
// stopped, remembering which the server acknowledged.
type keyedLoad struct {
	mu    sync.Mutex
	acked map[string]bool
	// failed are records the server reported failed, allowed only in
	// cluster mode (see TestReshard_ClusterSplitWhileOtherServerWrites):
	// not acknowledged, they may or may not be stored.
	failed      map[string]bool
	allowFailed bool
	stop        atomic.Bool
	puts        atomic.Int64
	wg          sync.WaitGroup
}

// startKeyedLoad starts writers; entry makes the n-th record of key k of
// writer w.
func startKeyedLoad(t *testing.T, c *kinesis.Client, stream string, writers, keys int, pause time.Duration, entry func(w, k, n int) types.PutRecordsRequestEntry) *keyedLoad {
	return startKeyedLoadOn(t, []*kinesis.Client{c}, stream, writers, keys, pause, false, entry)
}

// startKeyedLoadOn spreads the writers over clients of several servers.
func startKeyedLoadOn(t *testing.T, clients []*kinesis.Client, stream string, writers, keys int, pause time.Duration, allowFailed bool, entry func(w, k, n int) types.PutRecordsRequestEntry) *keyedLoad {
	l := &keyedLoad{acked: map[string]bool{}, failed: map[string]bool{}, allowFailed: allowFailed}
	for w := range writers {
		c := clients[w%len(clients)]
		l.wg.Go(func() {
			for n := 0; !l.stop.Load(); n++ {
				var in []types.PutRecordsRequestEntry
				for k := range keys {
					in = append(in, entry(w, k, n))
				}
				out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: in})
				if err != nil {
					t.Error(err)
					return
				}
				l.mu.Lock()
				for i, r := range out.Records {
					if r.ErrorCode != nil {
						l.failed[dataKey(in[i].Data)] = true
						if !l.allowFailed {
							t.Errorf("record %s failed: %s", dataKey(in[i].Data), aws.ToString(r.ErrorMessage))
						}
						continue
					}
					l.acked[dataKey(in[i].Data)] = true
				}
				l.mu.Unlock()
				l.puts.Add(1)
				time.Sleep(pause)
			}
		})
	}
	return l
}

func (l *keyedLoad) Stop() { l.stop.Store(true); l.wg.Wait() }

// waitPuts waits for n more PutRecords calls.
func (l *keyedLoad) waitPuts(t *testing.T, n int64) {
	target := l.puts.Load() + n
	for l.puts.Load() < target && !t.Failed() {
		time.Sleep(time.Millisecond)
	}
}

// createOnDemandStream creates an ON_DEMAND stream without waiting for it
// to be ACTIVE.
func createOnDemandStream(t *testing.T, c *kinesis.Client, name string) {
	t.Helper()
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
}

// keyedEntry makes record n of key k of writer w: partition key "w<w>-k<k>",
// data "key/n".
func keyedEntry(w, k, n int) types.PutRecordsRequestEntry {
	key := fmt.Sprintf("w%d-k%d", w, k)
	return types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: fmt.Appendf(nil, "%s/%d", key, n)}
}

// lowShardEntry returns an entry maker that loads the lowest of four
// uniform shards: explicit hash keys spread the given number of keys
// evenly over the first quarter of the key space; data is "key/n/" and
// 1000 bytes of padding.
func lowShardEntry(keys int) func(w, k, n int) types.PutRecordsRequestEntry {
	step := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 126), big.NewInt(int64(keys)))
	pad := strings.Repeat("x", 1000)
	return func(w, k, n int) types.PutRecordsRequestEntry {
		key := fmt.Sprintf("w%d-k%d", w, k)
		hk := new(big.Int).Mul(step, big.NewInt(int64(k)))
		return types.PutRecordsRequestEntry{PartitionKey: aws.String(key), ExplicitHashKey: aws.String(hk.String()), Data: fmt.Appendf(nil, "%s/%d/%s", key, n, pad)}
	}
}

// dataKey is the "key/n" head of a record's data.
func dataKey(data []byte) string {
	parts := strings.SplitN(string(data), "/", 3)
	return parts[0] + "/" + parts[1]
}

// checkLineage reads the stream through its lineage and checks that every
// acknowledged record comes back, each key's in order, and that every
// child's parents are closed shards of the stream.
func (l *keyedLoad) checkLineage(t *testing.T, c *kinesis.Client, stream string) []types.Shard {
	t.Helper()
	shards := listAllShards(t, c, stream)
	byID := map[string]types.Shard{}
	for _, sh := range shards {
		byID[aws.ToString(sh.ShardId)] = sh
	}
	for _, sh := range shards {
		for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
			if p == nil {
				continue
			}
			if ps, ok := byID[*p]; !ok || ps.SequenceNumberRange.EndingSequenceNumber == nil {
				t.Errorf("%s: parent %s missing or open", aws.ToString(sh.ShardId), *p)
			}
		}
		if sh.AdjacentParentShardId != nil && sh.ParentShardId == nil {
			t.Errorf("%s: adjacent parent without parent", aws.ToString(sh.ShardId))
		}
	}
	last := map[string]int{}
	read := 0
	for _, r := range readLineage(t, c, stream, shards) {
		key, n, _ := strings.Cut(dataKey(r.Data), "/")
		num, _ := strconv.Atoi(n)
		if p, ok := last[key]; ok && num <= p {
			t.Fatalf("key %s: record %d read after %d", key, num, p)
		}
		last[key] = num
		if !l.acked[dataKey(r.Data)] && !l.failed[dataKey(r.Data)] {
			t.Errorf("record %s read but never written", dataKey(r.Data))
		}
		delete(l.acked, dataKey(r.Data))
		read++
	}
	if len(l.acked) != 0 {
		t.Fatalf("%d acknowledged records were not read back (read %d)", len(l.acked), read)
	}
	t.Logf("%d records read back in order through %d shards (%d failed, not acknowledged)", read, len(shards), len(l.failed))
	return shards
}

// openRanges returns the open shards' hash ranges in key order.
func openRanges(shards []types.Shard) []string {
	var out []string
	for _, sh := range shards {
		if sh.SequenceNumberRange.EndingSequenceNumber == nil {
			out = append(out, aws.ToString(sh.HashKeyRange.StartingHashKey)+".."+aws.ToString(sh.HashKeyRange.EndingHashKey))
		}
	}
	return out
}

// uniformRanges are n equal ranges as Kinesis forms them.
func uniformRanges(n int) []string {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	step := new(big.Int).Div(space, big.NewInt(int64(n)))
	var out []string
	for i := range n {
		start := new(big.Int).Mul(step, big.NewInt(int64(i)))
		end := new(big.Int).Sub(new(big.Int).Add(start, step), big.NewInt(1))
		if i == n-1 {
			end.Sub(space, big.NewInt(1))
		}
		out = append(out, start.String()+".."+end.String())
	}
	return out
}

func sortedRanges(r []string) []string {
	// Compare as numbers: the start is a decimal of up to 39 digits.
	out := append([]string(nil), r...)
	num := func(s string) *big.Int {
		n, _ := new(big.Int).SetString(strings.SplitN(s, "..", 2)[0], 10)
		return n
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if num(out[j]).Cmp(num(out[i])) < 0 {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestScaling_UpdateShardCountUnderWriteLoad(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()
	name := streamName(t)
	createStream(t, c, name, 3)

	load := startKeyedLoad(t, c, name, 4, 8, time.Millisecond, keyedEntry)
	for _, step := range []struct{ from, to int32 }{{3, 5}, {5, 3}, {3, 6}} {
		load.waitPuts(t, 20)
		began, before := time.Now(), len(listAllShards(t, c, name))
		out, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(name), TargetShardCount: aws.Int32(step.to), ScalingType: types.ScalingTypeUniformScaling})
		if err != nil {
			t.Fatalf("UpdateShardCount to %d: %v", step.to, err)
		}
		if aws.ToString(out.StreamName) != name || aws.ToInt32(out.CurrentShardCount) != step.from || aws.ToInt32(out.TargetShardCount) != step.to || !strings.HasSuffix(aws.ToString(out.StreamARN), ":stream/"+name) {
			t.Fatalf("UpdateShardCount answered %s %s %d→%d", aws.ToString(out.StreamName), aws.ToString(out.StreamARN), aws.ToInt32(out.CurrentShardCount), aws.ToInt32(out.TargetShardCount))
		}
		waitActive(t, c, name)
		shards := listAllShards(t, c, name)
		if got, want := sortedRanges(openRanges(shards)), uniformRanges(int(step.to)); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("open ranges after scaling to %d:\n%v\nwant\n%v", step.to, got, want)
		}
		t.Logf("UpdateShardCount %d→%d under load: ACTIVE again after %v, %d new shards", step.from, step.to, time.Since(began).Round(time.Millisecond), len(shards)-before)
	}
	load.waitPuts(t, 20)
	load.Stop()
	load.checkLineage(t, c, name)
}

func TestScaling_UpdateShardCountErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--shard-limit", "11")
	c := s.Client()
	ctx := t.Context()
	name := streamName(t)
	od := name + "-od"
	createOnDemandStream(t, c, od)
	createStream(t, c, name, 4)
	update := func(target int32, typ types.ScalingType) error {
		_, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(name), TargetShardCount: aws.Int32(target), ScalingType: typ})
		return err
	}
	if ae := wantError(t, update(9, types.ScalingTypeUniformScaling), "LimitExceededException"); !strings.Contains(ae.ErrorMessage(), "more than double") {
		t.Errorf("past double: %s", ae.ErrorMessage())
	}
	if ae := wantError(t, update(1, types.ScalingTypeUniformScaling), "LimitExceededException"); !strings.Contains(ae.ErrorMessage(), "less than half") {
		t.Errorf("below half: %s", ae.ErrorMessage())
	}
	if ae := wantError(t, update(8, types.ScalingTypeUniformScaling), "LimitExceededException"); !strings.Contains(ae.ErrorMessage(), "shard limit") {
		t.Errorf("past the account's shard limit of 11 (8 open): %s", ae.ErrorMessage())
	}
	if ae := wantError(t, update(0, types.ScalingTypeUniformScaling), "ValidationException"); ae.ErrorMessage() != "1 validation error detected: Value '0' at 'targetShardCount' failed to satisfy constraint: Member must have value greater than or equal to 1" {
		t.Errorf("target 0: %s", ae.ErrorMessage())
	}
	if ae := wantError(t, update(4, "BOGUS_SCALING"), "ValidationException"); !strings.Contains(ae.ErrorMessage(), "Member must satisfy enum value set: [UNIFORM_SCALING]") {
		t.Errorf("scaling type: %s", ae.ErrorMessage())
	}
	_, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("missing"), TargetShardCount: aws.Int32(2), ScalingType: types.ScalingTypeUniformScaling})
	wantError(t, err, "ResourceNotFoundException")

	waitActive(t, c, od)
	_, err = c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(od), TargetShardCount: aws.Int32(5), ScalingType: types.ScalingTypeUniformScaling})
	wantError(t, err, "ValidationException")

	// A stream scaled by ARN alone; the status is ACTIVE once it is done.
	d, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamARN: d.StreamDescriptionSummary.StreamARN, TargetShardCount: aws.Int32(2), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, name)
	d, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil || aws.ToInt32(d.StreamDescriptionSummary.OpenShardCount) != 2 {
		t.Fatalf("after scaling to 2: %v %v", d, err)
	}
}

func TestScaling_UpdateStreamMode(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()
	name := streamName(t)
	createStream(t, c, name, 2)
	d, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	arn := d.StreamDescriptionSummary.StreamARN
	setMode := func(m types.StreamMode) error {
		_, err := c.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: arn, StreamModeDetails: &types.StreamModeDetails{StreamMode: m}})
		return err
	}
	mode := func() (types.StreamMode, int32) {
		d, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn})
		if err != nil {
			t.Fatal(err)
		}
		return d.StreamDescriptionSummary.StreamModeDetails.StreamMode, aws.ToInt32(d.StreamDescriptionSummary.OpenShardCount)
	}

	wantError(t, setMode(types.StreamModeProvisioned), "InvalidArgumentException")
	if ae := wantError(t, setMode("SOMETIMES"), "ValidationException"); !strings.Contains(ae.ErrorMessage(), "'streamModeDetails.streamMode'") {
		t.Errorf("bad mode: %s", ae.ErrorMessage())
	}
	_, err = c.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: arn, StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeProvisioned}, WarmThroughputMiBps: aws.Int32(0)})
	wantError(t, err, "InvalidArgumentException")
	_, err = c.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/missing"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
	wantError(t, err, "ResourceNotFoundException")

	if err := setMode(types.StreamModeOnDemand); err != nil {
		t.Fatalf("switch to ON_DEMAND: %v", err)
	}
	waitActive(t, c, name)
	if m, n := mode(); m != types.StreamModeOnDemand || n != 2 {
		t.Fatalf("after the switch: %s with %d shards", m, n)
	}
	_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("5")})
	wantError(t, err, "ValidationException")
	_, err = c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(name), TargetShardCount: aws.Int32(3), ScalingType: types.ScalingTypeUniformScaling})
	wantError(t, err, "ValidationException")
	list, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sum := range list.StreamSummaries {
		if aws.ToString(sum.StreamName) == name && sum.StreamModeDetails.StreamMode != types.StreamModeOnDemand {
			t.Errorf("ListStreams shows %s", sum.StreamModeDetails.StreamMode)
		}
	}
	lim, err := c.DescribeLimits(ctx, &kinesis.DescribeLimitsInput{})
	if err != nil || aws.ToInt32(lim.OnDemandStreamCount) != 1 {
		t.Errorf("DescribeLimits OnDemandStreamCount = %d, %v", aws.ToInt32(lim.OnDemandStreamCount), err)
	}

	if err := setMode(types.StreamModeProvisioned); err != nil {
		t.Fatalf("switch back to PROVISIONED: %v", err)
	}
	if m, _ := mode(); m != types.StreamModeProvisioned {
		t.Fatalf("after the switch back: %s", m)
	}
	if ae := wantError(t, setMode(types.StreamModeOnDemand), "LimitExceededException"); !strings.Contains(ae.ErrorMessage(), "24 hours") {
		t.Errorf("third switch in a day: %s", ae.ErrorMessage())
	}
}

// TestScaling_OnDemandAutoscale loads one shard of an ON_DEMAND stream of
// a server with small autoscaler thresholds until it splits, stops, and
// waits for the cold shards to merge back to four. The figures it logs
// are those of docs/benchmarks.md.
func TestScaling_OnDemandAutoscale(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--autoscale-hot-share=0.05", "--autoscale-cold-share=0.01", "--autoscale-window=2s", "--autoscale-cooldown=2s")
	c := s.Client()
	name := streamName(t)
	createOnDemandStream(t, c, name)
	waitActive(t, c, name)

	// 8 keys spread over the lowest shard's range (the first quarter of
	// the key space), 1 KiB records: about 50 times the 5% threshold.
	start := time.Now()
	load := startKeyedLoad(t, c, name, 2, 8, 10*time.Millisecond, lowShardEntry(8))

	var timeline []string
	openCount := func() int {
		n := len(openRanges(listAllShards(t, c, name)))
		if len(timeline) == 0 || !strings.HasSuffix(timeline[len(timeline)-1], fmt.Sprintf(" %d open", n)) {
			timeline = append(timeline, fmt.Sprintf("%5.1fs %d open", time.Since(start).Seconds(), n))
		}
		return n
	}
	waitFor := func(what string, ok func(int) bool) time.Duration {
		deadline := time.Now().Add(2 * time.Minute)
		for !ok(openCount()) {
			if time.Now().After(deadline) || t.Failed() {
				t.Fatalf("no %s; shard counts: %v", what, timeline)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return time.Since(start)
	}
	split := waitFor("split", func(n int) bool { return n > 4 })
	load.Stop()
	stopped := time.Since(start)
	load.mu.Lock()
	written := len(load.acked)
	load.mu.Unlock()
	merged := waitFor("merge back to 4", func(n int) bool { return n == 4 })
	shards := load.checkLineage(t, c, name)
	if sh := shards[0]; sh.SequenceNumberRange.EndingSequenceNumber == nil {
		t.Errorf("the loaded shard %s is still open", aws.ToString(sh.ShardId))
	}
	t.Logf("load start to split: %.1fs; load stopped at %.1fs (%d records, %.0f records/s); back to 4 shards at %.1fs", split.Seconds(), stopped.Seconds(), written, float64(written)/stopped.Seconds(), merged.Seconds())
	t.Logf("shard counts over time: %s", strings.Join(timeline, ", "))
}

// TestScaling_ClusterAutoscaleAndUpdateShardCount runs two servers with
// small autoscaler thresholds over one JetStream cluster. Writes to the
// lowest shard of an ON_DEMAND stream go through both servers; both
// sample and decide, one claims each action. Then a PROVISIONED stream is
// scaled through one server while the other writes.
func TestScaling_ClusterAutoscaleAndUpdateShardCount(t *testing.T) {
	a, b := startClusterPair(t, "--autoscale-hot-share=0.05", "--autoscale-cold-share=0.01", "--autoscale-window=2s", "--autoscale-cooldown=2s")
	ca, cb := a.Client(), b.Client()
	ctx := t.Context()

	od := "autoscaled"
	createOnDemandStream(t, ca, od)
	waitActive(t, cb, od)
	load := startKeyedLoadOn(t, []*kinesis.Client{ca, cb}, od, 2, 8, 10*time.Millisecond, true, lowShardEntry(8))
	waitOpen := func(c *kinesis.Client, name, what string, ok func(int) bool) {
		deadline := time.Now().Add(3 * time.Minute)
		for n := len(openRanges(listAllShards(t, c, name))); !ok(n); n = len(openRanges(listAllShards(t, c, name))) {
			if time.Now().After(deadline) || t.Failed() {
				t.Fatalf("%s: %d open shards, want %s", name, n, what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitOpen(ca, od, "a split", func(n int) bool { return n > 4 })
	load.Stop()
	waitOpen(cb, od, "4 after merges", func(n int) bool { return n == 4 })
	// Read through a server only once it too has seen the other's last
	// merge: a server learns of a reshard it did not make a moment later,
	// and until then lists the merged shards as open.
	waitOpen(ca, od, "4 after merges", func(n int) bool { return n == 4 })
	load.checkLineage(t, ca, od)

	prov := "scaled"
	createStream(t, ca, prov, 2)
	waitActive(t, cb, prov)
	load = startKeyedLoadOn(t, []*kinesis.Client{cb}, prov, 2, 8, time.Millisecond, true, keyedEntry)
	load.waitPuts(t, 10)
	if _, err := ca.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(prov), TargetShardCount: aws.Int32(3), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, cb, prov)
	load.waitPuts(t, 10)
	load.Stop()
	if got, want := sortedRanges(openRanges(listAllShards(t, cb, prov))), uniformRanges(3); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("open ranges %v, want %v", got, want)
	}
	load.checkLineage(t, cb, prov)
}

// TestScaling_UpdateShardCountResumedAfterSIGKILL kills the server right
// after UpdateShardCount answers: once restarted, the server takes the
// scaling over (after 30 s without progress) and completes it, and every
// record written before is read back in order.
func TestScaling_UpdateShardCountResumedAfterSIGKILL(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()
	name := streamName(t)
	createStream(t, c, name, 10)
	load := startKeyedLoad(t, c, name, 2, 8, time.Millisecond, keyedEntry)
	load.waitPuts(t, 20)
	load.Stop()
	if _, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(name), TargetShardCount: aws.Int32(17), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	s.Start()
	c = s.Client()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		d, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if st := d.StreamDescriptionSummary.StreamStatus; st == types.StreamStatusActive {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("stream still %s after the restart", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got, want := sortedRanges(openRanges(listAllShards(t, c, name))), uniformRanges(17); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("open ranges after the resumed scaling:\n%v\nwant\n%v", got, want)
	}
	load.checkLineage(t, c, name)
}

// TestScaling_OnDemandAutoscaleDefaultThresholds is the autoscaler with
// its default hot and cold shares (80 % and 20 % of a shard's capacity)
// and a 10 s window and cool-down: 4 writers put 50 records of 1 KiB
// every 20 ms plus the round trip into the lowest shard, several MiB/s
// (Sluice does not throttle by default), until it splits; then the
// halves merge back. The
// figures it logs are those of docs/benchmarks.md.
func TestScaling_OnDemandAutoscaleDefaultThresholds(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--autoscale-window=10s", "--autoscale-cooldown=10s")
	c := s.Client()
	name := streamName(t)
	createOnDemandStream(t, c, name)
	waitActive(t, c, name)
	start := time.Now()
	load := startKeyedLoad(t, c, name, 4, 50, 20*time.Millisecond, lowShardEntry(50))
	var timeline []string
	last, split := -1, time.Duration(0)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n := len(openRanges(listAllShards(t, c, name)))
		if n != last {
			timeline = append(timeline, fmt.Sprintf("%.1fs: %d open", time.Since(start).Seconds(), n))
			last = n
		}
		if n > 4 && split == 0 {
			split = time.Since(start)
			load.Stop()
			load.mu.Lock()
			written := len(load.acked)
			load.mu.Unlock()
			t.Logf("load %.0f records/s (about %.1f MB/s) into one shard; split after %.1fs", float64(written)/split.Seconds(), float64(written)*1.02e-3/split.Seconds(), split.Seconds())
		}
		if split != 0 && n == 4 {
			break
		}
		if time.Now().After(deadline) || t.Failed() {
			t.Fatalf("shard counts: %v", timeline)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("shard counts over time: %s", strings.Join(timeline, ", "))
	load.checkLineage(t, c, name)
}
