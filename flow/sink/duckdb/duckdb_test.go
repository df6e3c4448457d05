//go:build cgo

package duckdb

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/sqltable"
	"github.com/sluicehq/sluice/flow/sink/warehousetest"
)

// The test binary doubles as a second process (a writer, or a reader that
// holds the file) when started with helperEnv set.
const helperEnv = "SLUICE_DUCKDB_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := helper(mode, os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper runs as another process. "write": writes the rows of
// warehousetest.CounterRows(2, n) n times with its own values; "hold": opens the file
// read-only, says "held" and keeps it until stdin closes.
func helper(mode, path string) error {
	ctx := context.Background()
	switch mode {
	case "write":
		s, err := New(ctx, path)
		if err != nil {
			return err
		}
		defer s.Close()
		tb := warehousetest.CounterTable()
		if err := s.Open(ctx, tb); err != nil {
			return err
		}
		for i := range helperWrites {
			if err := s.Write(ctx, tb, warehousetest.CounterRows(2, i)); err != nil {
				return err
			}
		}
		return nil
	case "hold":
		db, err := sql.Open("duckdb", path+"?access_mode=READ_ONLY")
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.Ping(); err != nil {
			return err
		}
		fmt.Println("held")
		io.Copy(io.Discard, os.Stdin)
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

const helperWrites = 20

func startHelper(t *testing.T, mode, path string) (cmd *exec.Cmd, stdin io.WriteCloser, stdout *bufio.Reader) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(exe, "-test.run=^$", path)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	// Some tests expect the helper to fail: show what it said only when
	// the test fails.
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("helper %s said: %s", mode, stderr.String())
		}
	})
	return cmd, stdin, bufio.NewReader(out)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newSink(t testing.TB, path string, opts ...Option) *Sink {
	t.Helper()
	s, err := New(t.Context(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// query runs q against the file opened read-only (by a DuckDB instance of
// this process: only while no Sink has the file attached).
func query(t *testing.T, path, q string, args ...any) [][]any {
	t.Helper()
	db, err := sql.Open("duckdb", path+"?access_mode=READ_ONLY")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, path, table string) int64 {
	t.Helper()
	return query(t, path, "SELECT count(*) FROM "+table)[0][0].(int64)
}

func TestSink_Open(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	s := newSink(t, path)
	tb := warehousetest.CounterTable()
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	// Opening again, as every worker of a pipeline does, finds it fits.
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	got := query(t, path, `SELECT column_name, data_type, is_nullable FROM information_schema.columns
		WHERE table_name = 'views' ORDER BY ordinal_position`)
	want := [][]any{
		{"pipeline", "VARCHAR", "NO"}, {"window_start", "TIMESTAMP", "NO"}, {"window_end", "TIMESTAMP", "NO"},
		{"writer", "BIGINT", "NO"}, {"page", "VARCHAR", "NO"}, {"views", "BIGINT", "YES"}, {"bytes", "DOUBLE", "YES"},
		{"final", "BOOLEAN", "NO"}, {"updated_at", "TIMESTAMP", "NO"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("columns\n got %v\nwant %v", got, want)
	}
	pk := query(t, path, `SELECT constraint_column_names FROM duckdb_constraints()
		WHERE table_name = 'views' AND constraint_type = 'PRIMARY KEY'`)
	if fmt.Sprint(pk) != "[[[pipeline window_start window_end writer page]]]" {
		t.Errorf("primary key %v", pk)
	}
}

func TestSink_Open_SchemaAndPrefix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	s := newSink(t, path, WithSchema("analytics"), WithTablePrefix("clicks_"))
	tb := warehousetest.CounterTable()
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(t.Context(), tb, warehousetest.CounterRows(1, 1)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, path, "analytics.clicks_views"); n != 30 {
		t.Errorf("%d rows, want 30", n)
	}
}

func TestSink_Open_TableDoesNotFit(t *testing.T) {
	for _, tc := range []struct {
		name, ddl, want string
	}{
		{"wrong type", `CREATE TABLE views (pipeline VARCHAR, window_start TIMESTAMP, window_end TIMESTAMP,
			writer BIGINT, page BIGINT, views BIGINT, bytes DOUBLE, final BOOLEAN NOT NULL, updated_at TIMESTAMP NOT NULL,
			PRIMARY KEY (pipeline, window_start, window_end, writer, page))`, "column page is BIGINT, want VARCHAR"},
		{"missing column", `CREATE TABLE views (pipeline VARCHAR, window_start TIMESTAMP, window_end TIMESTAMP,
			writer BIGINT, page VARCHAR, views BIGINT, final BOOLEAN NOT NULL, updated_at TIMESTAMP NOT NULL,
			PRIMARY KEY (pipeline, window_start, window_end, writer, page))`, "column bytes is missing"},
		{"no primary key", `CREATE TABLE views (pipeline VARCHAR, window_start TIMESTAMP, window_end TIMESTAMP,
			writer BIGINT, page VARCHAR, views BIGINT, bytes DOUBLE, final BOOLEAN NOT NULL, updated_at TIMESTAMP NOT NULL)`,
			"primary key is none, want (pipeline, window_start, window_end, writer, page)"},
		{"other primary key", `CREATE TABLE views (pipeline VARCHAR, window_start TIMESTAMP, window_end TIMESTAMP,
			writer BIGINT, page VARCHAR, views BIGINT, bytes DOUBLE, final BOOLEAN NOT NULL, updated_at TIMESTAMP NOT NULL,
			PRIMARY KEY (pipeline, window_start, writer, page))`, "primary key is (pipeline, window_start, writer, page)"},
		{"value not nullable", `CREATE TABLE views (pipeline VARCHAR, window_start TIMESTAMP, window_end TIMESTAMP,
			writer BIGINT, page VARCHAR, views BIGINT NOT NULL, bytes DOUBLE, final BOOLEAN NOT NULL, updated_at TIMESTAMP NOT NULL,
			PRIMARY KEY (pipeline, window_start, window_end, writer, page))`, "column views is NOT NULL, want nullable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.duckdb")
			db, err := sql.Open("duckdb", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tc.ddl); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s := newSink(t, path)
			err = s.Open(t.Context(), warehousetest.CounterTable())
			if !errors.Is(err, sqltable.ErrMismatch) {
				t.Fatalf("Open: %v, want ErrMismatch", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v, want it to say %q", err, tc.want)
			}
			// Write refuses a table that was not opened.
			if err := s.Write(t.Context(), warehousetest.CounterTable(), warehousetest.CounterRows(1, 1)); err == nil {
				t.Error("Write to a table that failed to open succeeded")
			}
		})
	}
}

func TestSink_Open_BadTable(t *testing.T) {
	s := newSink(t, filepath.Join(t.TempDir(), "r.duckdb"))
	tb := warehousetest.CounterTable()
	tb.Name = "views; DROP TABLE x"
	if err := s.Open(t.Context(), tb); err == nil || !strings.Contains(err.Error(), "not an identifier") {
		t.Errorf("Open: %v, want an identifier error", err)
	}
	tb = warehousetest.CounterTable()
	tb.Values = append(tb.Values, flow.Column{Name: "final", Type: flow.Bool})
	if err := s.Open(t.Context(), tb); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("Open: %v, want a reserved-name error", err)
	}
}

func TestSink_Write_Upsert(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	s := newSink(t, path)
	tb := warehousetest.CounterTable()
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Write(t.Context(), tb, warehousetest.CounterRows(1, i)); err != nil {
			t.Fatal(err)
		}
	}
	// The same rows twice in one batch: the last one wins.
	batch := append(warehousetest.CounterRows(1, 7), warehousetest.CounterRows(1, 8)...)
	if err := s.Write(t.Context(), tb, batch); err != nil {
		t.Fatal(err)
	}
	got := query(t, path, `SELECT count(*), min(views), max(views), min(bytes), bool_and(final) FROM views`)
	if want := "[[30 8000 8009 8.5 false]]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %v", got, want)
	}
	// An empty batch writes nothing and needs no table lock.
	if err := s.Write(t.Context(), tb, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSink_Write_Types(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	now := time.Date(2026, 3, 1, 13, 0, 0, 123456789, time.UTC)
	s := newSink(t, path, WithClock(func() time.Time { return now }))
	tb := warehousetest.TypesTable()
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	rows := warehousetest.TypesRows()
	if err := s.Write(t.Context(), tb, rows); err != nil {
		t.Fatal(err)
	}
	got := query(t, path, `SELECT * FROM every_type ORDER BY window_start, k_int`)
	warehousetest.CheckRows(t, got, warehousetest.TypesWant(now))
}

func TestSink_Write_BadRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	s := newSink(t, path)
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
		{"too few values", flow.Row{Window: warehousetest.Window(0), Keys: []any{int64(1), "/"}, Values: []any{int64(1)}}, "1 values, want 2"},
		{"invalid UTF-8", flow.Row{Window: warehousetest.Window(0), Keys: []any{int64(1), "\xff"}, Values: []any{int64(1), 1.0}}, "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Write(t.Context(), tb, []flow.Row{warehousetest.CounterRows(1, 1)[0], tc.row})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write: %v, want it to say %q", err, tc.want)
			}
		})
	}
	if n := count(t, path, "views"); n != 0 {
		t.Errorf("%d rows stored by failed writes", n)
	}
}

// TestSink_Write_Reopen checks that rows survive the sink, and that a new
// sink on the file upserts over them.
func TestSink_Write_Reopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	tb := warehousetest.CounterTable()
	for i := range 2 {
		s, err := New(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Open(t.Context(), tb); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(t.Context(), tb, warehousetest.CounterRows(1, i)); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := query(t, path, "SELECT count(*), min(views) FROM views"); fmt.Sprint(got) != "[[30 1000]]" {
		t.Errorf("got %v", got)
	}
	if _, err := os.Stat(path + ".wal"); !os.IsNotExist(err) {
		t.Errorf("write-ahead log left behind: %v", err)
	}
}

// TestSink_Write_Concurrent writes from two goroutines on one sink, and from
// two sinks of this process on one file.
func TestSink_Write_Concurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	tb := warehousetest.CounterTable()
	a := newSink(t, path)
	b := newSink(t, path)
	if err := a.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	if err := b.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	warehousetest.WriteConcurrently(t, tb, 10, a, a, b)
	got := query(t, path, "SELECT writer, count(*), min(views), max(views) FROM views GROUP BY writer ORDER BY writer")
	if want := "[[0 30 9000 9009] [1 30 9000 9009]]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestSink_Write_TwoProcesses writes from another process and this one at
// once: they take turns on the file's lock.
func TestSink_Write_TwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	tb := warehousetest.CounterTable()
	s := newSink(t, path)
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	cmd, stdin, _ := startHelper(t, "write", path)
	stdin.Close()
	for i := range helperWrites {
		if err := s.Write(t.Context(), tb, warehousetest.CounterRows(1, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the other writer: %v", err)
	}
	got := query(t, path, "SELECT writer, count(*), min(views), max(views) FROM views GROUP BY writer ORDER BY writer")
	want := fmt.Sprintf("[[1 30 %d %d] [2 30 %d %d]]", (helperWrites-1)*1000, (helperWrites-1)*1000+9,
		(helperWrites-1)*1000, (helperWrites-1)*1000+9)
	if fmt.Sprint(got) != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestSink_Write_ReaderHoldsFile has another process keep the file open
// read-only: a write waits for it to let go, or fails with ErrLocked after
// the lock timeout.
func TestSink_Write_ReaderHoldsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	tb := warehousetest.CounterTable()
	s := newSink(t, path, WithLockTimeout(time.Hour))
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}

	t.Run("times out", func(t *testing.T) {
		_, stdin, out := startHelper(t, "hold", path)
		if line, err := out.ReadString('\n'); err != nil || line != "held\n" {
			t.Fatalf("reader: %q, %v", line, err)
		}
		short := newSink(t, path, WithLockTimeout(50*time.Millisecond))
		err := short.Open(t.Context(), tb)
		if !errors.Is(err, ErrLocked) {
			t.Errorf("Open: %v, want ErrLocked", err)
		}
		stdin.Close()
	})

	t.Run("waits", func(t *testing.T) {
		cmd, stdin, out := startHelper(t, "hold", path)
		if line, err := out.ReadString('\n'); err != nil || line != "held\n" {
			t.Fatalf("reader: %q, %v", line, err)
		}
		waiting := make(chan struct{}, 1)
		s.lockWait = func() {
			select {
			case waiting <- struct{}{}:
			default:
			}
		}
		defer func() { s.lockWait = nil }()
		done := make(chan error, 1)
		go func() { done <- s.Write(t.Context(), tb, warehousetest.CounterRows(1, 1)) }()
		select {
		case err := <-done:
			t.Fatalf("Write returned while a reader held the file: %v", err)
		case <-waiting:
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := count(t, path, "views"); n != 30 {
			t.Errorf("%d rows, want 30", n)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		_, stdin, out := startHelper(t, "hold", path)
		defer stdin.Close()
		if line, err := out.ReadString('\n'); err != nil || line != "held\n" {
			t.Fatalf("reader: %q, %v", line, err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Write(ctx, tb, warehousetest.CounterRows(1, 2)) }()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Write: %v, want context.Canceled", err)
		}
	})
}

func TestSink_Exclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	tb := warehousetest.CounterTable()
	s := newSink(t, path, WithExclusive())
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Write(t.Context(), tb, warehousetest.CounterRows(1, i)); err != nil {
			t.Fatal(err)
		}
	}
	// Another sink of this process is refused at once; another process
	// waits for the file, here in vain.
	if _, err := New(t.Context(), path); err == nil {
		t.Error("a second sink on an exclusive sink's file opened")
	}
	cmd, stdin, _ := startHelper(t, "hold", path)
	stdin.Close()
	if err := cmd.Wait(); err == nil {
		t.Error("another process opened an exclusive sink's file")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := query(t, path, "SELECT count(*), min(views) FROM views"); fmt.Sprint(got) != "[[30 2000]]" {
		t.Errorf("got %v", got)
	}
	if err := s.Write(t.Context(), tb, warehousetest.CounterRows(1, 1)); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestSink_Write_LargeBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	s := newSink(t, path)
	tb := warehousetest.CounterTable()
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	const n = 50_000
	rows := make([]flow.Row, n)
	for i := range rows {
		rows[i] = flow.Row{Window: warehousetest.Window(i % 7), Keys: []any{int64(i), strconv.Itoa(i)}, Values: []any{int64(i), float64(i)}}
	}
	for range 2 {
		if err := s.Write(t.Context(), tb, rows); err != nil {
			t.Fatal(err)
		}
	}
	want := fmt.Sprintf("[[%d %d]]", n, int64(n)*(n-1)/2)
	if got := query(t, path, "SELECT count(*), sum(views)::BIGINT FROM views"); fmt.Sprint(got) != want {
		t.Errorf("got %v, want %v", got, want)
	}
}
