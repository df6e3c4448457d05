package flow

import (
	"context"
	"time"
)

// Window is a half-open interval of event time, [Start, End).
type Window struct {
	Start time.Time
	End   time.Time
}

// ColumnType is the type of a result column, as a sink stores it.
type ColumnType int

const (
	// Int is a 64-bit signed integer (Go int64).
	Int ColumnType = iota + 1
	// Float is a 64-bit float (Go float64).
	Float
	// String is text (Go string).
	String
	// Bool is a boolean (Go bool).
	Bool
	// Timestamp is an instant (Go time.Time, UTC).
	Timestamp
)

// String returns the type's name as it appears in pipeline files and errors.
func (t ColumnType) String() string {
	switch t {
	case Int:
		return "int"
	case Float:
		return "float"
	case String:
		return "string"
	case Bool:
		return "bool"
	case Timestamp:
		return "timestamp"
	}
	return "unknown"
}

// Column names and types one column of a result table.
type Column struct {
	Name string
	Type ColumnType
}

// Table describes the results of one windowed aggregation: what a sink needs
// to create a table for them and to upsert their rows. A row is identified by
// (Pipeline, window start, window end, key columns); writing a row with the
// same identity again replaces it, which is what makes results exactly-once
// under replay.
type Table struct {
	// Pipeline is the pipeline's name, unique per deployment.
	Pipeline string
	// Name is the result's name (the table name in a warehouse), a valid SQL
	// identifier: letters, digits and underscores, not starting with a digit.
	Name string
	// Keys are the grouping key's columns, in order; may be empty (a global
	// aggregate).
	Keys []Column
	// Values are the aggregates' columns, in order.
	Values []Column
}

// Row is one result: the aggregates of one key in one window.
type Row struct {
	Window Window
	// Keys holds one value per Table.Keys column, of the column's Go type.
	Keys []any
	// Values holds one value per Table.Values column, of the column's Go type,
	// or nil where the aggregate has no value (the min of no numbers).
	Values []any
	// Final is false for an early or updated firing that may be replaced by a
	// later one (a late record within the allowed lateness), true once the
	// window is closed for good.
	Final bool
}

// Sink receives the results of a pipeline. The pipeline calls Open once per
// result table, then Write with batches of rows; a shard's checkpoint moves
// past the records behind a batch only after Write returned nil for it.
type Sink interface {
	// Open prepares the sink for rows of t: a warehouse creates the table if
	// it is missing (and fails if an existing table does not fit t).
	Open(ctx context.Context, t Table) error
	// Write stores rows of the table t, already opened. Rows are upserts by
	// (t.Pipeline, window, keys): writing the same row twice leaves one row,
	// with the values of the last write. When Write returns nil the rows are
	// durable (committed, fsynced, acknowledged); an error means none or some
	// of them may be stored, and the pipeline writes them all again later.
	Write(ctx context.Context, t Table, rows []Row) error
	// Close releases the sink's resources.
	Close() error
}
