package producer_test

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// TestProducer_reshard splits a shard and merges two while writers put
// records: every record is acknowledged and found where its result says,
// by a consumer that filters aggregates by hash range as the KCL does.
func TestProducer_reshard(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) {
			ctx := testContext(t)
			srv := sluicetest.Start(t)
			srv.CreateStream(ctx, "s", 2)
			opts := []producer.Option{producer.WithLinger(20 * time.Millisecond), producer.WithShardRateLimit(0, 0)}
			if ordered {
				opts = append(opts, producer.WithOrdering())
			}
			p := newProducer(t, srv, "s", opts...)

			// Writers put until both reshards are done.
			const writers, minPerWriter = 4, 500
			stop := make(chan struct{})
			counts := make([]int, writers)
			var mu sync.Mutex
			results := map[string]producer.Result{}
			var wg sync.WaitGroup
			errc := make(chan error, writers)
			for w := range writers {
				wg.Go(func() {
					var futures []*producer.Future
					for i := 0; ; i++ {
						if i >= minPerWriter && isClosed(stop) {
							counts[w] = i
							break
						}
						f, err := p.PutAsync(ctx, fmt.Sprintf("key-%d-%d", w, i%37), []byte(fmt.Sprintf("w%d-%06d", w, i)))
						if err != nil {
							errc <- err
							return
						}
						futures = append(futures, f)
						if i%50 == 0 {
							time.Sleep(2 * time.Millisecond) // spread the load over the reshards
						}
					}
					for i, f := range futures {
						res, err := f.Wait(ctx)
						if err != nil {
							errc <- fmt.Errorf("record w%d-%06d: %w", w, i, err)
							return
						}
						mu.Lock()
						results[fmt.Sprintf("w%d-%06d", w, i)] = res
						mu.Unlock()
					}
				})
			}

			c := srv.Kinesis()
			shards := openShards(ctx, t, c, "s")
			split := shards[0]
			start, _ := new(big.Int).SetString(*split.HashKeyRange.StartingHashKey, 10)
			end, _ := new(big.Int).SetString(*split.HashKeyRange.EndingHashKey, 10)
			mid := new(big.Int).Rsh(new(big.Int).Add(start, end), 1)
			time.Sleep(50 * time.Millisecond)
			if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{
				StreamName: aws.String("s"), ShardToSplit: split.ShardId, NewStartingHashKey: aws.String(mid.String()),
			}); err != nil {
				t.Fatalf("split: %v", err)
			}
			waitActive(ctx, t, c, "s")
			// Merge the split's upper child with the other original shard.
			shards = openShards(ctx, t, c, "s")
			if len(shards) != 3 {
				t.Fatalf("%d open shards after the split, want 3", len(shards))
			}
			if _, err := c.MergeShards(ctx, &kinesis.MergeShardsInput{
				StreamName: aws.String("s"), ShardToMerge: shards[1].ShardId, AdjacentShardToMerge: shards[2].ShardId,
			}); err != nil {
				t.Fatalf("merge: %v", err)
			}
			waitActive(ctx, t, c, "s")
			time.Sleep(100 * time.Millisecond)
			close(stop)

			wg.Wait()
			close(errc)
			for err := range errc {
				t.Error(err)
			}
			if t.Failed() {
				return
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			all := readAll(ctx, t, c, "s")
			checkStoredAtLeastOnce(t, all, results, true)
			if ordered {
				checkKeyOrder(t, all, counts)
				t.Logf("%d records put in order", len(results))
			}
		})
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// openShards lists the open shards, by starting hash key.
func openShards(ctx context.Context, t *testing.T, c *kinesis.Client, stream string) []types.Shard {
	t.Helper()
	out, err := c.ListShards(ctx, &kinesis.ListShardsInput{
		StreamName: aws.String(stream), ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest},
	})
	if err != nil {
		t.Fatal(err)
	}
	shards := out.Shards
	key := func(s types.Shard) *big.Int {
		k, _ := new(big.Int).SetString(*s.HashKeyRange.StartingHashKey, 10)
		return k
	}
	for i := range shards {
		for j := i + 1; j < len(shards); j++ {
			if key(shards[j]).Cmp(key(shards[i])) < 0 {
				shards[i], shards[j] = shards[j], shards[i]
			}
		}
	}
	return shards
}

func waitActive(ctx context.Context, t *testing.T, c *kinesis.Client, stream string) {
	t.Helper()
	w := kinesis.NewStreamExistsWaiter(c, func(o *kinesis.StreamExistsWaiterOptions) { o.MinDelay, o.MaxDelay = 10*time.Millisecond, time.Second })
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)}, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// checkKeyOrder checks that each writer's records of one partition key
// were acknowledged in the order they were put: sequence numbers grow
// along a shard, and a key's later records are on the same shard or a
// descendant, written after the earlier ones.
func checkKeyOrder(t *testing.T, all []stored, counts []int) {
	t.Helper()
	pos := map[string]int{} // record data -> index in the read order
	for i, s := range all {
		if _, ok := pos[string(s.Data)]; !ok {
			pos[string(s.Data)] = i // the first copy, should there be several
		}
	}
	// The read order lists shards in ListShards order, parents before
	// children, and each shard in sequence order; so within a key, put
	// order must be read order.
	last := map[string]int{}
	lastData := map[string]string{}
	for w, n := range counts {
		for i := range n {
			d := fmt.Sprintf("w%d-%06d", w, i)
			key := fmt.Sprintf("key-%d-%d", w, i%37)
			p, ok := pos[d]
			if !ok {
				continue // reported by checkStored
			}
			if prev, ok := last[key]; ok && p < prev {
				t.Errorf("key %s: %s was stored before %s, put earlier", key, d, lastData[key])
			}
			last[key], lastData[key] = p, d
		}
	}
}
