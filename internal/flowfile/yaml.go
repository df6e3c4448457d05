package flowfile

// A strict decoder from YAML nodes into the file's Go types, so that every
// mistake is reported with its line and column and what was expected:
// unknown keys (with the closest known one), duplicate keys, missing keys,
// values of the wrong kind. yaml.v3's own decoder stops at the first error
// and speaks of Go types; this one walks the node tree and collects them all.

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Pos is a place in a pipeline file, 1-based.
type Pos struct {
	Line, Col int
}

// Error is one mistake in a pipeline file.
type Error struct {
	Pos Pos
	Msg string
	// Snippet shows the expression's line with a caret under the place,
	// for mistakes inside an expression.
	Snippet string
}

// Errors are the mistakes found in a pipeline file, in order.
type Errors struct {
	File string
	List []Error
}

func (e *Errors) Error() string {
	var b strings.Builder
	for i, x := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s", e.File, x.Pos.Line, x.Pos.Col, x.Msg)
		if x.Snippet != "" {
			b.WriteString("\n    " + strings.ReplaceAll(x.Snippet, "\n", "\n    "))
		}
	}
	return b.String()
}

// maxErrors bounds the mistakes reported for one file.
const maxErrors = 30

// decoder fills Go values from YAML nodes and collects errors.
type decoder struct {
	errs []Error
	// env reads environment variables for ${NAME} in settings; nil leaves
	// them as they are.
	env func(string) (string, bool)
}

func posOf(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

func (d *decoder) errorf(p Pos, format string, args ...any) {
	if len(d.errs) < maxErrors {
		d.errs = append(d.errs, Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
	}
}

// nodeDecoder is implemented by types that decode themselves.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

var (
	nodeDecoderType = reflect.TypeFor[nodeDecoder]()
	posType         = reflect.TypeFor[Pos]()
)

// kindName says what a node is, for errors.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int", "!!float":
			return "a number (" + n.Value + ")"
		}
		return fmt.Sprintf("the text %q", n.Value)
	}
	return "something else"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// decode fills v from n. path names the value in errors (window.size).
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = resolve(n)
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		nv := reflect.New(v.Type().Elem())
		d.decode(n, path, nv.Elem())
		v.Set(nv)
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Slice:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(posOf(n), "%s: want a list, got %s", path, kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, index(path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.String:
		if s, ok := d.scalar(n, path, "text"); ok {
			v.SetString(d.expand(n, path, s))
		}
	case reflect.Bool:
		if !d.scalarOf(n, path, "!!bool", "true or false") {
			return
		}
		b, _ := strconv.ParseBool(n.Value)
		v.SetBool(b || n.Value == "True" || n.Value == "TRUE")
	case reflect.Int, reflect.Int64:
		if v.Type() == reflect.TypeFor[time.Duration]() {
			d.errorf(posOf(n), "%s: internal: use Duration", path)
			return
		}
		if !d.scalarOf(n, path, "!!int", "a whole number") {
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil {
			d.errorf(posOf(n), "%s: %s is not a whole number that fits 64 bits", path, n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
			d.errorf(posOf(n), "%s: want a number, got %s", path, kindName(n))
			return
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil {
			d.errorf(posOf(n), "%s: %s is not a number", path, n.Value)
			return
		}
		v.SetFloat(f)
	default:
		panic("flowfile: cannot decode into " + v.Type().String())
	}
}

// scalar returns the text of a scalar node, or reports that it is not one.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(posOf(n), "%s: want %s, got %s", path, want, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) scalarOf(n *yaml.Node, path, tag, want string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tag {
		d.errorf(posOf(n), "%s: want %s, got %s", path, want, kindName(n))
		return false
	}
	return true
}

// expand replaces ${NAME} with the environment variable NAME.
func (d *decoder) expand(n *yaml.Node, path, s string) string {
	if d.env == nil || !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			d.errorf(posOf(n), "%s: ${ without a closing }", path)
			return s
		}
		name := s[i+2 : i+j]
		val, ok := d.env(name)
		if !ok || !validEnvName(name) {
			d.errorf(posOf(n), "%s: environment variable %s is not set", path, name)
		}
		b.WriteString(s[:i])
		b.WriteString(val)
		s = s[i+j+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// structField is a struct field a YAML key sets.
type structField struct {
	key      string
	index    int
	required bool
}

func fieldsOf(t reflect.Type) []structField {
	var fs []structField
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fs = append(fs, structField{key: name, index: i, required: opts == "required"})
	}
	return fs
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		what := "settings"
		if path != "" {
			what = path
		}
		d.errorf(posOf(n), "%s: want a mapping of keys to values, got %s", what, kindName(n))
		return
	}
	fs := fieldsOf(v.Type())
	var keys []string
	for _, f := range fs {
		keys = append(keys, f.key)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		name := k.Value
		if seen[name] {
			d.errorf(posOf(k), "%s: %s is given twice", orTop(path), name)
			continue
		}
		seen[name] = true
		j := slices.IndexFunc(fs, func(f structField) bool { return f.key == name })
		if j < 0 {
			d.errorf(posOf(k), "%s", unknownKey(path, name, keys))
			continue
		}
		d.decode(val, join(path, name), v.Field(fs[j].index))
	}
	for _, f := range fs {
		if f.required && !seen[f.key] {
			d.errorf(posOf(n), "%s: %s is missing", orTop(path), f.key)
		}
	}
	for i := range v.NumField() {
		if v.Type().Field(i).Type == posType && v.Type().Field(i).Name == "Pos" {
			v.Field(i).Set(reflect.ValueOf(posOf(n)))
		}
	}
}

func orTop(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

// unknownKey says that key is not one of keys, suggesting the closest.
func unknownKey(path, key string, keys []string) string {
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	msg := fmt.Sprintf("unknown key %q %s; want one of: %s", key, where, strings.Join(keys, ", "))
	if s := closest(key, keys); s != "" {
		msg = fmt.Sprintf("unknown key %q %s (did you mean %s?); want one of: %s", key, where, s, strings.Join(keys, ", "))
	}
	return msg
}

// closest returns the word of words nearest to s by edit distance, if it
// is near enough to be a likely typo.
func closest(s string, words []string) string {
	best, bestD := "", 3
	for _, w := range words {
		if d := editDistance(strings.ToLower(s), w); d < bestD && d < len(w) {
			best, bestD = w, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Duration is a duration setting (30s, 5m, 1h30m) and where it was given.
type Duration struct {
	D   time.Duration
	Pos Pos
	Set bool
}

func (x *Duration) decodeNode(d *decoder, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	s, ok := d.scalar(n, path, "a duration such as 500ms, 30s, 5m or 1h")
	if !ok {
		return
	}
	x.Pos, x.Set = posOf(n), true
	v, err := time.ParseDuration(s)
	if err != nil {
		d.errorf(posOf(n), "%s: %q is not a duration; want a number with a unit, such as 500ms, 30s, 5m or 1h", path, s)
		return
	}
	if v < 0 {
		d.errorf(posOf(n), "%s: %s is negative; want a duration of 0 or more", path, s)
		return
	}
	x.D = v
}

// Text is a text setting and where it was given.
type Text struct {
	S   string
	Pos Pos
}

func (x *Text) decodeNode(d *decoder, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	if s, ok := d.scalar(n, path, "text"); ok {
		x.S, x.Pos = d.expand(n, path, s), posOf(n)
	}
}

// Names is one name or a list of names (sources: clicks, or [a, b]).
type Names []Text

func (x *Names) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch {
	case isNull(n):
	case n.Kind == yaml.ScalarNode:
		var t Text
		t.decodeNode(d, n, path)
		*x = Names{t}
	case n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			var t Text
			t.decodeNode(d, resolve(c), index(path, i))
			*x = append(*x, t)
		}
	default:
		d.errorf(posOf(n), "%s: want a name or a list of names, got %s", path, kindName(n))
	}
}

// Expr is a CEL expression and where it was written in the file.
type Expr struct {
	Src string
	Pos Pos
	// node locates the expression's lines and columns for errors.
	node *yaml.Node
}

func (x *Expr) decodeNode(d *decoder, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(posOf(n), "%s: want an expression (text), got %s", path, kindName(n))
		return
	}
	x.Src, x.Pos, x.node = n.Value, posOf(n), n
}

// Named is one entry of a mapping of names to expressions (map, key,
// aggregates, schema), in the file's order.
type Named struct {
	Name    string
	NamePos Pos
	Expr    Expr
}

// NamedList is a mapping of names to expressions, in order.
type NamedList []Named

func (x *NamedList) decodeNode(d *decoder, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(posOf(n), "%s: want a mapping of names to expressions, got %s", path, kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if seen[k.Value] {
			d.errorf(posOf(k), "%s: %s is given twice", path, k.Value)
			continue
		}
		seen[k.Value] = true
		e := Named{Name: k.Value, NamePos: posOf(k)}
		e.Expr.decodeNode(d, resolve(v), join(path, k.Value))
		if e.Expr.node == nil && isNull(resolve(v)) {
			d.errorf(posOf(k), "%s: %s has no expression", path, k.Value)
			continue
		}
		*x = append(*x, e)
	}
}

// exprPos maps a 1-based line and column inside an expression to the file.
// Exact for plain and quoted expressions on one line and for literal block
// scalars (|); elsewhere the expression's start.
func (x Expr) exprPos(src []byte, line, col int) Pos {
	n := x.node
	if n == nil {
		return x.Pos
	}
	switch {
	case n.Style == 0 || n.Style == yaml.FlowStyle:
		if line == 1 && !strings.Contains(n.Value, "\n") {
			return Pos{n.Line, n.Column + col - 1}
		}
	case n.Style == yaml.SingleQuotedStyle || n.Style == yaml.DoubleQuotedStyle:
		if line == 1 && !strings.Contains(n.Value, "\n") && !strings.ContainsAny(n.Value, `'\"`) {
			return Pos{n.Line, n.Column + col}
		}
	case n.Style == yaml.LiteralStyle:
		// The text starts on the line after the indicator, indented.
		lines := strings.Split(string(src), "\n")
		first := n.Line // 0-based index of the first content line
		for first < len(lines) && strings.TrimSpace(lines[first]) == "" {
			first++
		}
		if first < len(lines) {
			indent := len(lines[first]) - len(strings.TrimLeft(lines[first], " "))
			return Pos{first + line, indent + col}
		}
	}
	return x.Pos
}
