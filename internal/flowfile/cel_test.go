package flowfile

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/flow"
)

// run decodes data and runs it through the file's record steps, then its
// first aggregation's event time, key and aggregate inputs.
func run(t *testing.T, s *Spec, data string) (keep bool, keys []any, inputs []any, err error) {
	t.Helper()
	v, err := s.decode(flow.Record{Data: []byte(data), PartitionKey: "pk", ArrivalTime: time.UnixMilli(1000), Stream: "s", ShardID: "shardId-0"})
	if err != nil {
		return false, nil, nil, err
	}
	if s.filter != nil {
		if v, err = s.runFilter(v); err != nil || !v.keep {
			return false, nil, nil, err
		}
	}
	if v, err = s.runMaps(v); err != nil {
		return false, nil, nil, err
	}
	a := &s.aggs[0]
	if a.event != nil {
		if v, err = a.runEventTime(v); err != nil {
			return false, nil, nil, err
		}
	}
	if keys, err = a.key(v); err != nil {
		return false, nil, nil, err
	}
	for _, f := range a.funcs {
		if f.prg == nil {
			continue
		}
		g, err := f.prg.evalGo(v)
		if err != nil {
			return false, nil, nil, err
		}
		inputs = append(inputs, g)
	}
	return true, keys, inputs, nil
}

func parseOrFail(t *testing.T, src string) *Spec {
	t.Helper()
	s, err := Parse("p.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCEL_SchemaTypes(t *testing.T) {
	s := parseOrFail(t, `pipeline: p
sources: s
schema: {page: string, status: int, ms: float, at: timestamp, ok: bool}
filter: status >= 200
map:
  slow: ms > 100.0
  minute: at.getMinutes()
aggregations:
  - table: t
    key: [page, minute]
    window: {type: tumbling, size: 1m, event_time: at}
    aggregates:
      n: count()
      slow: 'sum(slow ? 1 : 0)'
      total_ms: sum(ms)
    sinks: [stream: out]
`)
	tests := []struct {
		name, data string
		keep       bool
		keys       []any
		inputs     []any
		err        string
	}{
		{"typed", `{"page":"/a","status":200,"ms":150,"at":"2026-01-02T03:04:05Z","ok":true}`, true,
			[]any{"/a", int64(4)}, []any{int64(1), 150.0}, ""},
		{"filtered out", `{"page":"/a","status":100,"ms":1,"at":"2026-01-02T03:04:05Z"}`, false, nil, nil, ""},
		{"int field with a fraction", `{"page":"/a","status":200.5,"ms":1,"at":"2026-01-02T03:04:05Z"}`, false, nil, nil,
			"field status: got the number 200.5, want an int"},
		{"int field given as text", `{"page":"/a","status":"200","ms":1,"at":"2026-01-02T03:04:05Z"}`, false, nil, nil,
			`field status: got the string "200", want an int`},
		{"timestamp as Unix milliseconds", `{"page":"/a","status":200,"ms":1,"at":1767323045000}`, true,
			[]any{"/a", int64(4)}, []any{int64(0), 1.0}, ""},
		{"missing field", `{"page":"/a","ms":1,"at":"2026-01-02T03:04:05Z"}`, false, nil, nil,
			"filter: status >= 200: no such overload"},
		{"not JSON", `nope`, false, nil, nil, "decode JSON: invalid character 'o' in literal null (expecting 'u')"},
		{"not an object", `[1]`, false, nil, nil, "decode JSON: json: cannot unmarshal array into Go value of type map[string]interface {}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep, keys, inputs, err := run(t, s, tt.data)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if keep != tt.keep || !jsonEqual(keys, tt.keys) || !jsonEqual(inputs, tt.inputs) {
				t.Errorf("keep %v keys %#v inputs %#v, want %v %#v %#v", keep, keys, inputs, tt.keep, tt.keys, tt.inputs)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// Without a schema, fields are of any type: JSON numbers are doubles (as
// CEL reads JSON), compared with ints across types, and a key must come
// as a string at run time.
func TestCEL_NoSchema(t *testing.T) {
	s := parseOrFail(t, `pipeline: p
sources: s
filter: ms > 100 && has(record.page)
aggregations:
  - table: t
    key: page
    window: {type: tumbling, size: 1m, event_time: at}
    aggregates: {total: sum(ms), codes: count_distinct(status)}
    sinks: [stream: out]
`)
	keep, keys, inputs, err := run(t, s, `{"page":"/a","ms":150,"status":200,"at":"2026-01-02T03:04:05.5Z"}`)
	if err != nil || !keep || keys[0] != "/a" || inputs[0] != 150.0 || inputs[1] != 200.0 {
		t.Fatalf("got %v %v %v %v", keep, keys, inputs, err)
	}
	if keep, _, _, err := run(t, s, `{"ms":150}`); keep || err != nil {
		t.Errorf("a record without page: keep %v err %v, want dropped", keep, err)
	}
	_, _, _, err = run(t, s, `{"page":7,"ms":150,"at":"2026-01-02T03:04:05Z"}`)
	if err == nil || err.Error() != "key page: page: got the number 7, want a string" {
		t.Errorf("a number as a key: %v", err)
	}
	_, _, _, err = run(t, s, `{"page":"/a","ms":150,"at":"yesterday"}`)
	if err == nil || err.Error() != `t: event_time: at: "yesterday" is not an RFC 3339 time` {
		t.Errorf("a bad event time: %v", err)
	}
}

// TestCEL_CostLimit checks that an expression's evaluation stops at the
// cost limit and becomes a record's error, and that the limit is a setting.
func TestCEL_CostLimit(t *testing.T) {
	file := `pipeline: p
sources: s
filter: record.items.all(i, record.items.all(j, i + j >= 0))
aggregations:
  - table: t
    window: {type: tumbling, size: 1m}
    aggregates: {n: count()}
    sinks: [stream: out]
`
	items := make([]int, 300)
	data, _ := json.Marshal(map[string]any{"items": items})
	_, _, _, err := run(t, parseOrFail(t, file), string(data))
	if err == nil || !strings.Contains(err.Error(), "cost limit of 100000 exceeded") {
		t.Fatalf("err %v, want the cost limit exceeded", err)
	}
	keep, _, _, err := run(t, parseOrFail(t, file+"settings: {cost_limit: 10000000}\n"), string(data))
	if err != nil || !keep {
		t.Fatalf("with a higher limit: keep %v err %v", keep, err)
	}
	small, _ := json.Marshal(map[string]any{"items": []int{1, 2, 3}})
	if keep, _, _, err := run(t, parseOrFail(t, file), string(small)); err != nil || !keep {
		t.Fatalf("small list: keep %v err %v", keep, err)
	}
}

// TestCEL_Raw reads raw records through the built-in variables.
func TestCEL_Raw(t *testing.T) {
	s := parseOrFail(t, `pipeline: p
sources: s
decode: raw
filter: size(data) > 2 && partition_key == "pk"
aggregations:
  - table: t
    key: {text: string(data)}
    window: {type: tumbling, size: 1m}
    aggregates: {n: count(), first_seen: min(arrival_time), bytes: sum(size(data))}
    sinks: [stream: out]
`)
	keep, keys, inputs, err := run(t, s, "hello")
	if err != nil || !keep || keys[0] != "hello" || !inputs[0].(time.Time).Equal(time.UnixMilli(1000)) || inputs[1] != int64(5) {
		t.Fatalf("got %v %v %v %v", keep, keys, inputs, err)
	}
	if s.aggs[0].table.Values[1].Type != flow.Timestamp {
		t.Errorf("min(arrival_time) is a %v", s.aggs[0].table.Values[1].Type)
	}
}
