package postgres

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/flow/sink/warehousetest"
)

// BenchmarkSink_Write writes batches of 1, 100 and 1,000 new rows. Run it
// against a server with fsync on (.ci/start-postgres without --fast) for
// durable figures.
func BenchmarkSink_Write(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s, _ := newSink(b)
			warehousetest.BenchWrites(b, s, size)
		})
	}
}

// BenchmarkUpsertMethods compares the ways to upsert a batch.
func BenchmarkUpsertMethods(b *testing.B) {
	for _, m := range methods[1:] {
		for _, size := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/batch=%d", m.name, size), func(b *testing.B) {
				s, _ := newSink(b)
				s.o.method = m.m
				warehousetest.BenchWrites(b, s, size)
			})
		}
	}
}
