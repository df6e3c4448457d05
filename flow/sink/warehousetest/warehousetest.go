// Package warehousetest holds what the tests and benchmarks of the warehouse
// sinks (flow/sink/duckdb, flow/sink/postgres) share: result tables and rows
// whose stored values are known, a check of rows read back, and a benchmark
// loop that reports rows upserted per second and the latency of one Write.
package warehousetest

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/flow"
)

// T0 is the start of window 0.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Window is the i-th one-minute window from T0.
func Window(i int) flow.Window {
	return flow.Window{Start: T0.Add(time.Duration(i) * time.Minute), End: T0.Add(time.Duration(i+1) * time.Minute)}
}

// CounterTable is a result table "views" of pipeline "clicks", keyed by
// (writer int, page string), with values views (int) and bytes (float).
func CounterTable() flow.Table {
	return flow.Table{
		Pipeline: "clicks",
		Name:     "views",
		Keys:     []flow.Column{{Name: "writer", Type: flow.Int}, {Name: "page", Type: flow.String}},
		Values:   []flow.Column{{Name: "views", Type: flow.Int}, {Name: "bytes", Type: flow.Float}},
	}
}

// CounterRows are 30 rows of CounterTable, pages 0–9 in windows 0–2 of
// writer w, written in round i: views = i*1000 + page, bytes = i + 0.5,
// final in odd rounds. Rounds of one writer have the same identities.
func CounterRows(w, i int) []flow.Row {
	var rows []flow.Row
	for win := range 3 {
		for p := range 10 {
			rows = append(rows, flow.Row{
				Window: Window(win),
				Keys:   []any{int64(w), fmt.Sprintf("/page/%d", p)},
				Values: []any{int64(i*1000 + p), float64(i) + 0.5},
				Final:  i%2 == 1,
			})
		}
	}
	return rows
}

// WriteConcurrently runs one writer per sink at once, writer w writing
// CounterRows(min(w, 1), i) for rounds i of 0..rounds-1: with the sinks
// a, a, b, writers 0 and 1 share their rows' identities through one sink
// and the last round writes the same values for both. Any error fails t.
func WriteConcurrently(t testing.TB, tb flow.Table, rounds int, sinks ...flow.Sink) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(sinks))
	for w, s := range sinks {
		wg.Go(func() {
			for i := range rounds {
				if err := s.Write(t.Context(), tb, CounterRows(min(w, 1), i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// BatchRows is batch n of a stream of new results for CounterTable: size
// rows of window n, so that every batch inserts rows the table lacks.
func BatchRows(n, size int) []flow.Row {
	rows := make([]flow.Row, size)
	for i := range rows {
		rows[i] = flow.Row{
			Window: Window(n),
			Keys:   []any{int64(1), fmt.Sprintf("/page/%d", i)},
			Values: []any{int64(n*size + i), float64(i) / 3},
			Final:  true,
		}
	}
	return rows
}

// TypesTable has a key and a value column of every column type.
func TypesTable() flow.Table {
	return flow.Table{
		Pipeline: "types",
		Name:     "every_type",
		Keys: []flow.Column{{Name: "k_int", Type: flow.Int}, {Name: "k_float", Type: flow.Float},
			{Name: "k_string", Type: flow.String}, {Name: "k_bool", Type: flow.Bool}, {Name: "k_ts", Type: flow.Timestamp}},
		Values: []flow.Column{{Name: "v_int", Type: flow.Int}, {Name: "v_float", Type: flow.Float},
			{Name: "v_string", Type: flow.String}, {Name: "v_bool", Type: flow.Bool}, {Name: "v_ts", Type: flow.Timestamp}},
	}
}

var typesTS = time.Date(2026, 2, 28, 23, 59, 59, 999999000, time.FixedZone("X", 3600))

// TypesRows are rows of TypesTable with extreme values, nil values, other
// Go integer and float types, quotes and non-ASCII text, and timestamps in
// another zone.
func TypesRows() []flow.Row {
	return []flow.Row{
		{Window: Window(0), Keys: []any{int64(math.MinInt64), -1.5, "ünïcode 'quoted' \"x\"", true, typesTS},
			Values: []any{int64(math.MaxInt64), math.Inf(1), "", false, typesTS}, Final: true},
		{Window: Window(0), Keys: []any{int64(0), 0.0, "", false, time.Unix(0, 0)},
			Values: []any{nil, nil, nil, nil, nil}},
		{Window: Window(1), Keys: []any{7, float32(2.5), "a", false, typesTS},
			Values: []any{int32(-3), 1e-300, "b", true, time.Unix(0, 0)}},
	}
}

// TypesWant is every column of TypesRows as stored, ordered by window_start
// and k_int, for a sink whose clock read now.
func TypesWant(now time.Time) [][]any {
	epoch := time.Unix(0, 0)
	updated := now.Truncate(time.Microsecond)
	return [][]any{
		{"types", Window(0).Start, Window(0).End, int64(math.MinInt64), -1.5, "ünïcode 'quoted' \"x\"", true, typesTS,
			int64(math.MaxInt64), math.Inf(1), "", false, typesTS, true, updated},
		{"types", Window(0).Start, Window(0).End, int64(0), 0.0, "", false, epoch,
			nil, nil, nil, nil, nil, false, updated},
		{"types", Window(1).Start, Window(1).End, int64(7), 2.5, "a", false, typesTS,
			int64(-3), 1e-300, "b", true, epoch, false, updated},
	}
}

// CheckRows compares rows read back with want: times by instant, the rest
// by ==.
func CheckRows(t testing.TB, got, want [][]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("row %d: %d columns, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			g, w := got[i][j], want[i][j]
			if gt, ok := g.(time.Time); ok {
				if wt, ok := w.(time.Time); !ok || !gt.Equal(wt) {
					t.Errorf("row %d column %d: %v, want %v", i, j, g, w)
				}
				continue
			}
			if g != w {
				t.Errorf("row %d column %d: %#v, want %#v", i, j, g, w)
			}
		}
	}
}

// BenchWrites opens CounterTable on s, writes b.N batches of size new rows
// one after another, and reports rows/s and the p50 and p99 latency of one
// Write.
func BenchWrites(b *testing.B, s flow.Sink, size int) {
	tb := CounterTable()
	if err := s.Open(b.Context(), tb); err != nil {
		b.Fatal(err)
	}
	batches := make([][]flow.Row, b.N)
	for i := range batches {
		batches[i] = BatchRows(i, size)
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
