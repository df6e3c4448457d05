package postgres

import (
	"fmt"
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

// BenchmarkSink_Write writes batches of 1, 100 and 1,000 new rows. Run it
// against a server with fsync on (.ci/start-postgres without --fast) for
// durable figures.
func BenchmarkSink_Write(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s, _ := newSink(b)
			runWrites(b, s, size)
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
				runWrites(b, s, size)
			})
		}
	}
}
