package flow

// Aggregate is an aggregate function over a window's records of one key:
// count, sum, min, max, avg, first/last, count-distinct, percentiles, or a
// user-defined one. Accumulators must be mergeable, because a pipeline
// pre-aggregates each source shard and merges the partial results of all
// shards for a key (after a repartition edge), and serialisable, because
// partials cross that edge as records.
type Aggregate interface {
	// Name is the result column's name.
	Name() string
	// Type is the result column's type.
	Type() ColumnType
	// Input reads the aggregate's input value from a pipeline record (the
	// value the pipeline's decode and map steps produced). A nil value means
	// the record has none: accumulators skip it, as SQL aggregates skip NULL.
	// An error means the record cannot be read this way (a record of another
	// type than the input expects).
	Input(record any) (any, error)
	// New returns an empty accumulator.
	New() Accumulator
	// Unmarshal decodes an accumulator written by Accumulator.MarshalBinary.
	Unmarshal(b []byte) (Accumulator, error)
}

// Accumulator holds the state of one aggregate for one key in one window.
type Accumulator interface {
	// Add folds in one input value (what Aggregate.Input returned for a
	// record) and its event time in Unix milliseconds. A nil value is
	// skipped. An error (a value of a type the aggregate cannot take) leaves
	// the accumulator as it was.
	Add(v any, eventTimeMillis int64) error
	// Merge folds in another accumulator of the same aggregate.
	Merge(other Accumulator) error
	// Result is the aggregate's value, of the Go type of its ColumnType, or
	// nil when it has none.
	Result() any
	// MarshalBinary encodes the state for Aggregate.Unmarshal.
	MarshalBinary() ([]byte, error)
}
