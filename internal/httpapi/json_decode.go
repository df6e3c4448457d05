package httpapi

import (
	"bytes"
	"encoding/base64"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// This file decodes PutRecords bodies without reflection. A request of 500
// records would cost encoding/json two allocations per record and a walk
// through reflect for each member; here the body is scanned once, string
// values are remembered as spans of the body, and then all record data is
// decoded into one allocation and all partition and hash keys into one
// string.
//
// It accepts exactly what encoding/json accepts into putRecordsWire and
// yields the same values (FuzzDecodePutRecords checks this): the same JSON
// grammar and nesting limit, member names matched case-insensitively, the
// last of duplicate members winning, null leaving a member unset, invalid
// UTF-8 replaced by U+FFFD, and blobs read with blobEncoding. The one
// difference is a Records member given twice: encoding/json merges the
// second list into the first element by element, here the second replaces
// the first.

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// span is a JSON string in the body: the bytes between its quotes.
type span struct {
	start, end int
	// escaped tells that the bytes hold escapes or non-ASCII bytes and must
	// be unquoted rather than used as they are.
	escaped bool
}

// rawEntry is one record as first scanned.
type rawEntry struct {
	data, key, hashKey span
	has                entryFields
}

// maxDecodedRecords bounds the records kept of one request, so that a body
// of millions of tiny records cannot make the server allocate for each: a
// request with more than kinesis.MaxPutRecordsEntries fails validation
// anyway, and its message needs only the count and the first violations.
const maxDecodedRecords = 1000

var rawEntryPool = sync.Pool{New: func() any { s := make([]rawEntry, 0, 512); return &s }}

// jsonScanner reads JSON from b.
type jsonScanner struct {
	b     []byte
	i     int
	depth int
	tmp   []byte // scratch for base64 checks
}

// syntaxError is a SerializationException for malformed JSON at the
// scanner's position.
func (s *jsonScanner) syntaxError(what string) error {
	return kinesis.Errorf(kinesis.ErrSerialization, "Malformed JSON at byte %d: %s", s.i, what)
}

// typeError is a SerializationException for a member of the wrong type.
func (s *jsonScanner) typeError(member, want string) error {
	return kinesis.Errorf(kinesis.ErrSerialization, "Unexpected JSON %s for member %s; expected %s", s.kind(), member, want)
}

// kind names the JSON value starting at the scanner's position.
func (s *jsonScanner) kind() string {
	if s.i >= len(s.b) {
		return "end of input"
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "bool"
	case c == 'n':
		return "null"
	}
	return "number"
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end (a NUL byte in
// the input is never valid where peek is used, so the two need not be told
// apart).
func (s *jsonScanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// literal consumes lit (true, false, null) at the current position.
func (s *jsonScanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.syntaxError("invalid literal")
	}
	s.i += len(lit)
	return nil
}

// null consumes a null if one is next.
func (s *jsonScanner) null() (bool, error) {
	if s.peek() != 'n' {
		return false, nil
	}
	return true, s.literal("null")
}

// plainByte marks the bytes a JSON string holds as they are: printable
// ASCII other than quote and backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans a string starting at the current position.
func (s *jsonScanner) str() (span, error) {
	if s.peek() != '"' {
		return span{}, s.syntaxError("expected string")
	}
	s.i++
	sp := span{start: s.i}
	for s.i < len(s.b) {
		// Most bytes of a string are printable ASCII: skip them in a
		// tight loop.
		b, i := s.b, s.i
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if s.i = i; i == len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			sp.end = s.i
			s.i++
			return sp, nil
		case c == '\\':
			sp.escaped = true
			if s.i+1 >= len(s.b) {
				return span{}, s.syntaxError("unterminated string")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if len(s.b)-s.i < 6 || !isHex4(s.b[s.i+2:s.i+6]) {
					return span{}, s.syntaxError("invalid \\u escape")
				}
				s.i += 6
			default:
				return span{}, s.syntaxError("invalid escape")
			}
		case c < 0x20:
			return span{}, s.syntaxError("control character in string")
		default:
			if c >= utf8.RuneSelf {
				sp.escaped = true
			}
			s.i++
		}
	}
	return span{}, s.syntaxError("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number scans a JSON number.
func (s *jsonScanner) number() error {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		s.i = i
		return s.syntaxError("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.i = i
			return s.syntaxError("invalid number")
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.i = i
			return s.syntaxError("invalid number")
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	s.i = i
	return nil
}

// skip scans and discards any value.
func (s *jsonScanner) skip() error {
	switch s.peek() {
	case '"':
		_, err := s.str()
		return err
	case '{':
		if err := s.enter('{'); err != nil {
			return err
		}
		for first := true; ; first = false {
			if more, err := s.more('}', first); !more || err != nil {
				return err
			}
			if _, err := s.key(); err != nil {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case '[':
		if err := s.enter('['); err != nil {
			return err
		}
		for first := true; ; first = false {
			if more, err := s.more(']', first); !more || err != nil {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case 0:
		return s.syntaxError("unexpected end of input")
	}
	return s.number()
}

// enter consumes the '{' or '[' that opens an object or array. The caller
// then loops on more until it reports the end:
//
//	for first := true; ; first = false {
//		if more, err := s.more('}', first); !more || err != nil { … }
//		key, err := s.key()
//		… scan the value …
//	}
func (s *jsonScanner) enter(open byte) error {
	if s.peek() != open {
		if open == '{' {
			return s.syntaxError("expected object")
		}
		return s.syntaxError("expected array")
	}
	s.i++
	if s.depth++; s.depth > maxJSONDepth {
		return s.syntaxError("exceeded max depth")
	}
	return nil
}

// more reports whether another member or element follows, consuming the
// ',' before it or the closing byte after the last one.
func (s *jsonScanner) more(close byte, first bool) (bool, error) {
	c := s.peek()
	switch {
	case c == close:
		s.i++
		s.depth--
		return false, nil
	case first:
		return true, nil
	case c == ',':
		s.i++
		return true, nil
	}
	return false, s.syntaxError("expected ',' or '" + string(close) + "'")
}

// key scans an object key and the ':' after it.
func (s *jsonScanner) key() (span, error) {
	k, err := s.str()
	if err != nil {
		return span{}, err
	}
	if s.peek() != ':' {
		return span{}, s.syntaxError("expected ':' after object key")
	}
	s.i++
	return k, nil
}

// keyIs reports whether an object key names member, matched as
// encoding/json matches field names: exactly or case-insensitively.
func (s *jsonScanner) keyIs(key span, member string, scratch *[]byte) bool {
	raw := s.b[key.start:key.end]
	if !key.escaped {
		return len(raw) == len(member) && bytes.EqualFold(raw, []byte(member))
	}
	*scratch = appendUnquoted((*scratch)[:0], raw)
	return bytes.EqualFold(*scratch, []byte(member))
}

// optString scans a string member that may be null; nil means unset.
func (s *jsonScanner) optString(member string) (*string, error) {
	if null, err := s.null(); null || err != nil {
		return nil, err
	}
	if s.peek() != '"' {
		return nil, s.typeError(member, "String")
	}
	sp, err := s.str()
	if err != nil {
		return nil, err
	}
	v := string(s.b[sp.start:sp.end])
	if sp.escaped {
		v = string(appendUnquoted(nil, s.b[sp.start:sp.end]))
	}
	return &v, nil
}

// optSpan scans a string member of a record that may be null; ok is false
// when null.
func (s *jsonScanner) optSpan(field entryFields) (sp span, ok bool, err error) {
	if null, err := s.null(); null || err != nil {
		return span{}, false, err
	}
	if s.peek() != '"' {
		want := "String"
		if field == hasData {
			want = "Blob (a base64 string)"
		}
		return span{}, false, s.typeError("Records."+fieldName(field), want)
	}
	sp, err = s.str()
	return sp, err == nil, err
}

// decodePutRecordsJSON decodes a PutRecords body that starts with '{'.
// It is written as loops rather than callbacks so that no per-record state
// escapes to the heap.
func decodePutRecordsJSON(body []byte, in *putRecordsInput) error {
	s := jsonScanner{b: body}
	entriesp := rawEntryPool.Get().(*[]rawEntry)
	entries := (*entriesp)[:0]
	defer func() {
		clear(entries)
		*entriesp = entries[:0]
		rawEntryPool.Put(entriesp)
	}()
	var scratch []byte
	recordsSet := false

	if err := s.enter('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		more, err := s.more('}', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		key, err := s.key()
		if err != nil {
			return err
		}
		switch {
		case s.keyIs(key, "Records", &scratch):
			// A repeated Records replaces the earlier one, whose blobs
			// must still be valid base64 as encoding/json requires.
			if err := s.checkData(entries, &scratch); err != nil {
				return err
			}
			entries, recordsSet, in.count = entries[:0], false, 0
			if null, err := s.null(); null || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			if s.peek() != '[' {
				return s.typeError("Records", "List")
			}
			recordsSet = true
			if entries, err = s.records(entries, in, &scratch); err != nil {
				return err
			}
		case s.keyIs(key, "StreamName", &scratch):
			if in.StreamName, err = s.optString("StreamName"); err != nil {
				return err
			}
		case s.keyIs(key, "StreamARN", &scratch):
			if in.StreamARN, err = s.optString("StreamARN"); err != nil {
				return err
			}
		case s.keyIs(key, "DryRun", &scratch):
			if in.DryRun, err = s.optBool("DryRun"); err != nil {
				return err
			}
		default:
			if err := s.skip(); err != nil {
				return err
			}
		}
	}
	if s.ws(); s.i != len(s.b) {
		return s.syntaxError("invalid character after top-level value")
	}
	if recordsSet {
		return buildEntries(body, entries, in)
	}
	return nil
}

// records scans the Records list, appending to entries the first
// maxDecodedRecords records and counting all in in.count.
func (s *jsonScanner) records(entries []rawEntry, in *putRecordsInput, scratch *[]byte) ([]rawEntry, error) {
	if err := s.enter('['); err != nil {
		return entries, err
	}
	for first := true; ; first = false {
		more, err := s.more(']', first)
		if err != nil || !more {
			return entries, err
		}
		var e rawEntry
		if null, err := s.null(); err != nil {
			return entries, err
		} else if !null {
			if s.peek() != '{' {
				return entries, s.typeError("Records", "Structure")
			}
			if e, err = s.record(scratch); err != nil {
				return entries, err
			}
		}
		in.count++
		if len(entries) < maxDecodedRecords {
			entries = append(entries, e)
		} else if err := s.checkEntryData(&e, in.count-1, scratch); err != nil {
			return entries, err
		}
	}
}

// checkData checks that the Data of records that will not be decoded is
// valid base64 nonetheless.
func (s *jsonScanner) checkData(entries []rawEntry, scratch *[]byte) error {
	for i := range entries {
		if err := s.checkEntryData(&entries[i], i, scratch); err != nil {
			return err
		}
	}
	return nil
}

func (s *jsonScanner) checkEntryData(e *rawEntry, i int, scratch *[]byte) error {
	if e.has&hasData == 0 {
		return nil
	}
	src := s.b[e.data.start:e.data.end]
	if e.data.escaped {
		*scratch = appendUnquoted((*scratch)[:0], src)
		src = *scratch
	}
	var err error
	if s.tmp, err = blobEncoding.AppendDecode(s.tmp[:0], src); err != nil {
		return kinesis.Errorf(kinesis.ErrSerialization, "Malformed request body: Records.%d.Data: %s", i, err.Error())
	}
	return nil
}

// record scans one PutRecordsRequestEntry object.
func (s *jsonScanner) record(scratch *[]byte) (rawEntry, error) {
	var e rawEntry
	if err := s.enter('{'); err != nil {
		return e, err
	}
	for first := true; ; first = false {
		more, err := s.more('}', first)
		if err != nil || !more {
			return e, err
		}
		key, err := s.key()
		if err != nil {
			return e, err
		}
		var field entryFields
		var dst *span
		switch {
		case s.keyIs(key, "Data", scratch):
			field, dst = hasData, &e.data
		case s.keyIs(key, "PartitionKey", scratch):
			field, dst = hasPartitionKey, &e.key
		case s.keyIs(key, "ExplicitHashKey", scratch):
			field, dst = hasExplicitHashKey, &e.hashKey
		default:
			if err := s.skip(); err != nil {
				return e, err
			}
			continue
		}
		sp, ok, err := s.optSpan(field)
		if err != nil {
			return e, err
		}
		if ok {
			*dst = sp
			e.has |= field
		} else {
			e.has &^= field
		}
	}
}

// optBool scans a boolean member that may be null; nil means unset.
func (s *jsonScanner) optBool(member string) (*bool, error) {
	switch s.peek() {
	case 'n':
		return nil, s.literal("null")
	case 't', 'f':
		v := s.b[s.i] == 't'
		if v {
			return &v, s.literal("true")
		}
		return &v, s.literal("false")
	}
	return nil, s.typeError(member, "Boolean")
}

func fieldName(f entryFields) string {
	switch f {
	case hasData:
		return "Data"
	case hasPartitionKey:
		return "PartitionKey"
	}
	return "ExplicitHashKey"
}

// buildEntries turns scanned records into in.Records: data decoded into
// one buffer (each record's slice capped so that appending to it cannot
// touch its neighbour), keys into one string.
func buildEntries(body []byte, raw []rawEntry, in *putRecordsInput) error {
	dataSize, keySize := 0, 0
	for _, e := range raw {
		if e.has&hasData != 0 {
			dataSize += base64.StdEncoding.DecodedLen(e.data.end - e.data.start)
		}
		keySize += e.key.end - e.key.start + e.hashKey.end - e.hashKey.start
	}
	arena := make([]byte, 0, dataSize)
	keyBuf := getBuffer()
	defer putBuffer(keyBuf)
	keys := keyBuf.B[:0]
	if cap(keys) < keySize {
		keys = make([]byte, 0, keySize)
	}
	var scratch []byte
	in.Records = make([]kinesis.PutRecordEntry, len(raw))
	in.has = make([]entryFields, len(raw))
	for i := range raw {
		e := &raw[i]
		in.has[i] = e.has
		if e.has&hasData != 0 {
			src := body[e.data.start:e.data.end]
			if e.data.escaped {
				scratch = appendUnquoted(scratch[:0], src)
				src = scratch
			}
			off := len(arena)
			var err error
			arena, err = blobEncoding.AppendDecode(arena, src)
			if err != nil {
				return kinesis.Errorf(kinesis.ErrSerialization, "Malformed request body: Records.%d.Data: %s", i, err.Error())
			}
			in.Records[i].Data = arena[off:len(arena):len(arena)]
		}
		if e.has&hasPartitionKey != 0 {
			keys, e.key = appendSpan(keys, body, e.key)
		}
		if e.has&hasExplicitHashKey != 0 {
			keys, e.hashKey = appendSpan(keys, body, e.hashKey)
		}
	}
	all := string(keys)
	keyBuf.B = keys
	for i := range raw {
		e := &raw[i]
		if e.has&hasPartitionKey != 0 {
			in.Records[i].PartitionKey = all[e.key.start:e.key.end]
		}
		if e.has&hasExplicitHashKey != 0 {
			in.Records[i].ExplicitHashKey = all[e.hashKey.start:e.hashKey.end]
		}
	}
	return nil
}

// appendSpan appends the unquoted string at sp in body to dst and returns
// where it landed in dst.
func appendSpan(dst, body []byte, sp span) ([]byte, span) {
	off := len(dst)
	if sp.escaped {
		dst = appendUnquoted(dst, body[sp.start:sp.end])
	} else {
		dst = append(dst, body[sp.start:sp.end]...)
	}
	return dst, span{start: off, end: len(dst)}
}

// appendUnquoted appends the value of a scanned JSON string (its bytes
// between the quotes, escapes already validated) to dst, the way
// encoding/json unquotes: invalid UTF-8 and lone surrogates become U+FFFD.
func appendUnquoted(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch s[i+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i+2 : i+6])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, hex4(s[i+2:i+6])); dec != unicode.ReplacementChar {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, s[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
		}
	}
	return dst
}

// hex4 decodes four validated hex digits.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
