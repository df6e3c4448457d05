package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// interruptReshard does what a reshard does before its server dies: it
// records child logs as pending and creates them.
func interruptReshard(t *testing.T, b *Broker, name string) []uint64 {
	t.Helper()
	ctx := context.Background()
	first, err := b.allocEpochs(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	epochs := []uint64{first, first + 1}
	if err := b.addPendingLogs(ctx, name, epochs); err != nil {
		t.Fatal(err)
	}
	for _, e := range epochs {
		if err := b.log.CreateLog(ctx, logName(e), kinesis.LogConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	return epochs
}

func logExists(t *testing.T, b *Broker, epoch uint64) bool {
	t.Helper()
	_, err := b.log.State(context.Background(), logName(epoch))
	if errors.Is(err, kinesis.ErrLogNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func TestBroker_SweepDeletesOrphanChildLogs(t *testing.T) {
	b := openBroker(t, Config{OrphanLogGrace: 200 * time.Millisecond})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	epochs := interruptReshard(t, b, "s")
	// The reaper (every second, also at start) sweeps once the grace is over.
	deadline := time.Now().Add(time.Minute)
	for logExists(t, b, epochs[0]) || logExists(t, b, epochs[1]) {
		if time.Now().After(deadline) {
			t.Fatal("orphan child logs were not deleted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	deadline = time.Now().Add(time.Minute)
	for {
		s, _, err := b.loadStream(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if len(s.PendingLogs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending logs still listed: %+v", s.PendingLogs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The stream's own shard is untouched, and resharding still works.
	if err := b.SplitShard(ctx, kinesis.StreamRef{Name: "s"}, kinesis.ShardID(0), "1000"); err != nil {
		t.Fatal(err)
	}
	s, _, _ := b.loadStream(ctx, "s")
	for _, sh := range s.Shards {
		if !logExists(t, b, sh.Epoch) {
			t.Errorf("log of %s deleted", sh.ID)
		}
	}
	if len(s.PendingLogs) != 0 {
		t.Errorf("a completed split left pending logs: %+v", s.PendingLogs)
	}
}

// A reshard whose pending logs were swept (it took longer than the grace)
// must not add children whose logs are gone.
func TestBroker_SweptReshardCannotComplete(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	s, _, _ := b.loadStream(ctx, "s")
	sweepAll := func(cur *kinesis.Stream) error {
		// Stands in for a sweep running between the reshard's steps.
		for i := range cur.PendingLogs {
			cur.PendingLogs[i].Swept = true
		}
		return nil
	}
	children := []kinesis.Shard{
		{ParentShardID: kinesis.ShardID(0), HashRange: kinesis.HashRange{Start: s.Shards[0].HashRange.Start, End: kinesis.HashKey{Lo: 999}}},
		{ParentShardID: kinesis.ShardID(0), HashRange: kinesis.HashRange{Start: kinesis.HashKey{Lo: 1000}, End: s.Shards[0].HashRange.End}},
	}
	err := b.reshard(ctx, s, []string{kinesis.ShardID(0)}, children, byClient, func(cur *kinesis.Stream) error {
		return sweepAll(cur)
	})
	if err == nil {
		t.Fatal("a swept reshard completed")
	}
	s, _, _ = b.loadStream(ctx, "s")
	if len(s.Shards) != 1 || len(s.PendingLogs) != 0 {
		t.Fatalf("after the swept reshard: %d shards, pending %+v", len(s.Shards), s.PendingLogs)
	}
	for _, c := range children {
		if logExists(t, b, c.Epoch) {
			t.Errorf("child log %d left behind", c.Epoch)
		}
	}
}

func TestBroker_DeleteStreamDeletesPendingLogs(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	epochs := interruptReshard(t, b, "s")
	if err := b.DeleteStream(ctx, kinesis.StreamRef{Name: "s"}, false); err != nil {
		t.Fatal(err)
	}
	for _, e := range epochs {
		if logExists(t, b, e) {
			t.Errorf("pending log %d outlived its stream", e)
		}
	}
}
