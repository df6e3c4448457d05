package jetstream_test

import (
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// A packed message as the broker writes it: ~125 records of 100 bytes
// (about one PutRecords call's share for one shard).
const (
	benchRecords  = 125
	benchMsgBytes = 12 << 10
)

func benchBackend(b *testing.B) *jetstream.Backend {
	be, err := jetstream.Open(b.Context(), jetstream.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}

func benchPayload() []byte {
	p := make([]byte, benchMsgBytes)
	_, _ = rand.Read(p) // incompressible, like the storage study
	return p
}

// BenchmarkAppend: 4 logs, 4 goroutines per log, durable appends. records/s
// counts 100-byte records: 125 per 12 KiB message, 500 per 48 KiB. With
// SyncAlways every message costs one fsync per log, so on a slow disk the
// message rate is about logs/fsync latency whatever the size: bigger
// messages (the broker's per-shard batching) buy records/s.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []struct {
		name    string
		bytes   int
		records int
	}{
		{"msg=12KiB", benchMsgBytes, benchRecords},
		{"msg=48KiB", 4 * benchMsgBytes, 4 * benchRecords},
	} {
		b.Run(size.name, func(b *testing.B) { benchAppend(b, size.bytes, size.records) })
	}
}

func benchAppend(b *testing.B, msgBytes, records int) {
	const logs, perLog = 4, 4
	ctx := b.Context()
	be := benchBackend(b)
	for l := range logs {
		if err := be.CreateLog(ctx, fmt.Sprintf("bench-%d", l), kinesis.LogConfig{}); err != nil {
			b.Fatal(err)
		}
	}
	payload := make([]byte, msgBytes)
	_, _ = rand.Read(payload)
	b.SetBytes(int64(msgBytes))
	b.ResetTimer()
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	for l := range logs {
		name := fmt.Sprintf("bench-%d", l)
		for range perLog {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					if _, err := be.Append(ctx, name, payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)*float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRead: sequential reads of 80 messages (10,000 records, ~1 MiB)
// per call over a preloaded log, as GetRecords would issue them.
func BenchmarkRead(b *testing.B) {
	const preload, batch = 2000, 80
	ctx := b.Context()
	be := benchBackend(b)
	if err := be.CreateLog(ctx, "bench", kinesis.LogConfig{}); err != nil {
		b.Fatal(err)
	}
	payload := benchPayload()
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(preload)
	for range 8 {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if _, err := be.Append(ctx, "bench", payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.SetBytes(batch * benchMsgBytes)
	b.ResetTimer()
	from := uint64(1)
	for b.Loop() {
		msgs, err := be.Read(ctx, "bench", from, batch, 10<<20)
		if err != nil {
			b.Fatal(err)
		}
		if len(msgs) != batch && from+batch <= preload {
			b.Fatalf("read %d messages from %d, want %d", len(msgs), from, batch)
		}
		from += uint64(len(msgs))
		if from > preload {
			from = 1
		}
	}
	b.ReportMetric(float64(b.N)*batch*benchRecords/b.Elapsed().Seconds(), "records/s")
}
