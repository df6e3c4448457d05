package stream_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/stream"
	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// BenchmarkSink_Write measures Write of 1,000 rows into a 4-shard stream of
// an in-process Sluice, until every record is acknowledged.
func BenchmarkSink_Write(b *testing.B) {
	srv := sluicetest.Start(b)
	ctx := context.Background()
	srv.CreateStream(ctx, "out", 4)
	s, err := stream.New(srv.Kinesis(), "out", stream.WithProducerOptions(producer.WithShardRateLimit(0, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	table := flow.Table{Pipeline: "clicks", Name: "views", Keys: []flow.Column{{Name: "page", Type: flow.String}},
		Values: []flow.Column{{Name: "views", Type: flow.Int}, {Name: "p99_ms", Type: flow.Float}}}
	rows := make([]flow.Row, 1000)
	for i := range rows {
		rows[i] = flow.Row{Window: w0, Keys: []any{fmt.Sprint("/page-", i)}, Values: []any{int64(i), float64(i) / 3}, Final: true}
	}
	for b.Loop() {
		if err := s.Write(ctx, table, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
}
