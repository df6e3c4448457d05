//go:build cgo

package duckdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/sluicehq/sluice/flow"
)

// upsert writes vals (prepared rows) into tb's table in one transaction.
func (s *Sink) upsert(ctx context.Context, tb *table, vals [][]any) (err error) {
	if _, err := s.conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			// Not ctx: the transaction must end even if ctx did.
			if _, rbErr := s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rbErr != nil {
				err = errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
			}
		}
	}()
	if err = s.appendUpsert(ctx, tb, vals); err != nil {
		return err
	}
	// A COMMIT that fails has rolled the transaction back already.
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// appendUpsert runs the upsert through a query appender: the rows go in as
// data chunks, which DuckDB treats as a table (appended_data) for the
// INSERT … SELECT … ON CONFLICT. That measured faster than a staging table
// or INSERT … VALUES with parameters (docs/benchmarks.md).
func (s *Sink) appendUpsert(ctx context.Context, tb *table, vals [][]any) error {
	return s.conn.Raw(func(dc any) error {
		a, err := duckdb.NewQueryAppender(dc.(driver.Conn), tb.appendQuery, "appended_data", tb.types, tb.colNames)
		if err != nil {
			return fmt.Errorf("appender: %w", err)
		}
		return appendRows(ctx, a, vals)
	})
}

func appendRows(ctx context.Context, a *duckdb.Appender, vals [][]any) error {
	args := make([]driver.Value, 0, len(vals[0]))
	for _, row := range vals {
		args = args[:0]
		for _, v := range row {
			args = append(args, v)
		}
		if err := a.AppendRow(args...); err != nil {
			a.Clear()
			a.Close()
			return fmt.Errorf("append: %w", err)
		}
	}
	if err := a.CloseWithCancel(ctx); err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	return nil
}

// typeInfos are the appender's column types for cols.
func typeInfos(cols []flow.Column) ([]duckdb.TypeInfo, error) {
	infos := make([]duckdb.TypeInfo, len(cols))
	for i, c := range cols {
		var t duckdb.Type
		switch c.Type {
		case flow.Int:
			t = duckdb.TYPE_BIGINT
		case flow.Float:
			t = duckdb.TYPE_DOUBLE
		case flow.String:
			t = duckdb.TYPE_VARCHAR
		case flow.Bool:
			t = duckdb.TYPE_BOOLEAN
		case flow.Timestamp:
			t = duckdb.TYPE_TIMESTAMP
		}
		info, err := duckdb.NewTypeInfo(t)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		infos[i] = info
	}
	return infos, nil
}
