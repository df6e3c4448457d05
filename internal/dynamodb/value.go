package dynamodb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Attribute value types, as named on the wire.
const (
	typeS    = "S"
	typeN    = "N"
	typeB    = "B"
	typeBOOL = "BOOL"
	typeNULL = "NULL"
	typeSS   = "SS"
	typeNS   = "NS"
	typeBS   = "BS"
	typeL    = "L"
	typeM    = "M"
)

var validTypes = []string{typeS, typeN, typeB, typeBOOL, typeNULL, typeSS, typeNS, typeBS, typeL, typeM}

// Value is one DynamoDB attribute value. Exactly one field group is in use,
// chosen by Type. Numbers are canonical decimal strings; binaries are raw
// bytes held in strings.
type Value struct {
	Type string
	S    string           // S, N, B
	Set  []string         // SS, NS, BS
	Bool bool             // BOOL
	L    []Value          // L
	M    map[string]Value // M
}

// Item is a DynamoDB item: attribute names to values.
type Item map[string]Value

// rawValue is a Value as decoded, before validation: it keeps what the
// client sent so that validation can give DynamoDB's messages.
type rawValue struct {
	fields map[string]json.RawMessage
}

func (r *rawValue) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	return json.Unmarshal(b, &r.fields)
}

// decodeValue validates a raw value and converts it, returning DynamoDB's
// ValidationException message on failure. Messages follow DynamoDB's
// (and dynalite's) wording.
func decodeValue(r *rawValue) (Value, string) { return decodeValueAt(r, 1) }

// decodeValueAt decodes a value at nesting level level (1 for an
// attribute); lists and maps may nest maxNestingLevels deep, which also
// bounds the recursion and the rescans of nested JSON.
func decodeValueAt(r *rawValue, level int) (Value, string) {
	if r == nil || len(r.fields) == 0 {
		return Value{}, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
	}
	var v Value
	n := 0
	for _, t := range validTypes {
		raw, ok := r.fields[t]
		if !ok || bytes.Equal(raw, []byte("null")) {
			continue
		}
		n++
		v.Type = t
		if msg := decodeTyped(&v, t, raw, level); msg != "" {
			return Value{}, msg
		}
	}
	if n == 0 {
		return Value{}, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
	}
	if n > 1 {
		return Value{}, "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
	}
	return v, ""
}

// errSerialization marks a value of the wrong JSON type.
const errSerialization = "\x00serialization"

func decodeTyped(v *Value, t string, raw json.RawMessage, level int) string {
	switch t {
	case typeS:
		if json.Unmarshal(raw, &v.S) != nil {
			return errSerialization
		}
	case typeN:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return errSerialization
		}
		c, msg := parseNumber(s)
		if msg != "" {
			return msg
		}
		v.S = c
	case typeB:
		var b []byte
		if json.Unmarshal(raw, &b) != nil {
			return errSerialization
		}
		v.S = string(b)
	case typeBOOL:
		if json.Unmarshal(raw, &v.Bool) != nil {
			return errSerialization
		}
	case typeNULL:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return errSerialization
		}
		if !b {
			return "One or more parameter values were invalid: Null attribute value types must have the value of true"
		}
	case typeSS, typeNS:
		var ss []string
		if json.Unmarshal(raw, &ss) != nil {
			return errSerialization
		}
		if len(ss) == 0 {
			if t == typeSS {
				return "One or more parameter values were invalid: An string set  may not be empty"
			}
			return "One or more parameter values were invalid: An number set  may not be empty"
		}
		if t == typeNS {
			for i, s := range ss {
				c, msg := parseNumber(s)
				if msg != "" {
					return msg
				}
				ss[i] = c
			}
		}
		if hasDuplicate(ss) {
			if t == typeNS {
				return "Input collection contains duplicates"
			}
			return "One or more parameter values were invalid: Input collection " + setString(ss) + " contains duplicates."
		}
		v.Set = ss
	case typeBS:
		var bs [][]byte
		if json.Unmarshal(raw, &bs) != nil {
			return errSerialization
		}
		if len(bs) == 0 {
			return "One or more parameter values were invalid: Binary sets should not be empty"
		}
		ss := make([]string, len(bs))
		for i, b := range bs {
			ss[i] = string(b)
		}
		if hasDuplicate(ss) {
			return "One or more parameter values were invalid: Input collection contains duplicates of type BS."
		}
		v.Set = ss
	case typeL:
		var l []*rawValue
		if json.Unmarshal(raw, &l) != nil {
			return errSerialization
		}
		if len(l) > 0 && level >= maxNestingLevels {
			return msgNestingLevels
		}
		v.L = make([]Value, len(l))
		for i, e := range l {
			ev, msg := decodeValueAt(e, level+1)
			if msg != "" {
				return msg
			}
			v.L[i] = ev
		}
	case typeM:
		var m map[string]*rawValue
		if json.Unmarshal(raw, &m) != nil {
			return errSerialization
		}
		if len(m) > 0 && level >= maxNestingLevels {
			return msgNestingLevels
		}
		v.M = make(map[string]Value, len(m))
		for k, e := range m {
			ev, msg := decodeValueAt(e, level+1)
			if msg != "" {
				return msg
			}
			v.M[k] = ev
		}
	}
	return ""
}

func hasDuplicate(ss []string) bool {
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		if seen[s] {
			return true
		}
		seen[s] = true
	}
	return false
}

func setString(ss []string) string { return "[" + strings.Join(ss, ", ") + "]" }

// decodeItem converts a raw item (attribute name to raw value).
func decodeItem(raw map[string]*rawValue) (Item, string) {
	it := make(Item, len(raw))
	for k, r := range raw {
		v, msg := decodeValue(r)
		if msg != "" {
			return nil, msg
		}
		it[k] = v
	}
	return it, ""
}

// MarshalJSON writes the DynamoDB JSON form.
func (v Value) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	v.appendJSON(&b)
	return b.Bytes(), nil
}

func (v Value) appendJSON(b *bytes.Buffer) {
	b.WriteString(`{"`)
	b.WriteString(v.Type)
	b.WriteString(`":`)
	switch v.Type {
	case typeS, typeN:
		writeJSONString(b, v.S)
	case typeB:
		writeJSONString(b, base64.StdEncoding.EncodeToString([]byte(v.S)))
	case typeBOOL:
		if v.Bool {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case typeNULL:
		b.WriteString("true")
	case typeSS, typeNS, typeBS:
		b.WriteByte('[')
		for i, s := range v.Set {
			if i > 0 {
				b.WriteByte(',')
			}
			if v.Type == typeBS {
				s = base64.StdEncoding.EncodeToString([]byte(s))
			}
			writeJSONString(b, s)
		}
		b.WriteByte(']')
	case typeL:
		b.WriteByte('[')
		for i, e := range v.L {
			if i > 0 {
				b.WriteByte(',')
			}
			e.appendJSON(b)
		}
		b.WriteByte(']')
	case typeM:
		appendMapJSON(b, v.M)
	default:
		b.WriteString("null")
	}
	b.WriteByte('}')
}

func appendMapJSON(b *bytes.Buffer, m map[string]Value) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, k)
		b.WriteByte(':')
		m[k].appendJSON(b)
	}
	b.WriteByte('}')
}

// MarshalJSON writes the item as a JSON object of attribute values.
func (it Item) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	appendMapJSON(&b, it)
	return b.Bytes(), nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // never fails for a string
	b.Write(enc)
}

// UnmarshalJSON reads a stored item. Stored items were validated when
// written, so any message is a corruption.
func (it *Item) UnmarshalJSON(data []byte) error {
	var raw map[string]*rawValue
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	v, msg := decodeItem(raw)
	if msg != "" {
		return fmt.Errorf("stored item: %s", strings.TrimPrefix(msg, errSerialization))
	}
	*it = v
	return nil
}

// equal reports whether two values are equal as DynamoDB compares them:
// same type, numbers by value, sets regardless of order.
func (v Value) equal(w Value) bool {
	if v.Type != w.Type {
		return false
	}
	switch v.Type {
	case typeS, typeB:
		return v.S == w.S
	case typeN:
		return compareNumbers(v.S, w.S) == 0
	case typeBOOL:
		return v.Bool == w.Bool
	case typeNULL:
		return true
	case typeSS, typeBS:
		if len(v.Set) != len(w.Set) {
			return false
		}
		a, b := slices.Clone(v.Set), slices.Clone(w.Set)
		slices.Sort(a)
		slices.Sort(b)
		return slices.Equal(a, b)
	case typeNS:
		if len(v.Set) != len(w.Set) {
			return false
		}
		for _, x := range v.Set {
			if !slices.ContainsFunc(w.Set, func(y string) bool { return compareNumbers(x, y) == 0 }) {
				return false
			}
		}
		return true
	case typeL:
		return slices.EqualFunc(v.L, w.L, Value.equal)
	case typeM:
		if len(v.M) != len(w.M) {
			return false
		}
		for k, x := range v.M {
			y, ok := w.M[k]
			if !ok || !x.equal(y) {
				return false
			}
		}
		return true
	}
	return false
}

// compare orders two scalar values of the same type (S, N, B): strings
// and binaries by bytes, numbers by value. ok is false for other types or
// mismatched types.
func (v Value) compare(w Value) (int, bool) {
	if v.Type != w.Type {
		return 0, false
	}
	switch v.Type {
	case typeS, typeB:
		return strings.Compare(v.S, w.S), true
	case typeN:
		return compareNumbers(v.S, w.S), true
	}
	return 0, false
}

// size is DynamoDB's size of a value in bytes, as counted against the
// 400 KB item limit (approximately, for numbers).
func (v Value) size() int {
	switch v.Type {
	case typeS, typeB:
		return len(v.S)
	case typeN:
		return numberSize(v.S)
	case typeBOOL, typeNULL:
		return 1
	case typeSS, typeBS:
		n := 0
		for _, s := range v.Set {
			n += len(s)
		}
		return n
	case typeNS:
		n := 0
		for _, s := range v.Set {
			n += numberSize(s)
		}
		return n
	case typeL:
		n := 3
		for _, e := range v.L {
			n += 1 + e.size()
		}
		return n
	case typeM:
		n := 3
		for k, e := range v.M {
			n += 1 + len(k) + e.size()
		}
		return n
	}
	return 0
}

func numberSize(s string) int {
	d := strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(s), "0")
	return (len(d)+1)/2 + 1
}

// itemSize is the item's size: names and values.
func (it Item) size() int {
	n := 0
	for k, v := range it {
		n += len(k) + v.size()
	}
	return n
}

// clone returns a deep copy, so that updates never alias a stored item.
func (v Value) clone() Value {
	switch v.Type {
	case typeSS, typeNS, typeBS:
		v.Set = slices.Clone(v.Set)
	case typeL:
		l := make([]Value, len(v.L))
		for i, e := range v.L {
			l[i] = e.clone()
		}
		v.L = l
	case typeM:
		m := make(map[string]Value, len(v.M))
		for k, e := range v.M {
			m[k] = e.clone()
		}
		v.M = m
	}
	return v
}

func (it Item) clone() Item {
	out := make(Item, len(it))
	for k, v := range it {
		out[k] = v.clone()
	}
	return out
}

// String renders a value for error messages, as DynamoDB does:
// "AttributeValue: {S:abc}".
func (v Value) String() string {
	switch v.Type {
	case typeS, typeN:
		return "{" + v.Type + ":" + v.S + "}"
	case typeB:
		return "{B:" + base64.StdEncoding.EncodeToString([]byte(v.S)) + "}"
	case typeBOOL:
		return fmt.Sprintf("{BOOL:%t}", v.Bool)
	case typeNULL:
		return "{NULL:true}"
	}
	return "{" + v.Type + ":...}"
}
