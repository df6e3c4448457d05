package broker

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// readShard reads a shard from TRIM_HORIZON until it is caught up (open
// shard) or read to its end (closed shard), returning its records and, for
// a closed shard, its children.
func readShard(t *testing.T, b *Broker, stream, shard string) ([]kinesis.Record, []kinesis.ChildShard) {
	t.Helper()
	ctx := context.Background()
	it, err := b.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: kinesis.StreamRef{Name: stream}, ShardID: shard, Type: kinesis.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var all []kinesis.Record
	for {
		out, err := b.GetRecords(ctx, it, 1000)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out.Records...)
		if out.NextShardIterator == "" {
			if len(out.ChildShards) == 0 {
				t.Fatalf("%s read to its end without child shards", shard)
			}
			return all, out.ChildShards
		}
		if len(out.Records) == 0 {
			return all, nil
		}
		it = out.NextShardIterator
	}
}

func shardMap(t *testing.T, b *Broker, stream string) map[string]kinesis.Shard {
	t.Helper()
	out, err := b.ListShards(context.Background(), kinesis.ListShardsInput{Stream: kinesis.StreamRef{Name: stream}})
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]kinesis.Shard)
	for _, sh := range out.Shards {
		m[sh.ID] = sh
	}
	return m
}

// writeLoad writes numbered records ("key/n", two per key and call) for 16
// keys per goroutine until stopped, and keeps those acknowledged.
type writeLoad struct {
	t     *testing.T
	mu    sync.Mutex
	acked map[string]bool // "key/n"
	stop  atomic.Bool
	wg    sync.WaitGroup
	puts  atomic.Int64 // PutRecords calls that returned
}

// startWriteLoad starts goroutines writing to ref, spread over writers in
// turn.
func startWriteLoad(t *testing.T, writers []*Broker, ref kinesis.StreamRef, goroutines int) *writeLoad {
	const keysPer = 16
	ctx := context.Background()
	l := &writeLoad{t: t, acked: map[string]bool{}}
	for w := range goroutines {
		b := writers[w%len(writers)]
		l.wg.Go(func() {
			next := make([]int, keysPer)
			for !l.stop.Load() {
				var entries []kinesis.PutRecordEntry
				for k := range keysPer {
					key := fmt.Sprintf("w%d-k%d", w, k)
					for range 2 {
						entries = append(entries, kinesis.PutRecordEntry{PartitionKey: key, Data: []byte(key + "/" + strconv.Itoa(next[k]))})
						next[k]++
					}
				}
				res, err := b.PutRecords(ctx, ref, entries)
				if err != nil {
					t.Error(err)
					return
				}
				l.mu.Lock()
				for i, r := range res {
					if r.ErrorCode != "" {
						t.Errorf("record %s failed: %s %s", entries[i].Data, r.ErrorCode, r.ErrorMessage)
						continue
					}
					l.acked[string(entries[i].Data)] = true
				}
				l.mu.Unlock()
				l.puts.Add(1)
			}
		})
	}
	return l
}

// waitPuts waits until n PutRecords calls have returned or the test has
// failed (a failed writer stops writing).
func (l *writeLoad) waitPuts(n int64) {
	for l.puts.Load() < n && !l.t.Failed() {
		time.Sleep(time.Millisecond)
	}
}

// waitMorePuts waits for n more PutRecords calls.
func (l *writeLoad) waitMorePuts(n int64) {
	l.waitPuts(l.puts.Load() + n)
}

// stopAndWait stops the writers and returns the acknowledged records.
func (l *writeLoad) stopAndWait() map[string]bool {
	l.stop.Store(true)
	l.wg.Wait()
	return l.acked
}

// checkReadBack reads every shard of a stream in id order, which reads
// parents before their children, and checks that each key's numbered
// records ("key/n") come in order and that the records read are the
// acknowledged ones. It returns how many records and shards it read.
func checkReadBack(t *testing.T, b *Broker, stream string, acked map[string]bool) (records, shards int) {
	t.Helper()
	unread := maps.Clone(acked)
	last := map[string]int{}
	shards = len(shardMap(t, b, stream))
	for i := range shards {
		recs, _ := readShard(t, b, stream, kinesis.ShardID(i))
		for _, r := range recs {
			key, n, _ := strings.Cut(string(r.Data), "/")
			num, _ := strconv.Atoi(n)
			if prev, ok := last[key]; ok && num <= prev {
				t.Fatalf("key %s: record %d read after %d", key, num, prev)
			}
			last[key] = num
			if !acked[string(r.Data)] {
				t.Errorf("record %s read but not acknowledged", r.Data)
			}
			delete(unread, string(r.Data))
			records++
		}
	}
	if len(unread) != 0 {
		t.Fatalf("%d acknowledged records were not read back (read %d)", len(unread), records)
	}
	return records, shards
}

func TestBroker_SplitAndMergeLineage(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	put := func(hashKey, data string) {
		t.Helper()
		res, err := b.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{PartitionKey: "k", ExplicitHashKey: hashKey, Data: []byte(data)}})
		if err != nil || res[0].ErrorCode != "" {
			t.Fatalf("PutRecords: %v %+v", err, res)
		}
	}
	put("1", "before")
	mid := kinesis.SplitHashSpace(2)[1].Start
	if err := b.SplitShard(ctx, ref, kinesis.ShardID(0), mid.String()); err != nil {
		t.Fatal(err)
	}
	put("1", "low")
	put(mid.String(), "high")

	shards := shardMap(t, b, "s")
	if len(shards) != 3 {
		t.Fatalf("ListShards after split = %d shards, want 3", len(shards))
	}
	parent, lo, hi := shards[kinesis.ShardID(0)], shards[kinesis.ShardID(1)], shards[kinesis.ShardID(2)]
	if parent.Open() || parent.EndingSequenceNumber() == "" || parent.EndingMsgSeq != 1 {
		t.Errorf("parent after split = %+v, want closed with one message", parent)
	}
	if lo.ParentShardID != parent.ID || hi.ParentShardID != parent.ID || lo.AdjacentParentShardID != "" {
		t.Errorf("children's parents = %q/%q, %q", lo.ParentShardID, lo.AdjacentParentShardID, hi.ParentShardID)
	}
	if lo.HashRange.Start != parent.HashRange.Start || lo.HashRange.End != mid.Sub(1) || hi.HashRange.Start != mid || hi.HashRange.End != parent.HashRange.End {
		t.Errorf("children's hash ranges = %v, %v", lo.HashRange, hi.HashRange)
	}

	recs, children := readShard(t, b, "s", parent.ID)
	if len(recs) != 1 || string(recs[0].Data) != "before" {
		t.Errorf("parent holds %d records, want the one before the split", len(recs))
	}
	if len(children) != 2 || children[0].ShardID != lo.ID || children[1].ShardID != hi.ID || children[0].ParentShards[0] != parent.ID {
		t.Errorf("ChildShards = %+v", children)
	}
	if recs, _ := readShard(t, b, "s", lo.ID); len(recs) != 1 || string(recs[0].Data) != "low" {
		t.Errorf("low child holds %v", recs)
	}
	if recs, _ := readShard(t, b, "s", hi.ID); len(recs) != 1 || string(recs[0].Data) != "high" {
		t.Errorf("high child holds %v", recs)
	}

	// A closed shard is split or merged no more.
	if err := b.SplitShard(ctx, ref, parent.ID, mid.String()); kinesis.CodeOf(err) != kinesis.ErrInvalidArgument || !strings.Contains(err.Error(), "has already been merged or split") {
		t.Errorf("split of a closed shard: %v", err)
	}
	if err := b.MergeShards(ctx, ref, parent.ID, lo.ID); kinesis.CodeOf(err) != kinesis.ErrInvalidArgument {
		t.Errorf("merge of a closed shard: %v", err)
	}
	// Bad keys, unknown shards, pairs that are not adjacent.
	for _, key := range []string{lo.HashRange.Start.String(), lo.HashRange.Start.Add(1).String(), lo.HashRange.End.String(), lo.HashRange.End.Add(1).String()} {
		if err := b.SplitShard(ctx, ref, lo.ID, key); kinesis.CodeOf(err) != kinesis.ErrInvalidArgument || !strings.Contains(err.Error(), "is not both greater than") {
			t.Errorf("split of %s at %s: %v", lo.ID, key, err)
		}
	}
	if err := b.SplitShard(ctx, ref, kinesis.ShardID(9), "5"); kinesis.CodeOf(err) != kinesis.ErrResourceNotFound {
		t.Errorf("split of an unknown shard: %v", err)
	}
	if err := b.MergeShards(ctx, ref, lo.ID, lo.ID); kinesis.CodeOf(err) != kinesis.ErrInvalidArgument || !strings.Contains(err.Error(), "not an adjacent pair") {
		t.Errorf("merge of a shard with itself: %v", err)
	}

	// The higher shard first is refused, as on AWS.
	if err := b.MergeShards(ctx, ref, hi.ID, lo.ID); kinesis.CodeOf(err) != kinesis.ErrInvalidArgument || !strings.Contains(err.Error(), "not an adjacent pair") {
		t.Errorf("merge of %s with the lower %s: %v", hi.ID, lo.ID, err)
	}
	// Merge the children back, named by short ids: their ranges are
	// adjacent.
	if err := b.MergeShards(ctx, ref, "shardId-1", "2"); err != nil {
		t.Fatal(err)
	}
	shards = shardMap(t, b, "s")
	merged := shards[kinesis.ShardID(3)]
	if merged.ParentShardID != lo.ID || merged.AdjacentParentShardID != hi.ID || merged.HashRange != parent.HashRange || !merged.Open() {
		t.Errorf("merged shard = %+v", merged)
	}
	if shards[lo.ID].Open() || shards[hi.ID].Open() {
		t.Error("merged parents are still open")
	}
	_, children = readShard(t, b, "s", lo.ID)
	if len(children) != 1 || children[0].ShardID != merged.ID || len(children[0].ParentShards) != 2 {
		t.Errorf("ChildShards of a merged parent = %+v", children)
	}
	put("1", "merged")
	if recs, _ := readShard(t, b, "s", merged.ID); len(recs) != 1 || string(recs[0].Data) != "merged" {
		t.Errorf("merged shard holds %v", recs)
	}

	// Three shards: 0 and 2 are not adjacent.
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "t", ShardCount: 3}); err != nil {
		t.Fatal(err)
	}
	if err := b.MergeShards(ctx, kinesis.StreamRef{Name: "t"}, kinesis.ShardID(0), kinesis.ShardID(2)); kinesis.CodeOf(err) != kinesis.ErrInvalidArgument {
		t.Errorf("merge of shards that are not adjacent: %v", err)
	}
	// On-demand streams are not resharded by hand.
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "od", Mode: kinesis.ModeOnDemand}); err != nil {
		t.Fatal(err)
	}
	if err := b.SplitShard(ctx, kinesis.StreamRef{Name: "od"}, kinesis.ShardID(0), "5"); kinesis.CodeOf(err) != kinesis.ErrValidation {
		t.Errorf("split of an on-demand stream: %v", err)
	}
}

func TestBroker_SplitShardLimit(t *testing.T) {
	b := openBroker(t, Config{ShardLimit: 2})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	if err := b.SplitShard(ctx, kinesis.StreamRef{Name: "s"}, kinesis.ShardID(0), "5"); kinesis.CodeOf(err) != kinesis.ErrLimitExceeded {
		t.Fatalf("split past the shard limit: %v", err)
	}
}

// splitUnderLoad writes numbered records for many keys through writers
// while reshard runs on resharder, then checks that every acknowledged
// record is read back, each key in order, reading parents before children.
func splitUnderLoad(t *testing.T, writers []*Broker, resharder *Broker) {
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := resharder.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	load := startWriteLoad(t, writers, ref, 8)
	load.waitPuts(20)
	if err := resharder.SplitShard(ctx, ref, kinesis.ShardID(0), kinesis.SplitHashSpace(4)[1].Start.String()); err != nil {
		t.Fatal(err)
	}
	load.waitMorePuts(20)
	if err := resharder.SplitShard(ctx, ref, kinesis.ShardID(1), kinesis.SplitHashSpace(4)[3].Start.String()); err != nil {
		t.Fatal(err)
	}
	load.waitMorePuts(20)
	if err := resharder.MergeShards(ctx, ref, kinesis.ShardID(2), kinesis.ShardID(3)); err != nil {
		t.Fatal(err)
	}
	load.waitMorePuts(20)
	acked := load.stopAndWait()

	if read, _ := checkReadBack(t, resharder, "s", acked); read == 0 {
		t.Fatal("nothing written")
	}
}

func TestBroker_SplitUnderWriteLoad(t *testing.T) {
	b := openBroker(t, Config{})
	splitUnderLoad(t, []*Broker{b}, b)
}

func TestBroker_SplitWhileOtherBrokerWrites(t *testing.T) {
	brokers := openBrokers(t, 2, Config{})
	splitUnderLoad(t, []*Broker{brokers[1]}, brokers[0])
}

func TestBroker_ConcurrentSplitsOfOneShard(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 4 {
		wg.Go(func() {
			err := b.SplitShard(ctx, ref, kinesis.ShardID(0), strconv.Itoa(1000+i))
			switch {
			case err == nil:
				ok.Add(1)
			case kinesis.CodeOf(err) != kinesis.ErrInvalidArgument:
				t.Errorf("losing split: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d concurrent splits of one shard succeeded, want 1", ok.Load())
	}
	if n := len(shardMap(t, b, "s")); n != 3 {
		t.Fatalf("%d shards after one split, want 3", n)
	}
	// Every split sealed the parent; its end is still found.
	if _, children := readShard(t, b, "s", kinesis.ShardID(0)); len(children) != 2 {
		t.Fatalf("parent read to its end lists %d children, want 2", len(children))
	}
	if res, err := b.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte("x")}}); err != nil || res[0].ErrorCode != "" {
		t.Fatalf("put after split: %v %+v", err, res)
	}
}

// A parent sealed by a reshard that has not (or, after a crash, never)
// stored the new shards: writers wait, and a repeated split completes it.
func TestBroker_InterruptedSplitCompletedByRetry(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	put := func(data string) kinesis.PutRecordResult {
		res, err := b.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte(data)}, {PartitionKey: "k", Data: []byte(data + "+")}})
		if err != nil {
			t.Error(err)
			return kinesis.PutRecordResult{ErrorCode: "error"}
		}
		if res[0].ShardID != res[1].ShardID {
			t.Errorf("one key's records went to %s and %s", res[0].ShardID, res[1].ShardID)
		}
		return res[0]
	}
	put("before")
	s, err := b.stream(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	// The "crashed" resharder got as far as sealing the parent's log.
	if _, err := b.log.SealLog(ctx, logName(s.Shards[0].Epoch)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if r := put("stuck"); r.ErrorCode != kinesis.ErrInternalFailure {
		t.Fatalf("put to a sealed shard still open = %+v, want InternalFailure", r)
	}
	if d := time.Since(start); d < sealedWaitMax/2 {
		t.Errorf("put gave up after %v, want a wait of about %v", d, sealedWaitMax)
	}

	done := make(chan kinesis.PutRecordResult)
	go func() { done <- put("waiting") }()
	time.Sleep(100 * time.Millisecond)
	if err := b.SplitShard(ctx, ref, kinesis.ShardID(0), "1000"); err != nil {
		t.Fatalf("repeated split: %v", err)
	}
	if r := <-done; r.ErrorCode != "" || r.ShardID == kinesis.ShardID(0) {
		t.Fatalf("put waiting for the split = %+v, want stored in a child", r)
	}
	recs, children := readShard(t, b, "s", kinesis.ShardID(0))
	if len(recs) != 2 || string(recs[0].Data) != "before" || len(children) != 2 {
		t.Fatalf("parent holds %d records and %d children", len(recs), len(children))
	}
	var got []string
	for _, c := range children {
		recs, _ := readShard(t, b, "s", c.ShardID)
		for _, r := range recs {
			got = append(got, string(r.Data))
		}
	}
	if strings.Join(got, ",") != "waiting,waiting+" {
		t.Fatalf("children hold %v", got)
	}
}
