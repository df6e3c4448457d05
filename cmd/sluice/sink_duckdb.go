//go:build duckdb && cgo

package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/duckdb"
	"github.com/sluicehq/sluice/internal/flowfile"
)

// withDuckDB is true in a binary built with -tags duckdb.
const withDuckDB = true

// openDuckDBSink opens the DuckDB sink a pipeline file asks for. DuckDB is
// linked only into binaries built with -tags duckdb, so that a plain build
// of sluice (the server's first start from a fresh clone) stays fast, small
// and free of cgo: see "Build cost" in docs/ARCHITECTURE.md.
func openDuckDBSink(ctx context.Context, c flowfile.DuckDBSink) (flow.Sink, error) {
	opts := []duckdb.Option{duckdb.WithTablePrefix(c.TablePrefix.S)}
	if c.Schema.S != "" {
		opts = append(opts, duckdb.WithSchema(c.Schema.S))
	}
	if c.Exclusive {
		opts = append(opts, duckdb.WithExclusive())
	}
	if c.LockTimeout.D > 0 {
		opts = append(opts, duckdb.WithLockTimeout(c.LockTimeout.D))
	}
	return duckdb.New(ctx, c.Path.S, opts...)
}

// queryDuckDB runs query against the DuckDB file at path, opened read-only
// for the query alone, and prints the result as a table.
func queryDuckDB(ctx context.Context, path, query string, w io.Writer) error {
	db, err := sql.Open("duckdb", path+"?access_mode=READ_ONLY")
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("query %s: %w", path, err)
	}
	return printRows(rows, w)
}
