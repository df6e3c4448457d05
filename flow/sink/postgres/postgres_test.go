package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/sqltable"
	"github.com/sluicehq/sluice/flow/sink/warehousetest"
)

// dsnEnv names the database the tests use; .ci/start-postgres starts one.
const dsnEnv = "SLUICE_TEST_POSTGRES_DSN"

// testDSN returns the test database's DSN, or skips the test without one
// (fails under CI=true, where .ci/run starts a server).
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		msg := dsnEnv + " is not set: start a server with eval \"$(bash .ci/start-postgres --fast)\" (needs Debian's postgresql package)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dsn
}

// testSchema is a new schema name for one test, dropped when it ends.
func testSchema(t testing.TB, dsn string) string {
	t.Helper()
	schema := fmt.Sprintf("sluice_test_%d_%x", os.Getpid(), rand.Uint64())
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+sqltable.Quote(schema)+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	return schema
}

func newSink(t testing.TB, opts ...Option) (*Sink, string) {
	t.Helper()
	dsn := testDSN(t)
	schema := testSchema(t, dsn)
	s, err := New(t.Context(), dsn, append([]Option{WithSchema(schema)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, schema
}

func query(t testing.TB, q string, args ...any) [][]any {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func exec(t testing.TB, q string) {
	t.Helper()
	ctx := context.Background() // runs in cleanups too
	conn, err := pgx.Connect(ctx, testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

var methods = []struct {
	name string
	m    upsertMethod
}{{"auto", upsertAuto}, {"unnest", upsertUnnest}, {"copy", upsertCopy}}

func TestSink_Open(t *testing.T) {
	s, schema := newSink(t)
	tb := warehousetest.CounterTable()
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	got := query(t, `SELECT column_name, data_type, is_nullable FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = 'views' ORDER BY ordinal_position`, schema)
	want := "[[pipeline text NO] [window_start timestamp with time zone NO] [window_end timestamp with time zone NO] " +
		"[writer bigint NO] [page text NO] [views bigint YES] [bytes double precision YES] [final boolean NO] " +
		"[updated_at timestamp with time zone NO]]"
	if fmt.Sprint(got) != want {
		t.Errorf("columns\n got %v\nwant %v", got, want)
	}
	pk := query(t, `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
		sqltable.Qualified(schema, "views"))
	if fmt.Sprint(pk) != "[[pipeline] [window_start] [window_end] [writer] [page]]" {
		t.Errorf("primary key %v", pk)
	}
}

// TestSink_Open_Concurrent opens one table from many sinks at once, as the
// workers of a pipeline do when they start together.
func TestSink_Open_Concurrent(t *testing.T) {
	dsn := testDSN(t)
	schema := testSchema(t, dsn)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			s, err := New(t.Context(), dsn, WithSchema(schema))
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Open(t.Context(), warehousetest.CounterTable())
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestSink_Open_Quoting uses a schema and prefix that are not plain
// identifiers: they are quoted, never spliced.
func TestSink_Open_Quoting(t *testing.T) {
	dsn := testDSN(t)
	schema := testSchema(t, dsn) + `; DROP "x" 'y'`
	t.Cleanup(func() { exec(t, "DROP SCHEMA IF EXISTS "+sqltable.Quote(schema)+" CASCADE") })
	s, err := New(t.Context(), dsn, WithSchema(schema), WithTablePrefix(`Odd "Prefix" `))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tb := warehousetest.CounterTable()
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(t.Context(), tb, warehousetest.CounterRows(1, 1)); err != nil {
		t.Fatal(err)
	}
	got := query(t, "SELECT count(*) FROM "+sqltable.Qualified(schema, `Odd "Prefix" views`))
	if fmt.Sprint(got) != "[[30]]" {
		t.Errorf("got %v", got)
	}
}

func TestSink_Open_TableDoesNotFit(t *testing.T) {
	for _, tc := range []struct {
		name, ddl, want string
	}{
		{"wrong type", `CREATE TABLE %s (pipeline text, window_start timestamptz, window_end timestamptz,
			writer bigint, page bigint, views bigint, bytes float8, final boolean NOT NULL, updated_at timestamptz NOT NULL,
			PRIMARY KEY (pipeline, window_start, window_end, writer, page))`, "column page is bigint, want text"},
		{"timestamp without time zone", `CREATE TABLE %s (pipeline text, window_start timestamp, window_end timestamptz,
			writer bigint, page text, views bigint, bytes float8, final boolean NOT NULL, updated_at timestamptz NOT NULL,
			PRIMARY KEY (pipeline, window_start, window_end, writer, page))`,
			"column window_start is timestamp without time zone, want timestamp with time zone"},
		{"missing column", `CREATE TABLE %s (pipeline text, window_start timestamptz, window_end timestamptz,
			writer bigint, page text, views bigint, final boolean NOT NULL, updated_at timestamptz NOT NULL,
			PRIMARY KEY (pipeline, window_start, window_end, writer, page))`, "column bytes is missing"},
		{"no primary key", `CREATE TABLE %s (pipeline text, window_start timestamptz, window_end timestamptz,
			writer bigint, page text, views bigint, bytes float8, final boolean NOT NULL, updated_at timestamptz NOT NULL)`,
			"primary key is none, want (pipeline, window_start, window_end, writer, page)"},
		{"other primary key", `CREATE TABLE %s (pipeline text, window_start timestamptz, window_end timestamptz,
			writer bigint, page text, views bigint, bytes float8, final boolean NOT NULL, updated_at timestamptz NOT NULL,
			PRIMARY KEY (window_start, writer, page))`, "primary key is (window_start, writer, page)"},
		{"nullable final", `CREATE TABLE %s (pipeline text, window_start timestamptz, window_end timestamptz,
			writer bigint, page text, views bigint, bytes float8, final boolean, updated_at timestamptz NOT NULL,
			PRIMARY KEY (pipeline, window_start, window_end, writer, page))`, "column final is nullable, want NOT NULL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, schema := newSink(t)
			exec(t, "CREATE SCHEMA "+sqltable.Quote(schema))
			exec(t, fmt.Sprintf(tc.ddl, sqltable.Qualified(schema, "views")))
			err := s.Open(t.Context(), warehousetest.CounterTable())
			if !errors.Is(err, sqltable.ErrMismatch) {
				t.Fatalf("Open: %v, want ErrMismatch", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v, want it to say %q", err, tc.want)
			}
			if err := s.Write(t.Context(), warehousetest.CounterTable(), warehousetest.CounterRows(1, 1)); err == nil {
				t.Error("Write to a table that failed to open succeeded")
			}
		})
	}
}

func TestSink_Write_Upsert(t *testing.T) {
	for _, m := range methods {
		t.Run(m.name, func(t *testing.T) {
			s, schema := newSink(t)
			s.o.method = m.m
			tb := warehousetest.CounterTable()
			if err := s.Open(t.Context(), tb); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := s.Write(t.Context(), tb, warehousetest.CounterRows(1, i)); err != nil {
					t.Fatal(err)
				}
			}
			batch := append(warehousetest.CounterRows(1, 7), warehousetest.CounterRows(1, 8)...)
			if err := s.Write(t.Context(), tb, batch); err != nil {
				t.Fatal(err)
			}
			got := query(t, "SELECT count(*), min(views), max(views), min(bytes), bool_and(final) FROM "+
				sqltable.Qualified(schema, "views"))
			if want := "[[30 8000 8009 8.5 false]]"; fmt.Sprint(got) != want {
				t.Errorf("got %v, want %v", got, want)
			}
			if err := s.Write(t.Context(), tb, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSink_Write_Types(t *testing.T) {
	for _, m := range methods {
		t.Run(m.name, func(t *testing.T) {
			now := time.Date(2026, 3, 1, 13, 0, 0, 123456789, time.UTC)
			s, schema := newSink(t, WithClock(func() time.Time { return now }))
			s.o.method = m.m
			tb := warehousetest.TypesTable()
			if err := s.Open(t.Context(), tb); err != nil {
				t.Fatal(err)
			}
			if err := s.Write(t.Context(), tb, warehousetest.TypesRows()); err != nil {
				t.Fatal(err)
			}
			got := query(t, "SELECT * FROM "+sqltable.Qualified(schema, "every_type")+" ORDER BY window_start, k_int")
			warehousetest.CheckRows(t, got, warehousetest.TypesWant(now))
		})
	}
}

func TestSink_Write_BadRows(t *testing.T) {
	s, schema := newSink(t)
	tb := warehousetest.CounterTable()
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		row  flow.Row
		want string
	}{
		{"nil key", flow.Row{Window: warehousetest.Window(0), Keys: []any{nil, "/"}, Values: []any{int64(1), 1.0}}, "key writer is nil"},
		{"wrong type", flow.Row{Window: warehousetest.Window(0), Keys: []any{int64(1), "/"}, Values: []any{"1", 1.0}}, "string is not a int64"},
		{"NUL in text", flow.Row{Window: warehousetest.Window(0), Keys: []any{int64(1), "a\x00b"}, Values: []any{int64(1), 1.0}}, "without NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Write(t.Context(), tb, []flow.Row{warehousetest.CounterRows(1, 1)[0], tc.row})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write: %v, want it to say %q", err, tc.want)
			}
		})
	}
	if got := query(t, "SELECT count(*) FROM "+sqltable.Qualified(schema, "views")); fmt.Sprint(got) != "[[0]]" {
		t.Errorf("rows stored by failed writes: %v", got)
	}
}

// TestSink_Write_Concurrent writes overlapping rows from two goroutines of
// one sink and from a second sink (a second pool, as a second process has).
func TestSink_Write_Concurrent(t *testing.T) {
	a, schema := newSink(t)
	b, err := New(t.Context(), testDSN(t), WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tb := warehousetest.CounterTable()
	if err := a.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	if err := b.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	warehousetest.WriteConcurrently(t, tb, 20, a, a, b)
	got := query(t, "SELECT writer, count(*), min(views), max(views) FROM "+sqltable.Qualified(schema, "views")+
		" GROUP BY writer ORDER BY writer")
	if want := "[[0 30 19000 19009] [1 30 19000 19009]]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSink_Write_LargeBatch(t *testing.T) {
	for _, m := range methods[:2] { // auto copies a batch this large; unnest does not
		t.Run(m.name, func(t *testing.T) {
			s, schema := newSink(t)
			s.o.method = m.m
			tb := warehousetest.CounterTable()
			if err := s.Open(t.Context(), tb); err != nil {
				t.Fatal(err)
			}
			const n = 20_000
			rows := make([]flow.Row, n)
			for i := range rows {
				rows[i] = flow.Row{Window: warehousetest.Window(i % 7), Keys: []any{int64(i), strconv.Itoa(i)}, Values: []any{int64(i), float64(i)}}
			}
			for range 2 {
				if err := s.Write(t.Context(), tb, rows); err != nil {
					t.Fatal(err)
				}
			}
			got := query(t, "SELECT count(*), sum(views)::bigint FROM "+sqltable.Qualified(schema, "views"))
			if want := fmt.Sprintf("[[%d %d]]", n, int64(n)*(n-1)/2); fmt.Sprint(got) != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestNew_BadConnString(t *testing.T) {
	_, err := New(t.Context(), "postgres://user:secret@127.0.0.1:badport/db")
	if err == nil {
		t.Fatal("New with a bad connection string succeeded")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the error shows the password: %v", err)
	}
}
