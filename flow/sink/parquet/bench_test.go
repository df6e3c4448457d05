package parquet_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/parquet"
)

func batch(n int) []flow.Row {
	rows := make([]flow.Row, n)
	for i := range rows {
		rows[i] = row(i%60, fmt.Sprint("/page-", i), int64(i))
	}
	return rows
}

// BenchmarkSink_Write measures Write of 1,000 rows: the log append and its
// fsync (buffered), and with a buffer of one row, a file written each time.
func BenchmarkSink_Write(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []parquet.Option
	}{
		{"buffered", nil},
		{"file_per_write", []parquet.Option{parquet.WithBuffer(1, 0)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := parquet.New(b.TempDir(), append(bc.opts, parquet.WithWriterID("bench"))...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if err := s.Open(ctx, views); err != nil {
				b.Fatal(err)
			}
			rows := batch(1000)
			for b.Loop() {
				if err := s.Write(ctx, views, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
