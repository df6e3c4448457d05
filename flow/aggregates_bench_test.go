package flow_test

import (
	"math/rand/v2"
	"testing"

	"github.com/sluicehq/sluice/flow"
)

// benchInputs are 1,024 input values of c, as records decoded from JSON
// would hold them.
func benchInputs(c propertyCase) []any {
	r := rand.New(rand.NewPCG(3, 4))
	vs := make([]any, 1024)
	for i := range vs {
		vs[i] = c.gen(r)
	}
	return vs
}

// BenchmarkAggregate_Add measures one Add into an accumulator (the input
// already read from its record).
func BenchmarkAggregate_Add(b *testing.B) {
	for _, c := range propertyCases() {
		b.Run(c.agg.Name(), func(b *testing.B) {
			vs := benchInputs(c)
			acc := c.agg.New()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := acc.Add(vs[i&1023], int64(i&63)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkAggregate_Merge measures merging a partial of 100 inputs (after
// an Unmarshal, as partials arrive) into an accumulator of 1,000.
func BenchmarkAggregate_Merge(b *testing.B) {
	for _, c := range propertyCases() {
		b.Run(c.agg.Name(), func(b *testing.B) {
			vs := benchInputs(c)
			acc, part := c.agg.New(), c.agg.New()
			for i, v := range vs[:1000] {
				_ = acc.Add(v, int64(i))
			}
			for i, v := range vs[1000:] {
				_ = part.Add(v, int64(i))
			}
			enc, err := part.MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				p, err := c.agg.Unmarshal(enc)
				if err != nil {
					b.Fatal(err)
				}
				if err := acc.Merge(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAggregate_New measures a fresh accumulator and its size on the
// heap (B/op): the pipeline holds one per window, key and aggregate.
func BenchmarkAggregate_New(b *testing.B) {
	for _, c := range propertyCases() {
		b.Run(c.agg.Name(), func(b *testing.B) {
			b.ReportAllocs()
			var sink flow.Accumulator
			for b.Loop() {
				sink = c.agg.New()
			}
			_ = sink
		})
	}
}
