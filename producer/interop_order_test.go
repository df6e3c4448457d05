package producer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// aggregateMagic starts every KPL aggregate.
var aggregateMagic = []byte{0xf3, 0x89, 0x9a, 0xc2}

// TestInterop_awsKinesisAggReadsOrderedAggregates is the cross-check of
// issue 14: `sluice put --aggregate --key-from-line` of 5,000 lines (16
// keys, about 200 bytes each) into 4 shards, read back with the npm
// package aws-kinesis-agg. Every record must arrive once and every key's
// records in the order they were put, with several aggregates per shard
// and several requests in flight at once.
func TestInterop_awsKinesisAggReadsOrderedAggregates(t *testing.T) {
	requireKinesisAgg(t)
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 4)
	client := &concurrencyClient{Client: srv.Kinesis()}
	p, err := producer.New(client, "s", producer.WithAggregationMaxSize(8<<10), producer.WithBatchCount(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	results := orderedPut(t, p, 5000, 16)
	if most := client.most.Load(); most < 2 {
		t.Errorf("at most %d request in flight: the check needs several at once", most)
	}

	type nodeRecord struct {
		Data           string `json:"data"`
		PartitionKey   string `json:"partitionKey"`
		SequenceNumber string `json:"sequenceNumber"`
	}
	var raw []nodeRecord
	for shard, recs := range readRawByShard(ctx, t, srv.Kinesis(), "s") {
		aggs := 0
		for _, r := range recs {
			if bytes.HasPrefix(r.Data, aggregateMagic) {
				aggs++
			}
			raw = append(raw, nodeRecord{base64.StdEncoding.EncodeToString(r.Data), *r.PartitionKey, *r.SequenceNumber})
		}
		if aggs < 2 {
			t.Errorf("%s holds %d aggregates, the check needs several per shard", shard, aggs)
		}
	}
	var users []struct {
		PartitionKey      string `json:"partitionKey"`
		SequenceNumber    string `json:"sequenceNumber"`
		SubSequenceNumber int64  `json:"subSequenceNumber"`
		Data              []byte `json:"data"`
	}
	kinesisAgg(t, "deaggregate", raw, &users)
	seen := map[string]int{}
	datas := make([]string, len(users))
	for i, u := range users {
		d := string(u.Data)
		datas[i] = d
		seen[d]++
		if res, ok := results[d]; !ok {
			t.Errorf("aws-kinesis-agg found unknown data %.20q", d)
		} else if res.SequenceNumber != u.SequenceNumber || res.SubSequenceNumber != u.SubSequenceNumber {
			t.Errorf("record %.20q: aws-kinesis-agg read %s/%d, producer said %s/%d", d, u.SequenceNumber, u.SubSequenceNumber, res.SequenceNumber, res.SubSequenceNumber)
		}
	}
	for d := range results {
		if seen[d] != 1 {
			t.Errorf("record %.20q read %d times, want once", d, seen[d])
		}
	}
	if n := outOfOrder(t, datas); n > 0 {
		t.Errorf("aws-kinesis-agg read %d of %d records out of their key's order", n, len(datas))
	}
}

// TestInterop_deaggregateReadsAwsKinesisAggPerShard is the other
// direction: aws-kinesis-agg aggregates records meant for each of 4
// shards (their explicit hash keys in the shard's range), several
// aggregates per shard, put by 4 concurrent writers; the deaggregate
// package must read every user record once, in order, with its
// sub-sequence number.
func TestInterop_deaggregateReadsAwsKinesisAggPerShard(t *testing.T) {
	requireKinesisAgg(t)
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 4)
	shards, err := srv.Kinesis().ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	type userRecord struct {
		PartitionKey    string `json:"partitionKey"`
		ExplicitHashKey string `json:"explicitHashKey,omitempty"`
		Data            []byte `json:"data"`
	}
	const perGroup, groupsPerShard = 50, 3
	var groups [][]userRecord
	var want []string // in put order per shard
	for si, sh := range shards.Shards {
		start, _ := new(big.Int).SetString(*sh.HashKeyRange.StartingHashKey, 10)
		for g := range groupsPerShard {
			var group []userRecord
			for i := range perGroup {
				n := g*perGroup + i
				ehk := new(big.Int).Add(start, big.NewInt(int64(n))).String()
				d := fmt.Sprintf("shard-%d #%d", si, n)
				group = append(group, userRecord{PartitionKey: fmt.Sprintf("k-%d-%d", si, n%7), ExplicitHashKey: ehk, Data: []byte(d)})
				want = append(want, d)
			}
			groups = append(groups, group)
		}
	}
	var encoded [][]struct {
		PartitionKey    string `json:"partitionKey"`
		ExplicitHashKey string `json:"explicitHashKey"`
		Data            []byte `json:"data"`
	}
	kinesisAgg(t, "aggregate-groups", groups, &encoded)
	if len(encoded) != len(groups) {
		t.Fatalf("aws-kinesis-agg returned %d groups, want %d", len(encoded), len(groups))
	}
	// One writer per shard, all at once; each puts its shard's aggregates
	// one request at a time, in order.
	var wg sync.WaitGroup
	errs := make(chan error, len(shards.Shards))
	for si := range shards.Shards {
		wg.Go(func() {
			for g := range groupsPerShard {
				var entries []types.PutRecordsRequestEntry
				for _, e := range encoded[si*groupsPerShard+g] {
					// aws-kinesis-agg gives the outer record no explicit
					// hash key; route it to the shard its records are for.
					ehk := e.ExplicitHashKey
					if ehk == "" {
						ehk = groups[si*groupsPerShard+g][0].ExplicitHashKey
					}
					entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(e.PartitionKey), ExplicitHashKey: aws.String(ehk), Data: e.Data})
				}
				out, err := srv.Kinesis().PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
				if err == nil && aws.ToInt32(out.FailedRecordCount) > 0 {
					err = fmt.Errorf("%d records failed", aws.ToInt32(out.FailedRecordCount))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := readAll(ctx, t, srv.Kinesis(), "s")
	if len(got) != len(want) {
		t.Fatalf("deaggregate read %d user records, want %d", len(got), len(want))
	}
	sub := map[string]int64{} // the next sub-sequence number per aggregate
	for i, g := range got {
		if string(g.Data) != want[i] {
			t.Fatalf("user record %d is %q, want %q", i, g.Data, want[i])
		}
		if !g.Aggregated || g.SubSequenceNumber != sub[g.SequenceNumber] {
			t.Errorf("user record %q: aggregated %v, sub-sequence %d, want %d", g.Data, g.Aggregated, g.SubSequenceNumber, sub[g.SequenceNumber])
		}
		sub[g.SequenceNumber]++
	}
	if len(sub) < 2*len(shards.Shards) {
		t.Errorf("%d aggregates in all, want several per shard", len(sub))
	}
}

// readRawByShard reads every record of every shard without deaggregating.
func readRawByShard(ctx context.Context, t *testing.T, c *kinesis.Client, stream string) map[string][]types.Record {
	t.Helper()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]types.Record{}
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			res, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			out[*sh.ShardId] = append(out[*sh.ShardId], res.Records...)
			iter = res.NextShardIterator
			if len(res.Records) == 0 && aws.ToInt64(res.MillisBehindLatest) == 0 {
				break
			}
		}
	}
	return out
}
