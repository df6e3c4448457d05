package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// BenchmarkEncryption runs the PutRecords and GetRecords benchmarks on a
// plain stream and on an encrypted one side by side:
//
//	go test -run '^$' -bench BenchmarkEncryption ./internal/broker/
func BenchmarkEncryption(b *testing.B) {
	modes := []struct {
		name string
		enc  bool
	}{{"plain", false}, {"kms", true}}
	for _, m := range modes {
		b.Run("PutRecords/"+m.name, func(b *testing.B) { benchPutEncrypted(b, m.enc) })
	}
	for _, m := range modes {
		b.Run("GetRecords/"+m.name, func(b *testing.B) { benchGetEncrypted(b, m.enc) })
	}
	// The cipher alone: seal and open one message of 500 records of 100
	// bytes, as PutRecords above stores per shard.
	b.Run("SealOpen", benchSealOpen)
}

func benchSealOpen(b *testing.B) {
	br := benchStream(b, 1, true)
	ctx := context.Background()
	s, err := br.stream(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	c, err := br.writeCipher(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]packedRecord, 500)
	for i := range recs {
		recs[i] = packedRecord{PartitionKey: fmt.Sprintf("pk-%d", i), Data: make([]byte, 100)}
	}
	var buf []byte
	b.ResetTimer()
	for b.Loop() {
		buf = binary.AppendUvarint(c.appendSealedHeader(buf[:0], time.Now()), uint64(len(recs)))
		buf = c.seal(appendBatchRecords(buf, recs), 1)
		b.SetBytes(int64(len(buf)))
		if _, _, err := br.openBatch(ctx, s, 1, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func benchStream(b *testing.B, shards int, enc bool) *Broker {
	br := openBroker(b, Config{})
	ctx := context.Background()
	if err := br.CreateStream(ctx, kinesis.CreateStreamInput{Name: "bench", ShardCount: shards}); err != nil {
		b.Fatal(err)
	}
	if enc {
		if err := br.StartStreamEncryption(ctx, kinesis.StreamRef{Name: "bench"}, kinesis.EncryptionKMS, "alias/aws/kinesis"); err != nil {
			b.Fatal(err)
		}
	}
	return br
}

func benchEntries() []kinesis.PutRecordEntry {
	entries := make([]kinesis.PutRecordEntry, 500)
	for i := range entries {
		entries[i] = kinesis.PutRecordEntry{PartitionKey: fmt.Sprintf("pk-%d", i), Data: make([]byte, 100)}
	}
	return entries
}

// benchPutEncrypted: PutRecords of 500 records of 100 bytes over 4 shards.
func benchPutEncrypted(b *testing.B, enc bool) {
	br := benchStream(b, 4, enc)
	ctx := context.Background()
	entries := benchEntries()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := br.PutRecords(ctx, kinesis.StreamRef{Name: "bench"}, entries)
			if err != nil {
				b.Error(err)
				return
			}
			if want := map[bool]string{true: kinesis.EncryptionKMS}[enc]; res[0].EncryptionType != want {
				b.Errorf("EncryptionType %q, want %q", res[0].EncryptionType, want)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*len(entries))/b.Elapsed().Seconds(), "records/s")
}

// benchGetEncrypted: GetRecords of 10,000 records of 100 bytes.
func benchGetEncrypted(b *testing.B, enc bool) {
	br := benchStream(b, 1, enc)
	ctx := context.Background()
	entries := benchEntries()
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
		if len(out.Records) != 10000 || (enc && out.Records[0].EncryptionType != kinesis.EncryptionKMS) {
			b.Fatalf("%d records, EncryptionType %q", len(out.Records), out.Records[0].EncryptionType)
		}
		records += len(out.Records)
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
