package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/sqltable"
)

// How a batch is upserted. The benchmarks compare them (see
// docs/benchmarks.md); the sink uses upsertAuto.
type upsertMethod int

const (
	// upsertAuto is upsertUnnest up to copyAbove rows, upsertCopy above.
	upsertAuto upsertMethod = iota
	// upsertUnnest sends each column as one array parameter of
	// INSERT … SELECT … FROM unnest($1, $2, …) ON CONFLICT: one statement,
	// prepared once, whatever the batch's size.
	upsertUnnest
	// upsertCopy copies the rows into a temporary table (COPY), then runs
	// INSERT … SELECT … FROM it ON CONFLICT.
	upsertCopy
)

// copyAbove is the batch size above which upsertAuto copies: unnest was the
// faster at 1,000 rows, COPY at 10,000 (docs/benchmarks.md).
const copyAbove = 5000

func (s *Sink) upsert(ctx context.Context, tx pgx.Tx, tb *table, vals [][]any) error {
	switch s.o.method {
	case upsertCopy:
		return upsertCopyMerge(ctx, tx, tb, vals)
	case upsertAuto:
		if len(vals) > copyAbove {
			return upsertCopyMerge(ctx, tx, tb, vals)
		}
	}
	cols := tb.layout.Columns()
	args := make([]any, len(cols))
	for c, col := range cols {
		switch col.Type {
		case flow.Int:
			args[c] = column[int64](vals, c)
		case flow.Float:
			args[c] = column[float64](vals, c)
		case flow.String:
			args[c] = column[string](vals, c)
		case flow.Bool:
			args[c] = column[bool](vals, c)
		case flow.Timestamp:
			args[c] = column[time.Time](vals, c)
		}
	}
	if _, err := tx.Exec(ctx, tb.upsert, args...); err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	return nil
}

// column is column c of vals as one typed slice, which pgx encodes as an
// array without reflection: []T, or []*T if the column holds a NULL.
func column[T any](vals [][]any, c int) any {
	plain := make([]T, len(vals))
	for r, row := range vals {
		v, ok := row[c].(T)
		if !ok {
			ptrs := make([]*T, len(vals))
			for r, row := range vals {
				if v, ok := row[c].(T); ok {
					ptrs[r] = &v
				}
			}
			return ptrs
		}
		plain[r] = v
	}
	return plain
}

// unnestUpsert is the upsert statement from one array parameter per column,
// and the parameters' array types.
func unnestUpsert(l *sqltable.Layout, name string) (string, []string) {
	cols := l.Columns()
	params := make([]string, len(cols))
	casts := make([]string, len(cols))
	for i, c := range cols {
		casts[i] = dialect.Types[c.Type] + "[]"
		params[i] = fmt.Sprintf("$%d::%s", i+1, casts[i])
	}
	source := fmt.Sprintf("SELECT * FROM unnest(%s)", strings.Join(params, ", "))
	return l.UpsertSQL(name, source), casts
}

func upsertCopyMerge(ctx context.Context, tx pgx.Tx, tb *table, vals [][]any) error {
	h := fnv.New32a()
	h.Write([]byte(tb.name))
	stage := fmt.Sprintf("sluice_stage_%08x", h.Sum32())
	q := fmt.Sprintf("CREATE TEMP TABLE IF NOT EXISTS %s (%s) ON COMMIT DELETE ROWS",
		sqltable.Quote(stage), tb.layout.ColumnDefs(dialect, false))
	if _, err := tx.Exec(ctx, q); err != nil {
		return fmt.Errorf("staging table: %w", err)
	}
	names := columnNames(tb.layout.Columns())
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, names, pgx.CopyFromRows(vals)); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	source := fmt.Sprintf("SELECT %s FROM %s", tb.layout.ColumnList(), sqltable.Quote(stage))
	if _, err := tx.Exec(ctx, tb.layout.UpsertSQL(tb.name, source)); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return nil
}

func columnNames(cols []flow.Column) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names
}
