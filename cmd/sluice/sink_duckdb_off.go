//go:build !duckdb || !cgo

package main

import (
	"context"

	"github.com/sluicehq/sluice/flow"
)

// withDuckDB is false in a binary built without -tags duckdb (or without cgo).
const withDuckDB = false

// openDuckDBSink fails: see sink_duckdb.go.
func openDuckDBSink(context.Context, duckdbSinkConfig) (flow.Sink, error) {
	return nil, errNoDuckDB
}
