package producer

import (
	"context"
	"crypto/md5"
	"fmt"
	"math/big"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// BenchmarkAggregate builds and encodes aggregates of 500 records of 100
// bytes with distinct partition keys, as the dispatcher does for each.
func BenchmarkAggregate(b *testing.B) {
	data := make([]byte, 100)
	users := make([]*userRecord, 500)
	for i := range users {
		key := strconv.Itoa(i)
		users[i] = &userRecord{key: key, data: data, size: len(data) + len(key), hash: md5.Sum([]byte(key))}
	}
	b.ReportAllocs()
	for b.Loop() {
		a := newAggregate()
		a.maxSize = DefaultAggregationMaxSize
		for _, u := range users {
			a.add(u, time.Second)
		}
		if out := a.encode(); len(out) != a.size {
			b.Fatalf("encoded %d bytes, want %d", len(out), a.size)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(users)), "ns/record")
}

// BenchmarkProducerWork is the producer's own work per record: PutAsync,
// aggregation, request building and completing the futures, against a
// client that acknowledges every record in memory.
func BenchmarkProducerWork(b *testing.B) {
	for _, aggregate := range []bool{true, false} {
		b.Run(fmt.Sprintf("aggregation=%v", aggregate), func(b *testing.B) {
			p, err := New(newAckClient(4), "bench", WithAggregation(aggregate), WithShardRateLimit(0, 0))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			ctx := context.Background()
			data := make([]byte, 100)
			keys := make([]string, 10000)
			for i := range keys {
				keys[i] = strconv.Itoa(i)
			}
			futures := make([]*Future, 0, len(keys))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f, err := p.PutAsync(ctx, keys[i%len(keys)], data)
				if err != nil {
					b.Fatal(err)
				}
				if futures = append(futures, f); len(futures) == cap(futures) {
					waitAll(ctx, b, p, futures)
					futures = futures[:0]
				}
			}
			waitAll(ctx, b, p, futures)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func waitAll(ctx context.Context, b *testing.B, p *Producer, futures []*Future) {
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	for _, f := range futures {
		if _, err := f.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// ackClient acknowledges every record on the shard of its hash key, with
// the stream split evenly into shards.
type ackClient struct {
	shards []types.Shard
	ends   []hashKey
	seq    atomic.Int64
}

func newAckClient(n int) *ackClient {
	c := &ackClient{}
	step := new(big.Int).Div(new(big.Int).Add(maxHashKey, big.NewInt(1)), big.NewInt(int64(n)))
	for i := range n {
		start := new(big.Int).Mul(step, big.NewInt(int64(i)))
		end := new(big.Int).Sub(new(big.Int).Add(start, step), big.NewInt(1))
		var k hashKey
		end.FillBytes(k[:])
		c.ends = append(c.ends, k)
		c.shards = append(c.shards, types.Shard{
			ShardId:             aws.String(fmt.Sprintf("shardId-%012d", i)),
			HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String(start.String()), EndingHashKey: aws.String(end.String())},
			SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("0")},
		})
	}
	return c
}

func (c *ackClient) ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	return &kinesis.ListShardsOutput{Shards: c.shards}, nil
}

func (c *ackClient) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
	for i, e := range in.Records {
		k := hashKey(md5.Sum([]byte(aws.ToString(e.PartitionKey))))
		if e.ExplicitHashKey != nil {
			k, _ = parseHashKey(*e.ExplicitHashKey)
		}
		s := 0
		for s < len(c.ends)-1 && string(k[:]) > string(c.ends[s][:]) {
			s++
		}
		out.Records[i] = types.PutRecordsResultEntry{ShardId: c.shards[s].ShardId, SequenceNumber: aws.String(strconv.FormatInt(c.seq.Add(1), 10))}
	}
	return out, nil
}
