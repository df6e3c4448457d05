package alert_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/alert"
)

// BenchmarkSink_Write measures Write of 1,000 rows (1,000 keys, 2 of 3
// windows) through a threshold rule that never fires.
func BenchmarkSink_Write(b *testing.B) {
	hook := newWebhook(b, 0)
	rule := alert.Rule{Name: "high", Table: "errors", Kind: alert.Threshold, Value: "rate", Op: ">", Threshold: 0.05,
		DatapointsToAlarm: 2, EvaluationWindows: 3}
	s, err := alert.New(hook.URL, []alert.Rule{rule}, alert.WithCheckInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Open(ctx, errorsTable); err != nil {
		b.Fatal(err)
	}
	rows := make([]flow.Row, 1000)
	w := 0
	for b.Loop() {
		for i := range rows {
			rows[i] = flow.Row{Window: win(w), Keys: []any{fmt.Sprint("svc-", i)}, Values: []any{0.01, int64(5)}, Final: true}
		}
		w++
		if err := s.Write(ctx, errorsTable, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
}
