package flow

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// valueKind is what Min, Max, First and Last need of a column type: reading
// an input value as V, a total order, and an encoding. Its implementations
// are empty structs, so an accumulator is just its value and flags.
type valueKind[V any] interface {
	code() byte
	conv(x any) (V, error)
	compare(a, b V) int
	appendValue(b []byte, v V) []byte
	readValue(r *reader) V
	result(v V) any
}

type (
	intKind    struct{}
	floatKind  struct{}
	stringKind struct{}
	boolKind   struct{}
	// timeKind keeps a Timestamp as nanoseconds since 1970.
	timeKind struct{}
)

func (intKind) code() byte                            { return 'i' }
func (intKind) conv(x any) (int64, error)             { return AsInt(x) }
func (intKind) compare(a, b int64) int                { return cmp.Compare(a, b) }
func (intKind) appendValue(b []byte, v int64) []byte  { return binary.AppendVarint(b, v) }
func (intKind) readValue(r *reader) int64             { return r.varint() }
func (intKind) result(v int64) any                    { return v }
func (floatKind) code() byte                          { return 'f' }
func (floatKind) conv(x any) (float64, error)         { return AsFloat(x) }
func (floatKind) readValue(r *reader) float64         { return r.float() }
func (floatKind) result(v float64) any                { return v }
func (stringKind) code() byte                         { return 's' }
func (stringKind) conv(x any) (string, error)         { return AsString(x) }
func (stringKind) compare(a, b string) int            { return strings.Compare(a, b) }
func (stringKind) readValue(r *reader) string         { return string(r.bytes()) }
func (stringKind) result(v string) any                { return v }
func (boolKind) code() byte                           { return 'b' }
func (boolKind) conv(x any) (bool, error)             { return AsBool(x) }
func (boolKind) appendValue(b []byte, v bool) []byte  { return append(b, boolByte(v)) }
func (boolKind) readValue(r *reader) bool             { return r.bool() }
func (boolKind) result(v bool) any                    { return v }
func (timeKind) code() byte                           { return 't' }
func (timeKind) compare(a, b int64) int               { return cmp.Compare(a, b) }
func (timeKind) appendValue(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }
func (timeKind) readValue(r *reader) int64            { return r.varint() }
func (timeKind) result(v int64) any                   { return time.Unix(0, v).UTC() }
func (floatKind) appendValue(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

// compare orders -0 before +0, so that which of the two a Min keeps does
// not depend on input order. NaN never gets here (AsFloat refuses it; a
// decoded NaN is refused by readValue's caller).
func (floatKind) compare(a, b float64) int {
	if c := cmp.Compare(a, b); c != 0 {
		return c
	}
	switch sa, sb := math.Signbit(a), math.Signbit(b); {
	case sa == sb:
		return 0
	case sa:
		return -1
	}
	return 1
}

func (stringKind) appendValue(b []byte, v string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

func (boolKind) compare(a, b bool) int {
	if a == b {
		return 0
	}
	if !a {
		return -1
	}
	return 1
}

func (timeKind) conv(x any) (int64, error) {
	t, err := AsTime(x)
	if err != nil {
		return 0, err
	}
	return t.UnixNano(), nil
}

// checkValue refuses a decoded value that Add could never have stored.
func checkValue[V any](v V) error {
	if f, ok := any(v).(float64); ok && math.IsNaN(f) {
		return errors.New("NaN")
	}
	return nil
}

// newExtreme builds Min (max false) or Max of the column type t.
func newExtreme(name string, t ColumnType, in Input, max bool) (Aggregate, error) {
	var newAcc func() Accumulator
	switch t {
	case Int:
		newAcc = func() Accumulator { return &extremeAcc[int64, intKind]{max: max} }
	case Float:
		newAcc = func() Accumulator { return &extremeAcc[float64, floatKind]{max: max} }
	case String:
		newAcc = func() Accumulator { return &extremeAcc[string, stringKind]{max: max} }
	case Timestamp:
		newAcc = func() Accumulator { return &extremeAcc[int64, timeKind]{max: max} }
	default:
		return nil, fmt.Errorf("min/max of %s: want int, float, string or timestamp", t)
	}
	return newBuiltin(name, t, in, tagExtreme, newAcc), nil
}

// extremeAcc is the accumulator of Min and Max.
type extremeAcc[V any, K valueKind[V]] struct {
	v   V
	set bool
	max bool
}

func (a *extremeAcc[V, K]) op() string {
	if a.max {
		return "max"
	}
	return "min"
}

func (a *extremeAcc[V, K]) Add(x any, _ int64) error {
	if x == nil {
		return nil
	}
	var k K
	v, err := k.conv(x)
	if err != nil {
		return fmt.Errorf("%s: %w", a.op(), err)
	}
	a.take(v)
	return nil
}

func (a *extremeAcc[V, K]) take(v V) {
	var k K
	if !a.set {
		a.v, a.set = v, true
		return
	}
	if c := k.compare(v, a.v); (a.max && c > 0) || (!a.max && c < 0) {
		a.v = v
	}
}

func (a *extremeAcc[V, K]) Merge(other Accumulator) error {
	o, ok := other.(*extremeAcc[V, K])
	if !ok || o.max != a.max {
		return mismatch(a, other)
	}
	if o.set {
		a.take(o.v)
	}
	return nil
}

func (a *extremeAcc[V, K]) Result() any {
	if !a.set {
		return nil
	}
	var k K
	return k.result(a.v)
}

func (a *extremeAcc[V, K]) AppendBinary(b []byte) ([]byte, error) {
	var k K
	b = append(b, tagExtreme, k.code(), boolByte(a.max), boolByte(a.set))
	if a.set {
		b = k.appendValue(b, a.v)
	}
	return b, nil
}

func (a *extremeAcc[V, K]) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }

func (a *extremeAcc[V, K]) decode(b []byte) error {
	var k K
	r := reader{b: b}
	if r.byte() != k.code() || r.bool() != a.max {
		return fmt.Errorf("not a %s of this type", a.op())
	}
	if a.set = r.bool(); a.set {
		a.v = k.readValue(&r)
	}
	if err := r.done(); err != nil {
		return err
	}
	return checkValue(a.v)
}

// newFirstLast builds First (last false) or Last of the column type t.
func newFirstLast(name string, t ColumnType, in Input, last bool) (Aggregate, error) {
	var newAcc func() Accumulator
	switch t {
	case Int:
		newAcc = func() Accumulator { return &firstLastAcc[int64, intKind]{last: last} }
	case Float:
		newAcc = func() Accumulator { return &firstLastAcc[float64, floatKind]{last: last} }
	case String:
		newAcc = func() Accumulator { return &firstLastAcc[string, stringKind]{last: last} }
	case Bool:
		newAcc = func() Accumulator { return &firstLastAcc[bool, boolKind]{last: last} }
	case Timestamp:
		newAcc = func() Accumulator { return &firstLastAcc[int64, timeKind]{last: last} }
	default:
		return nil, fmt.Errorf("first/last of %s: unknown type", t)
	}
	return newBuiltin(name, t, in, tagFirstLast, newAcc), nil
}

// firstLastAcc is the accumulator of First and Last: the least (First) or
// greatest (Last) pair of (event time, value).
type firstLastAcc[V any, K valueKind[V]] struct {
	ts   int64
	v    V
	set  bool
	last bool
}

func (a *firstLastAcc[V, K]) op() string {
	if a.last {
		return "last"
	}
	return "first"
}

func (a *firstLastAcc[V, K]) Add(x any, ts int64) error {
	if x == nil {
		return nil
	}
	var k K
	v, err := k.conv(x)
	if err != nil {
		return fmt.Errorf("%s: %w", a.op(), err)
	}
	a.take(ts, v)
	return nil
}

func (a *firstLastAcc[V, K]) take(ts int64, v V) {
	if !a.set {
		a.ts, a.v, a.set = ts, v, true
		return
	}
	c := cmp.Compare(ts, a.ts)
	if c == 0 {
		var k K
		c = k.compare(v, a.v)
	}
	if (a.last && c > 0) || (!a.last && c < 0) {
		a.ts, a.v = ts, v
	}
}

func (a *firstLastAcc[V, K]) Merge(other Accumulator) error {
	o, ok := other.(*firstLastAcc[V, K])
	if !ok || o.last != a.last {
		return mismatch(a, other)
	}
	if o.set {
		a.take(o.ts, o.v)
	}
	return nil
}

func (a *firstLastAcc[V, K]) Result() any {
	if !a.set {
		return nil
	}
	var k K
	return k.result(a.v)
}

func (a *firstLastAcc[V, K]) AppendBinary(b []byte) ([]byte, error) {
	var k K
	b = append(b, tagFirstLast, k.code(), boolByte(a.last), boolByte(a.set))
	if a.set {
		b = binary.AppendVarint(b, a.ts)
		b = k.appendValue(b, a.v)
	}
	return b, nil
}

func (a *firstLastAcc[V, K]) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }

func (a *firstLastAcc[V, K]) decode(b []byte) error {
	var k K
	r := reader{b: b}
	if r.byte() != k.code() || r.bool() != a.last {
		return fmt.Errorf("not a %s of this type", a.op())
	}
	if a.set = r.bool(); a.set {
		a.ts = r.varint()
		a.v = k.readValue(&r)
	}
	if err := r.done(); err != nil {
		return err
	}
	return checkValue(a.v)
}
