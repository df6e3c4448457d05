package producer_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// orderedPut puts n records of about 200 bytes under keys distinct keys,
// as `sluice put --aggregate --key-from-line` does: one goroutine,
// PutRecordAsync in input order. Each record's data is "key-K #i pad",
// where i counts the records of key K.
func orderedPut(t *testing.T, p *producer.Producer, n, keys int) map[string]producer.Result {
	t.Helper()
	ctx := testContext(t)
	pad := bytes.Repeat([]byte("x"), 180)
	futures := make([]*producer.Future, n)
	data := make([]string, n)
	count := make([]int, keys)
	for i := range n {
		k := i % keys
		data[i] = fmt.Sprintf("key-%d #%d %s", k, count[k], pad)
		count[k]++
		f, err := p.PutRecordAsync(ctx, producer.Record{PartitionKey: fmt.Sprintf("key-%d", k), Data: []byte(data[i])})
		if err != nil {
			t.Fatal(err)
		}
		futures[i] = f
	}
	results := make(map[string]producer.Result, n)
	for i, f := range futures {
		res, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		results[data[i]] = res
	}
	return results
}

// outOfOrder counts, over the records read in stream order per shard, those
// whose per-key counter is not one more than the key's previous record's.
func outOfOrder(t *testing.T, datas []string) int {
	t.Helper()
	last := map[string]int{}
	bad := 0
	for _, d := range datas {
		var key string
		var i int
		if _, err := fmt.Sscanf(d, "%s #%d", &key, &i); err != nil {
			t.Fatalf("record %q: %v", d, err)
		}
		prev, ok := last[key]
		if !ok {
			prev = -1
		}
		if i != prev+1 {
			bad++
		}
		last[key] = i
	}
	return bad
}

// concurrencyClient counts how many PutRecords calls are in flight at
// once, the most it saw, and the calls that held more than one entry of a
// shard's hash range; it delays each call a moment so that calls overlap.
type concurrencyClient struct {
	*kinesis.Client
	inflight, most atomic.Int64
}

func (c *concurrencyClient) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	n := c.inflight.Add(1)
	defer c.inflight.Add(-1)
	for {
		m := c.most.Load()
		if n <= m || c.most.CompareAndSwap(m, n) {
			break
		}
	}
	return c.Client.PutRecords(ctx, in, optFns...)
}

// TestProducer_KeepsEachShardInOrder checks the KPL's promise, the
// producer's default: without retries, a shard's records are stored in the
// order they were put, aggregates and requests alike, while several
// requests (to different shards) are in flight at once. (Issue 14 found
// 1,555 and 2,102 of 5,000 records out of their key's order with the
// producer of that time: a shard's aggregates went out in concurrent
// requests.)
func TestProducer_KeepsEachShardInOrder(t *testing.T) {
	ctx := testContext(t)
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 4)
	var m countingMetrics
	client := &concurrencyClient{Client: srv.Kinesis()}
	// Small aggregates and requests: many of each, so that a shard has
	// several aggregates buffered while its last request is out.
	p, err := producer.New(client, "s", producer.WithMetrics(&m), producer.WithAggregationMaxSize(4<<10), producer.WithBatchCount(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	results := orderedPut(t, p, 5000, 16)
	stored := readAll(ctx, t, srv.Kinesis(), "s")
	checkStored(t, stored, results)
	datas := make([]string, len(stored))
	for i, s := range stored {
		datas[i] = string(s.Data)
	}
	if n := outOfOrder(t, datas); n > 0 {
		t.Errorf("%d of %d records out of their key's order", n, len(datas))
	}
	if r := m.retries.Load(); r != 0 {
		t.Logf("%d records were retried: order may then break", r)
	}
	if most := client.most.Load(); most < 2 {
		t.Errorf("at most %d request in flight: the test needs several at once", most)
	}
	t.Logf("%d requests, at most %d in flight at once", m.requests.Load(), client.most.Load())
}
