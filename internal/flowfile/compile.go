package flowfile

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/flow"
)

// Spec is a pipeline file checked and compiled: every expression
// type-checked and planned, every setting valid. Build turns it into a
// flow.Pipeline.
type Spec struct {
	File *File
	// Name is the pipeline's name.
	Name string

	json      bool
	schema    []schemaField
	costLimit uint64
	dedup     *program
	filter    *program
	maps      []mapStep
	aggs      []aggSpec
	outputs   []outputSpec
	startAt   time.Time
	fanOut    bool
}

type schemaField struct {
	name string
	t    fieldType
}

type mapStep struct {
	name string
	prg  *program
}

type keyCol struct {
	col flow.Column
	prg *program
}

type aggFunc struct {
	spec flow.AggregateSpec // Input unset
	prg  *program           // nil for count()
}

type aggSpec struct {
	a         *Aggregation
	keys      []keyCol
	windowing flow.Windowing
	event     *program
	funcs     []aggFunc
	table     flow.Table
}

type outputSpec struct {
	o     *Output
	key   *program
	value *program
}

// reservedColumns are the warehouse sinks' own columns.
var reservedColumns = []string{"pipeline", "window_start", "window_end", "final", "updated_at"}

var pipelineNameRe = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,100}$`)

// Parse reads and checks a pipeline file. name names the file in errors;
// env reads environment variables for ${NAME} in settings (nil: none are
// set). Mistakes come back as *Errors, each with its line and column.
func Parse(name string, src []byte, env func(string) (string, bool)) (*Spec, error) {
	errs := &Errors{File: name}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); err != nil {
		errs.List = append(errs.List, syntaxError(err))
		return nil, errs
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		errs.List = append(errs.List, Error{Pos: posOf(&extra), Msg: "a second YAML document: a pipeline file holds one pipeline"})
		return nil, errs
	}
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	d := &decoder{env: env}
	f := &File{}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.decode(root, "", reflectOf(f))
	if len(d.errs) > 0 {
		errs.List = d.errs
		return nil, errs
	}
	c := &checker{src: src, errs: errs}
	s := c.check(f)
	if len(errs.List) > 0 {
		return nil, errs
	}
	return s, nil
}

// syntaxError turns a YAML syntax error ("yaml: line 3: ...") into an Error.
func syntaxError(err error) Error {
	msg := err.Error()
	line := 1
	if m := regexp.MustCompile(`^yaml: line (\d+): (.*)$`).FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if strings.Contains(msg, "mapping values are not allowed") {
		msg += ` (a value that holds ": ", such as the expression a ? b : c, must be quoted: 'a ? b : c')`
	}
	return Error{Pos: Pos{line, 1}, Msg: "not valid YAML: " + msg}
}

type checker struct {
	src  []byte
	errs *Errors
	cost uint64
}

func (c *checker) errorf(p Pos, format string, args ...any) {
	if len(c.errs.List) < maxErrors {
		c.errs.List = append(c.errs.List, Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
	}
}

// compile compiles an expression, reporting its mistakes at their place
// in the file.
func (c *checker) compile(s *scope, e Expr, what string) *program {
	return c.compileAt(s, e, e.Src, 0, what)
}

// compileAt compiles src, which starts at byte off of e's text.
func (c *checker) compileAt(s *scope, e Expr, src string, off int, what string) *program {
	p, errs := s.compile(src, c.cost)
	for _, ce := range errs {
		// From a line and column of src to one of e's text.
		abs := off + offsetOf(src, ce.line, ce.col)
		line, col := lineCol(e.Src, abs)
		pos := e.exprPos(c.src, line, col)
		c.errs.List = append(c.errs.List, Error{Pos: pos, Msg: fmt.Sprintf("%s: %s", what, ce.msg), Snippet: snippet(e.Src, line, col)})
	}
	return p
}

// offsetOf is the byte offset of a 1-based line and column in s.
func offsetOf(s string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(s[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	return min(off+col-1, len(s))
}

// lineCol is the 1-based line and column of byte off in s.
func lineCol(s string, off int) (int, int) {
	off = min(off, len(s))
	line := 1 + strings.Count(s[:off], "\n")
	start := strings.LastIndexByte(s[:off], '\n') + 1
	return line, off - start + 1
}

// snippet shows line of s with a caret under col.
func snippet(s string, line, col int) string {
	lines := strings.Split(s, "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	l := lines[line-1]
	return l + "\n" + strings.Repeat(" ", max(0, col-1)) + "^"
}

func (c *checker) check(f *File) *Spec {
	s := &Spec{File: f, Name: f.Pipeline.S}
	if !pipelineNameRe.MatchString(f.Pipeline.S) {
		c.errorf(f.Pipeline.Pos, "pipeline: %q is not a pipeline name; want 1 to 100 letters, digits, '_', '.' or '-'", f.Pipeline.S)
	}
	if len(f.Sources) == 0 {
		c.errorf(f.Pos, "sources: want at least one stream")
	}
	seen := map[string]bool{}
	for i, src := range f.Sources {
		switch {
		case src.S == "":
			c.errorf(src.Pos, "sources[%d]: empty stream name", i)
		case seen[src.S]:
			c.errorf(src.Pos, "sources[%d]: %s is given twice", i, src.S)
		}
		seen[src.S] = true
	}
	c.cost = DefaultCostLimit
	if f.Settings.CostLimit != 0 {
		if f.Settings.CostLimit < 0 {
			c.errorf(f.Pos, "settings.cost_limit: want a positive number")
		} else {
			c.cost = uint64(f.Settings.CostLimit)
		}
	}
	s.costLimit = c.cost
	switch f.Decode.S {
	case "", "json":
		s.json = true
	case "raw":
		if len(f.Schema) > 0 {
			c.errorf(f.Schema[0].NamePos, "schema: records decoded raw have no fields; use decode: json")
		}
	default:
		c.errorf(f.Decode.Pos, "decode: %q is not a decoding; want json or raw", f.Decode.S)
	}
	c.settings(s, &f.Settings)

	// The scope of the record as decoded.
	fields := map[string]*cel.Type{}
	for _, fd := range f.Schema {
		t, ok := fieldTypes[strings.TrimSpace(fd.Expr.Src)]
		switch {
		case !validIdent(fd.Name):
			c.errorf(fd.NamePos, "schema: %q is not a field name; want letters, digits and _ (read other fields as record[\"%s\"])", fd.Name, fd.Name)
		case builtins[fd.Name] != nil:
			c.errorf(fd.NamePos, "schema: %s is a built-in name (%s); read the field as record.%s", fd.Name, builtinNames(), fd.Name)
		case !ok:
			c.errorf(fd.Expr.Pos, "schema.%s: unknown type %q; want int, float, string, bool, timestamp or any", fd.Name, fd.Expr.Src)
			fields[fd.Name] = cel.DynType // so that its uses are not reported too
		default:
			fields[fd.Name] = t.cel
			s.schema = append(s.schema, schemaField{fd.Name, t})
		}
	}
	sc, err := newScope(fields, len(f.Schema) == 0 && s.json)
	if err != nil {
		c.errorf(f.Pos, "%v", err)
		return s
	}
	if f.Dedup != nil {
		if f.Dedup.Within.D <= 0 {
			c.errorf(f.Dedup.Pos, "dedup.within: want a duration above 0")
		}
		if p := c.compile(sc, f.Dedup.ID, "dedup.id"); p != nil {
			c.wantType(f.Dedup.ID, p, "dedup.id", "string", "int")
			s.dedup = p
		}
	}
	if f.Filter.node != nil {
		if p := c.compile(sc, f.Filter, "filter"); p != nil {
			c.wantType(f.Filter, p, "filter", "bool")
			s.filter = p
		}
	}
	for _, m := range f.Map {
		switch {
		case !validIdent(m.Name):
			c.errorf(m.NamePos, "map: %q is not a field name; want letters, digits and _", m.Name)
			continue
		case builtins[m.Name] != nil:
			c.errorf(m.NamePos, "map: %s is a built-in name; choose another", m.Name)
			continue
		}
		p := c.compile(sc, m.Expr, "map."+m.Name)
		if p == nil {
			continue
		}
		s.maps = append(s.maps, mapStep{m.Name, p})
		if sc, err = sc.with(m.Name, p.out); err != nil {
			c.errorf(m.NamePos, "%v", err)
			return s
		}
	}
	if len(f.Aggregations) == 0 && len(f.Outputs) == 0 {
		c.errorf(f.Pos, "the file has no aggregations and no outputs: nothing would be written")
	}
	tables := map[string]bool{}
	for i := range f.Aggregations {
		a := &f.Aggregations[i]
		if tables[strings.ToLower(a.Table.S)] {
			c.errorf(a.Table.Pos, "aggregations[%d].table: %s is given twice; each aggregation needs its own table", i, a.Table.S)
		}
		tables[strings.ToLower(a.Table.S)] = true
		s.aggs = append(s.aggs, c.aggregation(s, sc, a, fmt.Sprintf("aggregations[%d]", i)))
	}
	for i := range f.Outputs {
		o := &f.Outputs[i]
		path := fmt.Sprintf("outputs[%d]", i)
		out := outputSpec{o: o}
		if o.Stream.S == "" {
			c.errorf(o.Pos, "%s.stream: empty stream name", path)
		}
		if o.PartitionKey.node != nil {
			if out.key = c.compile(sc, o.PartitionKey, path+".partition_key"); out.key != nil {
				c.wantType(o.PartitionKey, out.key, path+".partition_key", "string", "int")
			}
		}
		if o.Value.node != nil {
			out.value = c.compile(sc, o.Value, path+".value")
		} else if !s.json {
			c.errorf(o.Pos, "%s: records decoded raw need a value expression (value: data writes them as they came)", path)
		}
		s.outputs = append(s.outputs, out)
	}
	return s
}

// wantType reports an expression whose checked type is known and none of
// want (dyn passes: it is checked on each record).
func (c *checker) wantType(e Expr, p *program, what string, want ...string) {
	got := p.out.String()
	if got == "dyn" || got == "null_type" {
		return
	}
	for _, w := range want {
		if got == w {
			return
		}
	}
	for i, w := range want {
		if w == "google.protobuf.Timestamp" {
			want[i] = "timestamp"
		}
	}
	c.errorf(e.Pos, "%s: %s is of type %s; want %s", what, e.Src, typeName(p.out), strings.Join(want, " or "))
}

func typeName(t *cel.Type) string {
	switch s := t.String(); s {
	case "google.protobuf.Timestamp":
		return "timestamp"
	case "google.protobuf.Duration":
		return "duration"
	default:
		return s
	}
}

func (c *checker) settings(s *Spec, st *Settings) {
	switch v := st.StartAt.S; {
	case v == "" || v == "trim_horizon":
	case v == "latest":
		s.startAt = time.Now()
	default:
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			c.errorf(st.StartAt.Pos, "settings.start_at: %q: want trim_horizon, latest or an RFC 3339 time (2026-01-02T15:04:05Z)", v)
		}
		s.startAt = t
	}
	switch st.Retrieval.S {
	case "", "polling":
	case "fan-out":
		s.fanOut = true
	default:
		c.errorf(st.Retrieval.Pos, "settings.retrieval: %q: want polling or fan-out", st.Retrieval.S)
	}
	if st.FailoverTime.Set && st.FailoverTime.D < 100*time.Millisecond {
		c.errorf(st.FailoverTime.Pos, "settings.failover_time: want at least 100ms")
	}
	if st.CheckpointInterval.Set && st.CheckpointInterval.D <= 0 {
		c.errorf(st.CheckpointInterval.Pos, "settings.checkpoint_interval: want a duration above 0")
	}
	if st.RepartitionShards < 0 {
		c.errorf(s.File.Pos, "settings.repartition_shards: want a positive number")
	}
}

func (c *checker) aggregation(s *Spec, sc *scope, a *Aggregation, path string) aggSpec {
	as := aggSpec{a: a}
	as.table = flow.Table{Pipeline: s.Name, Name: a.Table.S}
	if !validIdent(a.Table.S) {
		c.errorf(a.Table.Pos, "%s.table: %q is not a table name; want letters, digits and _, not starting with a digit", path, a.Table.S)
	}
	cols := map[string]string{}
	column := func(name string, p Pos, what string) bool {
		low := strings.ToLower(name)
		for _, r := range reservedColumns {
			if low == r {
				c.errorf(p, "%s: %s is the name of a column every result table has (%s); choose another", what, name, strings.Join(reservedColumns, ", "))
				return false
			}
		}
		if prev, ok := cols[low]; ok {
			c.errorf(p, "%s: column %s is already %s", what, name, prev)
			return false
		}
		cols[low] = what
		return true
	}
	for _, k := range a.Key.Cols {
		what := path + ".key." + k.Name
		if !validIdent(k.Name) {
			c.errorf(k.NamePos, "%s: %q is not a column name; want letters, digits and _", path+".key", k.Name)
			continue
		}
		if !column(k.Name, k.NamePos, what) {
			continue
		}
		p := c.compile(sc, k.Expr, what)
		if p == nil {
			continue
		}
		t, ok := columnOf(p.out)
		if !ok {
			if p.out.String() != "dyn" {
				c.errorf(k.Expr.Pos, "%s: %s is of type %s; a key is an int, float, string, bool or timestamp", what, k.Expr.Src, typeName(p.out))
				continue
			}
			t = flow.String // a field of unknown type: its values must be strings
		}
		as.keys = append(as.keys, keyCol{flow.Column{Name: k.Name, Type: t}, p})
		as.table.Keys = append(as.table.Keys, flow.Column{Name: k.Name, Type: t})
	}
	w := &a.Window
	wp := path + ".window"
	only := func(d Duration, name, kind string) {
		if d.Set {
			c.errorf(d.Pos, "%s.%s: %s windows have no %s", wp, name, kind, name)
		}
	}
	switch w.Type.S {
	case "tumbling":
		if w.Size.D <= 0 {
			c.errorf(w.Pos, "%s: tumbling windows need a size above 0 (size: 1m)", wp)
		}
		only(w.Step, "step", "tumbling")
		only(w.Gap, "gap", "tumbling")
		as.windowing = flow.Tumbling(w.Size.D)
	case "hopping":
		if w.Size.D <= 0 || w.Step.D <= 0 {
			c.errorf(w.Pos, "%s: hopping windows need a size and a step above 0 (size: 10m, step: 1m)", wp)
		} else if w.Size.D%w.Step.D != 0 {
			c.errorf(w.Step.Pos, "%s.step: %v does not divide the size %v; want a step that divides it", wp, w.Step.D, w.Size.D)
		}
		only(w.Gap, "gap", "hopping")
		as.windowing = flow.Hopping(w.Size.D, w.Step.D)
	case "session":
		if w.Gap.D <= 0 {
			c.errorf(w.Pos, "%s: session windows need a gap above 0 (gap: 30m)", wp)
		}
		only(w.Size, "size", "session")
		only(w.Step, "step", "session")
		as.windowing = flow.Session(w.Gap.D)
	default:
		c.errorf(w.Type.Pos, "%s.type: %q: want tumbling, hopping or session", wp, w.Type.S)
	}
	for _, d := range []struct {
		v    Duration
		name string
	}{{w.Size, "size"}, {w.Step, "step"}, {w.Gap, "gap"}} {
		if d.v.Set && d.v.D > 0 && d.v.D%time.Millisecond != 0 {
			c.errorf(d.v.Pos, "%s.%s: %v is not whole milliseconds", wp, d.name, d.v.D)
		}
	}
	if w.EventTime.node != nil {
		if p := c.compile(sc, w.EventTime, wp+".event_time"); p != nil {
			c.wantType(w.EventTime, p, wp+".event_time", "google.protobuf.Timestamp", "string", "int", "double")
			as.event = p
		}
	} else if w.MaxOutOfOrder.Set {
		c.errorf(w.MaxOutOfOrder.Pos, "%s.max_out_of_order: only with event_time (arrival times come in order)", wp)
	}
	if len(a.Aggregates) == 0 {
		c.errorf(a.Pos, "%s.aggregates: want at least one, such as views: count()", path)
	}
	for _, ag := range a.Aggregates {
		what := path + ".aggregates." + ag.Name
		if !validIdent(ag.Name) {
			c.errorf(ag.NamePos, "%s.aggregates: %q is not a column name; want letters, digits and _", path, ag.Name)
			continue
		}
		if !column(ag.Name, ag.NamePos, what) {
			continue
		}
		if fn, ok := c.aggregate(sc, ag, what); ok {
			as.funcs = append(as.funcs, fn)
			t := fn.spec.Type
			as.table.Values = append(as.table.Values, flow.Column{Name: ag.Name, Type: t})
		}
	}
	if a.LateTo.Pos != (Pos{}) && a.LateTo.S == "" {
		c.errorf(a.LateTo.Pos, "%s.late_to: empty stream name", path)
	}
	if len(a.Sinks) == 0 {
		c.errorf(a.Pos, "%s.sinks: want at least one sink", path)
	}
	return as
}

// aggFuncs are the aggregate functions, with their arguments.
var aggFuncs = map[string]string{
	"count": "count() or count(x)", "sum": "sum(x)", "avg": "avg(x)", "min": "min(x)", "max": "max(x)",
	"first": "first(x)", "last": "last(x)", "count_distinct": "count_distinct(x)", "percentile": "percentile(x, 0.99)",
}

func aggFuncNames() string {
	return "count, sum, avg, min, max, first, last, count_distinct, percentile"
}

// aggregate compiles one aggregate, written as a call: sum(bytes),
// percentile(latency_ms, 0.99), count().
func (c *checker) aggregate(sc *scope, ag Named, what string) (aggFunc, bool) {
	e := ag.Expr
	call, err := splitCall(e.Src)
	if err != nil {
		line, col := lineCol(e.Src, err.off)
		c.errs.List = append(c.errs.List, Error{Pos: e.exprPos(c.src, line, col),
			Msg: fmt.Sprintf("%s: %s; want an aggregate function call such as %s", what, err.msg, "count(), sum(bytes) or percentile(latency_ms, 0.99)"), Snippet: snippet(e.Src, line, col)})
		return aggFunc{}, false
	}
	usage, ok := aggFuncs[call.fn]
	if !ok {
		msg := fmt.Sprintf("%s: unknown aggregate %q; want one of %s", what, call.fn, aggFuncNames())
		if s := closest(call.fn, strings.Split(aggFuncNames(), ", ")); s != "" {
			msg = fmt.Sprintf("%s: unknown aggregate %q (did you mean %s?); want one of %s", what, call.fn, s, aggFuncNames())
		}
		c.errorf(e.Pos, "%s", msg)
		return aggFunc{}, false
	}
	nargs := 1
	switch call.fn {
	case "count":
		if len(call.args) == 0 {
			return aggFunc{spec: flow.AggregateSpec{Func: "count", Name: ag.Name, Type: flow.Int}}, true
		}
	case "percentile":
		nargs = 2
	}
	if len(call.args) != nargs {
		c.errorf(e.Pos, "%s: %s takes %d argument%s, got %d: write %s", what, call.fn, nargs, map[bool]string{true: "s"}[nargs > 1], len(call.args), usage)
		return aggFunc{}, false
	}
	fn := aggFunc{spec: flow.AggregateSpec{Func: call.fn, Name: ag.Name}}
	if call.fn == "percentile" {
		q, err := strconv.ParseFloat(strings.TrimSpace(call.args[1].text), 64)
		if err != nil || !(q >= 0 && q <= 1) {
			text := call.args[1].text
			line, col := lineCol(e.Src, call.args[1].off+len(text)-len(strings.TrimLeft(text, " \t\n")))
			c.errorf(e.exprPos(c.src, line, col), "%s: the quantile %q: want a number from 0 to 1 (0.99 for p99)", what, strings.TrimSpace(call.args[1].text))
			return aggFunc{}, false
		}
		fn.spec.Quantile = q
	}
	arg := call.args[0]
	p := c.compileAt(sc, e, arg.text, arg.off, what)
	if p == nil {
		return aggFunc{}, false
	}
	fn.prg = p
	t, known := columnOf(p.out)
	dyn := p.out.String() == "dyn" || p.out.String() == "null_type"
	bad := func(want string) (aggFunc, bool) {
		c.errorf(e.Pos, "%s: %s(%s): the argument is of type %s; want %s", what, call.fn, strings.TrimSpace(arg.text), typeName(p.out), want)
		return aggFunc{}, false
	}
	switch call.fn {
	case "count", "count_distinct":
		fn.spec.Type = flow.Int
	case "avg", "percentile":
		if !dyn && t != flow.Int && t != flow.Float {
			return bad("a number (int or float)")
		}
		fn.spec.Type = flow.Float
	case "sum":
		switch {
		case dyn:
			fn.spec.Type = flow.Float
		case t == flow.Int || t == flow.Float:
			fn.spec.Type = t
		default:
			return bad("a number (int or float)")
		}
	case "min", "max":
		switch {
		case dyn:
			fn.spec.Type = flow.Float
		case known && t != flow.Bool:
			fn.spec.Type = t
		default:
			return bad("an int, float, string or timestamp")
		}
	case "first", "last":
		if !known {
			c.errorf(e.Pos, "%s: %s(%s): the type of the argument is not known; convert it, e.g. %s(string(%s)), or declare the field in schema",
				what, call.fn, strings.TrimSpace(arg.text), call.fn, strings.TrimSpace(arg.text))
			return aggFunc{}, false
		}
		fn.spec.Type = t
	}
	if _, err := flow.NewAggregate(withInput(fn.spec)); err != nil {
		c.errorf(e.Pos, "%s: %v", what, err)
		return aggFunc{}, false
	}
	return fn, true
}

func withInput(s flow.AggregateSpec) flow.AggregateSpec {
	s.Input = func(any) (any, error) { return nil, nil }
	return s
}

// callSyntax is an aggregate call split into its function and arguments.
type callSyntax struct {
	fn   string
	args []callArg
}

type callArg struct {
	text string
	off  int // byte offset in the call's text
}

type syntaxErr struct {
	off int
	msg string
}

// splitCall splits "fn(a, b)" at the commas outside brackets and string
// literals; the arguments stay CEL for the expression compiler.
func splitCall(s string) (callSyntax, *syntaxErr) {
	i := 0
	skip := func() {
		for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
			i++
		}
	}
	skip()
	start := i
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9') {
		i++
	}
	if i == start {
		return callSyntax{}, &syntaxErr{i, "expected an aggregate function name"}
	}
	call := callSyntax{fn: s[start:i]}
	skip()
	if i >= len(s) || s[i] != '(' {
		return callSyntax{}, &syntaxErr{i, fmt.Sprintf("expected ( after %s", call.fn)}
	}
	i++
	depth, argStart := 0, i
	for ; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '"', '\'':
			j := i + 1
			for j < len(s) && s[j] != ch {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return callSyntax{}, &syntaxErr{i, "unterminated string"}
			}
			i = j
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			if depth > 0 {
				depth--
				continue
			}
			if ch != ')' {
				return callSyntax{}, &syntaxErr{i, fmt.Sprintf("unexpected %c", ch)}
			}
			if text := s[argStart:i]; strings.TrimSpace(text) != "" || len(call.args) > 0 {
				call.args = append(call.args, callArg{text, argStart})
			}
			i++
			skip()
			if i < len(s) {
				return callSyntax{}, &syntaxErr{i, "unexpected text after the call"}
			}
			return call, nil
		case ',':
			if depth == 0 {
				call.args = append(call.args, callArg{s[argStart:i], argStart})
				argStart = i + 1
			}
		}
	}
	return callSyntax{}, &syntaxErr{len(s), "missing )"}
}

// Summary describes the pipeline in a few lines, for validate.
func (s *Spec) Summary() []string {
	var srcs []string
	for _, x := range s.File.Sources {
		srcs = append(srcs, x.S)
	}
	decode := "json"
	if !s.json {
		decode = "raw"
	}
	lines := []string{fmt.Sprintf("sources: %s (decode %s)", strings.Join(srcs, ", "), decode)}
	for _, a := range s.aggs {
		var keys, vals, sinks []string
		for _, k := range a.table.Keys {
			keys = append(keys, k.Name+" "+k.Type.String())
		}
		for _, v := range a.table.Values {
			vals = append(vals, v.Name+" "+v.Type.String())
		}
		for _, k := range a.a.Sinks {
			sinks = append(sinks, k.kind())
		}
		if len(keys) == 0 {
			keys = []string{"(global)"}
		}
		lines = append(lines, fmt.Sprintf("table %s: %s windows, key %s → %s; to %s",
			a.table.Name, a.windowing, strings.Join(keys, ", "), strings.Join(vals, ", "), strings.Join(sinks, ", ")))
	}
	for _, o := range s.outputs {
		lines = append(lines, "output to stream "+o.o.Stream.S)
	}
	return lines
}

func (k *Sink) kind() string {
	switch {
	case k.DuckDB != nil:
		return "duckdb " + k.DuckDB.Path.S
	case k.Postgres != nil:
		return "postgres"
	case k.Parquet != nil:
		return "parquet " + k.Parquet.Dir.S
	case k.Stream != nil:
		return "stream " + k.Stream.Stream.S
	case k.Metrics != nil:
		return "metrics"
	case k.Alert != nil:
		return fmt.Sprintf("alert (%d rules)", len(k.Alert.Rules))
	}
	return "?"
}

// StreamRef is a stream a file names that must exist before it runs.
type StreamRef struct {
	Name string
	What string // sources, outputs[0].stream, aggregations[0].sinks[1].stream
	Pos  Pos
}

// Streams lists the streams the pipeline reads and the streams it writes
// that it does not create (outputs and stream sinks; the late, repartition
// and dead-letter streams are created when missing).
func (s *Spec) Streams() []StreamRef {
	var out []StreamRef
	for _, src := range s.File.Sources {
		out = append(out, StreamRef{src.S, "sources", src.Pos})
	}
	for i, o := range s.File.Outputs {
		out = append(out, StreamRef{o.Stream.S, fmt.Sprintf("outputs[%d].stream", i), o.Stream.Pos})
	}
	for i, a := range s.File.Aggregations {
		for j, k := range a.Sinks {
			if k.Stream != nil {
				out = append(out, StreamRef{k.Stream.Stream.S, fmt.Sprintf("aggregations[%d].sinks[%d].stream", i, j), k.Stream.Stream.Pos})
			}
		}
	}
	return out
}
