package dynamodb

import (
	"slices"
	"strconv"
	"strings"
)

// This file parses DynamoDB's expressions (condition, filter, key
// condition, update, projection) into trees, resolving #names and :values
// as it goes. Errors carry DynamoDB's wording; the caller prefixes
// "Invalid <Kind>Expression: ". Every entry point enforces DynamoDB's
// limits (limits.go) before and while it parses: the length before
// tokenizing, the operator count and the nesting depth before each
// recursive descent.

// --- tokens ---

type tokKind int

const (
	tEOF   tokKind = iota
	tName          // attribute name or keyword
	tAttrN         // #name
	tAttrV         // :value
	tNum           // digits, inside [ ]
	tPunct         // ( ) [ ] , . = <> < <= > >= + -
	tBad           // a character no token starts with
)

type token struct {
	kind     tokKind
	text     string
	pos, end int
}

func isNameStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isNameByte(c byte) bool  { return isNameStart(c) || '0' <= c && c <= '9' }
func isDigit(c byte) bool     { return '0' <= c && c <= '9' }

func lex(s string) []token {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case isNameStart(c):
			j := i + 1
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			toks = append(toks, token{tName, s[i:j], i, j})
			i = j
		case c == '#' || c == ':':
			j := i + 1
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			k := tAttrN
			if c == ':' {
				k = tAttrV
			}
			if j == i+1 {
				k = tBad
			}
			toks = append(toks, token{k, s[i:j], i, j})
			i = j
		case isDigit(c):
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			toks = append(toks, token{tNum, s[i:j], i, j})
			i = j
		case c == '<' && i+1 < len(s) && (s[i+1] == '>' || s[i+1] == '='), c == '>' && i+1 < len(s) && s[i+1] == '=':
			toks = append(toks, token{tPunct, s[i : i+2], i, i + 2})
			i += 2
		case strings.IndexByte("()[],.=<>+-", c) >= 0:
			toks = append(toks, token{tPunct, s[i : i+1], i, i + 1})
			i++
		default:
			toks = append(toks, token{tBad, s[i : i+1], i, i + 1})
			i++
		}
	}
	return append(toks, token{tEOF, "<EOF>", len(s), len(s)})
}

// --- trees ---

type nodeKind int

const (
	nPath    nodeKind = iota
	nValue            // an expression attribute value
	nFunc             // function call: args
	nCompare          // op: = <> < <= > >=; args: 2
	nBetween          // args: x, lo, hi
	nIn               // args: x, candidates...
	nAnd
	nOr
	nNot
	nArith // op: + -; args: 2 (update)
)

// pathElem is one step of a document path: a name or a list index.
type pathElem struct {
	name    string
	index   int
	isIndex bool
}

type node struct {
	kind nodeKind
	op   string // comparator, function name or arithmetic operator
	path []pathElem
	val  Value
	args []*node
}

// boolFuncs are the condition functions that yield a boolean; size yields
// a number and is an operand.
var boolFuncs = map[string]int{
	"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2,
	"begins_with": 2, "contains": 2,
}

// --- parser state shared by a request's expressions ---

// exprContext resolves #names and :values and records which were used,
// across all the expressions of one request.
type exprContext struct {
	names      map[string]string
	values     map[string]Value
	usedNames  map[string]bool
	usedValues map[string]bool
	// limitMsg, if set, is a limit the names or values break. Callers
	// report it before parsing (it concerns no one expression); every
	// parse of this context reports it too, so none can forget it.
	limitMsg string
}

func newExprContext(names map[string]string, values map[string]Value) *exprContext {
	return &exprContext{names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{},
		limitMsg: substitutionLimits(names, values)}
}

// substitutionLimits checks the placeholder and total size limits of
// ExpressionAttributeNames and ExpressionAttributeValues.
func substitutionLimits(names map[string]string, values map[string]Value) string {
	total := 0
	for k, v := range names {
		if len(k) > maxPlaceholderBytes {
			return msgPlaceholderSize("ExpressionAttributeNames", len(k))
		}
		total += len(k) + len(v)
	}
	for k, v := range values {
		if len(k) > maxPlaceholderBytes {
			return msgPlaceholderSize("ExpressionAttributeValues", len(k))
		}
		total += len(k) + v.size()
	}
	if total > maxSubstitutionBytes {
		return msgSubstitutions
	}
	return ""
}

// exprError is an expression error; priority orders errors found in one
// expression (lower first), as DynamoDB reports one of several.
type exprError struct {
	priority int
	msg      string
}

const (
	prioSyntax = iota
	prioReserved
	prioUnknownFunction
	prioSection
	prioMisused
	prioAttrName
	prioAttrValue
	prioOverlap
	prioOperandCount
	prioOperand
	prioFunction
)

type parser struct {
	src   string
	toks  []token
	i     int
	ctx   *exprContext
	err   *exprError // the highest-priority semantic error so far
	ops   int        // operators and functions so far
	depth int        // current nesting of parentheses, NOT and calls
}

// syntaxError aborts parsing; it is thrown as a panic and recovered by
// the entry points, which keeps the descent readable. Broken limits abort
// the same way.
type syntaxError struct{ msg string }

// newParser returns a parser of src. It tokenizes nothing yet: run checks
// the length first.
func newParser(src string, ctx *exprContext) *parser {
	return &parser{src: src, ctx: ctx}
}

// abort stops parsing with msg.
func (p *parser) abort(msg string) { panic(syntaxError{msg}) }

// operator counts one operator or function against maxOperators.
func (p *parser) operator() {
	if p.ops++; p.ops > maxOperators {
		p.abort(msgOperatorCount(p.ops))
	}
}

// descend is called before each recursive descent into a nested
// expression, ascend after it.
func (p *parser) descend() {
	if p.depth++; p.depth > maxExpressionDepth {
		p.abort(msgRedundantParen)
	}
}

func (p *parser) ascend() { p.depth-- }

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isPunct(s string) bool { t := p.peek(); return t.kind == tPunct && t.text == s }
func (p *parser) isKeyword(s string) bool {
	t := p.peek()
	return t.kind == tName && strings.EqualFold(t.text, s)
}

// fail reports a syntax error at the current token in DynamoDB's form:
// `Syntax error; token: "x", near: "a x b"`.
func (p *parser) fail() {
	t := p.peek()
	from, to := t.pos, t.end
	if p.i > 0 {
		from = p.toks[p.i-1].pos
	}
	if t.kind != tEOF && p.i+1 < len(p.toks) {
		to = p.toks[p.i+1].end
	}
	p.abort(`Syntax error; token: "` + t.text + `", near: "` + p.src[from:to] + `"`)
}

func (p *parser) expectPunct(s string) {
	if !p.isPunct(s) {
		p.fail()
	}
	p.next()
}

func (p *parser) semantic(prio int, msg string) {
	if p.err == nil || prio < p.err.priority {
		p.err = &exprError{prio, msg}
	}
}

// run parses with f and returns the tree or the error message.
func (p *parser) run(f func() *node) (n *node, msg string) {
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(syntaxError)
			if !ok {
				panic(r)
			}
			n, msg = nil, se.msg
		}
	}()
	if len(p.src) > maxExpressionBytes {
		return nil, msgExpressionSize(len(p.src))
	}
	if p.ctx.limitMsg != "" {
		return nil, p.ctx.limitMsg
	}
	if strings.TrimSpace(p.src) == "" {
		return nil, "The expression can not be empty;"
	}
	p.toks = lex(p.src)
	n = f()
	if p.peek().kind != tEOF {
		p.fail()
	}
	if p.err != nil {
		return nil, p.err.msg
	}
	return n, ""
}

// --- operands ---

// path parses a document path: name ( '.' name | '[' n ']' )*.
func (p *parser) path() []pathElem {
	var out []pathElem
	out = append(out, pathElem{name: p.pathName()})
	for {
		switch {
		case p.isPunct("."):
			p.next()
			out = append(out, pathElem{name: p.pathName()})
		case p.isPunct("["):
			p.next()
			t := p.peek()
			if t.kind != tNum {
				p.fail()
			}
			p.next()
			n, err := strconv.Atoi(t.text)
			if err != nil {
				p.fail()
			}
			p.expectPunct("]")
			out = append(out, pathElem{index: n, isIndex: true})
		default:
			if len(out) > maxPathDepth {
				p.abort(msgPathDepth(len(out)))
			}
			return out
		}
	}
}

func (p *parser) pathName() string {
	t := p.peek()
	switch t.kind {
	case tName:
		p.next()
		if reservedWords[strings.ToUpper(t.text)] {
			p.semantic(prioReserved, "Attribute name is a reserved keyword; reserved keyword: "+t.text)
		}
		return t.text
	case tAttrN:
		p.next()
		name, ok := p.ctx.names[t.text]
		if !ok {
			p.semantic(prioAttrName, "An expression attribute name used in the document path is not defined; attribute name: "+t.text)
			return t.text
		}
		p.ctx.usedNames[t.text] = true
		return name
	}
	p.fail()
	return ""
}

// operand parses a path, a :value or a function call.
func (p *parser) operand() *node {
	t := p.peek()
	switch t.kind {
	case tAttrV:
		p.next()
		v, ok := p.ctx.values[t.text]
		if !ok {
			p.semantic(prioAttrValue, "An expression attribute value used in expression is not defined; attribute value: "+t.text)
		} else {
			p.ctx.usedValues[t.text] = true
		}
		return &node{kind: nValue, op: t.text, val: v}
	case tName:
		if p.toks[p.i+1].kind == tPunct && p.toks[p.i+1].text == "(" {
			return p.call(p.operand)
		}
		return &node{kind: nPath, path: p.path()}
	case tAttrN:
		return &node{kind: nPath, path: p.path()}
	}
	p.fail()
	return nil
}

// call parses name '(' args ')' for any function name, each argument with
// arg; checking the name and arity is the caller's.
func (p *parser) call(arg func() *node) *node {
	name := p.next().text
	p.expectPunct("(")
	p.operator()
	p.descend()
	defer p.ascend()
	n := &node{kind: nFunc, op: name}
	if !p.isPunct(")") {
		for {
			n.args = append(n.args, arg())
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
	}
	p.expectPunct(")")
	return n
}

// --- conditions ---

// parseCondition parses a condition or filter expression.
func parseCondition(src string, ctx *exprContext) (*node, string) {
	p := newParser(src, ctx)
	return p.run(func() *node {
		n := p.or()
		p.checkCondition(n, true)
		return n
	})
}

func (p *parser) or() *node {
	n := p.and()
	for p.isKeyword("OR") {
		p.next()
		p.operator()
		n = &node{kind: nOr, args: []*node{n, p.and()}}
	}
	return n
}

func (p *parser) and() *node {
	n := p.not()
	for p.isKeyword("AND") {
		p.next()
		p.operator()
		n = &node{kind: nAnd, args: []*node{n, p.not()}}
	}
	return n
}

func (p *parser) not() *node {
	if p.isKeyword("NOT") {
		p.next()
		p.operator()
		p.descend()
		defer p.ascend()
		return &node{kind: nNot, args: []*node{p.not()}}
	}
	return p.predicate()
}

func (p *parser) predicate() *node {
	if p.isPunct("(") {
		p.next()
		p.descend()
		n := p.or()
		p.ascend()
		p.expectPunct(")")
		return n
	}
	x := p.operand()
	t := p.peek()
	switch {
	case t.kind == tPunct && (t.text == "=" || t.text == "<>" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">="):
		p.next()
		p.operator()
		return &node{kind: nCompare, op: t.text, args: []*node{x, p.operand()}}
	case p.isKeyword("BETWEEN"):
		p.next()
		p.operator()
		lo := p.operand()
		if !p.isKeyword("AND") {
			p.fail()
		}
		p.next()
		return &node{kind: nBetween, args: []*node{x, lo, p.operand()}}
	case p.isKeyword("IN"):
		p.next()
		p.operator()
		p.expectPunct("(")
		n := &node{kind: nIn, args: []*node{x}}
		for {
			n.args = append(n.args, p.operand())
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
		p.expectPunct(")")
		if len(n.args)-1 > maxInOperands {
			p.abort(msgInOperands(len(n.args) - 1))
		}
		return n
	}
	if x.kind == nFunc {
		return x // a boolean function; checkCondition judges it
	}
	p.fail()
	return nil
}

// checkCondition checks functions and operand types in a condition tree.
// asCondition: n stands where a boolean is expected.
func (p *parser) checkCondition(n *node, asCondition bool) {
	switch n.kind {
	case nAnd, nOr, nNot:
		for _, a := range n.args {
			p.checkCondition(a, true)
		}
	case nFunc:
		arity, isBool := boolFuncs[n.op]
		if n.op == "size" {
			arity = 1
		} else if !isBool {
			p.semantic(prioUnknownFunction, "Invalid function name; function: "+n.op)
			return
		}
		if asCondition && !isBool {
			p.semantic(prioMisused, "The function is not allowed to be used this way in an expression; function: "+n.op)
		}
		for _, a := range n.args {
			if a.kind == nFunc {
				p.checkOperand(a)
			}
		}
		if len(n.args) != arity {
			p.semantic(prioOperandCount, "Incorrect number of operands for operator or function; operator or function: "+
				n.op+", number of operands: "+strconv.Itoa(len(n.args)))
			return
		}
		p.checkFunctionArgs(n)
	case nCompare, nBetween, nIn:
		for _, a := range n.args {
			p.checkOperand(a)
		}
		if n.kind == nBetween && n.args[1].kind == nValue && n.args[2].kind == nValue {
			lo, hi := n.args[1].val, n.args[2].val
			if lo.Type != "" && hi.Type != "" {
				if lo.Type != hi.Type {
					p.semantic(prioFunction, "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: "+
						lo.String()+", upper bound operand: AttributeValue: "+hi.String())
				} else if c, ok := lo.compare(hi); ok && c > 0 {
					p.semantic(prioFunction, "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: "+
						lo.String()+", upper bound operand: AttributeValue: "+hi.String())
				}
			}
		}
		if n.kind == nCompare && samePath(n.args[0], n.args[1]) {
			p.semantic(prioOperand, "The first operand must be distinct from the remaining operands for this operator or function; operator: "+
				n.op+", first operand: "+pathString(n.args[0].path))
		}
	case nPath, nValue:
		if asCondition {
			p.fail()
		}
	}
}

// checkOperand checks a node used as an operand: only size may be a
// function there.
func (p *parser) checkOperand(n *node) {
	if n.kind != nFunc {
		return
	}
	if n.op != "size" {
		if _, ok := boolFuncs[n.op]; ok {
			p.semantic(prioMisused, "The function is not allowed to be used this way in an expression; function: "+n.op)
		} else {
			p.semantic(prioUnknownFunction, "Invalid function name; function: "+n.op)
		}
		return
	}
	p.checkCondition(n, false)
}

func (p *parser) checkFunctionArgs(n *node) {
	typeErr := func(t string) {
		p.semantic(prioFunction, "Incorrect operand type for operator or function; operator or function: "+n.op+", operand type: "+t)
	}
	switch n.op {
	case "attribute_exists", "attribute_not_exists":
		if n.args[0].kind != nPath {
			p.semantic(prioFunction, "Operator or function requires a document path; operator or function: "+n.op)
		}
	case "attribute_type":
		if n.args[0].kind != nPath {
			p.semantic(prioFunction, "Operator or function requires a document path; operator or function: "+n.op)
			return
		}
		t := n.args[1]
		if t.kind != nValue {
			typeErr("{NS,SS,L,BS,N,M,B,BOOL,NULL,S}")
			return
		}
		if t.val.Type != "" && t.val.Type != typeS {
			typeErr(t.val.Type)
			return
		}
		if t.val.Type == typeS && !isValidType(t.val.S) {
			p.semantic(prioFunction, "Invalid attribute type name found; type: "+t.val.S+", valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}")
		}
	case "begins_with":
		for _, a := range n.args {
			if a.kind == nValue && a.val.Type != "" && a.val.Type != typeS && a.val.Type != typeB {
				typeErr(a.val.Type)
				return
			}
		}
	case "size":
		if a := n.args[0]; a.kind == nValue && (a.val.Type == typeN || a.val.Type == typeBOOL || a.val.Type == typeNULL) {
			typeErr(a.val.Type)
		}
	}
	if len(n.args) == 2 && samePath(n.args[0], n.args[1]) {
		p.semantic(prioOperand, "The first operand must be distinct from the remaining operands for this operator or function; operator: "+
			n.op+", first operand: "+pathString(n.args[0].path))
	}
}

func isValidType(t string) bool {
	for _, v := range validTypes {
		if v == t {
			return true
		}
	}
	return false
}

func samePath(a, b *node) bool {
	if a.kind != nPath || b.kind != nPath || len(a.path) != len(b.path) {
		return false
	}
	for i := range a.path {
		if a.path[i] != b.path[i] {
			return false
		}
	}
	return true
}

// pathString renders a path as DynamoDB's messages do: "[a, b, [0]]".
func pathString(path []pathElem) string {
	parts := make([]string, len(path))
	for i, e := range path {
		if e.isIndex {
			parts[i] = "[" + strconv.Itoa(e.index) + "]"
		} else {
			parts[i] = e.name
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// --- projections ---

// parseProjection parses a comma-separated list of document paths.
func parseProjection(src string, ctx *exprContext) ([][]pathElem, string) {
	p := newParser(src, ctx)
	var paths [][]pathElem
	_, msg := p.run(func() *node {
		for {
			path := p.path()
			for _, q := range paths {
				p.checkOverlap(q, path)
			}
			paths = append(paths, path)
			if !p.isPunct(",") {
				return nil
			}
			p.next()
		}
	})
	if msg != "" {
		return nil, msg
	}
	return paths, ""
}

// checkOverlap reports two paths of which one is a prefix of the other, or
// that use one step as both a name and an index.
func (p *parser) checkOverlap(a, b []pathElem) {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].isIndex != b[i].isIndex {
			p.semantic(prioOverlap, "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: "+
				pathString(a)+", path two: "+pathString(b))
			return
		}
		if a[i] != b[i] {
			return
		}
	}
	p.semantic(prioOverlap, "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: "+
		pathString(a)+", path two: "+pathString(b))
}

// --- updates ---

// updateAction is one action of an update expression.
type updateAction struct {
	section string // SET, REMOVE, ADD, DELETE
	path    []pathElem
	value   *node // SET: the value tree; ADD, DELETE: a value; REMOVE: nil
}

// parseUpdate parses an update expression into its actions, in order.
func parseUpdate(src string, ctx *exprContext) ([]updateAction, string) {
	p := newParser(src, ctx)
	var actions []updateAction
	_, msg := p.run(func() *node {
		seen := map[string]bool{}
		for p.peek().kind != tEOF {
			t := p.peek()
			section := strings.ToUpper(t.text)
			if t.kind != tName || (section != "SET" && section != "REMOVE" && section != "ADD" && section != "DELETE") {
				p.fail()
			}
			p.next()
			if seen[section] {
				p.semantic(prioSection, `The "`+section+`" section can only be used once in an update expression;`)
			}
			seen[section] = true
			for {
				a := updateAction{section: section, path: p.path()}
				switch section {
				case "SET":
					p.expectPunct("=")
					a.value = p.setValue()
					p.checkSetValue(a.value)
				case "ADD", "DELETE":
					v := p.peek()
					if v.kind != tAttrV {
						p.fail()
					}
					a.value = p.operand()
					if t := a.value.val.Type; t != "" {
						ok := t == typeSS || t == typeNS || t == typeBS || (section == "ADD" && t == typeN)
						if !ok {
							p.semantic(prioOperand, "Incorrect operand type for operator or function; operator: "+section+
								", operand type: "+operandTypeName(t))
						}
					}
				}
				for _, b := range actions {
					p.checkOverlap(b.path, a.path)
				}
				actions = append(actions, a)
				if !p.isPunct(",") {
					break
				}
				p.next()
			}
		}
		return nil
	})
	if msg != "" {
		return nil, msg
	}
	return actions, ""
}

func operandTypeName(t string) string {
	switch t {
	case typeS:
		return "STRING"
	case typeN:
		return "NUMBER"
	case typeB:
		return "BINARY"
	case typeBOOL:
		return "BOOLEAN"
	case typeL:
		return "LIST"
	case typeM:
		return "MAP"
	}
	return t
}

// setValue parses operand [ (+|-) operand ].
func (p *parser) setValue() *node {
	x := p.setOperand()
	if p.isPunct("+") || p.isPunct("-") {
		op := p.next().text
		p.operator()
		return &node{kind: nArith, op: op, args: []*node{x, p.setOperand()}}
	}
	return x
}

// setOperand is an operand whose function arguments may be set values.
func (p *parser) setOperand() *node {
	t := p.peek()
	if t.kind == tName && p.toks[p.i+1].kind == tPunct && p.toks[p.i+1].text == "(" {
		return p.call(p.setValue)
	}
	return p.operand()
}

// checkSetValue checks functions and static operand types of a SET value.
func (p *parser) checkSetValue(n *node) {
	switch n.kind {
	case nArith:
		for _, a := range n.args {
			p.checkSetValue(a)
			if a.kind == nValue && a.val.Type != "" && a.val.Type != typeN {
				p.semantic(prioFunction, "Incorrect operand type for operator or function; operator or function: "+n.op+
					", operand type: "+a.val.Type)
			}
		}
	case nFunc:
		if n.op != "if_not_exists" && n.op != "list_append" {
			p.semantic(prioUnknownFunction, "Invalid function name; function: "+n.op)
			return
		}
		for _, a := range n.args {
			p.checkSetValue(a)
		}
		if len(n.args) != 2 {
			p.semantic(prioFunction, "Incorrect number of operands for operator or function; operator or function: "+
				n.op+", number of operands: "+strconv.Itoa(len(n.args)))
			return
		}
		switch n.op {
		case "if_not_exists":
			if n.args[0].kind != nPath {
				p.semantic(prioFunction, "Operator or function requires a document path; operator or function: "+n.op)
			}
		case "list_append":
			for _, a := range n.args {
				if a.kind == nValue && a.val.Type != "" && a.val.Type != typeL {
					p.semantic(prioFunction, "Incorrect operand type for operator or function; operator or function: "+n.op+
						", operand type: "+a.val.Type)
					return
				}
			}
		}
	}
}

// --- key conditions ---

// keyCondition is a Query's key condition: equality on the hash key and
// at most one condition on the range key.
type keyCondition struct {
	hashName string
	hash     Value
	rangeOp  string // "", = < <= > >= BETWEEN begins_with
	rangeArg []Value
	rangeKey string
}

// parseKeyCondition parses a KeyConditionExpression and checks its shape
// against the table's key schema (hash, and range which may be "").
func parseKeyCondition(src string, ctx *exprContext, hashKey, rangeKey string) (keyCondition, string, string) {
	n, msg := parseCondition(src, ctx)
	if msg != "" {
		return keyCondition{}, msg, ""
	}
	conds := map[string]*node{}
	var order []string
	var walk func(n *node) string
	walk = func(n *node) string {
		switch n.kind {
		case nAnd:
			for _, a := range n.args {
				if m := walk(a); m != "" {
					return m
				}
			}
			return ""
		case nOr, nNot:
			return "Invalid operator used in KeyConditionExpression: " + map[nodeKind]string{nOr: "OR", nNot: "NOT"}[n.kind]
		case nIn:
			return "Invalid operator used in KeyConditionExpression: IN"
		case nCompare:
			if n.op == "<>" {
				return "Invalid operator used in KeyConditionExpression: <>"
			}
		case nFunc:
			switch n.op {
			case "begins_with":
			case "size":
				return "KeyConditionExpressions cannot contain nested operations"
			default:
				return "Invalid operator used in KeyConditionExpression: " + n.op
			}
		}
		var attr *node
		for i, a := range n.args {
			switch a.kind {
			case nPath:
				if attr != nil {
					return "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"
				}
				if len(a.path) > 1 {
					return "KeyConditionExpressions cannot have conditions on nested attributes"
				}
				if i != 0 && n.kind != nCompare {
					op := "BETWEEN"
					if n.kind == nFunc {
						op = n.op
					}
					return "Invalid condition in KeyConditionExpression: " + op + " operator must have the key attribute as its first operand"
				}
				attr = a
			case nFunc:
				return "KeyConditionExpressions cannot contain nested operations"
			}
		}
		if attr == nil {
			return "Invalid condition in KeyConditionExpression: No key attribute specified"
		}
		name := attr.path[0].name
		if conds[name] != nil {
			return "KeyConditionExpressions must only contain one condition per key"
		}
		conds[name] = n
		order = append(order, name)
		return ""
	}
	if m := walk(n); m != "" {
		return keyCondition{}, m, ""
	}
	kc := keyCondition{hashName: hashKey, rangeKey: rangeKey}
	for _, name := range order {
		if name != hashKey && name != rangeKey {
			return keyCondition{}, "", "Query condition missed key schema element: " + firstMissing(conds, hashKey, rangeKey)
		}
	}
	h := conds[hashKey]
	if h == nil {
		return keyCondition{}, "", "Query condition missed key schema element: " + hashKey
	}
	if h.kind != nCompare || h.op != "=" {
		return keyCondition{}, "", "Query key condition not supported"
	}
	kc.hash = valueArg(h)
	if r := conds[rangeKey]; r != nil && rangeKey != "" {
		switch r.kind {
		case nCompare:
			kc.rangeOp = r.op
			if r.args[0].kind != nPath { // :v < attr is attr > :v
				kc.rangeOp = map[string]string{"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}[r.op]
			}
			kc.rangeArg = []Value{valueArg(r)}
		case nBetween:
			kc.rangeOp = "BETWEEN"
			kc.rangeArg = []Value{r.args[1].val, r.args[2].val}
		case nFunc:
			kc.rangeOp = "begins_with"
			kc.rangeArg = []Value{r.args[1].val}
		}
	}
	return kc, "", ""
}

func firstMissing(conds map[string]*node, hashKey, rangeKey string) string {
	if conds[hashKey] == nil {
		return hashKey
	}
	return rangeKey
}

// valueArg returns the value operand of a two-operand comparison.
func valueArg(n *node) Value {
	for _, a := range n.args {
		if a.kind == nValue {
			return a.val
		}
	}
	return Value{}
}

// unusedNames and unusedValues return DynamoDB's message for expression
// attribute names or values that no expression used, or "".
func (c *exprContext) unused() string {
	var names, values []string
	for k := range c.names {
		if !c.usedNames[k] {
			names = append(names, k)
		}
	}
	for k := range c.values {
		if !c.usedValues[k] {
			values = append(values, k)
		}
	}
	if len(names) > 0 {
		return "Value provided in ExpressionAttributeNames unused in expressions: keys: {" + strings.Join(sorted(names), ", ") + "}"
	}
	if len(values) > 0 {
		return "Value provided in ExpressionAttributeValues unused in expressions: keys: {" + strings.Join(sorted(values), ", ") + "}"
	}
	return ""
}

func sorted(ss []string) []string {
	slices.Sort(ss)
	return ss
}
