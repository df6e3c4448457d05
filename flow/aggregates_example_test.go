package flow_test

import (
	"fmt"

	"github.com/sluicehq/sluice/flow"
)

// Two shards pre-aggregate their records; the partials cross a
// repartition stream as bytes and merge into one result.
func ExamplePercentile() {
	p99 := flow.Percentile("p99_ms", 0.99, flow.Field("latency_ms"))
	shard := func(from, to int) []byte {
		acc := p99.New()
		for ms := from; ms < to; ms++ {
			v, _ := p99.Input(map[string]any{"latency_ms": float64(ms)})
			_ = acc.Add(v, 0)
		}
		b, _ := acc.MarshalBinary()
		return b
	}
	total := p99.New()
	for _, b := range [][]byte{shard(1, 500), shard(500, 1001)} {
		partial, err := p99.Unmarshal(b)
		if err != nil {
			panic(err)
		}
		_ = total.Merge(partial)
	}
	fmt.Printf("p99 ≈ %.0f ms (exact: 990)\n", total.Result())
	// Output: p99 ≈ 983 ms (exact: 990)
}

// A user-defined aggregate: the range (max − min) of a field.
func ExampleCustom() {
	type span struct{ Lo, Hi float64 }
	rng := flow.Custom("range", flow.Float, flow.Field("x"), flow.CustomFuncs[*span]{
		Add: func(s *span, v any, _ int64) (*span, error) {
			x, err := flow.AsFloat(v)
			if err != nil {
				return s, err
			}
			if s == nil {
				return &span{x, x}, nil
			}
			s.Lo, s.Hi = min(s.Lo, x), max(s.Hi, x)
			return s, nil
		},
		Merge: func(a, b *span) (*span, error) {
			if a == nil || b == nil {
				if a == nil {
					return b, nil
				}
				return a, nil
			}
			return &span{min(a.Lo, b.Lo), max(a.Hi, b.Hi)}, nil
		},
		Result: func(s *span) any {
			if s == nil {
				return nil
			}
			return s.Hi - s.Lo
		},
	})
	acc := rng.New()
	for _, x := range []float64{3, 9, 4} {
		_ = acc.Add(x, 0)
	}
	fmt.Println(acc.Result())
	// Output: 6
}
