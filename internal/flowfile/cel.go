package flowfile

// The expression layer: CEL (cel.dev/cel-go), compiled and type-checked once
// when the file is loaded, evaluated per record against an activation that
// reads the decoded record in place, with a cost limit on every evaluation.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/sluicehq/sluice/flow"
)

// DefaultCostLimit bounds the work of one evaluation of one expression
// (CEL's cost units: about one per operation, more for long strings and
// lists). A plain comparison costs a few units; an expression over a list
// of a thousand items a few thousand.
const DefaultCostLimit = 100_000

// builtins are the variables every expression sees besides the fields.
var builtins = map[string]*cel.Type{
	"record":          cel.MapType(cel.StringType, cel.DynType),
	"data":            cel.BytesType,
	"partition_key":   cel.StringType,
	"arrival_time":    cel.TimestampType,
	"stream":          cel.StringType,
	"shard_id":        cel.StringType,
	"sequence_number": cel.StringType,
}

// fieldType is a type a schema may give a field.
type fieldType struct {
	cel  *cel.Type
	flow flow.ColumnType // 0 for any
}

var fieldTypes = map[string]fieldType{
	"int":       {cel.IntType, flow.Int},
	"float":     {cel.DoubleType, flow.Float},
	"double":    {cel.DoubleType, flow.Float},
	"string":    {cel.StringType, flow.String},
	"bool":      {cel.BoolType, flow.Bool},
	"timestamp": {cel.TimestampType, flow.Timestamp},
	"any":       {cel.DynType, 0},
}

// scope is what the expressions at one point of a pipeline can read.
type scope struct {
	// fields are the names that resolve to the record's fields, with
	// their types (dyn without a schema).
	fields map[string]*cel.Type
	// open makes undeclared names fields of any type (no schema).
	open bool
	env  *cel.Env
}

func newScope(schema map[string]*cel.Type, open bool) (*scope, error) {
	s := &scope{fields: map[string]*cel.Type{}, open: open}
	for k, v := range schema {
		s.fields[k] = v
	}
	return s, s.rebuild()
}

// with returns a copy of s with one more field.
func (s *scope) with(name string, t *cel.Type) (*scope, error) {
	n := &scope{fields: map[string]*cel.Type{}, open: s.open}
	for k, v := range s.fields {
		n.fields[k] = v
	}
	n.fields[name] = t
	return n, n.rebuild()
}

func (s *scope) rebuild() error {
	opts := []cel.EnvOption{
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		ext.Strings(), ext.Math(), ext.Encoders(), ext.Lists(),
	}
	for name, t := range builtins {
		opts = append(opts, cel.Variable(name, t))
	}
	for name, t := range s.fields {
		if _, ok := builtins[name]; !ok {
			opts = append(opts, cel.Variable(name, t))
		}
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return fmt.Errorf("expression environment: %w", err)
	}
	s.env = env
	return nil
}

// celError is a mistake in an expression, at a 1-based line and column of
// its text.
type celError struct {
	line, col int
	msg       string
}

// program is a compiled expression.
type program struct {
	src  string
	prg  cel.Program
	out  *cel.Type
	s    *scope
	cost uint64
}

// compile parses and checks src in s. With an open scope, names nothing
// declares become fields of any type (in s, for later expressions too).
func (s *scope) compile(src string, costLimit uint64) (*program, []celError) {
	ast, iss := s.env.Compile(src)
	if iss.Err() != nil && s.open {
		// Declare the unknown names as fields and check again.
		added := false
		for _, e := range iss.Errors() {
			if name, ok := undeclared(e.Message); ok && validIdent(name) {
				if _, dup := s.fields[name]; !dup {
					s.fields[name] = cel.DynType
					added = true
				}
			}
		}
		if added {
			if err := s.rebuild(); err != nil {
				return nil, []celError{{1, 1, err.Error()}}
			}
			ast, iss = s.env.Compile(src)
		}
	}
	if iss.Err() != nil {
		var errs []celError
		for _, e := range iss.Errors() {
			msg := e.Message
			if name, ok := undeclared(msg); ok {
				var known []string
				for f := range s.fields {
					known = append(known, f)
				}
				slices.Sort(known)
				msg = fmt.Sprintf("undeclared reference to %s: not a field of the schema, a field set by map, or one of %s", name, builtinNames())
				if c := closest(name, known); c != "" {
					msg = fmt.Sprintf("undeclared reference to %s (did you mean %s?): not a field of the schema, a field set by map, or one of %s", name, c, builtinNames())
				}
			}
			errs = append(errs, celError{e.Location.Line(), e.Location.Column() + 1, msg})
		}
		return nil, errs
	}
	prg, err := s.env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, []celError{{1, 1, err.Error()}}
	}
	return &program{src: src, prg: prg, out: ast.OutputType(), s: s, cost: costLimit}, nil
}

func undeclared(msg string) (string, bool) {
	const p = "undeclared reference to '"
	if !strings.HasPrefix(msg, p) {
		return "", false
	}
	name, _, ok := strings.Cut(msg[len(p):], "'")
	return name, ok
}

func builtinNames() string {
	return "record, data, partition_key, arrival_time, stream, shard_id, sequence_number"
}

// value is one record on its way through the pipeline.
type value struct {
	rec flow.Record
	// fields is the decoded JSON object (nil with decode: raw), with the
	// fields map sets.
	fields map[string]any
	keep   bool
	id     string
	event  time.Time
}

// activation resolves the names of an expression against a value.
type activation struct {
	v *value
	s *scope
}

func (a activation) ResolveName(name string) (any, bool) {
	switch name {
	case "record":
		if a.v.fields == nil {
			return types.NullValue, true
		}
		return a.v.fields, true
	case "data":
		return a.v.rec.Data, true
	case "partition_key":
		return a.v.rec.PartitionKey, true
	case "arrival_time":
		return a.v.rec.ArrivalTime, true
	case "stream":
		return a.v.rec.Stream, true
	case "shard_id":
		return a.v.rec.ShardID, true
	case "sequence_number":
		return a.v.rec.SequenceNumber, true
	}
	if _, ok := a.s.fields[name]; !ok {
		return nil, false
	}
	if x, ok := a.v.fields[name]; ok && x != nil {
		return x, true
	}
	return types.NullValue, true
}

func (a activation) Parent() interpreter.Activation { return nil }

// eval runs the program on v.
func (p *program) eval(v *value) (ref.Val, error) {
	out, _, err := p.prg.Eval(activation{v: v, s: p.s})
	if err != nil {
		var cancel interpreter.EvalCancelledError
		if errors.As(err, &cancel) && cancel.Cause == interpreter.CostLimitExceeded {
			return nil, fmt.Errorf("%s: cost limit of %d exceeded", p.src, p.cost)
		}
		return nil, fmt.Errorf("%s: %w", p.src, err)
	}
	return out, nil
}

// evalGo runs the program and returns its value as Go: nil, int64,
// float64, string, bool, time.Time, []byte, time.Duration, []any or
// map[string]any.
func (p *program) evalGo(v *value) (any, error) {
	out, err := p.eval(v)
	if err != nil {
		return nil, err
	}
	g, err := toGo(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.src, err)
	}
	return g, nil
}

// toGo converts a CEL value to plain Go values.
func toGo(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("%d does not fit an int", uint64(x))
		}
		return int64(x), nil
	case types.Double:
		return float64(x), nil
	case types.String:
		return string(x), nil
	case types.Bool:
		return bool(x), nil
	case types.Bytes:
		return []byte(x), nil
	case types.Timestamp:
		return x.Time.UTC(), nil
	case types.Duration:
		return x.Duration, nil
	}
	switch v.Type() {
	case types.ListType:
		l := v.(traits.Lister)
		n := int(l.Size().(types.Int))
		out := make([]any, n)
		for i := range n {
			g, err := toGo(l.Get(types.Int(i)))
			if err != nil {
				return nil, err
			}
			out[i] = g
		}
		return out, nil
	case types.MapType:
		m := v.(traits.Mapper)
		out := map[string]any{}
		it := m.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			g, err := toGo(m.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(ks)] = g
		}
		return out, nil
	}
	// Values the adapter passed through (a field of the JSON record read
	// as it was decoded).
	if g := v.Value(); g != nil {
		return plain(g)
	}
	return nil, fmt.Errorf("a value of type %s cannot be used here", v.Type().TypeName())
}

// plain accepts the Go values JSON decoding and toGo produce.
func plain(g any) (any, error) {
	switch g.(type) {
	case nil, int64, float64, string, bool, time.Time, []byte, []any, map[string]any:
		return g, nil
	}
	return nil, fmt.Errorf("a value of Go type %T cannot be used here", g)
}

// columnOf says what result column type an expression's CEL type gives,
// and whether it is known (dyn is not).
func columnOf(t *cel.Type) (flow.ColumnType, bool) {
	switch t.String() {
	case "int", "uint":
		return flow.Int, true
	case "double":
		return flow.Float, true
	case "string":
		return flow.String, true
	case "bool":
		return flow.Bool, true
	case "google.protobuf.Timestamp":
		return flow.Timestamp, true
	}
	return 0, false
}

// toColumn converts a Go value from toGo to the Go type of column type t.
func toColumn(g any, t flow.ColumnType) (any, error) {
	if g == nil {
		return nil, nil
	}
	switch t {
	case flow.Int:
		return flow.AsInt(g)
	case flow.Float:
		return flow.AsFloat(g)
	case flow.String:
		s, ok := g.(string)
		if !ok {
			return nil, fmt.Errorf("got %s, want a string", describe(g))
		}
		return s, nil
	case flow.Bool:
		b, ok := g.(bool)
		if !ok {
			return nil, fmt.Errorf("got %s, want a bool", describe(g))
		}
		return b, nil
	case flow.Timestamp:
		return asTime(g)
	}
	return g, nil
}

// asTime reads an event time: a timestamp, an RFC 3339 text, or a number
// of Unix milliseconds.
func asTime(g any) (time.Time, error) {
	switch x := g.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", x)
		}
		return t.UTC(), nil
	case float64, int64:
		ms, err := flow.AsFloat(x)
		if err != nil {
			return time.Time{}, err
		}
		if ms < -9e15 || ms > 9e15 {
			return time.Time{}, fmt.Errorf("%v is out of range for Unix milliseconds", x)
		}
		return time.UnixMilli(int64(ms)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("got %s, want a timestamp, an RFC 3339 text or Unix milliseconds", describe(g))
}

func describe(g any) string {
	switch x := g.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case int64:
		return fmt.Sprintf("the int %v", x)
	case bool:
		return fmt.Sprintf("the bool %v", x)
	case []byte:
		return "bytes " + base64.StdEncoding.EncodeToString(x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a %T", g)
}

// convertField converts a decoded JSON value to the schema's type for it.
func convertField(g any, t fieldType) (any, error) {
	if g == nil || t.flow == 0 {
		return g, nil
	}
	if t.flow == flow.Int {
		f, ok := g.(float64)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, fmt.Errorf("got %s, want an int", describe(g))
		}
		return int64(f), nil
	}
	return toColumn(g, t.flow)
}

// identRe is a name the sinks can use as a column or table: flow's rule.
var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

func validIdent(s string) bool { return identRe.MatchString(s) }
