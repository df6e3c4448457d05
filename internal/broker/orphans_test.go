package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// interruptReshard does what a reshard does before its server dies: it
// records the stream's next log as pending and creates it.
func interruptReshard(t *testing.T, b *Broker, name string) []uint64 {
	t.Helper()
	ctx := context.Background()
	first, err := b.allocEpochs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	epochs := []uint64{first}
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
	for logExists(t, b, epochs[0]) {
		if time.Now().After(deadline) {
			t.Fatal("orphan log was not deleted")
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
	// The stream's log is untouched, and resharding still works.
	if err := b.SplitShard(ctx, kinesis.StreamRef{Name: "s"}, kinesis.ShardID(0), "1000"); err != nil {
		t.Fatal(err)
	}
	s, _, _ := b.loadStream(ctx, "s")
	for _, l := range s.Logs {
		if !logExists(t, b, l.Epoch) {
			t.Errorf("log %d of the stream deleted", l.Epoch)
		}
	}
	if len(s.PendingLogs) != 0 {
		t.Errorf("a completed split left pending logs: %+v", s.PendingLogs)
	}
}

// A reshard whose pending log was swept (it took longer than the grace)
// must not add children writing to a log that is gone.
func TestBroker_SweptReshardCannotComplete(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	s, _, _ := b.loadStream(ctx, "s")
	// Epochs are handed out in order: the reshard's log gets the next.
	probe, err := b.allocEpochs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
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
	err = b.reshard(ctx, s, []string{kinesis.ShardID(0)}, children, byClient, func(cur *kinesis.Stream) error {
		return sweepAll(cur)
	})
	if err == nil {
		t.Fatal("a swept reshard completed")
	}
	if logExists(t, b, probe+1) {
		t.Errorf("the swept reshard's log %d was left behind", probe+1)
	}
	// Its seal of the stream's log did not stop the stream: a plain
	// rollover opened the next log at once.
	s, _, _ = b.loadStream(ctx, "s")
	if len(s.Shards) != 1 || len(s.PendingLogs) != 0 || len(s.Logs) != 2 || s.Logs[1].Sealed() {
		t.Fatalf("after the swept reshard: %d shards, pending %+v, logs %+v", len(s.Shards), s.PendingLogs, s.Logs)
	}
	if res, err := b.PutRecords(ctx, kinesis.StreamRef{Name: "s"}, []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte("x")}}); err != nil || res[0].ErrorCode != "" {
		t.Fatalf("put after the swept reshard: %v %+v", err, res)
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
