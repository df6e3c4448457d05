package broker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/kinesis"
)

func openBroker(tb testing.TB, cfg Config) *Broker {
	return openBrokers(tb, 1, cfg)[0]
}

// openBrokers starts n brokers over one embedded store, as n servers over
// one JetStream cluster would run.
func openBrokers(tb testing.TB, n int, cfg Config) []*Broker {
	tb.Helper()
	ctx := context.Background()
	store, err := jetstream.Open(ctx, jetstream.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	brokers := make([]*Broker, n)
	for i := range brokers {
		b, err := New(ctx, store, store, cfg)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { b.Close() })
		brokers[i] = b
	}
	return brokers
}

// BenchmarkPutRecords measures the broker and store alone, without HTTP:
// PutRecords of 500 records of 100 bytes spread over 4 shards.
func BenchmarkPutRecords(b *testing.B) {
	br := openBroker(b, Config{})
	ctx := context.Background()
	if err := br.CreateStream(ctx, kinesis.CreateStreamInput{Name: "bench", ShardCount: 4}); err != nil {
		b.Fatal(err)
	}
	entries := make([]kinesis.PutRecordEntry, 500)
	for i := range entries {
		entries[i] = kinesis.PutRecordEntry{PartitionKey: fmt.Sprintf("pk-%d", i), Data: make([]byte, 100)}
	}
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := br.PutRecords(ctx, kinesis.StreamRef{Name: "bench"}, entries); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*len(entries))/b.Elapsed().Seconds(), "records/s")
}

var benchParallelism = 2

// BenchmarkGetRecords measures reading 10,000-record batches of 100-byte
// records through the broker, without HTTP.
func BenchmarkGetRecords(b *testing.B) {
	br := openBroker(b, Config{})
	ctx := context.Background()
	if err := br.CreateStream(ctx, kinesis.CreateStreamInput{Name: "bench", ShardCount: 1}); err != nil {
		b.Fatal(err)
	}
	entries := make([]kinesis.PutRecordEntry, 500)
	for i := range entries {
		entries[i] = kinesis.PutRecordEntry{PartitionKey: fmt.Sprintf("pk-%d", i), Data: make([]byte, 100)}
	}
	for range 40 { // 20,000 records
		if _, err := br.PutRecords(ctx, kinesis.StreamRef{Name: "bench"}, entries); err != nil {
			b.Fatal(err)
		}
	}
	it, err := br.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: kinesis.StreamRef{Name: "bench"}, ShardID: kinesis.ShardID(0), Type: kinesis.TrimHorizon})
	if err != nil {
		b.Fatal(err)
	}
	records := 0
	b.ResetTimer()
	for b.Loop() {
		out, err := br.GetRecords(ctx, it, 10000)
		if err != nil {
			b.Fatal(err)
		}
		records += len(out.Records)
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkSubscribeLatency measures the broker alone (no HTTP) from
// PutRecords returning to a waiting subscription's Next returning the
// record, one record at a time: p50 and p99 in microseconds (0 when the
// record came first). "local" writes through the subscription's broker,
// so the appender wakes the feed; "other" writes through a second broker
// over the same store, so the wake-up comes through Log.WatchAppends.
func BenchmarkSubscribeLatency(b *testing.B) {
	for _, via := range []string{"local", "other"} {
		b.Run(via, func(b *testing.B) {
			bs := openBrokers(b, 2, Config{SubscriptionHeartbeat: time.Hour})
			ctx := context.Background()
			if err := bs[0].CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
				b.Fatal(err)
			}
			d, err := bs[0].RegisterStreamConsumer(ctx, kinesis.StreamARN("us-east-1", "000000000000", "s"), "c", nil)
			if err != nil {
				b.Fatal(err)
			}
			sub, err := bs[0].SubscribeToShard(ctx, kinesis.SubscribeToShardInput{ConsumerARN: d.ARN, ShardID: kinesis.ShardID(0), Start: kinesis.StartingPosition{Type: kinesis.Latest}})
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			writer := bs[0]
			if via == "other" {
				writer = bs[1]
			}
			arrived := make(chan time.Time, 1)
			go func() {
				for {
					ev, err := sub.Next(ctx)
					if err != nil {
						return
					}
					for range ev.Records {
						arrived <- time.Now()
					}
				}
			}()
			entry := []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte("0123456789abcdef")}}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				if _, err := writer.PutRecords(ctx, kinesis.StreamRef{Name: "s"}, entry); err != nil {
					b.Fatal(err)
				}
				acked := time.Now()
				select {
				case at := <-arrived:
					lat = append(lat, max(0, at.Sub(acked)))
				case <-time.After(30 * time.Second):
					b.Fatal("record did not arrive")
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			us := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))]) / float64(time.Microsecond)
			}
			b.ReportMetric(us(0.50), "p50-µs")
			b.ReportMetric(us(0.99), "p99-µs")
		})
	}
}
