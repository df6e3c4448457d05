package flow

import (
	"encoding/json"
	"fmt"
)

// CustomFuncs define a user's aggregate over a state of type S. Add, Merge
// and Result are required. Merge must be associative and commutative
// (merging partial states in any order gives the state of all inputs), as
// the pipeline merges per-shard partials in whatever order they arrive.
type CustomFuncs[S any] struct {
	// Add folds one input value (never nil) and its event time in Unix
	// milliseconds into s.
	Add func(s S, v any, eventTimeMillis int64) (S, error)
	// Merge folds b into a.
	Merge func(a, b S) (S, error)
	// Result is the column's value (of the Go type of its ColumnType), or
	// nil for none.
	Result func(s S) any
	// Marshal and Unmarshal encode a state for the repartition stream.
	// Default: encoding/json, which keeps S's exported fields.
	Marshal   func(s S) ([]byte, error)
	Unmarshal func(b []byte) (S, error)
	// New returns an empty state. Default: S's zero value.
	New func() S
}

// Custom defines an aggregate from functions over a state S, for what the
// built-in aggregates do not compute. A variance, with Welford's merge:
//
//	type moments struct{ N, Mean, M2 float64 }
//	variance := flow.Custom("latency_var", flow.Float, flow.Field("ms"), flow.CustomFuncs[moments]{
//		Add: func(s moments, v any, _ int64) (moments, error) {
//			x, err := flow.AsFloat(v)
//			if err != nil {
//				return s, err
//			}
//			s.N++
//			d := x - s.Mean
//			s.Mean += d / s.N
//			s.M2 += d * (x - s.Mean)
//			return s, nil
//		},
//		Merge: func(a, b moments) (moments, error) { ... },
//		Result: func(s moments) any { ... },
//	})
//
// Custom panics if name is not an identifier or Add, Merge or Result is
// missing.
func Custom[S any](name string, t ColumnType, in Input, f CustomFuncs[S]) Aggregate {
	a, err := NewCustom(name, t, in, f)
	if err != nil {
		panic("flow: " + err.Error())
	}
	return a
}

// NewCustom is Custom returning its mistakes as an error.
func NewCustom[S any](name string, t ColumnType, in Input, f CustomFuncs[S]) (Aggregate, error) {
	switch {
	case !validIdentifier(name):
		return nil, fmt.Errorf("aggregate name %q: want letters, digits and underscores, not starting with a digit", name)
	case in == nil:
		return nil, fmt.Errorf("aggregate %s: no input", name)
	case f.Add == nil || f.Merge == nil || f.Result == nil:
		return nil, fmt.Errorf("aggregate %s: Add, Merge and Result are required", name)
	case t.String() == "unknown":
		return nil, fmt.Errorf("aggregate %s: unknown column type %d", name, t)
	}
	if f.Marshal == nil {
		f.Marshal = func(s S) ([]byte, error) { return json.Marshal(s) }
	}
	if f.Unmarshal == nil {
		f.Unmarshal = func(b []byte) (S, error) {
			var s S
			err := json.Unmarshal(b, &s)
			return s, err
		}
	}
	return &custom[S]{name: name, typ: t, input: in, f: f}, nil
}

type custom[S any] struct {
	name  string
	typ   ColumnType
	input Input
	f     CustomFuncs[S]
}

func (c *custom[S]) Name() string                  { return c.name }
func (c *custom[S]) Type() ColumnType              { return c.typ }
func (c *custom[S]) Input(record any) (any, error) { return c.input(record) }

func (c *custom[S]) New() Accumulator {
	a := &customAcc[S]{def: c}
	if c.f.New != nil {
		a.s = c.f.New()
	}
	return a
}

func (c *custom[S]) Unmarshal(b []byte) (Accumulator, error) {
	if len(b) == 0 || b[0] != tagCustom {
		return nil, fmt.Errorf("unmarshal %s accumulator: not one of this aggregate's", c.name)
	}
	s, err := c.f.Unmarshal(b[1:])
	if err != nil {
		return nil, fmt.Errorf("unmarshal %s accumulator: %w", c.name, err)
	}
	return &customAcc[S]{def: c, s: s}, nil
}

// customAcc is a custom aggregate's accumulator.
type customAcc[S any] struct {
	def *custom[S]
	s   S
}

func (a *customAcc[S]) Add(v any, ts int64) error {
	if v == nil {
		return nil
	}
	s, err := a.def.f.Add(a.s, v, ts)
	if err != nil {
		return fmt.Errorf("%s: %w", a.def.name, err)
	}
	a.s = s
	return nil
}

func (a *customAcc[S]) Merge(other Accumulator) error {
	o, ok := other.(*customAcc[S])
	if !ok || o.def.name != a.def.name {
		return mismatch(a, other)
	}
	s, err := a.def.f.Merge(a.s, o.s)
	if err != nil {
		return fmt.Errorf("%s: merge: %w", a.def.name, err)
	}
	a.s = s
	return nil
}

func (a *customAcc[S]) Result() any { return a.def.f.Result(a.s) }

func (a *customAcc[S]) MarshalBinary() ([]byte, error) {
	b, err := a.def.f.Marshal(a.s)
	if err != nil {
		return nil, fmt.Errorf("encode %s accumulator: %w", a.def.name, err)
	}
	return append([]byte{tagCustom}, b...), nil
}
