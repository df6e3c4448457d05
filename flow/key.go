package flow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode"
)

// A grouping key travels through a pipeline encoded: one byte string per
// key, the columns' values in order, each a type tag and its bytes. The
// encoding is deterministic, so equal keys are equal strings (map keys,
// partition keys of the repartition stream) on every worker.

const (
	tagInt       = 'i' // 8 bytes, big-endian two's complement
	tagFloat     = 'f' // 8 bytes, IEEE 754 bits
	tagString    = 's' // uvarint length, bytes
	tagBool      = 'b' // 1 byte
	tagTimestamp = 't' // 8 bytes, Unix nanoseconds
	tagNull      = 'n' // no bytes: a key column without a value
)

// appendKeyValue appends one column's value of type t to an encoded key.
func appendKeyValue(b []byte, t ColumnType, v any) ([]byte, error) {
	if v == nil {
		return append(b, tagNull), nil
	}
	switch t {
	case Int:
		n, ok := toInt64(v)
		if !ok {
			return nil, fmt.Errorf("key value %v is a %T, not an integer", v, v)
		}
		b = append(b, tagInt)
		return binary.BigEndian.AppendUint64(b, uint64(n)), nil
	case Float:
		f, ok := toFloat64(v)
		if !ok {
			return nil, fmt.Errorf("key value %v is a %T, not a number", v, v)
		}
		if f == 0 {
			f = 0 // -0 and +0 are one key
		}
		b = append(b, tagFloat)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
	case String:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("key value %v is a %T, not a string", v, v)
		}
		b = append(b, tagString)
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...), nil
	case Bool:
		x, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("key value %v is a %T, not a bool", v, v)
		}
		if x {
			return append(b, tagBool, 1), nil
		}
		return append(b, tagBool, 0), nil
	case Timestamp:
		ts, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("key value %v is a %T, not a time.Time", v, v)
		}
		b = append(b, tagTimestamp)
		return binary.BigEndian.AppendUint64(b, uint64(ts.UnixNano())), nil
	}
	return nil, fmt.Errorf("key column type %v is not supported", t)
}

// decodeKey splits an encoded key into one value per column, of the
// columns' Go types (nil for a null).
func decodeKey(key string, cols []Column) ([]any, error) {
	out := make([]any, len(cols))
	b := []byte(key)
	for i, c := range cols {
		if len(b) == 0 {
			return nil, errors.New("decode key: too short")
		}
		tag := b[0]
		b = b[1:]
		switch tag {
		case tagNull:
			out[i] = nil
			continue
		case tagInt, tagFloat, tagTimestamp:
			if len(b) < 8 {
				return nil, errors.New("decode key: too short")
			}
			u := binary.BigEndian.Uint64(b)
			b = b[8:]
			switch tag {
			case tagInt:
				out[i] = int64(u)
			case tagFloat:
				out[i] = math.Float64frombits(u)
			default:
				out[i] = time.Unix(0, int64(u)).UTC()
			}
		case tagString:
			n, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < n {
				return nil, errors.New("decode key: bad string")
			}
			out[i] = string(b[k : k+int(n)])
			b = b[k+int(n):]
		case tagBool:
			if len(b) < 1 {
				return nil, errors.New("decode key: too short")
			}
			out[i] = b[0] == 1
			b = b[1:]
		default:
			return nil, fmt.Errorf("decode key: unknown tag %q for column %s", tag, c.Name)
		}
	}
	if len(b) != 0 {
		return nil, errors.New("decode key: trailing bytes")
	}
	return out, nil
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint:
		return int64(n), n <= math.MaxInt64
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		return int64(n), n <= math.MaxInt64
	case float64: // JSON numbers decode as float64
		if n == math.Trunc(n) && n >= math.MinInt64 && n <= math.MaxInt64 {
			return int64(n), true
		}
	}
	return 0, false
}

func toFloat64(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	}
	if i, ok := toInt64(v); ok {
		return float64(i), true
	}
	return 0, false
}

// keyCodec encodes keys of a Go type K: a scalar is one column, a struct
// one column per exported field.
type keyCodec[K comparable] struct {
	cols   []Column
	encode func(b []byte, k K) ([]byte, error)
}

var timeType = reflect.TypeFor[time.Time]()

// columnTypeOf maps a Go type to a key column type.
func columnTypeOf(t reflect.Type) (ColumnType, bool) {
	if t == timeType {
		return Timestamp, true
	}
	switch t.Kind() {
	case reflect.String:
		return String, true
	case reflect.Bool:
		return Bool, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return Int, true
	case reflect.Float32, reflect.Float64:
		return Float, true
	}
	return 0, false
}

// newKeyCodec builds the codec of K. names name the columns (one per
// column); by default a scalar key's column is "key" and a struct field's
// column its `flow:"name"` tag or its name in snake_case.
func newKeyCodec[K comparable](names []string) (*keyCodec[K], error) {
	t := reflect.TypeFor[K]()
	c := &keyCodec[K]{}
	if ct, ok := columnTypeOf(t); ok {
		name := "key"
		if len(names) > 0 {
			name = names[0]
		}
		c.cols = []Column{{Name: name, Type: ct}}
		if len(names) > 1 {
			return nil, fmt.Errorf("key of type %v has 1 column, %d names given", t, len(names))
		}
		c.encode = func(b []byte, k K) ([]byte, error) {
			if s, ok := any(k).(string); ok { // the common case, without reflection
				b = append(b, tagString)
				b = binary.AppendUvarint(b, uint64(len(s)))
				return append(b, s...), nil
			}
			return appendKeyValue(b, ct, scalarValue(reflect.ValueOf(k)))
		}
		return c, nil
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("key of type %v: want a string, number, bool, time.Time or a struct of them", t)
	}
	var fields []int
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		ct, ok := columnTypeOf(f.Type)
		if !ok {
			return nil, fmt.Errorf("key field %s.%s of type %v: want a string, number, bool or time.Time", t, f.Name, f.Type)
		}
		name := snakeCase(f.Name)
		if tag, ok := f.Tag.Lookup("flow"); ok && tag != "" {
			name = tag
		}
		c.cols = append(c.cols, Column{Name: name, Type: ct})
		fields = append(fields, i)
	}
	if len(names) > 0 {
		if len(names) != len(c.cols) {
			return nil, fmt.Errorf("key of type %v has %d columns, %d names given", t, len(c.cols), len(names))
		}
		for i := range names {
			c.cols[i].Name = names[i]
		}
	}
	c.encode = func(b []byte, k K) ([]byte, error) {
		v := reflect.ValueOf(k)
		for i, fi := range fields {
			var err error
			if b, err = appendKeyValue(b, c.cols[i].Type, scalarValue(v.Field(fi))); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return c, nil
}

// scalarValue turns a reflected scalar into the Go value appendKeyValue
// takes for its column type.
func scalarValue(v reflect.Value) any {
	if v.Type() == timeType {
		return v.Interface()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return v.Interface()
}

// snakeCase turns a Go field name into a column name: PageURL → page_url.
func snakeCase(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// validIdent reports whether s is a valid SQL identifier as Table.Name
// wants: letters, digits and underscores, not starting with a digit.
func validIdent(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
