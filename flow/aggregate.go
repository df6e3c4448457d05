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
	// New returns an empty accumulator.
	New() Accumulator
	// Unmarshal decodes an accumulator written by Accumulator.MarshalBinary.
	Unmarshal(b []byte) (Accumulator, error)
}

// Accumulator holds the state of one aggregate for one key in one window.
type Accumulator interface {
	// Add folds in one input value (a record's field, of whatever Go type the
	// pipeline's extractor returns) and its event time in Unix milliseconds.
	Add(v any, eventTimeMillis int64) error
	// Merge folds in another accumulator of the same aggregate.
	Merge(other Accumulator) error
	// Result is the aggregate's value, of the Go type of its ColumnType, or
	// nil when it has none.
	Result() any
	// MarshalBinary encodes the state for Aggregate.Unmarshal.
	MarshalBinary() ([]byte, error)
}
