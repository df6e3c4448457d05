//go:build duckdb && cgo

package main

import (
	"context"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/duckdb"
)

// withDuckDB is true in a binary built with -tags duckdb.
const withDuckDB = true

// openDuckDBSink opens the DuckDB sink a pipeline file asks for. DuckDB is
// linked only into binaries built with -tags duckdb, so that a plain build
// of sluice (the server's first start from a fresh clone) stays fast, small
// and free of cgo: see "Build cost" in docs/ARCHITECTURE.md.
func openDuckDBSink(ctx context.Context, c duckdbSinkConfig) (flow.Sink, error) {
	opts := []duckdb.Option{duckdb.WithSchema(c.schema()), duckdb.WithTablePrefix(c.TablePrefix)}
	if c.Exclusive {
		opts = append(opts, duckdb.WithExclusive())
	}
	if c.LockTimeout > 0 {
		opts = append(opts, duckdb.WithLockTimeout(c.LockTimeout))
	}
	return duckdb.New(ctx, c.Path, opts...)
}
