// Package postgres is a flow sink that upserts window results into
// PostgreSQL tables through pgx, over a pool of connections.
//
// Each result table (flow.Table) is one SQL table laid out by sqltable: the
// pipeline, window_start and window_end (timestamptz), the keys, the values,
// final and updated_at, with the primary key (pipeline, window_start,
// window_end, keys…). Open creates the table if it is missing (and the
// schema, WithSchema) and checks that an existing one fits. Write upserts a
// batch in one transaction with INSERT … ON CONFLICT DO UPDATE, so a
// replayed batch leaves the same rows; any number of pipeline processes may
// write one table at once, and readers query it as any table.
//
// # Durability
//
// The sink's connections run with synchronous_commit = on whatever the
// server's default: a commit returns once its write-ahead log is flushed to
// disk (and to synchronous standbys, where the server has them), so when
// Write returns nil the rows survive a crash of the server. A server run
// with fsync = off gives that up for everyone.
//
//	s, err := postgres.New(ctx, "postgres://sluice@db.internal/analytics", postgres.WithSchema("clicks"))
//	...
//	defer s.Close()
//	// a pipeline calls Open once per table, then Write with batches of rows
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/sqltable"
)

// dialect is how PostgreSQL spells the column types.
var dialect = sqltable.Dialect{
	Name: "PostgreSQL",
	Types: map[flow.ColumnType]string{
		flow.Int: "bigint", flow.Float: "double precision", flow.String: "text",
		flow.Bool: "boolean", flow.Timestamp: "timestamptz",
	},
	CatalogTypes: map[flow.ColumnType]string{
		flow.Int: "bigint", flow.Float: "double precision", flow.String: "text",
		flow.Bool: "boolean", flow.Timestamp: "timestamp with time zone",
	},
}

// DefaultSchema is where tables go unless WithSchema says otherwise.
const DefaultSchema = "public"

// maxAttempts bounds the attempts at one batch that fail on a deadlock or a
// serialization failure (which can happen when another writer upserts the
// same rows at the same moment).
const maxAttempts = 3

// Sink upserts rows into tables of one PostgreSQL database. Its methods are
// safe for concurrent use.
type Sink struct {
	pool *pgxpool.Pool
	o    options

	mu     sync.Mutex
	tables map[string]*table // by pipeline and table name
}

var _ flow.Sink = (*Sink)(nil)

// String names the sink in a pipeline's registry item, without the
// connection string's credentials: postgres:host:port/database/schema.
func (s *Sink) String() string {
	c := s.pool.Config().ConnConfig
	return fmt.Sprintf("postgres:%s:%d/%s/%s", c.Host, c.Port, c.Database, s.o.schema)
}

type table struct {
	layout *sqltable.Layout
	name   string // schema-qualified and quoted
	upsert string // INSERT … SELECT … FROM unnest($1, …) ON CONFLICT …
	casts  []string
}

// Option configures a Sink.
type Option func(*options)

type options struct {
	schema string
	prefix string
	now    func() time.Time
	method upsertMethod
}

// WithSchema puts the tables in schema (created if missing) instead of
// public.
func WithSchema(schema string) Option { return func(o *options) { o.schema = schema } }

// WithTablePrefix prefixes every table's name with prefix ("clicks_", say).
func WithTablePrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithClock sets the clock that stamps updated_at (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New returns a sink on the database that connString names (a URL or
// key=value DSN, as pgx and libpq take it), with a pool of its own that
// Close closes. It checks that the database answers.
func New(ctx context.Context, connString string, opts ...Option) (*Sink, error) {
	o := options{schema: DefaultSchema, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.schema == "" {
		return nil, errors.New("postgres sink: empty schema name")
	}
	if strings.ContainsRune(o.schema+o.prefix, 0) {
		return nil, errors.New("postgres sink: schema or table prefix holds NUL")
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgx's error may quote the connection string, password and all.
		return nil, errors.New("postgres sink: cannot parse the connection string")
	}
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	cfg.ConnConfig.RuntimeParams["application_name"] = "sluice-flow"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres sink: connect to %s: %w", cfg.ConnConfig.Host, err)
	}
	return &Sink{pool: pool, o: o, tables: map[string]*table{}}, nil
}

func tableKey(t flow.Table) string { return t.Pipeline + "\x00" + t.Name }

// Open creates t's table (and the schema) if missing, and checks that an
// existing table fits t (the error then wraps sqltable.ErrMismatch).
func (s *Sink) Open(ctx context.Context, t flow.Table) error {
	l, err := sqltable.New(t)
	if err != nil {
		return fmt.Errorf("postgres sink: %w", err)
	}
	name := s.o.prefix + t.Name
	if len(name) > 63 {
		return fmt.Errorf("postgres sink: table name %s is longer than 63 bytes", name)
	}
	tb := &table{layout: l, name: sqltable.Qualified(s.o.schema, name)}
	tb.upsert, tb.casts = unnestUpsert(l, tb.name)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Workers open the same table at once; CREATE … IF NOT EXISTS is
		// not safe against that in PostgreSQL, so they take turns.
		lock := "sluice.flow.sink.postgres:" + s.o.schema + "." + name
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		// Creating only what is missing spares a user who may not create
		// objects the privilege check IF NOT EXISTS makes first.
		var haveSchema, haveTable bool
		err := tx.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
			to_regclass($2) IS NOT NULL`, s.o.schema, tb.name).Scan(&haveSchema, &haveTable)
		if err != nil {
			return fmt.Errorf("look up %s: %w", tb.name, err)
		}
		if !haveSchema {
			if _, err := tx.Exec(ctx, "CREATE SCHEMA "+sqltable.Quote(s.o.schema)); err != nil {
				return fmt.Errorf("create schema %s: %w", s.o.schema, err)
			}
		}
		if !haveTable {
			if _, err := tx.Exec(ctx, l.CreateSQL(dialect, tb.name)); err != nil {
				return fmt.Errorf("create table: %w", err)
			}
		}
		return s.fit(ctx, tx, l, name, tb.name)
	})
	if err != nil {
		return fmt.Errorf("postgres sink: open %s: %w", tb.name, err)
	}
	s.mu.Lock()
	s.tables[tableKey(t)] = tb
	s.mu.Unlock()
	return nil
}

// fit reads the table's columns and primary key from the catalog and checks
// them against l.
func (s *Sink) fit(ctx context.Context, tx pgx.Tx, l *sqltable.Layout, name, quoted string) error {
	rows, err := tx.Query(ctx, `SELECT column_name, data_type, is_nullable = 'YES'
		FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2
		ORDER BY ordinal_position`, s.o.schema, name)
	if err != nil {
		return fmt.Errorf("read columns: %w", err)
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sqltable.CatalogColumn, error) {
		var c sqltable.CatalogColumn
		err := r.Scan(&c.Name, &c.Type, &c.Nullable)
		return c, err
	})
	if err != nil {
		return fmt.Errorf("read columns: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = to_regclass($1) AND i.indisprimary`, quoted)
	if err != nil {
		return fmt.Errorf("read primary key: %w", err)
	}
	pk, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("read primary key: %w", err)
	}
	return l.Fit(dialect, quoted, cols, pk)
}

// Write upserts rows into t's table in one transaction. When it returns nil
// the transaction is committed and flushed to disk.
func (s *Sink) Write(ctx context.Context, t flow.Table, rows []flow.Row) error {
	s.mu.Lock()
	tb := s.tables[tableKey(t)]
	s.mu.Unlock()
	if tb == nil {
		return fmt.Errorf("postgres sink: write %s of pipeline %s: table not opened", t.Name, t.Pipeline)
	}
	vals, err := tb.layout.Prepare(rows, s.o.now())
	if err != nil {
		return fmt.Errorf("postgres sink: write %s: %w", tb.name, err)
	}
	if len(vals) == 0 {
		return nil
	}
	for attempt := 1; ; attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return s.upsert(ctx, tx, tb, vals)
		})
		if err == nil || attempt == maxAttempts || !retryable(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("postgres sink: write %d rows to %s: %w", len(vals), tb.name, err)
	}
	return nil
}

// retryable reports whether err is a conflict with a concurrent transaction
// that the same transaction run again may not meet.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Close closes the sink's pool.
func (s *Sink) Close() error {
	s.pool.Close()
	return nil
}
