package flowfile

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/flow"
)

// base is a valid file the bad cases change one thing in.
const base = `pipeline: clicks
sources: clicks
schema:
  page: string
  status: int
  at: timestamp
aggregations:
  - table: views
    key: page
    window:
      type: tumbling
      size: 1m
      event_time: at
    aggregates:
      views: count()
      errors: 'sum(status >= 500 ? 1 : 0)'
    sinks:
      - stream: out
`

func TestParse_Good(t *testing.T) {
	tests := []struct {
		name, src string
		check     func(t *testing.T, s *Spec)
	}{
		{"base", base, func(t *testing.T, s *Spec) {
			a := s.aggs[0]
			want := flow.Table{Pipeline: "clicks", Name: "views", Keys: []flow.Column{{Name: "page", Type: flow.String}},
				Values: []flow.Column{{Name: "views", Type: flow.Int}, {Name: "errors", Type: flow.Int}}}
			if a.table.Name != want.Name || !equalCols(a.table.Keys, want.Keys) || !equalCols(a.table.Values, want.Values) {
				t.Errorf("table %+v, want %+v", a.table, want)
			}
			if a.windowing.String() != "tumbling 1m0s" {
				t.Errorf("windowing %v", a.windowing)
			}
		}},
		{"no schema: fields of any type, types from conversions", `pipeline: p
sources: [a, b]
filter: has(record.page) && page != ""
map:
  slow: double(ms) > 100.0
aggregations:
  - table: t
    key:
      page: string(page)
      code: int(status)
    window: {type: hopping, size: 10m, step: 1m}
    aggregates:
      n: count(ms)
      total: sum(int(ms))
      top: max(string(page))
      first_page: first(string(page))
      p50: percentile(ms, 0.5)
      avg_ms: avg(ms)
      users: count_distinct(user)
      slow_share: 'avg(slow ? 1.0 : 0.0)'
    sinks:
      - stream: {stream: out}
      - parquet: lake
`, func(t *testing.T, s *Spec) {
			a := s.aggs[0]
			wantKeys := []flow.Column{{Name: "page", Type: flow.String}, {Name: "code", Type: flow.Int}}
			wantVals := []flow.Column{{Name: "n", Type: flow.Int}, {Name: "total", Type: flow.Int}, {Name: "top", Type: flow.String},
				{Name: "first_page", Type: flow.String}, {Name: "p50", Type: flow.Float}, {Name: "avg_ms", Type: flow.Float},
				{Name: "users", Type: flow.Int}, {Name: "slow_share", Type: flow.Float}}
			if !equalCols(a.table.Keys, wantKeys) || !equalCols(a.table.Values, wantVals) {
				t.Errorf("keys %v values %v", a.table.Keys, a.table.Values)
			}
			if a.windowing.String() != "hopping 10m0s every 1m0s" {
				t.Errorf("windowing %v", a.windowing)
			}
		}},
		{"global session aggregation and an output", `pipeline: p
sources: a
decode: raw
aggregations:
  - table: sessions
    window: {type: session, gap: 30m}
    aggregates:
      records: count()
      bytes: sum(size(data))
    sinks: [{metrics: {namespace: shop}}]
outputs:
  - stream: copy
    value: data
    partition_key: partition_key
`, func(t *testing.T, s *Spec) {
			if len(s.aggs[0].keys) != 0 || s.json || len(s.outputs) != 1 {
				t.Errorf("got %+v", s)
			}
		}},
		{"environment variables in settings", "pipeline: p\nsources: a\naggregations:\n  - table: t\n    window: {type: tumbling, size: 1s}\n    aggregates: {n: count()}\n    sinks:\n      - postgres: ${PG_DSN}\n",
			func(t *testing.T, s *Spec) {
				if got := s.File.Aggregations[0].Sinks[0].Postgres.DSN.S; got != "postgres://u:p@h/db" {
					t.Errorf("dsn %q", got)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("p.yaml", []byte(tt.src), testEnv)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func testEnv(name string) (string, bool) {
	if name == "PG_DSN" {
		return "postgres://u:p@h/db", true
	}
	return "", false
}

func equalCols(a, b []flow.Column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestParse_Bad checks the exact error for each mistake: its line and
// column, what is wrong and what is expected.
func TestParse_Bad(t *testing.T) {
	tests := []struct {
		name, old, new string // base with old replaced by new
		want           string
	}{
		{"not YAML", "sources: clicks", "sources: [clicks", `p.yaml:1:1: not valid YAML: did not find expected ',' or ']'`},
		{"unquoted ternary", "'sum(status >= 500 ? 1 : 0)'", "sum(status >= 500 ? 1 : 0)",
			`p.yaml:16:1: not valid YAML: mapping values are not allowed in this context (a value that holds ": ", such as the expression a ? b : c, must be quoted: 'a ? b : c')`},
		{"unknown top-level key", "sources: clicks", "sources: clicks\nfiltr: status > 3",
			`p.yaml:3:1: unknown key "filtr" at the top level (did you mean filter?); want one of: pipeline, sources, decode, schema, dedup, filter, map, aggregations, outputs, settings`},
		{"unknown nested key", "      size: 1m", "      size: 1m\n      lateness: 5s",
			`p.yaml:13:7: unknown key "lateness" in aggregations[0].window; want one of: type, size, step, gap, event_time, max_out_of_order, allowed_lateness, idleness`},
		{"missing key", "pipeline: clicks\n", "", `p.yaml:1:1: the file: pipeline is missing`},
		{"wrong kind", "sources: clicks", "sources: {a: b}", `p.yaml:2:10: sources: want a name or a list of names, got a mapping`},
		{"bad duration", "size: 1m", "size: 1 minute", `p.yaml:12:13: aggregations[0].window.size: "1 minute" is not a duration; want a number with a unit, such as 500ms, 30s, 5m or 1h`},
		{"duplicate key", "pipeline: clicks", "pipeline: clicks\npipeline: other", `p.yaml:2:1: the file: pipeline is given twice`},
		{"bad pipeline name", "pipeline: clicks", "pipeline: my pipeline", `p.yaml:1:11: pipeline: "my pipeline" is not a pipeline name; want 1 to 100 letters, digits, '_', '.' or '-'`},
		{"unknown schema type", "status: int", "status: integer", `p.yaml:5:11: schema.status: unknown type "integer"; want int, float, string, bool, timestamp or any`},
		{"misspelt field", "key: page", "key: pgae",
			"p.yaml:9:10: aggregations[0].key.pgae: undeclared reference to pgae (did you mean page?): not a field of the schema, a field set by map, or one of record, data, partition_key, arrival_time, stream, shard_id, sequence_number\n    pgae\n    ^"},
		{"type error in an expression", "'sum(status >= 500 ? 1 : 0)'", "'sum(status >= \"500\" ? 1 : 0)'",
			"p.yaml:16:15: aggregations[0].aggregates.errors: found no matching overload for '_>=_' applied to '(int, string)'\n    sum(status >= \"500\" ? 1 : 0)\n               ^"},
		{"filter of the wrong type", "aggregations:", "filter: page\naggregations:", `p.yaml:7:9: filter: page is of type string; want bool`},
		{"CEL syntax error", "aggregations:", "filter: status >> 3\naggregations:",
			"p.yaml:7:17: filter: Syntax error: extraneous input '>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}\n    status >> 3\n            ^"},
		{"unknown aggregate", "count()", "cnt()", `p.yaml:15:14: aggregations[0].aggregates.views: unknown aggregate "cnt" (did you mean count?); want one of count, sum, avg, min, max, first, last, count_distinct, percentile`},
		{"aggregate of the wrong type", "count()", "avg(page)", `p.yaml:15:14: aggregations[0].aggregates.views: avg(page): the argument is of type string; want a number (int or float)`},
		{"percentile without a quantile", "count()", "percentile(status)", `p.yaml:15:14: aggregations[0].aggregates.views: percentile takes 2 arguments, got 1: write percentile(x, 0.99)`},
		{"bad quantile", "count()", "percentile(status, 99)", `p.yaml:15:33: aggregations[0].aggregates.views: the quantile "99": want a number from 0 to 1 (0.99 for p99)`},
		{"not a call", "count()", "count", `p.yaml:15:19: aggregations[0].aggregates.views: expected ( after count; want an aggregate function call such as count(), sum(bytes) or percentile(latency_ms, 0.99)` + "\n    count\n         ^"},
		{"reserved column", "views: count()", "final: count()", `p.yaml:15:7: aggregations[0].aggregates.final: final is the name of a column every result table has (pipeline, window_start, window_end, final, updated_at); choose another`},
		{"column twice", "views: count()", "page: count()", `p.yaml:15:7: aggregations[0].aggregates.page: column page is already aggregations[0].key.page`},
		{"window type", "type: tumbling", "type: sliding", `p.yaml:11:13: aggregations[0].window.type: "sliding": want tumbling, hopping or session`},
		{"hopping step", "type: tumbling\n      size: 1m", "type: hopping\n      size: 1m\n      step: 7s", `p.yaml:13:13: aggregations[0].window.step: 7s does not divide the size 1m0s; want a step that divides it`},
		{"gap on tumbling", "      size: 1m", "      size: 1m\n      gap: 1m", `p.yaml:13:12: aggregations[0].window.gap: tumbling windows have no gap`},
		{"unknown sink", "- stream: out", "- kafka: out", `p.yaml:18:9: aggregations[0].sinks[0]: unknown sink "kafka"; want one of: duckdb, postgres, parquet, stream, metrics or alert`},
		{"unset variable", "- stream: out", "- postgres: ${NOPE}", `p.yaml:18:19: aggregations[0].sinks[0].postgres: environment variable NOPE is not set`},
		{"no sinks", "    sinks:\n      - stream: out\n", "", `p.yaml:8:5: aggregations[0]: sinks is missing`},
		{"two tables alike", "    sinks:\n      - stream: out\n", "    sinks:\n      - stream: out\n  - table: Views\n    window: {type: tumbling, size: 1s}\n    aggregates: {n: count()}\n    sinks: [stream: x]\n",
			`p.yaml:19:12: aggregations[1].table: Views is given twice; each aggregation needs its own table`},
		{"first of unknown type", "schema:\n  page: string\n  status: int\n  at: timestamp\n", "", ""}, // placeholder, replaced below
	}
	tests[len(tests)-1] = struct{ name, old, new, want string }{"first of a field of unknown type",
		"count()", "first(user)", `p.yaml:11:14: aggregations[0].aggregates.views: first(user): the type of the argument is not known; convert it, e.g. first(string(user)), or declare the field in schema`}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base
			if tt.name == "first of a field of unknown type" {
				src = strings.Replace(src, "schema:\n  page: string\n  status: int\n  at: timestamp\n", "", 1)
			}
			if !strings.Contains(src, tt.old) {
				t.Fatalf("base has no %q", tt.old)
			}
			src = strings.Replace(src, tt.old, tt.new, 1)
			_, err := Parse("p.yaml", []byte(src), testEnv)
			if err == nil {
				t.Fatalf("no error; want\n%s", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestBuild_Bad checks the mistakes found when the sinks are made.
func TestBuild_Bad(t *testing.T) {
	tests := []struct {
		name, sinks string
		deps        Deps
		want        string
	}{
		{"duckdb without DuckDB", "      - duckdb: r.duckdb\n", Deps{ErrNoDuckDB: errString("built without DuckDB; use -tags duckdb")},
			"p.yaml:18:9: aggregations[0].sinks[0]: built without DuckDB; use -tags duckdb"},
		{"metrics without /metrics", "      - metrics:\n", Deps{},
			"p.yaml:18:9: aggregations[0].sinks[0]: metrics: the gauges need somewhere to be shown: run with --metrics-addr"},
		{"alert on an unknown value", "      - alert:\n          rules:\n            - {name: high, value: eror, op: '>', threshold: 1}\n", Deps{},
			"p.yaml:18:9: aggregations[0].sinks[0]: alert: rules[0] (high): value \"eror\" is not an aggregate of table views; want one of: views, errors"},
		{"alert with a bad op", "      - alert:\n          rules:\n            - {name: high, value: errors, op: '=>', threshold: 1}\n", Deps{},
			"p.yaml:18:9: aggregations[0].sinks[0]: alert sink: rule high: operator \"=>\": want one of > >= < <= == !="},
		{"alert webhook", "      - alert:\n          webhook: hooks.example.com\n          rules:\n            - {name: high, value: errors, op: '>', threshold: 1}\n", Deps{},
			"p.yaml:18:9: aggregations[0].sinks[0]: alert: webhook \"hooks.example.com\": want an http:// or https:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(base, "      - stream: out\n", tt.sinks, 1)
			s, err := Parse("p.yaml", []byte(src), nil)
			if err != nil {
				t.Fatal(err)
			}
			d := tt.deps
			d.Kinesis, d.DynamoDB, d.DryRun = testKinesis(), testDynamoDB(), true
			_, err = s.Build(t.Context(), d, "p.yaml")
			if err == nil || err.Error() != tt.want {
				t.Errorf("got\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }
