//go:build !duckdb || !cgo

package main

import (
	"context"
	"io"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/internal/flowfile"
)

// withDuckDB is false in a binary built without -tags duckdb (or without cgo).
const withDuckDB = false

// openDuckDBSink fails: see sink_duckdb.go.
func openDuckDBSink(context.Context, flowfile.DuckDBSink) (flow.Sink, error) {
	return nil, errNoDuckDB
}

// queryDuckDB fails: see sink_duckdb.go.
func queryDuckDB(context.Context, string, string, io.Writer) error {
	return errNoDuckDB
}
