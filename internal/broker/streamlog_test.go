package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// spreadEntries returns n entries whose ExplicitHashKeys cycle through
// the starts of the given ranges, data "<tag>-<i>".
func spreadEntries(ranges []kinesis.HashRange, n int, tag string) []kinesis.PutRecordEntry {
	out := make([]kinesis.PutRecordEntry, n)
	for i := range out {
		out[i] = kinesis.PutRecordEntry{PartitionKey: "k", ExplicitHashKey: ranges[i%len(ranges)].Start.String(), Data: []byte(fmt.Sprintf("%s-%d", tag, i))}
	}
	return out
}

// TestBroker_OnePutOneMessage: a PutRecords over a hundred shards is one
// message of the stream's log, and every shard reads back its records in
// order, with sequence numbers that name the shard.
func TestBroker_OnePutOneMessage(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	const shards = 100
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: shards}); err != nil {
		t.Fatal(err)
	}
	ranges := kinesis.SplitHashSpace(shards)
	res, err := b.PutRecords(ctx, ref, spreadEntries(ranges, 500, "a"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := b.stream(ctx, "s")
	cur, _ := s.CurrentLog()
	st, err := b.log.State(ctx, logName(cur.Epoch))
	if err != nil {
		t.Fatal(err)
	}
	if st.LastSeq != 1 {
		t.Fatalf("one PutRecords over %d shards stored %d messages, want 1", shards, st.LastSeq)
	}
	for i, r := range res {
		seq, ok := kinesis.ParseSequenceNumber(r.SequenceNumber)
		want := kinesis.ShardID(i % shards)
		if r.ErrorCode != "" || r.ShardID != want || !ok || seq.Epoch != cur.Epoch || seq.MsgSeq != 1 || int(seq.Index) != i/shards || seq.Shard != uint32(i%shards)+1 {
			t.Fatalf("record %d: %+v (%+v), want in %s", i, r, seq, want)
		}
		if sh, ok := s.ShardOfSequence(seq); !ok || sh.ID != want {
			t.Fatalf("record %d: sequence number names %s, want %s", i, sh.ID, want)
		}
	}
	// A second put, and every shard reads its five records of each.
	if _, err := b.PutRecords(ctx, ref, spreadEntries(ranges, 500, "b")); err != nil {
		t.Fatal(err)
	}
	for n := range shards {
		got := readAll(t, b, "s", kinesis.ShardID(n))
		if len(got) != 10 {
			t.Fatalf("%s holds %d records, want 10", kinesis.ShardID(n), len(got))
		}
		for j, r := range got {
			tag := "a"
			if j >= 5 {
				tag = "b"
			}
			if want := fmt.Sprintf("%s-%d", tag, n+shards*(j%5)); string(r.Data) != want {
				t.Fatalf("%s record %d = %q, want %q", kinesis.ShardID(n), j, r.Data, want)
			}
		}
	}
	// Iterators at and after a sequence number; a number of another shard
	// is refused as AWS refuses it.
	mid := res[2*shards+7] // the third record of shard 7
	for typ, want := range map[kinesis.IteratorType]string{kinesis.AtSequenceNumber: "a-207", kinesis.AfterSequenceNumber: "a-307"} {
		it, err := b.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: ref, ShardID: kinesis.ShardID(7), Type: typ, StartingSequenceNumber: mid.SequenceNumber})
		if err != nil {
			t.Fatal(err)
		}
		out, err := b.GetRecords(ctx, it, 1)
		if err != nil || len(out.Records) != 1 || string(out.Records[0].Data) != want {
			t.Fatalf("%s: %v %+v, want %s", typ, err, out.Records, want)
		}
	}
	_, err = b.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: ref, ShardID: kinesis.ShardID(8), Type: kinesis.AtSequenceNumber, StartingSequenceNumber: mid.SequenceNumber})
	wantCode(t, err, kinesis.ErrInvalidArgument)
}

// TestBroker_ConcurrentPutsManyShardsKeepOrder: concurrent puts over many
// shards share messages, and each shard keeps the order of its key.
func TestBroker_ConcurrentPutsManyShardsKeepOrder(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	const shards, writers, puts = 50, 6, 15
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: shards}); err != nil {
		t.Fatal(err)
	}
	ranges := kinesis.SplitHashSpace(shards)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for p := range puts {
				// Writer w owns shard w's hash key; its puts also spread
				// over every other shard.
				entries := spreadEntries(ranges, 100, fmt.Sprintf("w%d/%02d", w, p))
				entries[0].ExplicitHashKey = ranges[w].Start.String()
				res, err := b.PutRecords(ctx, ref, entries)
				if err != nil || res[0].ErrorCode != "" {
					t.Errorf("put: %v %+v", err, res)
					return
				}
			}
		})
	}
	wg.Wait()
	s, _ := b.stream(ctx, "s")
	cur, _ := s.CurrentLog()
	st, _ := b.log.State(ctx, logName(cur.Epoch))
	if st.LastSeq >= writers*puts {
		t.Logf("no two puts shared a message (%d messages): the machine was slow enough", st.LastSeq)
	}
	for w := range writers {
		var mine []string
		for _, r := range readAll(t, b, "s", kinesis.ShardID(w)) {
			if d := string(r.Data); bytes.HasPrefix(r.Data, fmt.Appendf(nil, "w%d/", w)) && bytes.HasSuffix(r.Data, []byte("-0")) {
				mine = append(mine, d)
			}
		}
		if len(mine) != puts || !slices.IsSorted(mine) {
			t.Errorf("writer %d's first records in shard %d: %v", w, w, mine)
		}
	}
}

// legacyStream stores a stream as servers before stream logs did: every
// shard with a log of its own, holding messages of its records alone.
func legacyStream(t *testing.T, b *Broker, name string, shards int, perShard ...string) *kinesis.Stream {
	t.Helper()
	ctx := context.Background()
	first, err := b.allocEpochs(ctx, shards)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	s := &kinesis.Stream{Name: name, ID: newStreamID(), ARN: kinesis.StreamARN("us-east-1", "000000000000", name), Mode: kinesis.ModeProvisioned,
		RetentionHours: 24, CreatedAt: now, ActiveAt: now, NextShardIndex: shards}
	for i, r := range kinesis.SplitHashSpace(shards) {
		sh := kinesis.Shard{ID: kinesis.ShardID(i), HashRange: r, Epoch: first + uint64(i), CreatedAt: now}
		s.Shards = append(s.Shards, sh)
		if err := b.log.CreateLog(ctx, logName(sh.Epoch), kinesis.LogConfig{MaxAge: 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		for _, d := range perShard {
			msg := appendBatchRecords(appendBatchHeader(nil, time.Now(), 1), []packedRecord{{PartitionKey: "k", Data: []byte(d)}})
			if _, err := b.log.Append(ctx, logName(sh.Epoch), msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	val, _ := json.Marshal(s)
	if _, err := b.meta.Create(ctx, streamKey(name), val); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBroker_LegacyStreamMovesToStreamLogs: a stream whose shards have
// logs of their own moves to a stream log on its first write; its old
// records stay readable before the new ones, with smaller sequence
// numbers, and the shards' starting sequence numbers stay.
func TestBroker_LegacyStreamMovesToStreamLogs(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "old"}
	before := legacyStream(t, b, "old", 2, "old-1", "old-2")
	// An iterator handed out before, at the second record of shard 1.
	oldSeq := kinesis.SequenceNumber{Epoch: before.Shards[1].Epoch, MsgSeq: 2}.String()
	res, err := b.PutRecords(ctx, ref, spreadEntries(kinesis.SplitHashSpace(2), 4, "new"))
	if err != nil || res[0].ErrorCode != "" {
		t.Fatalf("put: %v %+v", err, res)
	}
	s, _, err := b.loadStream(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Logs) != 1 || s.Logs[0].Sealed() {
		t.Fatalf("after the first write: logs %+v", s.Logs)
	}
	for i, sh := range s.Shards {
		if !sh.OwnLogSealed || sh.OwnLogEnd != 2 || sh.FirstLog != s.Logs[0].Epoch {
			t.Errorf("shard %d: %+v", i, sh)
		}
		if sh.StartingSequenceNumber() != before.Shards[i].StartingSequenceNumber() {
			t.Errorf("shard %d's StartingSequenceNumber changed", i)
		}
		got := readAll(t, b, "old", sh.ID)
		var data []string
		for j, r := range got {
			data = append(data, string(r.Data))
			if j > 0 && got[j-1].SequenceNumber >= r.SequenceNumber {
				t.Errorf("shard %d: sequence numbers do not grow: %s then %s", i, got[j-1].SequenceNumber, r.SequenceNumber)
			}
		}
		want := []string{"old-1", "old-2", fmt.Sprintf("new-%d", i), fmt.Sprintf("new-%d", i+2)}
		if !slices.Equal(data, want) {
			t.Errorf("shard %d holds %v, want %v", i, data, want)
		}
	}
	it, err := b.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: ref, ShardID: kinesis.ShardID(1), Type: kinesis.AtSequenceNumber, StartingSequenceNumber: oldSeq})
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.GetRecords(ctx, it, 10)
	if err != nil || len(out.Records) != 3 || string(out.Records[0].Data) != "old-2" || string(out.Records[2].Data) != "new-3" {
		t.Fatalf("from an old sequence number: %v %+v", err, out.Records)
	}
	// The old logs take no more writes: an older server's append fails.
	msg := appendBatchRecords(appendBatchHeader(nil, time.Now(), 1), []packedRecord{{PartitionKey: "k", Data: []byte("late")}})
	if _, err := b.log.Append(ctx, logName(before.Shards[0].Epoch), msg); !errors.Is(err, kinesis.ErrLogSealed) {
		t.Fatalf("append to a shard's own log after the move: %v, want sealed", err)
	}
	// Resharding a moved shard closes it at the end of the stream log.
	if err := b.SplitShard(ctx, ref, kinesis.ShardID(0), "1000"); err != nil {
		t.Fatal(err)
	}
	recs, children := readShard(t, b, "old", kinesis.ShardID(0))
	if len(recs) != 4 || len(children) != 2 {
		t.Fatalf("split parent: %d records, %d children", len(recs), len(children))
	}
}

// TestBroker_LegacyStreamReshard: resharding a stream from before stream
// logs moves it first; the parent ends in its own log.
func TestBroker_LegacyStreamReshard(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "old"}
	legacyStream(t, b, "old", 1, "old-1")
	if err := b.SplitShard(ctx, ref, kinesis.ShardID(0), "1000"); err != nil {
		t.Fatal(err)
	}
	s, _, _ := b.loadStream(ctx, "old")
	p := s.Shards[0]
	if p.Open() || p.FirstLog != 0 || p.OwnLogSealed || p.EndingMsgSeq != 1 || len(s.Logs) != 1 {
		t.Fatalf("parent %+v, logs %+v", p, s.Logs)
	}
	if _, err := b.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{PartitionKey: "k", ExplicitHashKey: "5", Data: []byte("child")}}); err != nil {
		t.Fatal(err)
	}
	recs, children := readShard(t, b, "old", p.ID)
	if len(recs) != 1 || string(recs[0].Data) != "old-1" || len(children) != 2 {
		t.Fatalf("parent: %+v, %d children", recs, len(children))
	}
	if got := readAll(t, b, "old", kinesis.ShardID(1)); len(got) != 1 || string(got[0].Data) != "child" {
		t.Fatalf("child: %+v", got)
	}
}

// TestBroker_ReshardsOfOneStreamAtOnce: two reshards of different shards
// of one stream both complete: the one that loses the rollover tries
// again.
func TestBroker_ReshardsOfOneStreamAtOnce(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 4}); err != nil {
		t.Fatal(err)
	}
	ranges := kinesis.SplitHashSpace(4)
	var wg sync.WaitGroup
	var stop atomic.Bool
	acked := map[string]bool{}
	var mu sync.Mutex
	wg.Go(func() {
		for n := 0; !stop.Load(); n++ {
			res, err := b.PutRecords(ctx, ref, spreadEntries(ranges, 8, strconv.Itoa(n)))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for i, r := range res {
				if r.ErrorCode == "" {
					acked[fmt.Sprintf("%d-%d", n, i)] = true
				}
			}
			mu.Unlock()
		}
	})
	errs := make(chan error, 2)
	wg.Go(func() { errs <- b.SplitShard(ctx, ref, kinesis.ShardID(0), ranges[0].Start.Add(1000).String()) })
	wg.Go(func() { errs <- b.MergeShards(ctx, ref, kinesis.ShardID(2), kinesis.ShardID(3)) })
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("reshard: %v", err)
		}
	}
	stop.Store(true)
	wg.Wait()
	s, _, _ := b.loadStream(ctx, "s")
	if open := len(s.OpenShards()); open != 4 || len(s.Shards) != 7 {
		t.Fatalf("%d open of %d shards, want 4 of 7", open, len(s.Shards))
	}
	if len(s.Logs) < 3 {
		t.Fatalf("logs %+v, want at least 3 (one per reshard)", s.Logs)
	}
	// Every acknowledged record is in exactly one shard.
	seen := map[string]bool{}
	for _, sh := range s.Shards {
		recs, _ := readShard(t, b, "s", sh.ID)
		for _, r := range recs {
			if seen[string(r.Data)] {
				t.Fatalf("%s read twice", r.Data)
			}
			seen[string(r.Data)] = true
		}
	}
	for k := range acked {
		if !seen[k] {
			t.Errorf("acknowledged record %s not found", k)
		}
	}
}

// TestBroker_SealedLogsExpire: a sealed log is deleted once its records
// expired (an empty one at once), and reads skip it.
func TestBroker_SealedLogsExpire(t *testing.T) {
	// One retention "hour" of 20ms makes the minimum retention 480ms.
	b := openBroker(t, Config{RetentionHour: 20 * time.Millisecond})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	first, _ := b.stream(ctx, "s")
	// An empty log, sealed by a split: gone at the next reap.
	if err := b.SplitShard(ctx, ref, kinesis.ShardID(0), "1000"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the empty sealed log to go", func() bool { return !logExists(t, b, first.Logs[0].Epoch) })
	if _, err := b.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{PartitionKey: "k", ExplicitHashKey: "5", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	second, _, _ := b.loadStream(ctx, "s")
	if err := b.MergeShards(ctx, ref, kinesis.ShardID(2), kinesis.ShardID(3)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sealed log to expire", func() bool { return !logExists(t, b, second.Logs[0].Epoch) })
	s, _, _ := b.loadStream(ctx, "s")
	if len(s.Logs) != 1 || s.Logs[0].Sealed() {
		t.Fatalf("logs %+v, want the current one alone", s.Logs)
	}
	// Reading the open shards still works, from any position.
	for _, sh := range s.OpenShards() {
		if got := readAll(t, b, "s", sh.ID); len(got) != 0 {
			t.Errorf("%s: %d records, want none (expired)", sh.ID, len(got))
		}
	}
	if _, err := b.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte("y")}}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRouting_ShardFor agrees with a scan of the open shards.
func TestRouting_ShardFor(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := &kinesis.Stream{}
	for i, r := range kinesis.SplitHashSpace(37) {
		s.Shards = append(s.Shards, kinesis.Shard{ID: kinesis.ShardID(i), HashRange: r, Epoch: uint64(i + 1)})
	}
	// Close a few, as splits would, and add their children.
	for _, i := range []int{3, 17, 36} {
		p := &s.Shards[i]
		p.ClosedAt = time.Now()
		mid := p.HashRange.Start.Add(5)
		s.Shards = append(s.Shards,
			kinesis.Shard{ID: kinesis.ShardID(len(s.Shards)), HashRange: kinesis.HashRange{Start: p.HashRange.Start, End: mid.Sub(1)}, Epoch: uint64(100 + i)},
			kinesis.Shard{ID: kinesis.ShardID(len(s.Shards) + 1), HashRange: kinesis.HashRange{Start: mid, End: p.HashRange.End}, Epoch: uint64(200 + i)})
	}
	rt := newRouting(s)
	keys := []kinesis.HashKey{{}, {Hi: ^uint64(0), Lo: ^uint64(0)}}
	for _, sh := range s.Shards {
		keys = append(keys, sh.HashRange.Start, sh.HashRange.End)
	}
	for range 10000 {
		keys = append(keys, kinesis.HashKey{Hi: rng.Uint64(), Lo: rng.Uint64()})
	}
	for _, k := range keys {
		want, wok := s.ShardForHashKey(k)
		got, ok := rt.shardFor(k)
		if ok != wok || got.ID != want.ID {
			t.Fatalf("key %s: routed to %s (%v), want %s (%v)", k, got.ID, ok, want.ID, wok)
		}
	}
}

// TestBroker_DropReadCache: after the read cache is dropped (an idle
// server handing memory back), every shard still reads its records, from
// the store.
func TestBroker_DropReadCache(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	const shards = 8
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: shards}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutRecords(ctx, kinesis.StreamRef{Name: "s"}, spreadEntries(kinesis.SplitHashSpace(shards), 80, "a")); err != nil {
		t.Fatal(err)
	}
	if b.msgs.size == 0 {
		t.Fatal("the written message is not in the read cache")
	}
	b.DropReadCache()
	if b.msgs.size != 0 || len(b.msgs.entries) != 0 || b.msgs.lru.Len() != 0 {
		t.Fatalf("after DropReadCache the cache holds %d bytes, %d entries", b.msgs.size, len(b.msgs.entries))
	}
	for n := range shards {
		got := readAll(t, b, "s", kinesis.ShardID(n))
		if len(got) != 10 || string(got[9].Data) != fmt.Sprintf("a-%d", n+shards*9) {
			t.Fatalf("%s reads %d records after the cache was dropped, want 10", kinesis.ShardID(n), len(got))
		}
	}
	if b.msgs.size == 0 {
		t.Error("the message read back from the store was not cached again")
	}
}
