package dynamodb

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// This file evaluates parsed expressions against items.

// resolve follows a document path in an item.
func resolve(it Item, path []pathElem) (Value, bool) {
	v, ok := it[path[0].name]
	if !ok {
		return Value{}, false
	}
	for _, e := range path[1:] {
		switch {
		case e.isIndex && v.Type == typeL && e.index < len(v.L):
			v = v.L[e.index]
		case !e.isIndex && v.Type == typeM:
			if v, ok = v.M[e.name]; !ok {
				return Value{}, false
			}
		default:
			return Value{}, false
		}
	}
	return v, true
}

// operandValue evaluates an operand of a condition: a path, a value or
// size(path). ok is false when it has no value (a missing attribute, or
// the size of something that has none).
func operandValue(it Item, n *node) (Value, bool) {
	switch n.kind {
	case nPath:
		return resolve(it, n.path)
	case nValue:
		return n.val, true
	case nFunc: // size, the only function operand
		v, ok := operandValue(it, n.args[0])
		if !ok {
			return Value{}, false
		}
		var size int
		switch v.Type {
		case typeS:
			size = utf8.RuneCountInString(v.S)
		case typeB:
			size = len(v.S)
		case typeSS, typeNS, typeBS:
			size = len(v.Set)
		case typeL:
			size = len(v.L)
		case typeM:
			size = len(v.M)
		default:
			return Value{}, false
		}
		return Value{Type: typeN, S: itoa(size)}, true
	}
	return Value{}, false
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// evalCondition reports whether the condition holds for the item (nil or
// empty for an item that does not exist).
func evalCondition(it Item, n *node) bool {
	switch n.kind {
	case nAnd:
		return evalCondition(it, n.args[0]) && evalCondition(it, n.args[1])
	case nOr:
		return evalCondition(it, n.args[0]) || evalCondition(it, n.args[1])
	case nNot:
		return !evalCondition(it, n.args[0])
	case nCompare:
		a, aok := operandValue(it, n.args[0])
		b, bok := operandValue(it, n.args[1])
		if n.op == "<>" {
			return !aok || !bok || !a.equal(b)
		}
		if !aok || !bok {
			return false
		}
		if n.op == "=" {
			return a.equal(b)
		}
		c, ok := a.compare(b)
		return ok && comparatorHolds(n.op, c)
	case nBetween:
		x, xok := operandValue(it, n.args[0])
		lo, lok := operandValue(it, n.args[1])
		hi, hok := operandValue(it, n.args[2])
		if !xok || !lok || !hok {
			return false
		}
		c1, ok1 := x.compare(lo)
		c2, ok2 := x.compare(hi)
		return ok1 && ok2 && c1 >= 0 && c2 <= 0
	case nIn:
		x, ok := operandValue(it, n.args[0])
		if !ok {
			return false
		}
		for _, c := range n.args[1:] {
			if v, ok := operandValue(it, c); ok && x.equal(v) {
				return true
			}
		}
		return false
	case nFunc:
		return evalFunction(it, n)
	}
	return false
}

// comparatorHolds reports whether c, the result of Value.compare, satisfies
// the comparator op (=, <, <=, > or >=).
func comparatorHolds(op string, c int) bool {
	switch op {
	case "=":
		return c == 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

func evalFunction(it Item, n *node) bool {
	switch n.op {
	case "attribute_exists":
		_, ok := resolve(it, n.args[0].path)
		return ok
	case "attribute_not_exists":
		_, ok := resolve(it, n.args[0].path)
		return !ok
	case "attribute_type":
		v, ok := resolve(it, n.args[0].path)
		t, tok := operandValue(it, n.args[1])
		return ok && tok && t.Type == typeS && v.Type == t.S
	case "begins_with":
		v, ok := operandValue(it, n.args[0])
		p, pok := operandValue(it, n.args[1])
		return ok && pok && v.Type == p.Type && (v.Type == typeS || v.Type == typeB) && strings.HasPrefix(v.S, p.S)
	case "contains":
		v, ok := operandValue(it, n.args[0])
		x, xok := operandValue(it, n.args[1])
		if !ok || !xok {
			return false
		}
		switch v.Type {
		case typeS, typeB:
			return x.Type == v.Type && strings.Contains(v.S, x.S)
		case typeSS, typeBS:
			return x.Type == v.Type[:1] && slices.Contains(v.Set, x.S)
		case typeNS:
			return x.Type == typeN && slices.ContainsFunc(v.Set, func(s string) bool { return compareNumbers(s, x.S) == 0 })
		case typeL:
			return slices.ContainsFunc(v.L, x.equal)
		}
	}
	return false
}

// --- updates ---

// updateError is a failure applying an update to an item: a
// ValidationException with DynamoDB's message.
type updateError string

const (
	errMissingAttr updateError = "The provided expression refers to an attribute that does not exist in the item"
	errOperandType updateError = "An operand in the update expression has an incorrect data type"
	errInvalidPath updateError = "The document path provided in the update expression is invalid for update"
)

// updateValue evaluates a SET value against the item before the update.
func updateValue(old Item, n *node) (Value, string) {
	switch n.kind {
	case nPath:
		v, ok := resolve(old, n.path)
		if !ok {
			return Value{}, string(errMissingAttr)
		}
		return v, ""
	case nValue:
		return n.val, ""
	case nArith:
		a, msg := updateValue(old, n.args[0])
		if msg != "" {
			return Value{}, msg
		}
		b, msg := updateValue(old, n.args[1])
		if msg != "" {
			return Value{}, msg
		}
		if a.Type != typeN || b.Type != typeN {
			return Value{}, string(errOperandType)
		}
		s, msg := addNumbers(a.S, b.S, n.op == "-")
		if msg != "" {
			return Value{}, msg
		}
		return Value{Type: typeN, S: s}, ""
	case nFunc:
		switch n.op {
		case "if_not_exists":
			if v, ok := resolve(old, n.args[0].path); ok {
				return v, ""
			}
			return updateValue(old, n.args[1])
		case "list_append":
			a, msg := updateValue(old, n.args[0])
			if msg != "" {
				return Value{}, msg
			}
			b, msg := updateValue(old, n.args[1])
			if msg != "" {
				return Value{}, msg
			}
			if a.Type != typeL || b.Type != typeL {
				return Value{}, string(errOperandType)
			}
			l := make([]Value, 0, len(a.L)+len(b.L))
			return Value{Type: typeL, L: append(append(l, a.L...), b.L...)}, ""
		}
	}
	return Value{}, string(errOperandType)
}

// applyUpdate applies the actions to a copy of old (nil: no item; key
// holds the key attributes it then starts from) and returns the new item.
func applyUpdate(old, key Item, actions []updateAction) (Item, string) {
	var it Item
	if old != nil {
		it = old.clone()
	} else {
		it = key.clone()
	}
	// Every operand refers to the item as it was before the update.
	values := make([]Value, len(actions))
	for i, a := range actions {
		if a.section != "SET" {
			continue
		}
		v, msg := updateValue(old, a.value)
		if msg != "" {
			return nil, msg
		}
		values[i] = v.clone()
	}
	// REMOVEs of list elements go last to first, so that indexes keep
	// naming the elements of the list as it was.
	order := make([]int, len(actions))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		ax, ay := actions[x], actions[y]
		if ax.section == "REMOVE" && ay.section == "REMOVE" {
			lx, ly := ax.path[len(ax.path)-1], ay.path[len(ay.path)-1]
			if lx.isIndex && ly.isIndex {
				return ly.index - lx.index
			}
		}
		return 0
	})
	for _, i := range order {
		a := actions[i]
		var msg string
		switch a.section {
		case "SET":
			msg = setPath(it, a.path, values[i])
		case "REMOVE":
			msg = removePath(it, a.path)
		case "ADD":
			msg = addPath(it, a.path, a.value.val)
		case "DELETE":
			msg = deletePath(it, a.path, a.value.val)
		}
		if msg != "" {
			return nil, msg
		}
	}
	return it, ""
}

func setPath(it Item, path []pathElem, v Value) string {
	if len(path) == 1 {
		it[path[0].name] = v
		return ""
	}
	return modifyAt(it, path, func(parent *Value, last pathElem) string {
		switch {
		case !last.isIndex && parent.Type == typeM:
			parent.M[last.name] = v
		case last.isIndex && parent.Type == typeL:
			if last.index < len(parent.L) {
				parent.L[last.index] = v
			} else {
				parent.L = append(parent.L, v)
			}
		default:
			return string(errInvalidPath)
		}
		return ""
	})
}

func removePath(it Item, path []pathElem) string {
	if len(path) == 1 {
		delete(it, path[0].name)
		return ""
	}
	return modifyAt(it, path, func(parent *Value, last pathElem) string {
		switch {
		case !last.isIndex && parent.Type == typeM:
			delete(parent.M, last.name)
		case last.isIndex && parent.Type == typeL:
			if last.index < len(parent.L) {
				parent.L = slices.Delete(parent.L, last.index, last.index+1)
			}
		default:
			return string(errInvalidPath)
		}
		return ""
	})
}

// modifyAt rebuilds the chain of containers down to path's parent, calls
// f on the parent and stores the (possibly reallocated) containers back.
func modifyAt(it Item, path []pathElem, f func(parent *Value, last pathElem) string) string {
	root := Value{Type: typeM, M: it}
	var walk func(cur *Value, rest []pathElem) string
	walk = func(cur *Value, rest []pathElem) string {
		if len(rest) == 1 {
			return f(cur, rest[0])
		}
		e := rest[0]
		switch {
		case e.isIndex && cur.Type == typeL && e.index < len(cur.L):
			return walk(&cur.L[e.index], rest[1:])
		case !e.isIndex && cur.Type == typeM:
			child, ok := cur.M[e.name]
			if !ok {
				return string(errInvalidPath)
			}
			if msg := walk(&child, rest[1:]); msg != "" {
				return msg
			}
			cur.M[e.name] = child
			return ""
		}
		return string(errInvalidPath)
	}
	return walk(&root, path)
}

func addPath(it Item, path []pathElem, v Value) string {
	cur, ok := resolve(it, path)
	if !ok {
		return setPath(it, path, v.clone())
	}
	switch {
	case cur.Type == typeN && v.Type == typeN:
		s, msg := addNumbers(cur.S, v.S, false)
		if msg != "" {
			return msg
		}
		return setPath(it, path, Value{Type: typeN, S: s})
	case cur.Type == v.Type && (v.Type == typeSS || v.Type == typeNS || v.Type == typeBS):
		set := slices.Clone(cur.Set)
		for _, x := range v.Set {
			if !setHas(cur, x) {
				set = append(set, x)
			}
		}
		return setPath(it, path, Value{Type: v.Type, Set: set})
	}
	return string(errOperandType)
}

func deletePath(it Item, path []pathElem, v Value) string {
	cur, ok := resolve(it, path)
	if !ok {
		return ""
	}
	if cur.Type != v.Type {
		return string(errOperandType)
	}
	set := make([]string, 0, len(cur.Set))
	for _, x := range cur.Set {
		if !setHas(v, x) {
			set = append(set, x)
		}
	}
	if len(set) == 0 {
		return removePath(it, path)
	}
	return setPath(it, path, Value{Type: v.Type, Set: set})
}

func setHas(set Value, x string) bool {
	if set.Type == typeNS {
		return slices.ContainsFunc(set.Set, func(s string) bool { return compareNumbers(s, x) == 0 })
	}
	return slices.Contains(set.Set, x)
}

// --- projections ---

type projNode struct {
	leaf    bool
	names   map[string]*projNode
	indexes map[int]*projNode
}

func newProjection(paths [][]pathElem) *projNode {
	root := &projNode{}
	for _, p := range paths {
		n := root
		for _, e := range p {
			var next *projNode
			if e.isIndex {
				if n.indexes == nil {
					n.indexes = map[int]*projNode{}
				}
				if next = n.indexes[e.index]; next == nil {
					next = &projNode{}
					n.indexes[e.index] = next
				}
			} else {
				if n.names == nil {
					n.names = map[string]*projNode{}
				}
				if next = n.names[e.name]; next == nil {
					next = &projNode{}
					n.names[e.name] = next
				}
			}
			n = next
		}
		n.leaf = true
	}
	return root
}

// project returns the parts of it that the projection names.
func (p *projNode) project(it Item) Item {
	out := Item{}
	for name, child := range p.names {
		if v, ok := it[name]; ok {
			if pv, ok := child.projectValue(v); ok {
				out[name] = pv
			}
		}
	}
	return out
}

func (p *projNode) projectValue(v Value) (Value, bool) {
	if p.leaf {
		return v, true
	}
	switch {
	case v.Type == typeM && p.names != nil:
		m := map[string]Value{}
		for name, child := range p.names {
			if e, ok := v.M[name]; ok {
				if pe, ok := child.projectValue(e); ok {
					m[name] = pe
				}
			}
		}
		return Value{Type: typeM, M: m}, len(m) > 0
	case v.Type == typeL && p.indexes != nil:
		idx := make([]int, 0, len(p.indexes))
		for i := range p.indexes {
			idx = append(idx, i)
		}
		slices.Sort(idx)
		var l []Value
		for _, i := range idx {
			if i < len(v.L) {
				if pe, ok := p.indexes[i].projectValue(v.L[i]); ok {
					l = append(l, pe)
				}
			}
		}
		return Value{Type: typeL, L: l}, len(l) > 0
	}
	return Value{}, false
}
