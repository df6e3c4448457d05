package sqltable

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/flow"
)

var testDialect = Dialect{
	Name: "test",
	Types: map[flow.ColumnType]string{
		flow.Int: "BIGINT", flow.Float: "DOUBLE", flow.String: "TEXT", flow.Bool: "BOOL", flow.Timestamp: "TS",
	},
	CatalogTypes: map[flow.ColumnType]string{
		flow.Int: "bigint", flow.Float: "double", flow.String: "text", flow.Bool: "bool", flow.Timestamp: "ts",
	},
}

func table() flow.Table {
	return flow.Table{
		Pipeline: "p",
		Name:     "views",
		Keys:     []flow.Column{{Name: "page", Type: flow.String}},
		Values:   []flow.Column{{Name: "n", Type: flow.Int}},
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*flow.Table)
		want   string // "" for no error
	}{
		{"ok", func(*flow.Table) {}, ""},
		{"global aggregate", func(t *flow.Table) { t.Keys = nil }, ""},
		{"no pipeline", func(t *flow.Table) { t.Pipeline = "" }, "pipeline name is empty"},
		{"bad table name", func(t *flow.Table) { t.Name = "1views" }, `table name "1views" is not an identifier`},
		{"long table name", func(t *flow.Table) { t.Name = strings.Repeat("x", 64) }, "longer than 63"},
		{"no values", func(t *flow.Table) { t.Values = nil }, "no value columns"},
		{"bad column", func(t *flow.Table) { t.Keys[0].Name = `pa"ge` }, `column name "pa\"ge" is not an identifier`},
		{"reserved", func(t *flow.Table) { t.Values[0].Name = "Updated_At" }, "Updated_At is reserved"},
		{"twice", func(t *flow.Table) { t.Values[0].Name = "PAGE" }, "PAGE appears twice"},
		{"unknown type", func(t *flow.Table) { t.Values[0].Type = 0 }, "unknown type 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := table()
			tb.Keys = append([]flow.Column(nil), tb.Keys...)
			tb.Values = append([]flow.Column(nil), tb.Values...)
			tc.change(&tb)
			_, err := New(tb)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New: %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestLayout_SQL(t *testing.T) {
	l, err := New(table())
	if err != nil {
		t.Fatal(err)
	}
	name := Qualified("s", `we"ird`)
	if name != `"s"."we""ird"` {
		t.Errorf("Qualified: %s", name)
	}
	want := `CREATE TABLE IF NOT EXISTS "s"."we""ird" ("pipeline" TEXT NOT NULL, "window_start" TS NOT NULL, ` +
		`"window_end" TS NOT NULL, "page" TEXT NOT NULL, "n" BIGINT, "final" BOOL NOT NULL, "updated_at" TS NOT NULL, ` +
		`PRIMARY KEY ("pipeline", "window_start", "window_end", "page"))`
	if got := l.CreateSQL(testDialect, name); got != want {
		t.Errorf("CreateSQL\n got %s\nwant %s", got, want)
	}
	want = `INSERT INTO t ("pipeline", "window_start", "window_end", "page", "n", "final", "updated_at") ` +
		`SELECT * FROM src ` +
		`ON CONFLICT ("pipeline", "window_start", "window_end", "page") DO UPDATE SET ` +
		`"n" = excluded."n", "final" = excluded."final", "updated_at" = excluded."updated_at"`
	if got := l.UpsertSQL("t", "SELECT * FROM src"); got != want {
		t.Errorf("UpsertSQL\n got %s\nwant %s", got, want)
	}
	if got := QuoteString("it's"); got != `'it''s'` {
		t.Errorf("QuoteString: %s", got)
	}
}

func TestLayout_Fit(t *testing.T) {
	l, err := New(table())
	if err != nil {
		t.Fatal(err)
	}
	good := []CatalogColumn{
		{"pipeline", "text", false}, {"window_start", "ts", false}, {"window_end", "ts", false},
		{"page", "text", false}, {"n", "bigint", true}, {"final", "bool", false}, {"updated_at", "ts", false},
		{"note", "text", true}, // a column of the user's own is left alone
	}
	pk := []string{"page", "window_end", "window_start", "pipeline"} // order does not matter
	if err := l.Fit(testDialect, "t", good, pk); err != nil {
		t.Errorf("Fit: %v", err)
	}
	bad := append([]CatalogColumn(nil), good...)
	bad[3].Name = "Page"                         // case matters unless the dialect folds it
	bad[4] = CatalogColumn{"n", "double", false} // both type and nullability
	err = l.Fit(testDialect, "t", bad, pk[:3])
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("Fit: %v, want ErrMismatch", err)
	}
	for _, want := range []string{"column page is missing", "column n is double, want bigint",
		"column n is NOT NULL, want nullable", "primary key is (page, window_end, window_start), want (pipeline, window_start, window_end, page)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Fit: %v\nwant it to say %q", err, want)
		}
	}
	folding := testDialect
	folding.FoldCase = true
	bad = append([]CatalogColumn(nil), good...)
	bad[3].Name = "PAGE"
	if err := l.Fit(folding, "t", bad, []string{"Pipeline", "WINDOW_START", "window_end", "page"}); err != nil {
		t.Errorf("Fit with folded case: %v", err)
	}
	if err := l.Fit(testDialect, "t", nil, nil); !errors.Is(err, ErrMismatch) {
		t.Errorf("Fit of no columns: %v", err)
	}
}

func TestLayout_Prepare(t *testing.T) {
	l, err := New(flow.Table{
		Pipeline: "p",
		Name:     "t",
		Keys:     []flow.Column{{Name: "k", Type: flow.Int}, {Name: "s", Type: flow.String}},
		Values:   []flow.Column{{Name: "v", Type: flow.Float}, {Name: "at", Type: flow.Timestamp}},
	})
	if err != nil {
		t.Fatal(err)
	}
	zone := time.FixedZone("X", -7200)
	w0 := flow.Window{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, zone), End: time.Date(2026, 1, 1, 0, 1, 0, 0, zone)}
	w1 := flow.Window{Start: w0.End, End: w0.End.Add(time.Minute)}
	// The same instant in another zone and with sub-microsecond noise is
	// the same window.
	w0other := flow.Window{Start: w0.Start.UTC().Add(300), End: w0.End.UTC().Add(999)}
	now := time.Date(2026, 1, 2, 0, 0, 0, 1500, zone)
	got, err := l.Prepare([]flow.Row{
		{Window: w1, Keys: []any{int64(1), "a"}, Values: []any{1.0, nil}},
		{Window: w0, Keys: []any{2, "b"}, Values: []any{float32(2), w0.Start}},
		{Window: w0, Keys: []any{int64(1), "b"}, Values: []any{3.0, nil}, Final: true},
		{Window: w0other, Keys: []any{uint8(2), "b"}, Values: []any{4.0, nil}}, // replaces the second row
		{Window: w0, Keys: []any{int64(1), "a"}, Values: []any{nil, nil}},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	s, e := w0.Start.UTC(), w0.End.UTC()
	n := now.UTC().Truncate(time.Microsecond)
	want := [][]any{
		{"p", s, e, int64(1), "a", nil, nil, false, n},
		{"p", s, e, int64(1), "b", 3.0, nil, true, n},
		{"p", s, e, int64(2), "b", 4.0, nil, false, n},
		{"p", w1.Start.UTC(), w1.End.UTC(), int64(1), "a", 1.0, nil, false, n},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Prepare\n got %v\nwant %v", got, want)
	}
	if got[0][1].(time.Time).Location() != time.UTC {
		t.Errorf("window start not in UTC: %v", got[0][1])
	}

	for _, tc := range []struct {
		name string
		row  flow.Row
		want string
	}{
		{"keys", flow.Row{Keys: []any{int64(1)}, Values: []any{1.0, nil}}, "1 keys, want 2"},
		{"values", flow.Row{Keys: []any{int64(1), "a"}, Values: []any{1.0}}, "1 values, want 2"},
		{"nil key", flow.Row{Keys: []any{int64(1), nil}, Values: []any{1.0, nil}}, "key s is nil"},
		{"int type", flow.Row{Keys: []any{"1", "a"}, Values: []any{1.0, nil}}, "column k (int): string is not a int64"},
		{"overflow", flow.Row{Keys: []any{uint64(1 << 63), "a"}, Values: []any{1.0, nil}}, "overflows int64"},
		{"float type", flow.Row{Keys: []any{int64(1), "a"}, Values: []any{1, nil}}, "column v (float): int is not a float64"},
		{"timestamp type", flow.Row{Keys: []any{int64(1), "a"}, Values: []any{1.0, "now"}}, "is not a time.Time"},
		{"NUL", flow.Row{Keys: []any{int64(1), "a\x00"}, Values: []any{1.0, nil}}, "without NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Prepare([]flow.Row{{Window: w0, Keys: []any{int64(9), "z"}, Values: []any{1.0, nil}}, tc.row}, now)
			if err == nil || !strings.HasPrefix(err.Error(), "row 1: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Prepare: %v, want row 1 and %q", err, tc.want)
			}
		})
	}
}
