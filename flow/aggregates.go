package flow

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// The built-in aggregates. Each is built from a result column name, an
// Input that reads its value from a record, and for some a result type:
//
//	flow.Count("views", nil)                                  // records
//	flow.Sum("bytes", flow.Int, flow.Field("size"))           // JSON field
//	flow.Max("slowest_ms", flow.Float, flow.From(func(r Req) float64 { return r.Millis }))
//	flow.Percentile("p99_ms", 0.99, flow.Field("latency_ms"))
//
// The constructors panic on parameters that can never work (a Sum of
// strings, a quantile above 1, a name that is not an identifier), as
// regexp.MustCompile does; NewAggregate builds the same aggregates from an
// AggregateSpec and returns those mistakes as errors, for pipelines defined
// in files.
//
// Every accumulator is mergeable and serialisable: merging the accumulators
// of any partition of the inputs, in any order, gives the accumulator of all
// of them (for Sum and Avg of floats up to rounding; exactly for integers),
// and MarshalBinary/Unmarshal round-trip it. They also implement
// encoding.BinaryAppender, for callers that encode many into one buffer.

// Input reads an aggregate's input value from a pipeline record. It returns
// nil when the record has no value (skipped, like SQL's NULL) and an error
// when the record is not something it can read.
type Input func(record any) (any, error)

// Field reads a field of a record decoded from JSON (a map[string]any). A
// path with dots reads nested objects ("user.country"), unless the record
// has a key that is the whole path. A missing field, or a JSON null, is no
// value.
func Field(path string) Input {
	parts := strings.Split(path, ".")
	return func(record any) (any, error) {
		m, ok := record.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("field %q: record is a %T, not a JSON object", path, record)
		}
		if v, ok := m[path]; ok || len(parts) == 1 {
			return v, nil
		}
		var cur any = m
		for _, p := range parts {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil, nil
			}
			if cur, ok = obj[p]; !ok {
				return nil, nil
			}
		}
		return cur, nil
	}
}

// From reads an aggregate's input from records of the Go type T with f, for
// pipelines of typed records.
func From[T, V any](f func(T) V) Input {
	return func(record any) (any, error) {
		r, ok := record.(T)
		if !ok {
			return nil, fmt.Errorf("input: record is a %T, not a %T", record, r)
		}
		return f(r), nil
	}
}

// AggregateSpec names a built-in aggregate as a pipeline file does.
type AggregateSpec struct {
	// Func is the aggregate: count, sum, min, max, avg, first, last,
	// count_distinct or percentile.
	Func string
	// Name is the result column: letters, digits and underscores, not
	// starting with a digit.
	Name string
	// Input reads the value; nil for count counts records, and is an error
	// for the others.
	Input Input
	// Type is the result type of sum (Int or Float), min and max (Int,
	// Float, String, Timestamp) and first and last (any type). Zero means
	// Float. Ignored by the others, whose type is fixed.
	Type ColumnType
	// Quantile is percentile's quantile, in [0, 1] (0.99 for p99).
	Quantile float64
}

// NewAggregate builds the built-in aggregate s names.
func NewAggregate(s AggregateSpec) (Aggregate, error) {
	if !validIdentifier(s.Name) {
		return nil, fmt.Errorf("aggregate name %q: want letters, digits and underscores, not starting with a digit", s.Name)
	}
	if s.Input == nil && s.Func != "count" {
		return nil, fmt.Errorf("aggregate %s: %s needs an input", s.Name, s.Func)
	}
	t := s.Type
	if t == 0 {
		t = Float
	}
	var a Aggregate
	switch s.Func {
	case "count":
		if s.Input == nil {
			b := newBuiltin(s.Name, Int, everyRecord, tagCount, func() Accumulator { return new(countAcc) })
			b.countsRecords = true
			a = b
			break
		}
		a = newBuiltin(s.Name, Int, s.Input, tagCount, func() Accumulator { return new(countAcc) })
	case "sum":
		switch t {
		case Int:
			a = newBuiltin(s.Name, Int, s.Input, tagSumInt, func() Accumulator { return new(sumIntAcc) })
		case Float:
			a = newBuiltin(s.Name, Float, s.Input, tagSumFloat, func() Accumulator { return new(sumFloatAcc) })
		default:
			return nil, fmt.Errorf("aggregate %s: sum of %s: want int or float", s.Name, t)
		}
	case "avg":
		a = newBuiltin(s.Name, Float, s.Input, tagAvg, func() Accumulator { return new(avgAcc) })
	case "min", "max":
		if t == Bool {
			return nil, fmt.Errorf("aggregate %s: %s of %s: want int, float, string or timestamp", s.Name, s.Func, t)
		}
		var err error
		if a, err = newExtreme(s.Name, t, s.Input, s.Func == "max"); err != nil {
			return nil, fmt.Errorf("aggregate %s: %w", s.Name, err)
		}
	case "first", "last":
		var err error
		if a, err = newFirstLast(s.Name, t, s.Input, s.Func == "last"); err != nil {
			return nil, fmt.Errorf("aggregate %s: %w", s.Name, err)
		}
	case "count_distinct":
		a = newCountDistinct(s.Name, s.Input)
	case "percentile":
		if !(s.Quantile >= 0 && s.Quantile <= 1) {
			return nil, fmt.Errorf("aggregate %s: quantile %v: want a number from 0 to 1", s.Name, s.Quantile)
		}
		a = newPercentile(s.Name, s.Quantile, s.Input)
	default:
		return nil, fmt.Errorf("aggregate %s: unknown function %q: want count, sum, min, max, avg, first, last, count_distinct or percentile", s.Name, s.Func)
	}
	return a, nil
}

func mustAggregate(s AggregateSpec) Aggregate {
	a, err := NewAggregate(s)
	if err != nil {
		panic("flow: " + err.Error())
	}
	return a
}

// Count counts the records that have a value for in (SQL's COUNT(x)), or
// every record when in is nil (COUNT(*)). Its result is an Int, 0 for none.
func Count(name string, in Input) Aggregate {
	return mustAggregate(AggregateSpec{Func: "count", Name: name, Input: in})
}

// Sum adds the values of in, as Int (exactly; an overflow of int64 is an
// error) or Float (with compensated summation, so the result does not
// depend on how the inputs were split among partial sums beyond the last
// bits). Its result is nil when there were no values.
func Sum(name string, t ColumnType, in Input) Aggregate {
	return mustAggregate(AggregateSpec{Func: "sum", Name: name, Type: t, Input: in})
}

// Avg is the arithmetic mean of the values of in, a Float, nil when there
// were none.
func Avg(name string, in Input) Aggregate {
	return mustAggregate(AggregateSpec{Func: "avg", Name: name, Input: in})
}

// Min is the smallest value of in, of type t (Int, Float, String in byte
// order, or Timestamp), nil when there were none. NaN is refused.
func Min(name string, t ColumnType, in Input) Aggregate {
	return mustAggregate(AggregateSpec{Func: "min", Name: name, Type: t, Input: in})
}

// Max is the largest value of in, as Min.
func Max(name string, t ColumnType, in Input) Aggregate {
	return mustAggregate(AggregateSpec{Func: "max", Name: name, Type: t, Input: in})
}

// First is the value of in with the earliest event time, of type t, nil when
// there were none. Of values with the same event time it takes the smallest
// (false before true), so the result never depends on arrival order.
func First(name string, t ColumnType, in Input) Aggregate {
	return mustAggregate(AggregateSpec{Func: "first", Name: name, Type: t, Input: in})
}

// Last is the value of in with the latest event time, of type t, nil when
// there were none. Of values with the same event time it takes the largest.
func Last(name string, t ColumnType, in Input) Aggregate {
	return mustAggregate(AggregateSpec{Func: "last", Name: name, Type: t, Input: in})
}

// everyRecord is Count's input when it counts records.
func everyRecord(any) (any, error) { return true, nil }

// Accumulator encodings start with a tag naming the accumulator's kind, so
// that bytes of one aggregate handed to another are refused rather than
// misread.
const (
	tagCount byte = iota + 1
	tagSumInt
	tagSumFloat
	tagAvg
	tagExtreme
	tagFirstLast
	tagCountDistinct
	tagPercentile
	tagCustom
)

var (
	errTruncated = errors.New("truncated")
	errTrailing  = errors.New("trailing bytes")
)

// builtin is an Aggregate of one of this file's accumulators.
type builtin struct {
	name  string
	typ   ColumnType
	input Input
	tag   byte
	new   func() Accumulator
	// countsRecords is set for Count without an input, which does not
	// read the record.
	countsRecords bool
}

func newBuiltin(name string, t ColumnType, in Input, tag byte, newAcc func() Accumulator) *builtin {
	return &builtin{name: name, typ: t, input: in, tag: tag, new: newAcc}
}

func (b *builtin) Name() string                  { return b.name }
func (b *builtin) Type() ColumnType              { return b.typ }
func (b *builtin) Input(record any) (any, error) { return b.input(record) }
func (b *builtin) New() Accumulator              { return b.new() }

// Unmarshal decodes an accumulator of this aggregate.
func (b *builtin) Unmarshal(data []byte) (Accumulator, error) {
	if len(data) == 0 || data[0] != b.tag {
		return nil, fmt.Errorf("unmarshal %s accumulator: not one of this aggregate's", b.name)
	}
	acc := b.new()
	if err := acc.(decoder).decode(data[1:]); err != nil {
		return nil, fmt.Errorf("unmarshal %s accumulator: %w", b.name, err)
	}
	return acc, nil
}

// decoder is implemented by the built-in accumulators: decode reads the
// encoding after the tag into an accumulator fresh from New.
type decoder interface {
	decode(b []byte) error
}

func mismatch(a, b Accumulator) error {
	return fmt.Errorf("merge: a %T into a %T: accumulators of different aggregates", b, a)
}

// countAcc is Count's accumulator.
type countAcc struct{ n int64 }

func (a *countAcc) Add(v any, _ int64) error {
	if v != nil {
		a.n++
	}
	return nil
}

func (a *countAcc) Merge(other Accumulator) error {
	o, ok := other.(*countAcc)
	if !ok {
		return mismatch(a, other)
	}
	a.n += o.n
	return nil
}

func (a *countAcc) Result() any { return a.n }

func (a *countAcc) AppendBinary(b []byte) ([]byte, error) {
	return binary.AppendUvarint(append(b, tagCount), uint64(a.n)), nil
}

func (a *countAcc) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }

func (a *countAcc) decode(b []byte) error {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > math.MaxInt64 {
		return errTruncated
	}
	if k != len(b) {
		return errTrailing
	}
	a.n = int64(n)
	return nil
}

// sumIntAcc is Sum's accumulator for Int.
type sumIntAcc struct {
	sum int64
	set bool
}

var errOverflow = errors.New("sum overflows int64")

func (a *sumIntAcc) Add(v any, _ int64) error {
	if v == nil {
		return nil
	}
	n, err := AsInt(v)
	if err != nil {
		return fmt.Errorf("sum: %w", err)
	}
	return a.add(n, true)
}

func (a *sumIntAcc) add(n int64, set bool) error {
	s := a.sum + n
	if (n > 0 && s < a.sum) || (n < 0 && s > a.sum) {
		return errOverflow
	}
	a.sum, a.set = s, a.set || set
	return nil
}

func (a *sumIntAcc) Merge(other Accumulator) error {
	o, ok := other.(*sumIntAcc)
	if !ok {
		return mismatch(a, other)
	}
	return a.add(o.sum, o.set)
}

func (a *sumIntAcc) Result() any {
	if !a.set {
		return nil
	}
	return a.sum
}

func (a *sumIntAcc) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, tagSumInt, boolByte(a.set))
	return binary.AppendVarint(b, a.sum), nil
}

func (a *sumIntAcc) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }

func (a *sumIntAcc) decode(b []byte) error {
	r := reader{b: b}
	a.set = r.bool()
	a.sum = r.varint()
	return r.done()
}

// kahan is a Neumaier compensated sum: c holds the low-order bits that sum
// lost, so sums of many floats (and sums of partial sums) stay accurate.
type kahan struct{ sum, c float64 }

func (k *kahan) add(x float64) {
	t := k.sum + x
	if math.Abs(k.sum) >= math.Abs(x) {
		k.c += (k.sum - t) + x
	} else {
		k.c += (x - t) + k.sum
	}
	k.sum = t
}

func (k *kahan) merge(o kahan) {
	k.add(o.sum)
	k.add(o.c)
}

func (k kahan) value() float64 { return k.sum + k.c }

// sumFloatAcc is Sum's accumulator for Float.
type sumFloatAcc struct {
	k kahan
	n int64
}

func (a *sumFloatAcc) Add(v any, _ int64) error {
	if v == nil {
		return nil
	}
	x, err := AsFloat(v)
	if err != nil {
		return fmt.Errorf("sum: %w", err)
	}
	a.k.add(x)
	a.n++
	return nil
}

func (a *sumFloatAcc) Merge(other Accumulator) error {
	o, ok := other.(*sumFloatAcc)
	if !ok {
		return mismatch(a, other)
	}
	a.k.merge(o.k)
	a.n += o.n
	return nil
}

func (a *sumFloatAcc) Result() any {
	if a.n == 0 {
		return nil
	}
	return a.k.value()
}

func (a *sumFloatAcc) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, tagSumFloat)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(a.k.sum))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(a.k.c))
	return binary.AppendUvarint(b, uint64(a.n)), nil
}

func (a *sumFloatAcc) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }

func (a *sumFloatAcc) decode(b []byte) error {
	r := reader{b: b}
	a.k.sum, a.k.c = r.float(), r.float()
	a.n = r.count()
	return r.done()
}

// avgAcc is Avg's accumulator.
type avgAcc struct{ sumFloatAcc }

func (a *avgAcc) Add(v any, _ int64) error {
	if v == nil {
		return nil
	}
	x, err := AsFloat(v)
	if err != nil {
		return fmt.Errorf("avg: %w", err)
	}
	a.k.add(x)
	a.n++
	return nil
}

func (a *avgAcc) Merge(other Accumulator) error {
	o, ok := other.(*avgAcc)
	if !ok {
		return mismatch(a, other)
	}
	return a.sumFloatAcc.Merge(&o.sumFloatAcc)
}

func (a *avgAcc) Result() any {
	if a.n == 0 {
		return nil
	}
	return a.k.value() / float64(a.n)
}

func (a *avgAcc) AppendBinary(b []byte) ([]byte, error) {
	n := len(b)
	b, _ = a.sumFloatAcc.AppendBinary(b)
	b[n] = tagAvg
	return b, nil
}

func (a *avgAcc) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }

// AsInt converts an input value to an int64: Go integers, floats with no
// fractional part (JSON numbers decode to float64) and json.Number.
func AsInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return 0, fmt.Errorf("%d does not fit an int64", x)
		}
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d does not fit an int64", x)
		}
		return int64(x), nil
	case float64:
		return floatToInt(x)
	case float32:
		return floatToInt(float64(x))
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", string(x))
		}
		return floatToInt(f)
	}
	return 0, fmt.Errorf("want an integer, got a %T", v)
}

func floatToInt(f float64) (int64, error) {
	// 2^63 is the first float64 beyond int64's range.
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, fmt.Errorf("%v is not an int64", f)
	}
	return int64(f), nil
}

// AsFloat converts an input value to a float64: Go integers and floats, and
// json.Number. NaN is refused; infinities are taken.
func AsFloat(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case int:
		f = float64(x)
	case float32:
		f = float64(x)
	case int32:
		f = float64(x)
	case int16:
		f = float64(x)
	case int8:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint64:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint8:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, fmt.Errorf("%q is not a number", string(x))
		}
	default:
		return 0, fmt.Errorf("want a number, got a %T", v)
	}
	if math.IsNaN(f) {
		return 0, errors.New("NaN is not a number")
	}
	return f, nil
}

// AsString converts an input value to a string: strings and byte slices.
func AsString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	}
	return "", fmt.Errorf("want a string, got a %T", v)
}

// AsBool converts an input value to a bool.
func AsBool(v any) (bool, error) {
	if b, ok := v.(bool); ok {
		return b, nil
	}
	return false, fmt.Errorf("want a bool, got a %T", v)
}

// AsTime converts an input value to a time: a time.Time or an RFC 3339
// string, within the years 1678 to 2261 (nanoseconds since 1970 in an
// int64).
func AsTime(v any) (time.Time, error) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		var err error
		if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", x)
		}
	default:
		return time.Time{}, fmt.Errorf("want a time, got a %T", v)
	}
	if y := t.Year(); y < 1678 || y > 2261 {
		return time.Time{}, fmt.Errorf("time %s is outside the years 1678 to 2261", t.Format(time.RFC3339))
	}
	return t, nil
}

func validIdentifier(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// reader decodes accumulator encodings; the first error sticks, and
// reads after it return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(errors.New("bad flag"))
	return false
}

func (r *reader) varint() int64 {
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *reader) uvarint() uint64 {
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[k:]
	return n
}

// count reads a non-negative int64.
func (r *reader) count() int64 {
	n := r.uvarint()
	if n > math.MaxInt64 {
		r.fail(errors.New("count out of range"))
		return 0
	}
	return int64(n)
}

func (r *reader) float() float64 {
	if len(r.b) < 8 {
		r.fail(errTruncated)
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return f
}

// bytes reads a length-prefixed byte string, aliasing r's buffer.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(errTruncated)
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) done() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) > 0 {
		return errTrailing
	}
	return nil
}
