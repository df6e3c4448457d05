//go:build cgo

package duckdb

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/flow/sink/warehousetest"
)

// BenchmarkSink_Write writes batches of 1, 100 and 1,000 new rows, with
// the file attached per write (the default) and held (WithExclusive).
func BenchmarkSink_Write(b *testing.B) {
	for _, mode := range []string{"shared", "exclusive"} {
		for _, size := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/batch=%d", mode, size), func(b *testing.B) {
				var opts []Option
				if mode == "exclusive" {
					opts = append(opts, WithExclusive())
				}
				s := newSink(b, filepath.Join(b.TempDir(), "r.duckdb"), opts...)
				warehousetest.BenchWrites(b, s, size)
			})
		}
	}
}

// BenchmarkSink_Write_LargeTable writes batches of 100 rows into a file that
// already holds a million rows: what attaching and checkpointing a file per
// write costs as it grows.
func BenchmarkSink_Write_LargeTable(b *testing.B) {
	path := filepath.Join(b.TempDir(), "r.duckdb")
	tb := warehousetest.CounterTable()
	fill := newSink(b, path, WithExclusive())
	if err := fill.Open(b.Context(), tb); err != nil {
		b.Fatal(err)
	}
	const windows, perWindow = 100, 10_000
	for n := range windows {
		if err := fill.Write(b.Context(), tb, warehousetest.BatchRows(-1-n, perWindow)); err != nil {
			b.Fatal(err)
		}
	}
	if err := fill.Close(); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"shared", "exclusive"} {
		b.Run(mode+"/batch=100", func(b *testing.B) {
			var opts []Option
			if mode == "exclusive" {
				opts = append(opts, WithExclusive())
			}
			s, err := New(b.Context(), path, opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			warehousetest.BenchWrites(b, s, 100)
		})
	}
}
