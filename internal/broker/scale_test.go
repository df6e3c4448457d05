package broker

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// applyPlan runs nextScalingStep on an in-memory set of shards until it is
// done, checking each step, and returns the open shards and step count.
func applyPlan(t *testing.T, from, to int) ([]kinesis.Shard, int) {
	t.Helper()
	var shards []kinesis.Shard
	for i, r := range kinesis.SplitHashSpace(from) {
		shards = append(shards, kinesis.Shard{ID: kinesis.ShardID(i), HashRange: r})
	}
	open := func() []kinesis.Shard {
		var o []kinesis.Shard
		for _, sh := range shards {
			if sh.Open() {
				o = append(o, sh)
			}
		}
		return o
	}
	closeShard := func(id string) kinesis.Shard {
		for i := range shards {
			if shards[i].ID == id {
				if !shards[i].Open() {
					t.Fatalf("%d→%d: step closes %s twice", from, to, id)
				}
				shards[i].ClosedAt = time.Unix(1, 0)
				return shards[i]
			}
		}
		t.Fatalf("%d→%d: step names unknown shard %s", from, to, id)
		return kinesis.Shard{}
	}
	steps := 0
	for ; ; steps++ {
		if steps > 4*(from+to) {
			t.Fatalf("%d→%d: not done after %d steps", from, to, steps)
		}
		step, done := nextScalingStep(open(), to)
		if done {
			break
		}
		p := closeShard(step.shard)
		n := len(shards)
		if step.merge == "" {
			if step.at.Cmp(p.HashRange.Start) <= 0 || step.at.Cmp(p.HashRange.End) > 0 {
				t.Fatalf("%d→%d: split of %v at %v", from, to, p.HashRange, step.at)
			}
			shards = append(shards,
				kinesis.Shard{ID: kinesis.ShardID(n), ParentShardID: p.ID, HashRange: kinesis.HashRange{Start: p.HashRange.Start, End: step.at.Sub(1)}},
				kinesis.Shard{ID: kinesis.ShardID(n + 1), ParentShardID: p.ID, HashRange: kinesis.HashRange{Start: step.at, End: p.HashRange.End}})
			continue
		}
		a := closeShard(step.merge)
		if p.HashRange.End.Add(1) != a.HashRange.Start {
			t.Fatalf("%d→%d: merge of %v and %v, not adjacent", from, to, p.HashRange, a.HashRange)
		}
		shards = append(shards, kinesis.Shard{ID: kinesis.ShardID(n), ParentShardID: p.ID, AdjacentParentShardID: a.ID, HashRange: kinesis.HashRange{Start: p.HashRange.Start, End: a.HashRange.End}})
	}
	return open(), steps
}

func TestNextScalingStep_ReachesUniformRanges(t *testing.T) {
	for _, c := range [][2]int{{1, 2}, {2, 1}, {4, 8}, {8, 4}, {3, 5}, {5, 3}, {4, 7}, {7, 4}, {6, 6}, {10, 17}, {17, 9}, {1, 1}} {
		open, steps := applyPlan(t, c[0], c[1])
		slices.SortFunc(open, func(x, y kinesis.Shard) int { return x.HashRange.Start.Cmp(y.HashRange.Start) })
		want := kinesis.SplitHashSpace(c[1])
		if len(open) != len(want) {
			t.Fatalf("%d→%d: %d open shards", c[0], c[1], len(open))
		}
		for i := range want {
			if open[i].HashRange != want[i] {
				t.Fatalf("%d→%d: shard %d covers %v, want %v", c[0], c[1], i, open[i].HashRange, want[i])
			}
		}
		t.Logf("%d→%d shards in %d steps", c[0], c[1], steps)
	}
	// Doubling and halving take one step per shard, as on AWS.
	if _, steps := applyPlan(t, 8, 16); steps != 8 {
		t.Errorf("8→16 took %d steps, want 8", steps)
	}
	if _, steps := applyPlan(t, 16, 8); steps != 8 {
		t.Errorf("16→8 took %d steps, want 8", steps)
	}
}

func TestMidKey(t *testing.T) {
	whole := kinesis.HashRange{Start: kinesis.HashKey{}, End: kinesis.MaxHashKey}
	if got, want := midKey(whole), kinesis.SplitHashSpace(2)[1].Start; got != want {
		t.Fatalf("midKey(whole) = %v, want %v", got, want)
	}
	r := kinesis.HashRange{Start: kinesis.HashKey{Lo: 10}, End: kinesis.HashKey{Lo: 11}}
	if got := midKey(r); got != (kinesis.HashKey{Lo: 11}) {
		t.Fatalf("midKey(10..11) = %v", got)
	}
}

// waitStream polls the stream's description until ok holds, for up to two
// minutes; want says what ok waits for.
func waitStream(t *testing.T, b *Broker, name, want string, ok func(kinesis.StreamDescription) bool) kinesis.StreamDescription {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		d, err := b.DescribeStream(context.Background(), kinesis.StreamRef{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s is %s with %d open shards, want %s", name, d.Status, d.OpenShardCount, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitActive polls until the stream is ACTIVE again.
func waitActive(t *testing.T, b *Broker, name string) kinesis.StreamDescription {
	t.Helper()
	return waitStream(t, b, name, "ACTIVE", func(d kinesis.StreamDescription) bool { return d.Status == kinesis.StatusActive })
}

func TestBroker_UpdateShardCountErrors(t *testing.T) {
	b := openBroker(t, Config{ShardLimit: 12})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 4}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "od", Mode: kinesis.ModeOnDemand}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ref    kinesis.StreamRef
		target int
		typ    string
		code   kinesis.ErrorCode
	}{
		{ref, 9, kinesis.ScalingUniform, kinesis.ErrLimitExceeded}, // more than double
		{ref, 1, kinesis.ScalingUniform, kinesis.ErrLimitExceeded}, // less than half
		{ref, 3, "SOMETHING", kinesis.ErrInvalidArgument},          // scaling type
		{kinesis.StreamRef{Name: "od"}, 4, kinesis.ScalingUniform, kinesis.ErrValidation},
		{kinesis.StreamRef{Name: "nope"}, 4, kinesis.ScalingUniform, kinesis.ErrResourceNotFound},
	} {
		_, err := b.UpdateShardCount(ctx, c.ref, c.target, c.typ)
		if kinesis.CodeOf(err) != c.code {
			t.Errorf("UpdateShardCount(%s, %d, %s) = %v, want %s", c.ref.Name, c.target, c.typ, err, c.code)
		}
	}
	// 8 shards open in the account; 9 is within the limit of 12.
	if _, err := b.UpdateShardCount(ctx, ref, 5, kinesis.ScalingUniform); err != nil {
		t.Fatalf("UpdateShardCount to 5: %v", err)
	}
	waitActive(t, b, "s")
	// 5 + 4 open; doubling to 10 would make 14 > 12.
	if _, err := b.UpdateShardCount(ctx, ref, 10, kinesis.ScalingUniform); kinesis.CodeOf(err) != kinesis.ErrLimitExceeded || !strings.Contains(err.Error(), "shard limit") {
		t.Errorf("UpdateShardCount past the account limit = %v", err)
	}
	out, err := b.UpdateShardCount(ctx, ref, 3, kinesis.ScalingUniform)
	if err != nil {
		t.Fatal(err)
	}
	if out.CurrentShardCount != 5 || out.TargetShardCount != 3 || out.StreamName != "s" || out.StreamARN == "" {
		t.Fatalf("output %+v", out)
	}
	waitActive(t, b, "s")
}

func TestBroker_UpdateShardCountRefusedWhileUpdating(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 8}); err != nil {
		t.Fatal(err)
	}
	// Owned by a broker that does not run it: the stream stays UPDATING.
	if _, err := b.update(ctx, "s", func(s *kinesis.Stream) error {
		s.Scaling = &kinesis.Scaling{Target: 16, Owner: "elsewhere", StartedAt: time.Now(), UpdatedAt: time.Now()}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if d, _ := b.DescribeStream(ctx, ref); d.Status != kinesis.StatusUpdating {
		t.Fatalf("status %s, want UPDATING", d.Status)
	}
	if _, err := b.UpdateShardCount(ctx, ref, 4, kinesis.ScalingUniform); kinesis.CodeOf(err) != kinesis.ErrResourceInUse {
		t.Errorf("UpdateShardCount while UPDATING = %v", err)
	}
	if err := b.SplitShard(ctx, ref, kinesis.ShardID(0), "1000"); kinesis.CodeOf(err) != kinesis.ErrResourceInUse {
		t.Errorf("SplitShard while UPDATING = %v", err)
	}
	// Records still go in.
	if res, err := b.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte("x")}}); err != nil || res[0].ErrorCode != "" {
		t.Fatalf("put while UPDATING: %v %+v", err, res)
	}
}

// A scaling whose broker stopped stamping it is taken over by another.
func TestBroker_StalledScalingTakenOver(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if _, err := b.update(ctx, "s", func(s *kinesis.Stream) error {
		s.Scaling = &kinesis.Scaling{Target: 3, Owner: "dead", StartedAt: old, UpdatedAt: old}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d := waitActive(t, b, "s") // the reaper takes it over within a second
	if d.OpenShardCount != 3 {
		t.Fatalf("%d open shards after the scaling, want 3", d.OpenShardCount)
	}
}

// scaleUnderLoad writes numbered records for many keys through writers
// while scaler scales the stream from 3 shards to 5 and back to 3, then
// checks the lineage and that every acknowledged record is read back,
// each key in order, reading parents before children.
func scaleUnderLoad(t *testing.T, writers []*Broker, scaler *Broker) {
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := scaler.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 3}); err != nil {
		t.Fatal(err)
	}
	load := startWriteLoad(t, writers, ref, 6)
	for _, target := range []int{5, 3} {
		load.waitMorePuts(20)
		if _, err := scaler.UpdateShardCount(ctx, ref, target, kinesis.ScalingUniform); err != nil {
			t.Fatal(err)
		}
		d := waitActive(t, scaler, "s")
		if d.OpenShardCount != target {
			t.Fatalf("%d open shards, want %d", d.OpenShardCount, target)
		}
	}
	load.waitMorePuts(20)
	acked := load.stopAndWait()

	shards := shardMap(t, scaler, "s")
	var open []kinesis.HashRange
	for _, sh := range shards {
		if sh.ParentShardID != "" {
			p, ok := shards[sh.ParentShardID]
			if !ok || p.Open() {
				t.Errorf("%s: parent %s missing or open", sh.ID, sh.ParentShardID)
			}
		}
		if a := sh.AdjacentParentShardID; a != "" {
			p, ok := shards[a]
			if !ok || p.Open() || sh.ParentShardID == "" {
				t.Errorf("%s: adjacent parent %s missing or open", sh.ID, a)
			}
		}
		if sh.Open() {
			open = append(open, sh.HashRange)
		}
	}
	slices.SortFunc(open, func(x, y kinesis.HashRange) int { return x.Start.Cmp(y.Start) })
	if !slices.Equal(open, kinesis.SplitHashSpace(3)) {
		t.Errorf("open ranges %v, want uniform", open)
	}

	read, n := checkReadBack(t, scaler, "s", acked)
	t.Logf("%d records read back from %d shards", read, n)
}

func TestBroker_UpdateShardCountUnderWriteLoad(t *testing.T) {
	b := openBroker(t, Config{})
	scaleUnderLoad(t, []*Broker{b}, b)
}

func TestBroker_UpdateShardCountWhileOtherBrokerWrites(t *testing.T) {
	brokers := openBrokers(t, 2, Config{})
	scaleUnderLoad(t, []*Broker{brokers[1]}, brokers[0])
}
