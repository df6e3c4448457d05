//go:build cgo

package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2" // and the "duckdb" database/sql driver

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/sqltable"
)

// ErrLocked is wrapped by the error of an Open or Write that could not take
// the file within the lock timeout: another process (a writer, or a reader
// that keeps the file open) held it all along.
var ErrLocked = errors.New("database file is locked by another process")

// dialect is how DuckDB spells the column types.
var dialect = sqltable.Dialect{
	Name: "DuckDB",
	Types: map[flow.ColumnType]string{
		flow.Int: "BIGINT", flow.Float: "DOUBLE", flow.String: "VARCHAR",
		flow.Bool: "BOOLEAN", flow.Timestamp: "TIMESTAMP",
	},
	CatalogTypes: map[flow.ColumnType]string{
		flow.Int: "BIGINT", flow.Float: "DOUBLE", flow.String: "VARCHAR",
		flow.Bool: "BOOLEAN", flow.Timestamp: "TIMESTAMP",
	},
	FoldCase: true,
}

// alias is the name the file is attached under in the sink's in-memory
// DuckDB.
const alias = "sluice_sink"

// Defaults.
const (
	DefaultLockTimeout = 30 * time.Second
	DefaultSchema      = "main"
)

// Sink upserts rows into tables of one DuckDB file. Its methods are safe for
// concurrent use; writes take turns.
type Sink struct {
	path  string // absolute
	o     options
	db    *sql.DB   // in-memory; the file is attached to it
	conn  *sql.Conn // db's one connection, held: the file is attached to it
	guard *guard

	lockWait func() // called each time attach finds the file locked (tests)

	mu       sync.Mutex
	tables   map[string]*table // by pipeline and table name
	attached bool              // WithExclusive: the file is attached
	closed   bool
}

var _ flow.Sink = (*Sink)(nil)

// String names the sink in a pipeline's registry item: duckdb:/path/file.db.
func (s *Sink) String() string { return "duckdb:" + s.path }

type table struct {
	layout *sqltable.Layout
	name   string // qualified and quoted, in the attached file

	appendQuery string            // the upsert from the query appender's rows
	types       []duckdb.TypeInfo // of the appended rows' columns
	colNames    []string          // of the appended rows' columns
}

// Option configures a Sink.
type Option func(*options)

type options struct {
	schema      string
	prefix      string
	exclusive   bool
	lockTimeout time.Duration
	log         *slog.Logger
	now         func() time.Time
}

// WithSchema puts the tables in schema (created if missing) instead of main.
func WithSchema(schema string) Option { return func(o *options) { o.schema = schema } }

// WithTablePrefix prefixes every table's name with prefix ("clicks_", say).
func WithTablePrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithExclusive keeps the file attached, and locked, from New to Close: a
// write costs no attach and checkpoint, but no other process may open the
// file meanwhile, not even to read it. Use it when one process writes and
// nobody reads until it stops.
func WithExclusive() Option { return func(o *options) { o.exclusive = true } }

// WithLockTimeout bounds how long Open and Write wait for a file another
// process holds before they fail with ErrLocked (default 30 s). The pipeline
// writes a failed batch again later.
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.lockTimeout = d } }

// WithLogger logs long waits for the file (nil, the default, logs nothing).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock that stamps updated_at (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New returns a sink writing to the DuckDB file at path, created at the
// first Open if it does not exist (its directory must). With WithExclusive
// it attaches the file at once.
func New(ctx context.Context, path string, opts ...Option) (*Sink, error) {
	o := options{schema: DefaultSchema, lockTimeout: DefaultLockTimeout, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.schema == "" {
		return nil, errors.New("duckdb sink: empty schema name")
	}
	if o.prefix != "" && strings.ContainsAny(o.prefix, "\"\x00") {
		return nil, fmt.Errorf("duckdb sink: table prefix %q holds a quote or NUL", o.prefix)
	}
	if o.lockTimeout <= 0 {
		return nil, fmt.Errorf("duckdb sink: lock timeout %s is not positive", o.lockTimeout)
	}
	abs, err := canonical(path)
	if err != nil {
		return nil, fmt.Errorf("duckdb sink %s: %w", path, err)
	}
	g, err := guards.acquire(abs, o.exclusive)
	if err != nil {
		return nil, fmt.Errorf("duckdb sink %s: %w", path, err)
	}
	s := &Sink{path: abs, o: o, guard: g, tables: map[string]*table{}}
	if err := s.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// start opens the in-memory database, and attaches the file if the sink is
// exclusive.
func (s *Sink) start(ctx context.Context) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return fmt.Errorf("duckdb sink: open in-memory database: %w", err)
	}
	s.db = db
	if s.conn, err = db.Conn(ctx); err != nil {
		return fmt.Errorf("duckdb sink: connect to in-memory database: %w", err)
	}
	if s.o.exclusive {
		return s.cycle(ctx, func(context.Context) error { return nil })
	}
	return nil
}

// canonical is path made absolute, with its directory's symlinks resolved:
// the key under which the Sinks of a process find each other.
func canonical(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", fmt.Errorf("directory: %w", err)
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

// Path is the database file's absolute path.
func (s *Sink) Path() string { return s.path }

// Open creates t's table if it is missing, and checks that an existing one
// fits t (the error then wraps sqltable.ErrMismatch).
func (s *Sink) Open(ctx context.Context, t flow.Table) error {
	l, err := sqltable.New(t)
	if err != nil {
		return fmt.Errorf("duckdb sink: %w", err)
	}
	name := s.o.prefix + t.Name
	tb := &table{layout: l, name: sqltable.Qualified(alias, s.o.schema, name)}
	tb.appendQuery = l.UpsertSQL(tb.name, "SELECT "+l.ColumnList()+" FROM appended_data")
	if tb.types, err = typeInfos(l.Columns()); err != nil {
		return fmt.Errorf("duckdb sink: %w", err)
	}
	for _, c := range l.Columns() {
		tb.colNames = append(tb.colNames, c.Name)
	}
	err = s.cycle(ctx, func(ctx context.Context) error {
		if !strings.EqualFold(s.o.schema, DefaultSchema) {
			q := "CREATE SCHEMA IF NOT EXISTS " + sqltable.Qualified(alias, s.o.schema)
			if _, err := s.conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("create schema %s: %w", s.o.schema, err)
			}
		}
		if _, err := s.conn.ExecContext(ctx, l.CreateSQL(dialect, tb.name)); err != nil {
			return fmt.Errorf("create table %s: %w", name, err)
		}
		return s.fit(ctx, l, name)
	})
	if err != nil {
		return fmt.Errorf("duckdb sink %s: open %s: %w", s.path, name, err)
	}
	s.mu.Lock()
	s.tables[tableKey(t)] = tb
	s.mu.Unlock()
	return nil
}

func tableKey(t flow.Table) string { return t.Pipeline + "\x00" + t.Name }

// fit reads the table's columns and primary key from the catalog and checks
// them against l.
func (s *Sink) fit(ctx context.Context, l *sqltable.Layout, name string) error {
	rows, err := s.conn.QueryContext(ctx, `SELECT column_name, data_type, is_nullable = 'YES'
		FROM information_schema.columns
		WHERE table_catalog = $1 AND lower(table_schema) = lower($2) AND lower(table_name) = lower($3)
		ORDER BY ordinal_position`, alias, s.o.schema, name)
	if err != nil {
		return fmt.Errorf("read columns of %s: %w", name, err)
	}
	var cols []sqltable.CatalogColumn
	for rows.Next() {
		var c sqltable.CatalogColumn
		if err := rows.Scan(&c.Name, &c.Type, &c.Nullable); err != nil {
			rows.Close()
			return fmt.Errorf("read columns of %s: %w", name, err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read columns of %s: %w", name, err)
	}
	rows, err = s.conn.QueryContext(ctx, `SELECT unnest(constraint_column_names)
		FROM duckdb_constraints()
		WHERE database_name = $1 AND lower(schema_name) = lower($2) AND lower(table_name) = lower($3)
		AND constraint_type = 'PRIMARY KEY'`, alias, s.o.schema, name)
	if err != nil {
		return fmt.Errorf("read primary key of %s: %w", name, err)
	}
	var pk []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return fmt.Errorf("read primary key of %s: %w", name, err)
		}
		pk = append(pk, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read primary key of %s: %w", name, err)
	}
	return l.Fit(dialect, sqltable.Qualified(s.o.schema, name), cols, pk)
}

// Write upserts rows into t's table in one transaction. When it returns nil
// the rows are committed, checkpointed into the file and synced.
func (s *Sink) Write(ctx context.Context, t flow.Table, rows []flow.Row) error {
	s.mu.Lock()
	tb := s.tables[tableKey(t)]
	s.mu.Unlock()
	if tb == nil {
		return fmt.Errorf("duckdb sink %s: write %s of pipeline %s: table not opened", s.path, t.Name, t.Pipeline)
	}
	vals, err := tb.layout.Prepare(rows, s.o.now())
	if err != nil {
		return fmt.Errorf("duckdb sink %s: write %s: %w", s.path, t.Name, err)
	}
	if len(vals) == 0 {
		return nil
	}
	err = s.cycle(ctx, func(ctx context.Context) error {
		return s.upsert(ctx, tb, vals)
	})
	if err != nil {
		return fmt.Errorf("duckdb sink %s: write %d rows to %s: %w", s.path, len(vals), t.Name, err)
	}
	return nil
}

// Close detaches the file (WithExclusive) and releases the sink.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	attached := s.attached
	s.mu.Unlock()
	var errs []error
	if attached {
		ctx := context.Background()
		if err := s.guard.lock(ctx); err == nil {
			errs = append(errs, s.detach(ctx))
			s.guard.unlock()
		}
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	guards.release(s.path, s.guard)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("duckdb sink %s: close: %w", s.path, err)
	}
	return nil
}

// cycle runs fn with the file attached: it takes the process's turn on the
// file, attaches it (waiting out other processes), runs fn, detaches it
// unless the sink is exclusive, and syncs the directory.
func (s *Sink) cycle(ctx context.Context, fn func(context.Context) error) (err error) {
	if err := s.guard.lock(ctx); err != nil {
		return err
	}
	defer s.guard.unlock()
	s.mu.Lock()
	closed, attached := s.closed, s.attached
	s.mu.Unlock()
	if closed {
		return errors.New("sink is closed")
	}
	if !attached {
		if err := s.attach(ctx); err != nil {
			return err
		}
	}
	err = fn(ctx)
	if !s.o.exclusive {
		err = errors.Join(err, s.detach(ctx))
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(s.path))
}

// attach attaches the file, retrying while another process holds its lock.
func (s *Sink) attach(ctx context.Context) error {
	q := fmt.Sprintf("ATTACH %s AS %s", sqltable.QuoteString(s.path), sqltable.Quote(alias))
	start := time.Now()
	deadline := start.Add(s.o.lockTimeout)
	backoff := 2 * time.Millisecond
	warned := false
	for {
		_, err := s.conn.ExecContext(ctx, q)
		if err == nil {
			s.mu.Lock()
			s.attached = true
			s.mu.Unlock()
			return nil
		}
		if !isLocked(err) {
			return fmt.Errorf("attach: %w", err)
		}
		if s.lockWait != nil {
			s.lockWait()
		}
		waited := time.Since(start)
		if !warned && waited > 5*time.Second {
			warned = true
			s.o.log.Warn("waiting for a DuckDB file another process holds", "path", s.path, "waited", waited, "err", err)
		}
		if time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("attach: %w (waited %s): %v", ErrLocked, waited.Round(time.Millisecond), err)
		}
		// Jitter keeps waiting processes from retrying in step.
		d := backoff/2 + rand.N(backoff)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("attach: %w", ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// detach checkpoints the file and lets it go.
func (s *Sink) detach(ctx context.Context) error {
	// Not ctx: a detach must run even when the write was cancelled, or the
	// file would stay locked.
	_, err := s.conn.ExecContext(context.WithoutCancel(ctx), "DETACH DATABASE IF EXISTS "+sqltable.Quote(alias))
	if err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	s.mu.Lock()
	s.attached = false
	s.mu.Unlock()
	return nil
}

// isLocked reports whether err is DuckDB failing to take a file's lock.
func isLocked(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Could not set lock on file") || strings.Contains(msg, "Conflicting lock is held")
}

// syncDir fsyncs a directory, so that files created or removed in it (the
// database, its write-ahead log) stay so after a crash.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there, nor need to be
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
