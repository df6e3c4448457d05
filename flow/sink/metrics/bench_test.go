package metrics_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/metrics"
)

// BenchmarkSink_Write measures Write of 1,000 rows (1,000 keys), each
// window after the last.
func BenchmarkSink_Write(b *testing.B) {
	s := metrics.New(prometheus.NewRegistry())
	defer s.Close()
	ctx := context.Background()
	if err := s.Open(ctx, views); err != nil {
		b.Fatal(err)
	}
	rows := make([]flow.Row, 1000)
	w := 0
	for b.Loop() {
		for i := range rows {
			rows[i] = row(w, fmt.Sprint("/page-", i), int64(i), 1.5)
		}
		w++
		if err := s.Write(ctx, views, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
}
