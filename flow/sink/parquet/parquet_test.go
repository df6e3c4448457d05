package parquet_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/parquet"
)

var t0 = time.Date(2025, 6, 1, 12, 58, 0, 0, time.UTC)

func win(i int) flow.Window {
	return flow.Window{Start: t0.Add(time.Duration(i) * time.Minute), End: t0.Add(time.Duration(i+1) * time.Minute)}
}

var views = flow.Table{Pipeline: "clicks", Name: "views",
	Keys: []flow.Column{{Name: "page", Type: flow.String}},
	Values: []flow.Column{{Name: "n", Type: flow.Int}, {Name: "p99_ms", Type: flow.Float},
		{Name: "last_at", Type: flow.Timestamp}, {Name: "bot", Type: flow.Bool}}}

// viewRow is a row of views as the files hold it.
type viewRow struct {
	Pipeline    string     `parquet:"pipeline"`
	WindowStart time.Time  `parquet:"window_start,timestamp(microsecond)"`
	WindowEnd   time.Time  `parquet:"window_end,timestamp(microsecond)"`
	Page        *string    `parquet:"page,optional"`
	N           *int64     `parquet:"n,optional"`
	P99         *float64   `parquet:"p99_ms,optional"`
	LastAt      *time.Time `parquet:"last_at,optional,timestamp(microsecond)"`
	Bot         *bool      `parquet:"bot,optional"`
	Final       bool       `parquet:"final"`
	WrittenAt   time.Time  `parquet:"written_at,timestamp(microsecond)"`
}

func row(w int, page string, n int64) flow.Row {
	return flow.Row{Window: win(w), Keys: []any{page}, Values: []any{n, float64(n) / 2, win(w).End.Add(-time.Second), n%2 == 0}, Final: true}
}

// files lists the Parquet files under dir/table, relative to dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "_wal" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readAll reads every row of the table's files back with parquet-go.
func readAll(t *testing.T, dir string) []viewRow {
	t.Helper()
	var all []viewRow
	for _, name := range files(t, dir) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		rows, err := pq.Read[viewRow](f, st.Size())
		f.Close()
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		all = append(all, rows...)
	}
	return all
}

// latest keeps the latest version of each row, by written_at, as the
// documented dedup query does.
func latest(rows []viewRow) map[string]viewRow {
	out := map[string]viewRow{}
	for _, r := range rows {
		id := fmt.Sprint(r.Pipeline, r.WindowStart.UnixMicro(), r.WindowEnd.UnixMicro(), *r.Page)
		if old, ok := out[id]; !ok || r.WrittenAt.After(old.WrittenAt) {
			out[id] = r
		}
	}
	return out
}

func open(t *testing.T, dir string, opts ...parquet.Option) *parquet.Sink {
	t.Helper()
	s, err := parquet.New(dir, append([]parquet.Option{parquet.WithWriterID("w1")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background(), views); err != nil {
		t.Fatal(err)
	}
	return s
}

func write(t *testing.T, s *parquet.Sink, rows ...flow.Row) {
	t.Helper()
	if err := s.Write(context.Background(), views, rows); err != nil {
		t.Fatal(err)
	}
}

func TestSink_Files(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	// Windows 0 and 1 start in hour 12, window 2 in hour 13.
	write(t, s, row(0, "/a", 1), row(0, "/b", 2), row(1, "/a", 3))
	write(t, s, row(2, "/a", 4), flow.Row{Window: win(2), Keys: []any{"/nil"}, Values: []any{nil, nil, nil, nil}})
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("files before the buffer is full: %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := files(t, dir)
	want := []string{
		"views/year=2025/month=06/day=01/hour=12/clicks-w1-",
		"views/year=2025/month=06/day=01/hour=13/clicks-w1-",
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], want[0]) || !strings.HasPrefix(got[1], want[1]) || !strings.HasSuffix(got[0], ".parquet") {
		t.Fatalf("files %v, want %v…", got, want)
	}
	rows := readAll(t, dir)
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rows))
	}
	r := rows[0]
	if r.Pipeline != "clicks" || !r.WindowStart.Equal(win(0).Start) || !r.WindowEnd.Equal(win(0).End) || *r.Page != "/a" ||
		*r.N != 1 || *r.P99 != 0.5 || !r.LastAt.Equal(win(0).End.Add(-time.Second)) || *r.Bot || !r.Final || r.WrittenAt.IsZero() {
		t.Errorf("first row %+v", r)
	}
	nilRow := rows[4]
	if *nilRow.Page != "/nil" || nilRow.N != nil || nilRow.P99 != nil || nilRow.LastAt != nil || nilRow.Bot != nil || nilRow.Final {
		t.Errorf("row of missing values %+v", nilRow)
	}
}

func TestSink_BufferBySize(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, parquet.WithBuffer(2000, 0))
	defer s.Close()
	var n int
	for len(files(t, dir)) == 0 {
		write(t, s, row(0, fmt.Sprint("/page-", n), int64(n)))
		n++
		if n > 1000 {
			t.Fatal("no file after 1,000 rows")
		}
	}
	if n < 20 {
		t.Errorf("a file after only %d rows of a 2,000-byte buffer", n)
	}
	if rows := readAll(t, dir); len(rows) != n {
		t.Errorf("%d rows in the file, %d written", len(rows), n)
	}
}

func TestSink_BufferByAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir, parquet.WithBuffer(1<<30, time.Minute))
		defer s.Close()
		write(t, s, row(0, "/a", 1))
		time.Sleep(30 * time.Second)
		write(t, s, row(1, "/a", 2))
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if got := files(t, dir); len(got) != 0 {
			t.Fatalf("files 59 s after the first row: %v", got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if rows := readAll(t, dir); len(rows) != 2 {
			t.Fatalf("%d rows in files 61 s after the first row, want 2", len(rows))
		}
		write(t, s, row(2, "/a", 3))
		time.Sleep(61 * time.Second)
		synctest.Wait()
		if got := files(t, dir); len(got) != 2 {
			t.Fatalf("files %v, want a second one", got)
		}
	})
}

// Rows written again before their file replace the buffered ones; rows
// written again after it land in a later file, and the latest version by
// written_at is the last write.
func TestSink_Upserts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		write(t, s, row(0, "/a", 1), row(0, "/b", 2))
		time.Sleep(time.Second)
		write(t, s, row(0, "/a", 10)) // replaces /a in the buffer
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rows := readAll(t, dir); len(rows) != 2 {
			t.Fatalf("%d rows after an upsert in the buffer, want 2", len(rows))
		}
		time.Sleep(time.Second)
		write(t, s, row(0, "/b", 20)) // a replay after the file
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		rows := readAll(t, dir)
		if len(rows) != 3 {
			t.Fatalf("%d rows, want 3 (one row twice, at least once)", len(rows))
		}
		got := map[string]int64{}
		for _, r := range latest(rows) {
			got[*r.Page] = *r.N
		}
		if fmt.Sprint(got) != "map[/a:10 /b:20]" {
			t.Errorf("latest versions %v", got)
		}
	})
}

func TestSink_Recovery(t *testing.T) {
	t.Run("buffered rows survive a crash", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		write(t, s, row(0, "/a", 1), row(0, "/b", 2))
		write(t, s, row(1, "/a", 3))
		log := s.LogPath("clicks", "views")
		s.Crash()
		// A torn frame at the end, as a crash mid-write leaves.
		f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte{200, 0, 0, 0, 1, 2, 3})
		f.Close()

		s = open(t, dir)
		write(t, s, row(1, "/b", 4))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if rows := readAll(t, dir); len(rows) != 4 {
			t.Errorf("%d rows after recovery, want 4", len(rows))
		}
	})
	t.Run("a crash between the files and the new log", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		write(t, s, row(0, "/a", 1), row(2, "/b", 2))
		log := s.LogPath("clicks", "views")
		saved, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		newLog := s.LogPath("clicks", "views")
		s.Crash()
		// Put the state back to just before the log was replaced.
		if err := os.WriteFile(log, saved, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(newLog); err != nil {
			t.Fatal(err)
		}
		before := files(t, dir)

		s = open(t, dir)
		write(t, s, row(2, "/c", 3))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if after := files(t, dir); !slices.Equal(after, before) {
			t.Errorf("files %v, want the same names %v rewritten", after, before)
		}
		if rows := readAll(t, dir); len(rows) != 3 {
			t.Errorf("%d rows, want 3, each once", len(rows))
		}
	})
}

func TestSink_Errors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	if _, err := parquet.New(dir, parquet.WithWriterID("w1")); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("a second sink with the same writer: %v", err)
	}
	other, err := parquet.New(dir, parquet.WithWriterID("w2"))
	if err != nil {
		t.Fatalf("a second writer: %v", err)
	}
	other.Close()
	for _, tb := range []flow.Table{
		{Pipeline: "p", Name: "t", Keys: []flow.Column{{Name: "window_start", Type: flow.Int}}},
		{Pipeline: "p", Name: "t", Keys: []flow.Column{{Name: "a", Type: flow.Int}}, Values: []flow.Column{{Name: "a", Type: flow.Int}}},
		{Pipeline: "p/q", Name: "t"},
	} {
		if err := s.Open(ctx, tb); err == nil {
			t.Errorf("table %+v opened", tb)
		}
	}
	bad := []flow.Row{
		{Window: win(0), Keys: []any{"/a"}, Values: []any{1, 0.5, nil, nil}},
		{Window: win(0), Keys: []any{int64(1)}, Values: []any{int64(1), 0.5, nil, nil}},
		{Window: win(0), Keys: []any{"/a"}, Values: []any{int64(1)}},
	}
	for _, r := range bad {
		if err := s.Write(ctx, views, []flow.Row{r}); err == nil {
			t.Errorf("row %+v written", r)
		}
	}
	if err := s.Write(ctx, flow.Table{Pipeline: "p", Name: "unopened"}, []flow.Row{{}}); err == nil {
		t.Error("a write to a table never opened succeeded")
	}
}
