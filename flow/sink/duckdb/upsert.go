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

// How a batch is upserted. The benchmarks compare them (see
// docs/benchmarks.md); the sink uses upsertQueryAppender.
type upsertMethod int

const (
	// upsertQueryAppender appends the rows to a query appender whose query
	// is the INSERT … SELECT … FROM appended_data ON CONFLICT upsert.
	upsertQueryAppender upsertMethod = iota
	// upsertStage appends the rows to a temporary staging table, then runs
	// INSERT … SELECT … FROM the stage ON CONFLICT.
	upsertStage
	// upsertValues binds the rows as parameters of INSERT … VALUES (…), …
	// ON CONFLICT, in statements of up to valuesRows rows.
	upsertValues
)

// valuesRows bounds the rows of one INSERT … VALUES statement.
const valuesRows = 256

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
	switch s.method {
	case upsertStage:
		err = s.upsertStage(ctx, tb, vals)
	case upsertValues:
		err = s.upsertValues(ctx, tb, vals)
	default:
		err = s.upsertQueryAppender(ctx, tb, vals)
	}
	if err != nil {
		return err
	}
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (s *Sink) upsertQueryAppender(ctx context.Context, tb *table, vals [][]any) error {
	return s.conn.Raw(func(dc any) error {
		a, err := duckdb.NewQueryAppender(dc.(driver.Conn), tb.appendQuery, "appended_data", tb.types, tb.colNames)
		if err != nil {
			return fmt.Errorf("appender: %w", err)
		}
		return appendRows(ctx, a, vals)
	})
}

func (s *Sink) upsertStage(ctx context.Context, tb *table, vals [][]any) error {
	if _, err := s.conn.ExecContext(ctx, "DELETE FROM "+tb.stage); err != nil {
		return fmt.Errorf("empty the staging table: %w", err)
	}
	err := s.conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppender(dc.(driver.Conn), "temp", "main", tb.stageName)
		if err != nil {
			return fmt.Errorf("appender: %w", err)
		}
		return appendRows(ctx, a, vals)
	})
	if err != nil {
		return err
	}
	if _, err := s.conn.ExecContext(ctx, tb.upsert); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return nil
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

func (s *Sink) upsertValues(ctx context.Context, tb *table, vals [][]any) error {
	for len(vals) > 0 {
		n := min(len(vals), valuesRows)
		args := make([]any, 0, n*len(vals[0]))
		for _, row := range vals[:n] {
			args = append(args, row...)
		}
		q := tb.layout.UpsertSQL(tb.name, tb.layout.ValuesSQL(n))
		if _, err := s.conn.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("upsert: %w", err)
		}
		vals = vals[n:]
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
