package broker

import (
	"context"
	"fmt"
	"testing"

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
