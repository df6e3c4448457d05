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

// readClosedShard reads a closed shard from TRIM_HORIZON to its end: the
// last response has no NextShardIterator and lists the children.
func readClosedShard(t testing.TB, c *kinesis.Client, stream, shardID string) ([]types.Record, []types.ChildShard) {
	t.Helper()
	it := iterator(t, c, stream, shardID, types.ShardIteratorTypeTrimHorizon)
	var recs []types.Record
	for range 10000 {
		out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			t.Fatalf("GetRecords on %s: %v", shardID, err)
		}
		recs = append(recs, out.Records...)
		if out.NextShardIterator == nil {
			if len(out.ChildShards) == 0 {
				t.Fatalf("closed shard %s read to its end without ChildShards", shardID)
			}
			return recs, out.ChildShards
		}
		it = aws.ToString(out.NextShardIterator)
	}
	t.Fatalf("closed shard %s never ended", shardID)
	return nil, nil
}

// readLineage reads every shard of a stream from TRIM_HORIZON, starting
// from the shards without parents and following ChildShards, each child
// only once all its parents are read, and returns the records in that
// order.
func readLineage(t testing.TB, c *kinesis.Client, name string, shards []types.Shard) []types.Record {
	t.Helper()
	var out []types.Record
	var queue []string
	for _, sh := range shards {
		if sh.ParentShardId == nil {
			queue = append(queue, aws.ToString(sh.ShardId))
		}
	}
	done := map[string]bool{}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if done[id] {
			continue
		}
		closed, ready := false, true
		for _, sh := range shards {
			if aws.ToString(sh.ShardId) == id {
				closed = sh.SequenceNumberRange.EndingSequenceNumber != nil
				for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
					if p != nil && !done[*p] {
						ready = false
					}
				}
			}
		}
		if !ready {
			queue = append(queue, id)
			continue
		}
		done[id] = true
		if !closed {
			out = append(out, readShard(t, c, name, id)...)
			continue
		}
		recs, children := readClosedShard(t, c, name, id)
		out = append(out, recs...)
		for _, ch := range children {
			queue = append(queue, aws.ToString(ch.ShardId))
		}
	}
	if len(done) != len(shards) {
		t.Fatalf("lineage reached %d of %d shards", len(done), len(shards))
	}
	return out
}

func TestReshard_SplitMergeAndReadLineage(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()
	name := streamName(t)
	createStream(t, c, name, 1)

	// Records of several keys, numbered per key, before and after each
	// reshard.
	next := map[string]int{}
	put := func(round string) {
		var in []types.PutRecordsRequestEntry
		for k := range 10 {
			key := "key-" + strconv.Itoa(k)
			in = append(in, types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: fmt.Appendf(nil, "%s/%d/%s", key, next[key], round)})
			next[key]++
		}
		putRecords(t, c, name, in)
	}
	put("a")
	mid := new(big.Int).Lsh(big.NewInt(1), 127)
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(mid.String())}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	put("b")

	// Errors: closed shard, bad key, shards that are not adjacent.
	_, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(mid.String())})
	if ae := wantError(t, err, "InvalidArgumentException"); !strings.Contains(ae.ErrorMessage(), "has already been merged or split") {
		t.Errorf("split of a closed shard: %s", ae.ErrorMessage())
	}
	_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String("shardId-000000000001"), NewStartingHashKey: aws.String("0")})
	if ae := wantError(t, err, "InvalidArgumentException"); !strings.Contains(ae.ErrorMessage(), "is not both greater than one plus the shard's StartingHashKey") {
		t.Errorf("split at the shard's first key: %s", ae.ErrorMessage())
	}
	_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String("shardId-000000000001"), NewStartingHashKey: aws.String("01")})
	wantError(t, err, "ValidationException")
	_, err = c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(name), ShardToMerge: aws.String("shardId-000000000000"), AdjacentShardToMerge: aws.String("shardId-000000000001")})
	wantError(t, err, "InvalidArgumentException")
	_, err = c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(name), ShardToMerge: aws.String("shardId-000000000009"), AdjacentShardToMerge: aws.String("shardId-000000000001")})
	wantError(t, err, "ResourceNotFoundException")

	// Split the upper child, then merge the two lowest open shards.
	q3 := new(big.Int).Add(mid, new(big.Int).Lsh(big.NewInt(1), 126))
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String("shardId-000000000002"), NewStartingHashKey: aws.String(q3.String())}); err != nil {
		t.Fatalf("second SplitShard: %v", err)
	}
	put("c")
	_, err = c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(name), ShardToMerge: aws.String("shardId-000000000001"), AdjacentShardToMerge: aws.String("shardId-000000000004")})
	if ae := wantError(t, err, "InvalidArgumentException"); !strings.Contains(ae.ErrorMessage(), "not an adjacent pair") {
		t.Errorf("merge of shards that are not adjacent: %s", ae.ErrorMessage())
	}
	if _, err := c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(name), ShardToMerge: aws.String("shardId-000000000001"), AdjacentShardToMerge: aws.String("shardId-000000000003")}); err != nil {
		t.Fatalf("MergeShards: %v", err)
	}
	put("d")

	// Lineage as ListShards shows it.
	shards := listAllShards(t, c, name)
	if len(shards) != 6 {
		t.Fatalf("ListShards = %d shards, want 6", len(shards))
	}
	want := []struct {
		parent, adjacent string
		open             bool
	}{
		{"", "", false},
		{"shardId-000000000000", "", false},
		{"shardId-000000000000", "", false},
		{"shardId-000000000002", "", false},
		{"shardId-000000000002", "", true},
		{"shardId-000000000001", "shardId-000000000003", true},
	}
	for i, sh := range shards {
		w := want[i]
		open := sh.SequenceNumberRange.EndingSequenceNumber == nil
		if aws.ToString(sh.ParentShardId) != w.parent || aws.ToString(sh.AdjacentParentShardId) != w.adjacent || open != w.open {
			t.Errorf("%s: parent %q adjacent %q open %v, want %+v", aws.ToString(sh.ShardId), aws.ToString(sh.ParentShardId), aws.ToString(sh.AdjacentParentShardId), open, w)
		}
	}
	if shards[5].HashKeyRange.StartingHashKey == nil || aws.ToString(shards[5].HashKeyRange.StartingHashKey) != "0" || aws.ToString(shards[5].HashKeyRange.EndingHashKey) != new(big.Int).Sub(q3, big.NewInt(1)).String() {
		t.Errorf("merged shard's range = %v..%v", aws.ToString(shards[5].HashKeyRange.StartingHashKey), aws.ToString(shards[5].HashKeyRange.EndingHashKey))
	}
	open, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name), ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}})
	if err != nil || len(open.Shards) != 2 {
		t.Fatalf("ListShards AT_LATEST = %d shards, %v; want 2", len(open.Shards), err)
	}

	// Read parents before children, following ChildShards: every record,
	// each key in order.
	last := map[string]int{}
	total := 0
	for _, r := range readLineage(t, c, name, shards) {
		parts := strings.Split(string(r.Data), "/")
		n, _ := strconv.Atoi(parts[1])
		if p, ok := last[parts[0]]; ok && n != p+1 {
			t.Fatalf("key %s: record %d read after %d", parts[0], n, p)
		} else if !ok && n != 0 {
			t.Fatalf("key %s: first record read is %d", parts[0], n)
		}
		last[parts[0]] = n
		total++
	}
	if total != 40 {
		t.Fatalf("read %d records through the lineage, want 40", total)
	}
}

func TestReshard_OnDemandStreamRefused(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	name := streamName(t)
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, name)
	_, err := c.SplitShard(t.Context(), &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("5")})
	wantError(t, err, "ValidationException")
}

// TestReshard_ClusterSplitWhileOtherServerWrites reshards through one
// server while another, over the same JetStream cluster, writes numbered
// records for many keys: nothing acknowledged is lost, and reading parents
// before children gives each key's records in order. A record the server
// reports failed (three servers on two cores can time an append out) was
// not acknowledged: it may or may not be stored, as on Kinesis.
func TestReshard_ClusterSplitWhileOtherServerWrites(t *testing.T) {
	a, b := startClusterPair(t)
	ca, cb := a.Client(), b.Client()
	ctx := t.Context()
	name := "resharded"
	createStream(t, ca, name, 2)
	waitActive(t, cb, name)

	var (
		mu     sync.Mutex
		acked  = map[string]bool{}
		failed = map[string]bool{}
		stop   atomic.Bool
		puts   atomic.Int64
		wg     sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			next := map[string]int{}
			for !stop.Load() {
				var in []types.PutRecordsRequestEntry
				for k := range 8 {
					key := fmt.Sprintf("w%d-k%d", w, k)
					in = append(in, types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: fmt.Appendf(nil, "%s/%d", key, next[key])})
					next[key]++
				}
				out, err := cb.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: in})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for i, r := range out.Records {
					if r.ErrorCode != nil {
						t.Logf("record %s failed: %s", in[i].Data, aws.ToString(r.ErrorMessage))
						failed[string(in[i].Data)] = true
						continue
					}
					acked[string(in[i].Data)] = true
				}
				mu.Unlock()
				puts.Add(1)
			}
		})
	}
	waitPuts := func(n int64) {
		for puts.Load() < n && !t.Failed() {
			time.Sleep(time.Millisecond)
		}
	}
	waitPuts(10)
	quarter := new(big.Int).Lsh(big.NewInt(1), 126)
	if _, err := ca.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(quarter.String())}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	waitPuts(puts.Load() + 10)
	if _, err := ca.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(name), ShardToMerge: aws.String("shardId-000000000003"), AdjacentShardToMerge: aws.String("shardId-000000000001")}); err != nil {
		t.Fatalf("MergeShards: %v", err)
	}
	waitPuts(puts.Load() + 10)
	stop.Store(true)
	wg.Wait()

	last := map[string]int{}
	for _, r := range readLineage(t, ca, name, listAllShards(t, ca, name)) {
		key, n, _ := strings.Cut(string(r.Data), "/")
		num, _ := strconv.Atoi(n)
		if p, ok := last[key]; ok && num <= p {
			t.Fatalf("key %s: record %d read after %d", key, num, p)
		}
		last[key] = num
		if !acked[string(r.Data)] && !failed[string(r.Data)] {
			t.Errorf("record %s read but never written", r.Data)
		}
		delete(acked, string(r.Data))
	}
	if len(acked) != 0 {
		t.Fatalf("%d acknowledged records were not read back", len(acked))
	}
	if len(failed) > 0 {
		t.Logf("%d records failed and were not acknowledged", len(failed))
	}
}
