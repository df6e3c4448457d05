// Package sqltable lays flow results out as SQL tables, for the warehouse
// sinks (flow/sink/duckdb, flow/sink/postgres): the columns and primary key
// of a result table, the statements that create it and upsert into it, the
// check that an existing table fits, and a batch of rows made ready for one
// upsert (checked, deduplicated, ordered by primary key).
//
// A result table of flow.Table{Pipeline: "clicks", Name: "views",
// Keys: [page string], Values: [views int, p99 float]} is, in PostgreSQL:
//
//	CREATE TABLE "views" (
//	    "pipeline"     text NOT NULL,
//	    "window_start" timestamptz NOT NULL,
//	    "window_end"   timestamptz NOT NULL,
//	    "page"         text NOT NULL,
//	    "views"        bigint,
//	    "p99"          double precision,
//	    "final"        boolean NOT NULL,
//	    "updated_at"   timestamptz NOT NULL,
//	    PRIMARY KEY ("pipeline", "window_start", "window_end", "page"))
//
// The pipeline column scopes the primary key, so pipelines may share a table
// (two versions of a pipeline side by side, say) without overwriting each
// other's rows. final is the row's flow.Row.Final; updated_at is when the
// sink wrote the row.
package sqltable

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/flow"
)

// The fixed columns of every result table.
const (
	ColPipeline    = "pipeline"
	ColWindowStart = "window_start"
	ColWindowEnd   = "window_end"
	ColFinal       = "final"
	ColUpdatedAt   = "updated_at"
)

// identityPrefix is the number of fixed columns that open the primary key.
const identityPrefix = 3

// ErrMismatch is wrapped by the error Fit returns for an existing table that
// does not fit the results.
var ErrMismatch = errors.New("existing table does not fit the results")

// Dialect is what differs between databases in the statements built here.
type Dialect struct {
	// Name names the database in errors ("DuckDB", "PostgreSQL").
	Name string
	// Types are the column types by flow type, as written in CREATE TABLE.
	Types map[flow.ColumnType]string
	// CatalogTypes are the same types as information_schema.columns'
	// data_type spells them.
	CatalogTypes map[flow.ColumnType]string
	// FoldCase is true where identifiers match case-insensitively even when
	// quoted (DuckDB).
	FoldCase bool
}

// Layout is the SQL layout of one result table.
type Layout struct {
	table flow.Table
	cols  []flow.Column // every column, in table order
	nKeys int           // primary key columns: the identity prefix and the keys
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxIdent is the longest identifier accepted, PostgreSQL's limit
// (NAMEDATALEN-1); longer names would be cut silently there.
const maxIdent = 63

// New checks t and returns its layout.
func New(t flow.Table) (*Layout, error) {
	var errs []error
	if t.Pipeline == "" {
		errs = append(errs, errors.New("pipeline name is empty"))
	} else if !utf8.ValidString(t.Pipeline) || strings.IndexByte(t.Pipeline, 0) >= 0 {
		errs = append(errs, fmt.Errorf("pipeline name %q is not valid UTF-8 text", t.Pipeline))
	}
	if err := checkIdent("table name", t.Name); err != nil {
		errs = append(errs, err)
	}
	if len(t.Values) == 0 {
		errs = append(errs, errors.New("no value columns"))
	}
	l := &Layout{table: t, nKeys: identityPrefix + len(t.Keys)}
	l.cols = append(l.cols,
		flow.Column{Name: ColPipeline, Type: flow.String},
		flow.Column{Name: ColWindowStart, Type: flow.Timestamp},
		flow.Column{Name: ColWindowEnd, Type: flow.Timestamp})
	l.cols = append(l.cols, t.Keys...)
	l.cols = append(l.cols, t.Values...)
	l.cols = append(l.cols,
		flow.Column{Name: ColFinal, Type: flow.Bool},
		flow.Column{Name: ColUpdatedAt, Type: flow.Timestamp})
	// Names compare case-insensitively: DuckDB would take "Page" and "page"
	// for one column.
	seen := map[string]bool{}
	for _, c := range append(append([]flow.Column(nil), t.Keys...), t.Values...) {
		if err := checkIdent("column name", c.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		if c.Type < flow.Int || c.Type > flow.Timestamp {
			errs = append(errs, fmt.Errorf("column %s: unknown type %d", c.Name, int(c.Type)))
		}
		low := strings.ToLower(c.Name)
		switch {
		case isFixed(low):
			errs = append(errs, fmt.Errorf("column name %s is reserved for the sink's own column", c.Name))
		case seen[low]:
			errs = append(errs, fmt.Errorf("column name %s appears twice", c.Name))
		}
		seen[low] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("table %s of pipeline %s: %w", t.Name, t.Pipeline, err)
	}
	return l, nil
}

func isFixed(name string) bool {
	switch name {
	case ColPipeline, ColWindowStart, ColWindowEnd, ColFinal, ColUpdatedAt:
		return true
	}
	return false
}

func checkIdent(what, s string) error {
	if !identRE.MatchString(s) {
		return fmt.Errorf("%s %q is not an identifier (letters, digits and underscores, not starting with a digit)", what, s)
	}
	if len(s) > maxIdent {
		return fmt.Errorf("%s %q is longer than %d characters", what, s, maxIdent)
	}
	return nil
}

// Table is the flow table the layout was made for.
func (l *Layout) Table() flow.Table { return l.table }

// Columns are all the table's columns, in order: pipeline, window_start,
// window_end, the keys, the values, final, updated_at.
func (l *Layout) Columns() []flow.Column { return l.cols }

// PrimaryKey are the primary key's column names: pipeline, window_start,
// window_end and the keys.
func (l *Layout) PrimaryKey() []string {
	names := make([]string, l.nKeys)
	for i := range names {
		names[i] = l.cols[i].Name
	}
	return names
}

// Quote quotes an identifier for SQL (both databases here follow the
// standard: double quotes, with embedded quotes doubled).
func Quote(ident string) string {
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}

// QuoteString quotes a string literal (single quotes, embedded ones doubled).
func QuoteString(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

// Qualified joins quoted identifiers with dots; empty parts are skipped.
func Qualified(parts ...string) string {
	var q []string
	for _, p := range parts {
		if p != "" {
			q = append(q, Quote(p))
		}
	}
	return strings.Join(q, ".")
}

// CreateSQL is the CREATE TABLE IF NOT EXISTS statement for the table named
// name (already qualified and quoted).
func (l *Layout) CreateSQL(d Dialect, name string) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s, PRIMARY KEY (%s))",
		name, l.ColumnDefs(d, true), l.list(l.PrimaryKey()))
}

// ColumnDefs are the column definitions of a CREATE TABLE statement (names
// and types, with NOT NULL where the layout has it if constraints is true),
// comma-separated: for a staging table of the same shape, say.
func (l *Layout) ColumnDefs(d Dialect, constraints bool) string {
	var b strings.Builder
	for i, c := range l.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", Quote(c.Name), d.Types[c.Type])
		if constraints && l.notNull(i) {
			b.WriteString(" NOT NULL")
		}
	}
	return b.String()
}

// notNull reports whether column i is NOT NULL: all but the values.
func (l *Layout) notNull(i int) bool {
	return i < l.nKeys || i >= len(l.cols)-2
}

func (l *Layout) list(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = Quote(n)
	}
	return strings.Join(q, ", ")
}

// ColumnList is every column, quoted and comma-separated, in table order.
func (l *Layout) ColumnList() string {
	names := make([]string, len(l.cols))
	for i, c := range l.cols {
		names[i] = c.Name
	}
	return l.list(names)
}

// UpsertSQL is the statement that inserts the rows source yields (a VALUES
// list or a SELECT of every column, in table order) into the table named
// name, replacing the values, final and updated_at of rows whose primary key
// is already there.
func (l *Layout) UpsertSQL(name, source string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) %s ON CONFLICT (%s) DO UPDATE SET ",
		name, l.ColumnList(), source, l.list(l.PrimaryKey()))
	for i, c := range l.cols[l.nKeys:] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = excluded.%s", Quote(c.Name), Quote(c.Name))
	}
	return b.String()
}

// CatalogColumn is a column of an existing table, as the database's catalog
// describes it.
type CatalogColumn struct {
	Name     string
	Type     string // information_schema.columns.data_type
	Nullable bool
}

// Fit checks that an existing table, with columns cols and primary key pk,
// can hold the results: every column is there with its type, the columns
// that must not be NULL are NOT NULL, and the primary key is exactly the
// layout's. Further columns are left alone (they must be nullable or have
// defaults for the upserts to work). The error wraps ErrMismatch and names
// every difference.
func (l *Layout) Fit(d Dialect, name string, cols []CatalogColumn, pk []string) error {
	if len(cols) == 0 {
		return fmt.Errorf("table %s: %w: it has no columns", name, ErrMismatch)
	}
	norm := func(s string) string {
		if d.FoldCase {
			return strings.ToLower(s)
		}
		return s
	}
	have := map[string]CatalogColumn{}
	for _, c := range cols {
		have[norm(c.Name)] = c
	}
	var diffs []string
	for i, c := range l.cols {
		got, ok := have[norm(c.Name)]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("column %s is missing", c.Name))
			continue
		}
		if want := d.CatalogTypes[c.Type]; !strings.EqualFold(got.Type, want) {
			diffs = append(diffs, fmt.Sprintf("column %s is %s, want %s", c.Name, got.Type, want))
		}
		switch {
		case i < l.nKeys:
			// NOT NULL by being in the primary key, which is checked below.
		case l.notNull(i) && got.Nullable:
			diffs = append(diffs, fmt.Sprintf("column %s is nullable, want NOT NULL", c.Name))
		case !l.notNull(i) && !got.Nullable:
			diffs = append(diffs, fmt.Sprintf("column %s is NOT NULL, want nullable (an aggregate with no value writes NULL)", c.Name))
		}
	}
	want := l.PrimaryKey()
	if !sameSet(pk, want, norm) {
		got := "none"
		if len(pk) > 0 {
			got = "(" + strings.Join(pk, ", ") + ")"
		}
		diffs = append(diffs, fmt.Sprintf("primary key is %s, want (%s)", got, strings.Join(want, ", ")))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("table %s: %w of %s of pipeline %s: %s", name, ErrMismatch,
			l.table.Name, l.table.Pipeline, strings.Join(diffs, "; "))
	}
	return nil
}

func sameSet(a, b []string, norm func(string) string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[norm(s)]++
	}
	for _, s := range b {
		m[norm(s)]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// Prepare checks rows against the layout and returns them as SQL values, one
// slice per row in table order (final and updated_at = now included), with
// the rows of equal primary key reduced to the last one (a single upsert
// statement may not touch a row twice) and ordered by primary key (so that
// concurrent writers lock rows in one order). Values are int64, float64,
// string, bool, time.Time in UTC truncated to microseconds, or nil.
func (l *Layout) Prepare(rows []flow.Row, now time.Time) ([][]any, error) {
	now = micro(now)
	type keyed struct {
		id  string
		row []any
	}
	out := make([]keyed, 0, len(rows))
	index := make(map[string]int, len(rows))
	var id []byte
	for i, r := range rows {
		vals, err := l.row(r, now)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		id = identity(id[:0], vals[:l.nKeys])
		if j, ok := index[string(id)]; ok {
			out[j].row = vals
			continue
		}
		index[string(id)] = len(out)
		out = append(out, keyed{id: string(id), row: vals})
	}
	slices.SortFunc(out, func(a, b keyed) int { return compareKeys(a.row[:l.nKeys], b.row[:l.nKeys]) })
	res := make([][]any, len(out))
	for i, k := range out {
		res[i] = k.row
	}
	return res, nil
}

func (l *Layout) row(r flow.Row, now time.Time) ([]any, error) {
	t := l.table
	if len(r.Keys) != len(t.Keys) {
		return nil, fmt.Errorf("%d keys, want %d", len(r.Keys), len(t.Keys))
	}
	if len(r.Values) != len(t.Values) {
		return nil, fmt.Errorf("%d values, want %d", len(r.Values), len(t.Values))
	}
	vals := make([]any, 0, len(l.cols))
	vals = append(vals, t.Pipeline, micro(r.Window.Start), micro(r.Window.End))
	for i, c := range t.Keys {
		if r.Keys[i] == nil {
			return nil, fmt.Errorf("key %s is nil", c.Name)
		}
		v, err := convert(c, r.Keys[i])
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	for i, c := range t.Values {
		v, err := convert(c, r.Values[i])
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	return append(vals, r.Final, now), nil
}

// convert checks that v is of c's Go type (any integer type fits an Int
// column if its value does; float32 fits a Float) and returns it as the
// type the drivers bind.
func convert(c flow.Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func() error {
		return fmt.Errorf("column %s (%s): %T is not a %s", c.Name, c.Type, v, goType(c.Type))
	}
	switch c.Type {
	case flow.Int:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case int32:
			return int64(x), nil
		case int16:
			return int64(x), nil
		case int8:
			return int64(x), nil
		case uint32:
			return int64(x), nil
		case uint16:
			return int64(x), nil
		case uint8:
			return int64(x), nil
		case uint:
			if uint64(x) > math.MaxInt64 {
				return nil, fmt.Errorf("column %s (int): %d overflows int64", c.Name, x)
			}
			return int64(x), nil
		case uint64:
			if x > math.MaxInt64 {
				return nil, fmt.Errorf("column %s (int): %d overflows int64", c.Name, x)
			}
			return int64(x), nil
		}
	case flow.Float:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		}
	case flow.String:
		if x, ok := v.(string); ok {
			// Both databases refuse invalid UTF-8; PostgreSQL refuses NUL
			// too. Refusing both here keeps the sinks alike.
			if !utf8.ValidString(x) || strings.IndexByte(x, 0) >= 0 {
				return nil, fmt.Errorf("column %s (string): %q is not valid UTF-8 text without NUL", c.Name, x)
			}
			return x, nil
		}
	case flow.Bool:
		if x, ok := v.(bool); ok {
			return x, nil
		}
	case flow.Timestamp:
		if x, ok := v.(time.Time); ok {
			return micro(x), nil
		}
	}
	return nil, bad()
}

// micro is t in UTC at the precision both databases keep, so that what is
// compared here is what they compare.
func micro(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

func goType(t flow.ColumnType) string {
	switch t {
	case flow.Int:
		return "int64"
	case flow.Float:
		return "float64"
	case flow.String:
		return "string"
	case flow.Bool:
		return "bool"
	case flow.Timestamp:
		return "time.Time"
	}
	return "value of a known type"
}

// identity encodes primary key values (as Prepare converted them) into a
// map key, at the precision the databases keep (microseconds).
func identity(b []byte, vals []any) []byte {
	for _, v := range vals {
		switch x := v.(type) {
		case string:
			b = append(b, 's')
			b = binary.AppendUvarint(b, uint64(len(x)))
			b = append(b, x...)
		case time.Time:
			b = append(b, 't')
			b = binary.AppendVarint(b, x.UnixMicro())
		case int64:
			b = append(b, 'i')
			b = binary.AppendVarint(b, x)
		case float64:
			b = append(b, 'f')
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(x))
		case bool:
			if x {
				b = append(b, 'T')
			} else {
				b = append(b, 'F')
			}
		}
	}
	return b
}

func compareKeys(a, b []any) int {
	for i := range a {
		var c int
		switch x := a[i].(type) {
		case string:
			c = strings.Compare(x, b[i].(string))
		case time.Time:
			c = cmp.Compare(x.UnixMicro(), b[i].(time.Time).UnixMicro())
		case int64:
			c = cmp.Compare(x, b[i].(int64))
		case float64:
			c = cmp.Compare(x, b[i].(float64))
		case bool:
			c = cmp.Compare(b2i(x), b2i(b[i].(bool)))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
