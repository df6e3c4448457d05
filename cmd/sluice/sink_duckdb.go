//go:build duckdb && cgo

package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

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

// printRows prints a query's result as an aligned table.
func printRows(rows *sql.Rows, w io.Writer) error {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		cells := make([]string, len(cols))
		for i, v := range vals {
			cells[i] = formatCell(v)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	tw.Flush()
	fmt.Fprintf(w, "(%d rows)\n", n)
	return nil
}

func formatCell(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999")
	case float64:
		return strconv.FormatFloat(x, 'g', 6, 64)
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}
