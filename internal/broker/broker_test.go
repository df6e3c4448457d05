package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

func readAll(t *testing.T, b *Broker, stream, shard string) []kinesis.Record {
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
		if len(out.Records) == 0 {
			return all
		}
		it = out.NextShardIterator
	}
}

func TestBroker_RetentionExpiresRecords(t *testing.T) {
	// One retention "hour" of 50ms makes the minimum retention (24 hours)
	// last 1.2s.
	b := openBroker(t, Config{RetentionHour: 50 * time.Millisecond})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte("old")}}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b, "s", kinesis.ShardID(0)); len(got) != 1 {
		t.Fatalf("read %d records before expiry, want 1", len(got))
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(readAll(t, b, "s", kinesis.ShardID(0))) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("record did not expire after its retention period")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Raising retention keeps later records past the old period.
	if err := b.SetRetention(ctx, ref, 240, true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte("new")}}); err != nil {
		t.Fatal(err)
	}
	// A probe keeps the old period: once its record, written after "new",
	// has expired, "new" would have too without the raise. Waiting for it
	// rather than for a fixed time holds however slow the machine is.
	probe := kinesis.StreamRef{Name: "probe"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "probe", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutRecords(ctx, probe, []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte("probe")}}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for len(readAll(t, b, "probe", kinesis.ShardID(0))) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the probe's record did not expire after its retention period")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := readAll(t, b, "s", kinesis.ShardID(0)); len(got) != 1 || string(got[0].Data) != "new" {
		t.Fatalf("after raising retention read %d records, want the new one", len(got))
	}
}

func TestBroker_ConcurrentPutsKeepShardOrder(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	const writers, puts = 8, 20
	var mu sync.Mutex
	acked := map[string]string{} // sequence number -> data
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range puts {
				data := fmt.Sprintf("w%d-%d", w, i)
				res, err := b.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte(data)}, {PartitionKey: "k", Data: []byte(data + "b")}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for j, r := range res {
					acked[r.SequenceNumber] = data + map[int]string{0: "", 1: "b"}[j]
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got := readAll(t, b, "s", kinesis.ShardID(0))
	if len(got) != writers*puts*2 || len(acked) != writers*puts*2 {
		t.Fatalf("read %d records, acknowledged %d distinct sequence numbers, want %d", len(got), len(acked), writers*puts*2)
	}
	for i, r := range got {
		if acked[r.SequenceNumber] != string(r.Data) {
			t.Errorf("record %s holds %q, acknowledged as %q", r.SequenceNumber, r.Data, acked[r.SequenceNumber])
		}
		if i > 0 && got[i-1].SequenceNumber >= r.SequenceNumber {
			t.Errorf("record %d is out of order", i)
		}
	}
}

func TestBroker_TwoBrokersShareOneStore(t *testing.T) {
	ctx := context.Background()
	brokers := openBrokers(t, 2, Config{})
	if err := brokers[0].CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	// Concurrent metadata changes through both brokers all land: writes
	// are compare-and-swap and retried on conflict.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			tag := map[string]string{fmt.Sprintf("k%d", i): "v"}
			if err := brokers[i%2].AddTags(ctx, kinesis.StreamRef{Name: "s"}, tag); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	tags, err := brokers[1].ListTags(ctx, kinesis.StreamRef{Name: "s"})
	if err != nil || len(tags) != 20 {
		t.Fatalf("ListTags = %d tags, %v; want 20", len(tags), err)
	}
	// An iterator issued by one broker works on the other.
	if _, err := brokers[0].PutRecords(ctx, kinesis.StreamRef{Name: "s"}, []kinesis.PutRecordEntry{{PartitionKey: "a", ExplicitHashKey: "0", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	it, err := brokers[0].GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: kinesis.StreamRef{Name: "s"}, ShardID: kinesis.ShardID(0), Type: kinesis.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := brokers[1].GetRecords(ctx, it, 10)
	if err != nil || len(out.Records) != 1 {
		t.Fatalf("GetRecords through the other broker = %d records, %v", len(out.Records), err)
	}
	// A stream deleted through one broker is gone for the other.
	if err := brokers[1].DeleteStream(ctx, kinesis.StreamRef{Name: "s"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := brokers[0].DescribeStream(ctx, kinesis.StreamRef{Name: "s"}); kinesis.CodeOf(err) != kinesis.ErrResourceNotFound {
		t.Fatalf("DescribeStream after delete: %v", err)
	}
}

func TestBroker_IteratorExpires(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := openBroker(t, Config{Now: clock})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	it, err := b.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: kinesis.StreamRef{Name: "s"}, ShardID: kinesis.ShardID(0), Type: kinesis.Latest})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(kinesis.IteratorLifetime + time.Second)
	mu.Unlock()
	if _, err := b.GetRecords(ctx, it, 10); kinesis.CodeOf(err) != kinesis.ErrExpiredIterator {
		t.Fatalf("GetRecords with a 5-minute-old iterator: %v, want ExpiredIteratorException", err)
	}
}
