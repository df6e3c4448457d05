package flow_test

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/flow"
)

type in struct {
	v  any
	ts int64
}

// feed adds inputs to a fresh accumulator of a as a pipeline does: each
// input is the field x of a record, read with a's Input.
func feed(t testing.TB, a flow.Aggregate, ins []in) flow.Accumulator {
	t.Helper()
	acc := a.New()
	for _, x := range ins {
		v, err := a.Input(map[string]any{"x": x.v})
		if err != nil {
			t.Fatalf("%s: input: %v", a.Name(), err)
		}
		if err := acc.Add(v, x.ts); err != nil {
			t.Fatalf("%s: add %v: %v", a.Name(), x.v, err)
		}
	}
	return acc
}

func vals(vs ...any) []in {
	out := make([]in, len(vs))
	for i, v := range vs {
		out[i] = in{v: v, ts: int64(i)}
	}
	return out
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestAggregates_Result(t *testing.T) {
	x := flow.Field("x")
	tests := []struct {
		name string
		agg  flow.Aggregate
		ins  []in
		want any
	}{
		{"count records", flow.Count("n", nil), vals(1, nil, "a"), int64(3)},
		{"count values skips nil", flow.Count("n", x), vals(1, nil, "a"), int64(2)},
		{"count of nothing", flow.Count("n", x), nil, int64(0)},
		{"sum int", flow.Sum("s", flow.Int, x), vals(int64(1), 2, 3.0, json.Number("4"), uint8(5)), int64(15)},
		{"sum int of nothing", flow.Sum("s", flow.Int, x), nil, nil},
		{"sum float", flow.Sum("s", flow.Float, x), vals(0.5, 1, json.Number("1.25")), 2.75},
		{"sum float compensated", flow.Sum("s", flow.Float, x), vals(1e16, 1.0, -1e16, 1.0), 2.0},
		{"sum float of nothing", flow.Sum("s", flow.Float, x), vals(nil), nil},
		{"avg", flow.Avg("a", x), vals(1, 2, 3, 4), 2.5},
		{"avg of nothing", flow.Avg("a", x), nil, nil},
		{"min float", flow.Min("m", flow.Float, x), vals(3, -1.5, 2), -1.5},
		{"min float negative zero", flow.Min("m", flow.Float, x), vals(0.0, math.Copysign(0, -1), 0.0), math.Copysign(0, -1)},
		{"max int", flow.Max("m", flow.Int, x), vals(3, -1, 7.0, 2), int64(7)},
		{"min string", flow.Min("m", flow.String, x), vals("pear", "apple", "plum"), "apple"},
		{"max string", flow.Max("m", flow.String, x), vals("pear", "apple", "plum"), "plum"},
		{"max timestamp", flow.Max("m", flow.Timestamp, x), vals(t0, t0.Add(time.Hour).Format(time.RFC3339), t0.Add(-time.Hour)), t0.Add(time.Hour)},
		{"min of nothing", flow.Min("m", flow.Int, x), nil, nil},
		{"first by event time", flow.First("f", flow.String, x), []in{{"b", 20}, {"a", 10}, {"c", 30}}, "a"},
		{"last by event time", flow.Last("l", flow.String, x), []in{{"b", 20}, {"c", 30}, {"a", 10}}, "c"},
		{"first tie takes smallest", flow.First("f", flow.Int, x), []in{{5, 10}, {3, 10}, {4, 10}}, int64(3)},
		{"last tie takes largest", flow.Last("l", flow.Int, x), []in{{5, 10}, {7, 10}, {4, 10}}, int64(7)},
		{"first bool", flow.First("f", flow.Bool, x), []in{{true, 2}, {false, 2}}, false},
		{"last timestamp", flow.Last("l", flow.Timestamp, x), []in{{t0, 2}, {t0.Add(time.Minute), 1}}, t0},
		{"first of nothing", flow.First("f", flow.Float, x), nil, nil},
		{"count distinct", flow.CountDistinct("d", x), vals("a", "b", "a", 1, 1.0, json.Number("1"), "1", true, t0, t0), int64(6)},
		{"count distinct of nothing", flow.CountDistinct("d", x), nil, int64(0)},
		{"median", flow.Percentile("p", 0.5, x), vals(1, 2, 3, 4, 5), 3.0},
		{"percentile of nothing", flow.Percentile("p", 0.5, x), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := feed(t, tt.agg, tt.ins).Result()
			if !sameResult(got, tt.want, 0.01) {
				t.Errorf("result %#v, want %#v", got, tt.want)
			}
			if f, ok := tt.want.(float64); ok && f == 0 && math.Signbit(f) != math.Signbit(got.(float64)) {
				t.Errorf("result %v, want %v", got, tt.want)
			}
		})
	}
}

// sameResult compares results; floats within a relative tolerance.
func sameResult(got, want any, tol float64) bool {
	gf, ok1 := got.(float64)
	wf, ok2 := want.(float64)
	if ok1 && ok2 {
		return gf == wf || math.Abs(gf-wf) <= tol*math.Max(math.Abs(gf), math.Abs(wf))
	}
	if gt, ok := got.(time.Time); ok {
		wt, ok := want.(time.Time)
		return ok && gt.Equal(wt) && gt.Location() == time.UTC
	}
	return got == want
}

func TestAggregates_AddErrors(t *testing.T) {
	x := flow.Field("x")
	tests := []struct {
		agg  flow.Aggregate
		v    any
		want string
	}{
		{flow.Sum("s", flow.Int, x), "12", "want an integer, got a string"},
		{flow.Sum("s", flow.Int, x), 1.5, "1.5 is not an int64"},
		{flow.Sum("s", flow.Int, x), uint64(math.MaxUint64), "does not fit an int64"},
		{flow.Sum("s", flow.Float, x), math.NaN(), "NaN"},
		{flow.Avg("a", x), true, "want a number, got a bool"},
		{flow.Min("m", flow.Float, x), "a", "want a number"},
		{flow.Max("m", flow.String, x), 1, "want a string, got a int"},
		{flow.Max("m", flow.Timestamp, x), "yesterday", "not an RFC 3339 time"},
		{flow.Max("m", flow.Timestamp, x), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), "outside the years"},
		{flow.First("f", flow.Bool, x), "true", "want a bool"},
		{flow.CountDistinct("d", x), []int{1}, "want a string, number, bool or time"},
		{flow.Percentile("p", 0.9, x), math.NaN(), "NaN"},
		{flow.Percentile("p", 0.9, x), math.Inf(1), "beyond the sketch's range"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%T", tt.agg.Name(), tt.v), func(t *testing.T) {
			acc := tt.agg.New()
			before := acc.Result()
			err := acc.Add(tt.v, 0)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("add %v: error %v, want one containing %q", tt.v, err, tt.want)
			}
			if after := acc.Result(); !sameResult(after, before, 0) {
				t.Errorf("a failed add changed the result from %v to %v", before, after)
			}
		})
	}
}

func TestAggregates_SumIntOverflow(t *testing.T) {
	a := flow.Sum("s", flow.Int, flow.Field("x"))
	acc := feed(t, a, vals(int64(math.MaxInt64-1)))
	if err := acc.Add(2, 0); err == nil {
		t.Fatal("add past MaxInt64: no error")
	}
	other := feed(t, a, vals(10))
	if err := acc.Merge(other); err == nil {
		t.Fatal("merge past MaxInt64: no error")
	}
	if got := acc.Result(); got != int64(math.MaxInt64-1) {
		t.Errorf("result after failed adds %v", got)
	}
}

func TestAggregates_MergeMismatch(t *testing.T) {
	x := flow.Field("x")
	pairs := [][2]flow.Aggregate{
		{flow.Count("a", x), flow.Sum("b", flow.Int, x)},
		{flow.Min("a", flow.Int, x), flow.Max("b", flow.Int, x)},
		{flow.Min("a", flow.Int, x), flow.Min("b", flow.Float, x)},
		{flow.First("a", flow.Int, x), flow.Last("b", flow.Int, x)},
		{flow.Sum("a", flow.Float, x), flow.Avg("b", x)},
		{flow.Percentile("a", 0.5, x), flow.Sum("b", flow.Float, x)},
	}
	for _, p := range pairs {
		if err := p[0].New().Merge(p[1].New()); err == nil {
			t.Errorf("merge %s into %s: no error", p[1].Name(), p[0].Name())
		}
		b, err := p[1].New().MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p[0].Unmarshal(b); err == nil {
			t.Errorf("%s unmarshalled an accumulator of %s", p[0].Name(), p[1].Name())
		}
	}
}

func TestNewAggregate_Errors(t *testing.T) {
	x := flow.Field("x")
	tests := []struct {
		spec flow.AggregateSpec
		want string
	}{
		{flow.AggregateSpec{Func: "count", Name: "1st"}, "not starting with a digit"},
		{flow.AggregateSpec{Func: "count", Name: "a-b"}, "letters, digits and underscores"},
		{flow.AggregateSpec{Func: "median", Name: "m", Input: x}, `unknown function "median"`},
		{flow.AggregateSpec{Func: "sum", Name: "s"}, "sum needs an input"},
		{flow.AggregateSpec{Func: "sum", Name: "s", Input: x, Type: flow.String}, "sum of string"},
		{flow.AggregateSpec{Func: "min", Name: "m", Input: x, Type: flow.Bool}, "min of bool"},
		{flow.AggregateSpec{Func: "last", Name: "m", Input: x, Type: 99}, "unknown type"},
		{flow.AggregateSpec{Func: "percentile", Name: "p", Input: x, Quantile: 99}, "quantile 99"},
		{flow.AggregateSpec{Func: "percentile", Name: "p", Input: x, Quantile: math.NaN()}, "quantile NaN"},
	}
	for _, tt := range tests {
		_, err := flow.NewAggregate(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want one containing %q", tt.spec, err, tt.want)
		}
	}
	a, err := flow.NewAggregate(flow.AggregateSpec{Func: "max", Name: "m", Input: x, Type: flow.Timestamp})
	if err != nil || a.Type() != flow.Timestamp || a.Name() != "m" {
		t.Errorf("max of timestamp: %v, %v", a, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Sum of strings did not panic")
		}
	}()
	flow.Sum("s", flow.String, x)
}

func TestField(t *testing.T) {
	var rec map[string]any
	if err := json.Unmarshal([]byte(`{"a": 1, "user": {"country": "NZ", "age": null}, "b.c": "literal", "list": [1]}`), &rec); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want any
	}{
		{"a", 1.0},
		{"user.country", "NZ"},
		{"user.age", nil},
		{"user.missing", nil},
		{"missing", nil},
		{"a.b", nil},
		{"list.0", nil},
		{"b.c", "literal"},
	}
	for _, tt := range tests {
		got, err := flow.Field(tt.path)(rec)
		if err != nil || got != tt.want {
			t.Errorf("Field(%q) = %v, %v; want %v", tt.path, got, err, tt.want)
		}
	}
	if _, err := flow.Field("a")("not an object"); err == nil {
		t.Error("Field of a string record: no error")
	}
}

func TestFrom(t *testing.T) {
	type order struct{ Amount float64 }
	in := flow.From(func(o order) float64 { return o.Amount })
	if v, err := in(order{Amount: 2.5}); err != nil || v != 2.5 {
		t.Errorf("From = %v, %v", v, err)
	}
	if _, err := in(&order{}); err == nil || !strings.Contains(err.Error(), "not a flow_test.order") {
		t.Errorf("From of a pointer: error %v", err)
	}
	// The aggregate reads its input through the Input.
	a := flow.Sum("total", flow.Float, in)
	v, err := a.Input(order{Amount: 4})
	if err != nil || v != 4.0 {
		t.Errorf("Aggregate.Input = %v, %v", v, err)
	}
}

// gen makes random input values for an aggregate, with event times in
// a small range so that ties happen.
type gen func(r *rand.Rand) any

func genInt(r *rand.Rand) any    { return r.Int64N(2001) - 1000 }
func genFloat(r *rand.Rand) any  { return (r.Float64() - 0.3) * math.Pow(10, float64(r.IntN(8))) }
func genString(r *rand.Rand) any { return fmt.Sprintf("k%03d", r.IntN(300)) }
func genBool(r *rand.Rand) any   { return r.IntN(2) == 0 }
func genTime(r *rand.Rand) any   { return t0.Add(time.Duration(r.Int64N(1e6)) * time.Millisecond) }
func genMixed(r *rand.Rand) any {
	switch r.IntN(4) {
	case 0:
		return genString(r)
	case 1:
		return float64(r.IntN(100))
	case 2:
		return r.IntN(100)
	}
	return nil
}

// propertyCases are the aggregates the merge property is checked for, with
// their input generators and the tolerance of their results.
type propertyCase struct {
	agg flow.Aggregate
	gen gen
	tol float64
	max int // inputs at most; default 3000
}

func propertyCases() []propertyCase {
	x := flow.Field("x")
	return []propertyCase{
		{flow.Count("count", x), genMixed, 0, 0},
		{flow.Sum("sum_int", flow.Int, x), genInt, 0, 0},
		{flow.Sum("sum_float", flow.Float, x), genFloat, 1e-12, 0},
		{flow.Sum("sum_float_of_ints", flow.Float, x), genInt, 0, 0},
		{flow.Avg("avg", x), genFloat, 1e-12, 0},
		{flow.Min("min_int", flow.Int, x), genInt, 0, 0},
		{flow.Max("max_float", flow.Float, x), genFloat, 0, 0},
		{flow.Min("min_string", flow.String, x), genString, 0, 0},
		{flow.Max("max_time", flow.Timestamp, x), genTime, 0, 0},
		{flow.First("first_string", flow.String, x), genString, 0, 0},
		{flow.Last("last_int", flow.Int, x), genInt, 0, 0},
		{flow.First("first_bool", flow.Bool, x), genBool, 0, 0},
		{flow.Last("last_float", flow.Float, x), genFloat, 0, 0},
		{flow.First("first_time", flow.Timestamp, x), genTime, 0, 0},
		{flow.CountDistinct("distinct", x), genMixed, 0, 0},
		{flow.CountDistinct("distinct_many", x), func(r *rand.Rand) any { return r.IntN(1e6) }, 0, 40000}, // sparse and dense sketches
		{flow.Percentile("p50", 0.5, x), genFloat, 0, 0},
		{flow.Percentile("p99", 0.99, x), genInt, 0, 0},
		{variance(), genFloat, 1e-9, 0},
	}
}

// TestAggregates_MergeProperty checks that any split of the inputs into
// partial accumulators, each sent through MarshalBinary and Unmarshal,
// merged in any order and grouping, gives the result of one accumulator
// fed everything.
func TestAggregates_MergeProperty(t *testing.T) {
	for _, c := range propertyCases() {
		t.Run(c.agg.Name(), func(t *testing.T) {
			seeds := uint64(40)
			if c.max > 3000 {
				seeds = 10 // large inputs: fewer, slower runs
			}
			for seed := range seeds {
				r := rand.New(rand.NewPCG(seed, 7))
				n := r.IntN(cmp.Or(c.max, 3000))
				if seed < 4 {
					n = int(seed) // empty and tiny inputs
				}
				ins := make([]in, n)
				for i := range ins {
					ins[i] = in{v: c.gen(r), ts: r.Int64N(50)}
				}
				want := feed(t, c.agg, ins).Result()

				// Split into parts (some empty), in shuffled order.
				parts := make([][]in, 1+r.IntN(8))
				for _, x := range ins {
					k := r.IntN(len(parts))
					parts[k] = append(parts[k], x)
				}
				accs := make([]flow.Accumulator, len(parts))
				for i, p := range parts {
					accs[i] = roundTrip(t, c.agg, feed(t, c.agg, p))
				}
				// Merge in random pairs until one is left.
				for len(accs) > 1 {
					i, j := r.IntN(len(accs)), r.IntN(len(accs)-1)
					if j >= i {
						j++
					}
					if err := accs[i].Merge(accs[j]); err != nil {
						t.Fatal(err)
					}
					accs[i] = roundTrip(t, c.agg, accs[i])
					accs = slices.Delete(accs, j, j+1)
				}
				if got := accs[0].Result(); !sameResult(got, want, c.tol) {
					t.Fatalf("seed %d, %d inputs in %d parts: merged result %v, want %v", seed, n, len(parts), got, want)
				}
			}
		})
	}
}

// roundTrip sends acc through MarshalBinary and Unmarshal, checking that
// the result survives and that AppendBinary appends the same bytes.
func roundTrip(t testing.TB, a flow.Aggregate, acc flow.Accumulator) flow.Accumulator {
	t.Helper()
	b, err := acc.MarshalBinary()
	if err != nil {
		t.Fatalf("marshal %s: %v", a.Name(), err)
	}
	if ap, ok := acc.(encoding.BinaryAppender); ok {
		prefix := []byte("prefix")
		b2, err := ap.AppendBinary(prefix)
		if err != nil || !bytes.Equal(b2[:6], prefix) || !bytes.Equal(b2[6:], b) {
			t.Fatalf("%s: AppendBinary differs from MarshalBinary: %v", a.Name(), err)
		}
	}
	back, err := a.Unmarshal(b)
	if err != nil {
		t.Fatalf("unmarshal %s: %v", a.Name(), err)
	}
	if got, want := back.Result(), acc.Result(); !sameResult(got, want, 0) {
		t.Fatalf("%s: result after a round trip %v, want %v", a.Name(), got, want)
	}
	return back
}

func TestCountDistinct_Accuracy(t *testing.T) {
	a := flow.CountDistinct("d", flow.Field("x"))
	for _, n := range []int{10, 1000, 100000} {
		acc := a.New()
		for i := range n {
			if err := acc.Add(fmt.Sprintf("user-%d", i), 0); err != nil {
				t.Fatal(err)
			}
			if err := acc.Add(fmt.Sprintf("user-%d", i/2), 0); err != nil { // duplicates
				t.Fatal(err)
			}
		}
		got := acc.Result().(int64)
		if err := math.Abs(float64(got)-float64(n)) / float64(n); err > 0.025 {
			t.Errorf("%d distinct values: estimate %d (%.2f%% off)", n, got, err*100)
		}
	}
}

func TestPercentile_Accuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := make([]float64, 20000)
	for i := range values {
		values[i] = math.Exp(r.NormFloat64()*2) * 10 // log-normal, like latencies
		if i%10 == 0 {
			values[i] = -values[i]
		}
	}
	sorted := slices.Sorted(slices.Values(values))
	for _, q := range []float64{0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
		acc := flow.Percentile("p", q, flow.Field("x")).New()
		for _, v := range values {
			if err := acc.Add(v, 0); err != nil {
				t.Fatal(err)
			}
		}
		want := sorted[int(q*float64(len(sorted)-1))]
		got := acc.Result().(float64)
		if math.Abs(got-want) > 0.01*math.Abs(want) {
			t.Errorf("q %v: %v, want %v within 1%%", q, got, want)
		}
	}
}

type moments struct{ N, Mean, M2 float64 }

// variance is a user-defined aggregate: the population variance, with
// Welford's update and Chan's merge.
func variance() flow.Aggregate {
	return flow.Custom("variance", flow.Float, flow.Field("x"), flow.CustomFuncs[moments]{
		Add: func(s moments, v any, _ int64) (moments, error) {
			x, err := flow.AsFloat(v)
			if err != nil {
				return s, err
			}
			s.N++
			d := x - s.Mean
			s.Mean += d / s.N
			s.M2 += d * (x - s.Mean)
			return s, nil
		},
		Merge: func(a, b moments) (moments, error) {
			if a.N == 0 || b.N == 0 {
				if a.N == 0 {
					return b, nil
				}
				return a, nil
			}
			n := a.N + b.N
			d := b.Mean - a.Mean
			return moments{N: n, Mean: a.Mean + d*b.N/n, M2: a.M2 + b.M2 + d*d*a.N*b.N/n}, nil
		},
		Result: func(s moments) any {
			if s.N == 0 {
				return nil
			}
			return s.M2 / s.N
		},
	})
}

func TestCustom(t *testing.T) {
	acc := feed(t, variance(), vals(2, 4, 4, 4, 5, 5, 7, 9))
	if got := acc.Result(); got != 4.0 {
		t.Errorf("variance %v, want 4", got)
	}
	if err := acc.Add("x", 0); err == nil || !strings.Contains(err.Error(), "variance: want a number") {
		t.Errorf("add a string: %v", err)
	}
	if _, err := variance().Unmarshal([]byte{0x09, '{'}); err == nil {
		t.Error("unmarshal of broken JSON: no error")
	}
	_, err := flow.NewCustom("c", flow.Int, flow.Field("x"), flow.CustomFuncs[int]{Add: func(s int, _ any, _ int64) (int, error) { return s + 1, nil }})
	if err == nil || !strings.Contains(err.Error(), "Add, Merge and Result are required") {
		t.Errorf("custom without Merge: %v", err)
	}
	// A custom codec.
	c := flow.Custom("n", flow.Int, flow.Field("x"), flow.CustomFuncs[int64]{
		Add:       func(s int64, _ any, _ int64) (int64, error) { return s + 1, nil },
		Merge:     func(a, b int64) (int64, error) { return a + b, nil },
		Result:    func(s int64) any { return s },
		Marshal:   func(s int64) ([]byte, error) { return []byte(fmt.Sprint(s)), nil },
		Unmarshal: func(b []byte) (s int64, err error) { _, err = fmt.Sscan(string(b), &s); return s, err },
	})
	if got := roundTrip(t, c, feed(t, c, vals(1, 2, 3))).Result(); got != int64(3) {
		t.Errorf("custom count %v", got)
	}
}
