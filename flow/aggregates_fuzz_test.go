package flow_test

import (
	"math/rand/v2"
	"testing"
)

// FuzzAggregate_Unmarshal hands every aggregate hostile bytes: Unmarshal
// must refuse them or give an accumulator that works (results, merges,
// adds and encodes again) without panicking.
func FuzzAggregate_Unmarshal(f *testing.F) {
	cases := propertyCases()
	for _, c := range cases {
		empty, _ := c.agg.New().MarshalBinary()
		f.Add(empty)
		acc := c.agg.New()
		for i := range 300 {
			v, _ := c.agg.Input(map[string]any{"x": genInput(c, i)})
			_ = acc.Add(v, int64(i))
		}
		b, err := acc.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range cases {
			acc, err := c.agg.Unmarshal(data)
			if err != nil {
				continue
			}
			_ = acc.Result()
			b, err := acc.MarshalBinary()
			if err != nil {
				t.Fatalf("%s: marshal of an unmarshalled accumulator: %v", c.agg.Name(), err)
			}
			if _, err := c.agg.Unmarshal(b); err != nil {
				t.Fatalf("%s: re-unmarshal: %v", c.agg.Name(), err)
			}
			fresh := c.agg.New()
			_ = fresh.Merge(acc)
			_ = acc.Merge(fresh)
			v, _ := c.agg.Input(map[string]any{"x": genInput(c, 1)})
			_ = acc.Add(v, 1)
			_ = acc.Result()
		}
	})
}

// genInput is c's i-th input value, the same on every call.
func genInput(c propertyCase, i int) any {
	return c.gen(rand.New(rand.NewPCG(uint64(i), 1)))
}
