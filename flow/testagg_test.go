package flow

import (
	"encoding/binary"
	"fmt"
)

// Minimal count and sum aggregates for the runtime's tests, until the
// built-in ones land (they implement the same interfaces).

type testCount struct{ name string }

func (c testCount) Name() string           { return c.name }
func (c testCount) Type() ColumnType       { return Int }
func (c testCount) Input(any) (any, error) { return nil, nil }
func (c testCount) New() Accumulator       { return &testCountAcc{} }
func (c testCount) Unmarshal(b []byte) (Accumulator, error) {
	n, k := binary.Varint(b)
	if k <= 0 {
		return nil, fmt.Errorf("bad count")
	}
	return &testCountAcc{n: n}, nil
}

type testCountAcc struct{ n int64 }

func (a *testCountAcc) Add(any, int64) error { a.n++; return nil }
func (a *testCountAcc) Merge(o Accumulator) error {
	a.n += o.(*testCountAcc).n
	return nil
}
func (a *testCountAcc) Result() any                    { return a.n }
func (a *testCountAcc) MarshalBinary() ([]byte, error) { return binary.AppendVarint(nil, a.n), nil }

// testSum sums an int64 that input reads from a record.
type testSum struct {
	name  string
	input func(any) (any, error)
}

func (s testSum) Name() string             { return s.name }
func (s testSum) Type() ColumnType         { return Int }
func (s testSum) Input(r any) (any, error) { return s.input(r) }
func (s testSum) New() Accumulator         { return &testSumAcc{} }
func (s testSum) Unmarshal(b []byte) (Accumulator, error) {
	n, k := binary.Varint(b)
	if k <= 0 {
		return nil, fmt.Errorf("bad sum")
	}
	return &testSumAcc{n: n}, nil
}

type testSumAcc struct{ n int64 }

func (a *testSumAcc) Add(v any, _ int64) error {
	n, ok := toInt64(v)
	if !ok {
		return fmt.Errorf("sum of a %T", v)
	}
	a.n += n
	return nil
}
func (a *testSumAcc) Merge(o Accumulator) error {
	a.n += o.(*testSumAcc).n
	return nil
}
func (a *testSumAcc) Result() any                    { return a.n }
func (a *testSumAcc) MarshalBinary() ([]byte, error) { return binary.AppendVarint(nil, a.n), nil }
