package broker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// fastAutoscale acts on a shard after a second at 5% of its capacity
// (50 records/s), and on a stream once a second.
var fastAutoscale = AutoscaleConfig{HotShare: 0.05, ColdShare: 0.01, Window: time.Second, Cooldown: time.Second, Interval: 100 * time.Millisecond}

// waitOpenShards polls until ok holds for the stream's number of open
// shards; what says what ok waits for.
func waitOpenShards(t *testing.T, b *Broker, name string, ok func(n int) bool, what string) int {
	t.Helper()
	return waitStream(t, b, name, what+" open shards", func(d kinesis.StreamDescription) bool { return ok(d.OpenShardCount) }).OpenShardCount
}

// autoscaleUnderLoad loads the lowest shard of an ON_DEMAND stream through
// writers until a broker splits it, then stops and waits for the cold
// shards to merge back to four; every acknowledged record must be read
// back, each key in order.
func autoscaleUnderLoad(t *testing.T, writers []*Broker) {
	ctx := context.Background()
	b := writers[0]
	ref := kinesis.StreamRef{Name: "od"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "od", Mode: kinesis.ModeOnDemand}); err != nil {
		t.Fatal(err)
	}
	// Keys spread over shard 0's range, so that both halves get load.
	shard0 := kinesis.SplitHashSpace(4)[0]
	var keys []string
	for i := range 8 {
		keys = append(keys, shard0.Start.Add(uint64(i)<<60).String())
	}
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w, wb := range writers {
		wg.Go(func() {
			n := 0
			for !stop.Load() {
				var entries []kinesis.PutRecordEntry
				for k, hk := range keys {
					entries = append(entries, kinesis.PutRecordEntry{PartitionKey: "k", ExplicitHashKey: hk, Data: []byte(fmt.Sprintf("w%dk%d/%d", w, k, n))})
				}
				n++
				res, err := wb.PutRecords(ctx, ref, entries)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for i, r := range res {
					if r.ErrorCode == "" {
						acked[string(entries[i].Data)] = true
					} else {
						t.Errorf("record %s failed: %s", entries[i].Data, r.ErrorMessage)
					}
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	waitOpenShards(t, b, "od", func(n int) bool { return n > 4 }, "more than 4")
	stop.Store(true)
	wg.Wait()
	d, _ := b.DescribeStream(ctx, ref)
	if sh, _ := d.Shard(kinesis.ShardID(0)); sh.Open() {
		t.Fatalf("the loaded shard is still open after a split: %+v", d.Shards)
	}
	waitOpenShards(t, b, "od", func(n int) bool { return n == 4 }, "4 again")
	// No merge below the minimum.
	time.Sleep(2 * fastAutoscale.Window)
	if d, _ := b.DescribeStream(ctx, ref); d.OpenShardCount != 4 {
		t.Fatalf("%d open shards, want the minimum of 4", d.OpenShardCount)
	}

	_, shards := checkReadBack(t, b, "od", acked)
	t.Logf("%d shards in the stream's history", shards)
}

func TestBroker_AutoscaleSplitsHotShardAndMergesColdOnes(t *testing.T) {
	autoscaleUnderLoad(t, []*Broker{openBroker(t, Config{Autoscale: fastAutoscale})})
}

// Two brokers both watch the stream; each write load goes through one.
func TestBroker_AutoscaleTwoBrokers(t *testing.T) {
	autoscaleUnderLoad(t, openBrokers(t, 2, Config{Autoscale: fastAutoscale}))
}

// Of brokers claiming the same stream at once, exactly one acts.
func TestBroker_AutoscaleClaimIsExclusive(t *testing.T) {
	brokers := openBrokers(t, 4, Config{Autoscale: AutoscaleConfig{Cooldown: time.Hour}})
	ctx := context.Background()
	if err := brokers[0].CreateStream(ctx, kinesis.CreateStreamInput{Name: "od", Mode: kinesis.ModeOnDemand}); err != nil {
		t.Fatal(err)
	}
	s, _, err := brokers[0].loadStream(ctx, "od")
	if err != nil {
		t.Fatal(err)
	}
	var won atomic.Int32
	var wg sync.WaitGroup
	for _, b := range brokers {
		wg.Go(func() {
			if b.claimAutoscale(ctx, s, false, kinesis.ShardID(0)) {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d brokers claimed the stream, want 1", won.Load())
	}
}

// A merge decided on a snapshot with more than MinShards open shards is
// not claimed once another broker's merge brought the stream down to
// MinShards: two brokers merging at once must not go below the floor.
func TestBroker_AutoscaleMergeKeepsMinShardsAcrossBrokers(t *testing.T) {
	brokers := openBrokers(t, 2, Config{Autoscale: AutoscaleConfig{Cooldown: time.Nanosecond}})
	a, b := brokers[0], brokers[1]
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "od"}
	if err := a.CreateStream(ctx, kinesis.CreateStreamInput{Name: "od", Mode: kinesis.ModeOnDemand}); err != nil {
		t.Fatal(err)
	}
	waitStream(t, a, "od", "ACTIVE", func(d kinesis.StreamDescription) bool { return d.Status == kinesis.StatusActive })
	d, err := a.DescribeStream(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	sh0, _ := d.Shard(kinesis.ShardID(0))
	if err := a.splitShard(ctx, "od", sh0.ID, midKey(sh0.HashRange), a.autoscaleGate(d.ID), byAutoscaler); err != nil {
		t.Fatal(err)
	}
	n := waitOpenShards(t, a, "od", func(n int) bool { return n == 5 }, "5")
	stale, _, err := b.loadStream(ctx, "od") // b decides on 5 open shards
	if err != nil || len(stale.OpenShards()) != n {
		t.Fatalf("snapshot: %v open shards, %v", len(stale.OpenShards()), err)
	}
	open := stale.OpenShards()
	slices.SortFunc(open, func(x, y kinesis.Shard) int { return x.HashRange.Start.Cmp(y.HashRange.Start) })
	// a merges the first pair, as its autoscaler would: 4 open.
	if !a.claimAutoscale(ctx, stale, true, open[0].ID, open[1].ID) {
		t.Fatal("the first merge was not claimed")
	}
	if err := a.mergeShards(ctx, "od", open[0].ID, open[1].ID, a.autoscaleGate(d.ID), byAutoscaler); err != nil {
		t.Fatal(err)
	}
	waitOpenShards(t, a, "od", func(n int) bool { return n == 4 }, "4")
	if b.claimAutoscale(ctx, stale, true, open[3].ID, open[4].ID) {
		t.Fatal("a second merge on the stale snapshot was claimed: the stream would go below MinShards")
	}
	if !b.claimAutoscale(ctx, stale, false, open[3].ID) {
		t.Error("a split was refused")
	}
}

func TestBroker_UpdateStreamMode(t *testing.T) {
	b := openBroker(t, Config{OnDemandStreamLimit: 1})
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: name, ShardCount: 2}); err != nil {
			t.Fatal(err)
		}
	}
	arn := func(name string) string { return kinesis.StreamARN("us-east-1", "000000000000", name) }
	if err := b.UpdateStreamMode(ctx, arn("a"), kinesis.ModeProvisioned, nil); kinesis.CodeOf(err) != kinesis.ErrInvalidArgument {
		t.Errorf("switch to the same mode = %v", err)
	}
	if err := b.UpdateStreamMode(ctx, arn("a"), kinesis.ModeOnDemand, nil); err != nil {
		t.Fatal(err)
	}
	d, _ := b.DescribeStream(ctx, kinesis.StreamRef{Name: "a"})
	if d.Mode != kinesis.ModeOnDemand || d.OpenShardCount != 2 || d.Status != kinesis.StatusActive {
		t.Fatalf("after the switch: mode %s, %d shards, %s", d.Mode, d.OpenShardCount, d.Status)
	}
	if err := b.SplitShard(ctx, kinesis.StreamRef{Name: "a"}, kinesis.ShardID(0), "1000"); kinesis.CodeOf(err) != kinesis.ErrValidation {
		t.Errorf("SplitShard of an ON_DEMAND stream = %v", err)
	}
	if err := b.UpdateStreamMode(ctx, arn("b"), kinesis.ModeOnDemand, nil); kinesis.CodeOf(err) != kinesis.ErrLimitExceeded {
		t.Errorf("switch past the on-demand stream limit = %v", err)
	}
	if err := b.UpdateStreamMode(ctx, arn("a"), kinesis.ModeProvisioned, nil); err != nil {
		t.Fatal(err)
	}
	// Two switches in 24 hours are the most.
	if err := b.UpdateStreamMode(ctx, arn("a"), kinesis.ModeOnDemand, nil); kinesis.CodeOf(err) != kinesis.ErrLimitExceeded {
		t.Errorf("third switch in 24 hours = %v", err)
	}
	if err := b.UpdateStreamMode(ctx, arn("nope"), kinesis.ModeOnDemand, nil); kinesis.CodeOf(err) != kinesis.ErrResourceNotFound {
		t.Errorf("switch of an unknown stream = %v", err)
	}
}

func TestBroker_ModeSwitchesAllowedAgainAfter24Hours(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := openBroker(t, Config{Now: clock})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "a", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	arn := kinesis.StreamARN("us-east-1", "000000000000", "a")
	for _, m := range []kinesis.StreamMode{kinesis.ModeOnDemand, kinesis.ModeProvisioned} {
		if err := b.UpdateStreamMode(ctx, arn, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	now = now.Add(24*time.Hour + time.Second)
	mu.Unlock()
	if err := b.UpdateStreamMode(ctx, arn, kinesis.ModeOnDemand, nil); err != nil {
		t.Fatalf("switch a day later: %v", err)
	}
}

func TestBroker_UpdateStreamModeWarmThroughput(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "a", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	arn := kinesis.StreamARN("us-east-1", "000000000000", "a")
	warm := func(n int) *int { return &n }
	if err := b.UpdateStreamMode(ctx, arn, kinesis.ModeOnDemand, warm(100)); kinesis.CodeOf(err) != kinesis.ErrValidation {
		t.Errorf("warm throughput without the commitment = %v", err)
	}
	if _, err := b.UpdateAccountSettings(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateStreamMode(ctx, arn, kinesis.ModeOnDemand, warm(kinesis.MaxWarmThroughputMiBps+1)); kinesis.CodeOf(err) != kinesis.ErrLimitExceeded {
		t.Errorf("warm throughput past the limit = %v", err)
	}
	if err := b.UpdateStreamMode(ctx, arn, kinesis.ModeOnDemand, warm(100)); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := b.loadStream(ctx, "a"); s.WarmThroughputMiBps == nil || *s.WarmThroughputMiBps != 100 {
		t.Fatalf("warm throughput after the switch: %v", s.WarmThroughputMiBps)
	}
	if err := b.UpdateStreamMode(ctx, arn, kinesis.ModeProvisioned, warm(100)); kinesis.CodeOf(err) != kinesis.ErrInvalidArgument {
		t.Errorf("warm throughput with PROVISIONED = %v", err)
	}
	if err := b.UpdateStreamMode(ctx, arn, kinesis.ModeProvisioned, nil); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := b.loadStream(ctx, "a"); s.WarmThroughputMiBps != nil {
		t.Fatalf("a PROVISIONED stream keeps warm throughput %d", *s.WarmThroughputMiBps)
	}
}
