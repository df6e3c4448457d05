//go:build cgo

package duckdb

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/flow"
)

// benchRows is batch n of a stream of new results: size rows of one window,
// keyed by page, so that every batch inserts rows the table does not have.
func benchRows(n, size int) []flow.Row {
	rows := make([]flow.Row, size)
	w := flow.Window{Start: t0.Add(time.Duration(n) * time.Minute), End: t0.Add(time.Duration(n+1) * time.Minute)}
	for i := range rows {
		rows[i] = flow.Row{
			Window: w,
			Keys:   []any{int64(1), fmt.Sprintf("/page/%d", i)},
			Values: []any{int64(n*size + i), float64(i) / 3},
			Final:  true,
		}
	}
	return rows
}

// runWrites writes b.N batches of size rows and reports rows/s and the
// latency percentiles of one Write.
func runWrites(b *testing.B, s *Sink, size int) {
	tb := counterTable()
	if err := s.Open(b.Context(), tb); err != nil {
		b.Fatal(err)
	}
	batches := make([][]flow.Row, b.N)
	for i := range batches {
		batches[i] = benchRows(i, size)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := s.Write(b.Context(), tb, batches[i]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, lat, size)
}

func reportLatency(b *testing.B, lat []time.Duration, size int) {
	var total time.Duration
	for _, d := range lat {
		total += d
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat)*size)/total.Seconds(), "rows/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op") // the figures above say it better
}

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
				runWrites(b, s, size)
			})
		}
	}
}

// BenchmarkSink_Write_LargeTable writes batches of 100 rows into a file that
// already holds a million rows: what attaching and checkpointing a file per
// write costs as it grows.
func BenchmarkSink_Write_LargeTable(b *testing.B) {
	path := filepath.Join(b.TempDir(), "r.duckdb")
	tb := counterTable()
	fill := newSink(b, path, WithExclusive())
	if err := fill.Open(b.Context(), tb); err != nil {
		b.Fatal(err)
	}
	const windows, perWindow = 100, 10_000
	for n := range windows {
		if err := fill.Write(b.Context(), tb, benchRows(-1-n, perWindow)); err != nil {
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
			runWrites(b, s, 100)
		})
	}
}
