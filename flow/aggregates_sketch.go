package flow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
	"github.com/axiomhq/hyperloglog"
	"github.com/cespare/xxhash/v2"
)

// hllPrecision is CountDistinct's HyperLogLog precision: 2^14 registers, a
// standard error of 1.04/sqrt(2^14) = 0.81 %, 16 KiB per accumulator at
// most (a sparse encoding, exact up to a few hundred values, until then).
const hllPrecision = 14

// CountDistinct estimates the number of distinct values of in with a
// HyperLogLog sketch (github.com/axiomhq/hyperloglog, precision 14): a
// standard error of 0.81 % (so within ±2.4 % for 99.7 % of results), exact
// in practice for small counts. Values are strings, byte slices, numbers
// (1 and 1.0 are the same value, "1" is another), bools and times. Its
// result is an Int, 0 for none.
func CountDistinct(name string, in Input) Aggregate {
	return mustAggregate(AggregateSpec{Func: "count_distinct", Name: name, Input: in})
}

func newCountDistinct(name string, in Input) Aggregate {
	return newBuiltin(name, Int, in, tagCountDistinct, func() Accumulator { return new(countDistinctAcc) })
}

// countDistinctAcc is CountDistinct's accumulator; its sketch is made on the
// first value, so an empty one costs a pointer.
type countDistinctAcc struct{ sk *hyperloglog.Sketch }

func (a *countDistinctAcc) Add(v any, _ int64) error {
	if v == nil {
		return nil
	}
	h, err := distinctHash(v)
	if err != nil {
		return fmt.Errorf("count_distinct: %w", err)
	}
	if a.sk == nil {
		a.sk, _ = hyperloglog.NewSketch(hllPrecision, true)
	}
	a.sk.InsertHash(h)
	return nil
}

// Seeds that keep the hashes of numbers, bools and times apart from each
// other's (strings are hashed with xxhash, unseeded).
const (
	seedInt   = 0x9e3779b97f4a7c15
	seedFloat = 0xc2b2ae3d27d4eb4f
	seedBool  = 0x165667b19e3779f9
	seedTime  = 0x27d4eb2f165667c5
)

// distinctHash is a 64-bit hash of v in which equal values of the kinds
// CountDistinct takes hash alike.
func distinctHash(v any) (uint64, error) {
	switch x := v.(type) {
	case string:
		return xxhash.Sum64String(x), nil
	case []byte:
		return xxhash.Sum64(x), nil
	case bool:
		return mix64(seedBool + uint64(boolByte(x))), nil
	case time.Time:
		return mix64(uint64(x.UnixNano()) ^ seedTime), nil
	case int64:
		return mix64(uint64(x) ^ seedInt), nil
	case int:
		return mix64(uint64(x) ^ seedInt), nil
	}
	f, err := AsFloat(v)
	if err != nil {
		return 0, fmt.Errorf("want a string, number, bool or time, got a %T", v)
	}
	// Integral numbers hash as integers, so 1 and 1.0 are one value.
	if n, err := AsInt(v); err == nil {
		return mix64(uint64(n) ^ seedInt), nil
	}
	return mix64(math.Float64bits(f) ^ seedFloat), nil
}

// mix64 is SplitMix64's finaliser: a bijection on 64 bits whose output bits
// each depend on every input bit, as HyperLogLog needs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func (a *countDistinctAcc) Merge(other Accumulator) error {
	o, ok := other.(*countDistinctAcc)
	if !ok {
		return mismatch(a, other)
	}
	if o.sk == nil {
		return nil
	}
	if a.sk == nil {
		a.sk = o.sk.Clone()
		return nil
	}
	return a.sk.Merge(o.sk)
}

func (a *countDistinctAcc) Result() any {
	if a.sk == nil {
		return int64(0)
	}
	return int64(a.sk.Estimate())
}

func (a *countDistinctAcc) AppendBinary(b []byte) ([]byte, error) {
	if a.sk == nil {
		return append(b, tagCountDistinct, 0), nil
	}
	b, err := a.sk.AppendBinary(append(b, tagCountDistinct, 1))
	if err != nil {
		return nil, fmt.Errorf("encode count_distinct: %w", err)
	}
	return b, nil
}

func (a *countDistinctAcc) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }

func (a *countDistinctAcc) decode(b []byte) error {
	r := reader{b: b}
	if !r.bool() {
		return r.done()
	}
	// The sketch's header: version, precision, bias, sparse flag.
	if len(r.b) < 2 || r.b[1] != hllPrecision {
		return errors.New("not a sketch of precision 14")
	}
	a.sk = new(hyperloglog.Sketch)
	return a.sk.UnmarshalBinary(r.b)
}

// Percentile's sketch: DDSketch with a logarithmic mapping of 1 % relative
// accuracy and at most 2048 bins per sign, which cover values across 17
// orders of magnitude before the smallest ones are collapsed together.
const (
	percentileAccuracy = 0.01
	percentileMaxBins  = 2048
)

// percentileMapping is shared by every percentile sketch: it is immutable.
var percentileMapping = func() *mapping.LogarithmicMapping {
	m, err := mapping.NewLogarithmicMapping(percentileAccuracy)
	if err != nil {
		panic(err)
	}
	return m
}()

// Percentile estimates the q-quantile (0.5 for the median, 0.99 for p99) of
// the numeric values of in with a DDSketch (github.com/DataDog/sketches-go):
// the result is within 1 % (relative) of the value of rank floor(q·(n−1))
// among the n values in order, whatever their distribution, as long as the
// values span fewer than 17 orders of magnitude on each side of zero (beyond
// that the values nearest zero lose accuracy first, so high quantiles stay
// exact). A sketch holds about 8 bytes per 2 % of range its values cover
// (1 ms to 10 s: 3.7 KiB). Its result is a Float, nil for no values.
func Percentile(name string, q float64, in Input) Aggregate {
	return mustAggregate(AggregateSpec{Func: "percentile", Name: name, Quantile: q, Input: in})
}

func newPercentile(name string, q float64, in Input) Aggregate {
	return newBuiltin(name, Float, in, tagPercentile, func() Accumulator { return &percentileAcc{q: q} })
}

// percentileAcc is Percentile's accumulator; its sketch is made on the
// first value.
type percentileAcc struct {
	q  float64
	sk *ddsketch.DDSketch
}

func newSketch() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(percentileMapping,
		store.NewCollapsingLowestDenseStore(percentileMaxBins),
		store.NewCollapsingLowestDenseStore(percentileMaxBins))
}

func (a *percentileAcc) Add(v any, _ int64) error {
	if v == nil {
		return nil
	}
	x, err := AsFloat(v)
	if err != nil {
		return fmt.Errorf("percentile: %w", err)
	}
	if math.Abs(x) > percentileMapping.MaxIndexableValue() {
		return fmt.Errorf("percentile: %v is beyond the sketch's range (±%g)", x, percentileMapping.MaxIndexableValue())
	}
	if a.sk == nil {
		a.sk = newSketch()
	}
	return a.sk.Add(x)
}

func (a *percentileAcc) Merge(other Accumulator) error {
	// Sketches merge whatever quantile they are read at.
	o, ok := other.(*percentileAcc)
	if !ok {
		return mismatch(a, other)
	}
	if o.sk == nil {
		return nil
	}
	if a.sk == nil {
		a.sk = newSketch()
	}
	return a.sk.MergeWith(o.sk)
}

func (a *percentileAcc) Result() any {
	if a.sk == nil || a.sk.IsEmpty() {
		return nil
	}
	v, err := a.sk.GetValueAtQuantile(a.q)
	if err != nil {
		return nil
	}
	return v
}

// The encoding: the zero count, then the bins of the positive and the
// negative store, each as a bin count and (index delta, count) pairs.
// Counts are whole numbers: values are only ever added one at a time.
func (a *percentileAcc) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, tagPercentile)
	if a.sk == nil {
		return append(b, 0, 0, 0), nil
	}
	b = binary.AppendUvarint(b, uint64(a.sk.GetZeroCount()))
	for _, s := range []store.Store{a.sk.GetPositiveValueStore(), a.sk.GetNegativeValueStore()} {
		n := 0
		s.ForEach(func(int, float64) bool { n++; return false })
		b = binary.AppendUvarint(b, uint64(n))
		prev := 0
		s.ForEach(func(index int, count float64) bool {
			b = binary.AppendVarint(b, int64(index-prev))
			b = binary.AppendUvarint(b, uint64(count))
			prev = index
			return false
		})
	}
	return b, nil
}

func (a *percentileAcc) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }

// percentileIndexes bounds the bin indexes a decoded sketch may hold: those
// of the values the mapping can index.
var percentileIndexes = struct{ min, max int64 }{
	int64(percentileMapping.Index(percentileMapping.MinIndexableValue())),
	int64(percentileMapping.Index(percentileMapping.MaxIndexableValue())),
}

func (a *percentileAcc) decode(b []byte) error {
	r := reader{b: b}
	zero := r.count()
	pos, neg := store.NewCollapsingLowestDenseStore(percentileMaxBins), store.NewCollapsingLowestDenseStore(percentileMaxBins)
	empty := zero == 0
	for _, s := range []store.Store{pos, neg} {
		n := r.uvarint()
		if n > uint64(len(r.b))/2 { // a bin takes two bytes at least
			return errTruncated
		}
		type bin struct{ index, count int64 }
		bins := make([]bin, n)
		index := int64(0)
		for i := range bins {
			index += r.varint()
			count := r.count()
			if r.err != nil {
				return r.err
			}
			if index < percentileIndexes.min || index > percentileIndexes.max || count == 0 || count > 1<<53 {
				return errors.New("bin out of range")
			}
			bins[i] = bin{index, count}
		}
		// The outermost bins first, so that the store is sized once.
		for i := range bins {
			j := i
			switch {
			case len(bins) < 3:
			case i == 1:
				j = len(bins) - 1
			case i == len(bins)-1:
				j = 1
			}
			s.AddWithCount(int(bins[j].index), float64(bins[j].count))
			empty = false
		}
	}
	if err := r.done(); err != nil {
		return err
	}
	if empty {
		return nil
	}
	a.sk = ddsketch.NewDDSketch(percentileMapping, pos, neg)
	if zero > 1<<53 {
		return errors.New("zero count out of range")
	}
	return a.sk.AddWithCount(0, float64(zero))
}
