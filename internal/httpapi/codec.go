package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// A codec is one wire format of the API: it turns request bodies into the
// wire structs of this package and responses back into bytes.
//
// Wire structs carry `json` tags naming the AWS members, which both
// encoding/json and github.com/fxamacker/cbor/v2 honour: the CBOR codec
// (codec_cbor.go) decodes and encodes them by reflection, its hot-path
// methods delegating to that, and Timestamp has MarshalCBOR/UnmarshalCBOR
// for CBOR's tag 1 + integer epoch *milliseconds* form. The hot-path methods
// exist so that JSON, the common format, can skip reflection for the two
// operations that carry records.
type codec interface {
	// contentType is the Content-Type of responses.
	contentType() string
	// decode parses a request body into v, a pointer to a wire struct.
	// Failures are *kinesis.Error with ErrSerialization.
	decode(body []byte, v any) error
	// encode appends the encoding of v, a wire struct, to dst.
	encode(dst []byte, v any) ([]byte, error)
	// decodePutRecords parses a PutRecords request body.
	decodePutRecords(body []byte, in *putRecordsInput) error
	// encodePutRecords appends a PutRecords response.
	encodePutRecords(dst []byte, out *putRecordsOutput) []byte
	// encodeGetRecords appends a GetRecords response.
	encodeGetRecords(dst []byte, out *kinesis.GetRecordsOutput) []byte
	// encodeError appends an error body: {"__type": code, "message": msg}.
	encodeError(dst []byte, code kinesis.ErrorCode, msg string) []byte
}

// Content types of the AWS JSON 1.1 protocol and its CBOR variant.
const (
	contentTypeJSON11 = "application/x-amz-json-1.1"
	contentTypeJSON   = "application/json"
	contentTypeCBOR   = "application/x-amz-cbor-1.1"
)

var (
	jsonCodec11    = jsonCodec{ctype: contentTypeJSON11}
	jsonCodecPlain = jsonCodec{ctype: contentTypeJSON}
)

// codecFor picks the codec for a request's Content-Type. A missing one is
// refused, as AWS refuses it (SerializationException).
func codecFor(contentType string) (codec, error) {
	if contentType == "" {
		return nil, kinesis.Errorf(kinesis.ErrSerialization, "Missing Content-Type; send %s", contentTypeJSON11)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	}
	switch mt {
	case contentTypeJSON11:
		return jsonCodec11, nil
	case contentTypeJSON:
		return jsonCodecPlain, nil
	case contentTypeCBOR:
		return cborCodec{}, nil
	}
	return nil, kinesis.Errorf(kinesis.ErrSerialization,
		"Unsupported Content-Type %q; send %s", contentType, contentTypeJSON11)
}

// appendCBORText appends s as a CBOR text string (major type 3).
func appendCBORText(dst []byte, s string) []byte {
	const major = 3 << 5
	switch n := uint64(len(s)); {
	case n < 24:
		dst = append(dst, major|byte(n))
	case n <= 0xff:
		dst = append(dst, major|24, byte(n))
	case n <= 0xffff:
		dst = append(dst, major|25, byte(n>>8), byte(n))
	default:
		dst = append(dst, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, s...)
}

// jsonCodec is AWS JSON 1.1: blobs are base64 strings, timestamps epoch
// seconds as JSON numbers.
type jsonCodec struct{ ctype string }

func (c jsonCodec) contentType() string { return c.ctype }

func (jsonCodec) decode(body []byte, v any) error {
	if err := checkJSONObject(body); err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return jsonSerializationError(err)
	}
	return nil
}

func (jsonCodec) encode(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("encode %T: %w", v, err)
	}
	return append(dst, b...), nil
}

func (jsonCodec) decodePutRecords(body []byte, in *putRecordsInput) error {
	if err := checkJSONObject(body); err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	return decodePutRecordsJSON(body, in)
}

func (jsonCodec) encodePutRecords(dst []byte, out *putRecordsOutput) []byte {
	return appendPutRecordsJSON(dst, out)
}

func (jsonCodec) encodeGetRecords(dst []byte, out *kinesis.GetRecordsOutput) []byte {
	return appendGetRecordsJSON(dst, out)
}

func (jsonCodec) encodeError(dst []byte, code kinesis.ErrorCode, msg string) []byte {
	dst = append(dst, `{"__type":`...)
	dst = appendJSONString(dst, string(code))
	if key := errorMessageKey(code); key != "" {
		dst = append(dst, ',')
		dst = appendJSONString(dst, key)
		dst = append(dst, ':')
		dst = appendJSONString(dst, msg)
	}
	return append(dst, '}')
}

// errorMessageKey is the member an error body carries its message in, as
// AWS sends it: "message" for the modeled exceptions, "Message" for the
// front end's SerializationException, none for UnknownOperationException.
func errorMessageKey(code kinesis.ErrorCode) string {
	switch code {
	case kinesis.ErrUnknownOperation:
		return ""
	case kinesis.ErrSerialization:
		return "Message"
	}
	return "message"
}

// checkJSONObject rejects bodies that are not a JSON object. An empty body
// is let through and means {}: AWS answers SerializationException there,
// but being lenient costs nothing and helps hand-written requests.
func checkJSONObject(body []byte) error {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return nil
		}
		return kinesis.Errorf(kinesis.ErrSerialization, "The request body must be a JSON object")
	}
	return nil
}

// jsonSerializationError turns an encoding/json failure into the error the
// client sees. The texts are ours, not Coral's; they name the member at
// fault where encoding/json tells it.
func jsonSerializationError(err error) *kinesis.Error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var tsErr *timestampError
	switch {
	case errors.As(err, &tsErr):
		return kinesis.Errorf(kinesis.ErrSerialization, "%s", tsErr.Error())
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return kinesis.Errorf(kinesis.ErrSerialization, "Unexpected JSON %s for member %s; expected %s",
				typeErr.Value, typeErr.Field, wireTypeName(typeErr.Type))
		}
		return kinesis.Errorf(kinesis.ErrSerialization, "Unexpected JSON %s; expected %s",
			typeErr.Value, wireTypeName(typeErr.Type))
	case errors.As(err, &syntaxErr):
		return kinesis.Errorf(kinesis.ErrSerialization, "Malformed JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	}
	// Base64 errors in blobs and the like: encoding/json's own words, which
	// describe the input and nothing of the server.
	return kinesis.Errorf(kinesis.ErrSerialization, "Malformed request body: %s", err.Error())
}

var (
	bytesType     = reflect.TypeFor[[]byte]()
	timestampType = reflect.TypeFor[Timestamp]()
)

// wireTypeName names a Go type the way the AWS model would.
func wireTypeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == bytesType:
		return "Blob (a base64 string)"
	case t == timestampType:
		return "Timestamp (epoch seconds as a number)"
	}
	switch t.Kind() {
	case reflect.String:
		return "String"
	case reflect.Bool:
		return "Boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
		return "Integer"
	case reflect.Int64:
		return "Long"
	case reflect.Slice:
		return "List"
	case reflect.Map:
		return "Map"
	case reflect.Struct:
		return "Structure"
	}
	return t.String()
}

// Timestamp is a point in time on the wire. In JSON it is a number of epoch
// seconds with a millisecond fraction, written in plain decimal
// (1459799926.48, never 1.45979992648E9) because some clients cannot read
// exponent form; any JSON number is accepted on input. In CBOR it is tag 1
// and epoch milliseconds (codec_cbor.go).
type Timestamp struct{ time.Time }

// MarshalJSON writes the time as epoch seconds with millisecond precision.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return appendEpochSeconds(nil, t.Time), nil
}

// UnmarshalJSON reads a JSON number of epoch seconds, integral or not.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	tm, err := parseEpochSeconds(s)
	if err != nil {
		return err
	}
	t.Time = tm
	return nil
}

// timestampError reports a timestamp that is not an epoch-seconds number.
type timestampError struct{ value string }

func (e *timestampError) Error() string {
	v := e.value
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return fmt.Sprintf("Invalid timestamp %s: expected epoch seconds as a JSON number", v)
}

// maxEpochSeconds bounds accepted timestamps to about ±3000 years around
// 1970, far beyond any meaningful value and well inside time.Time's range.
const maxEpochSeconds = 1e11

// parseEpochSeconds parses a JSON number of epoch seconds exactly (no
// float rounding), truncating below the nanosecond. It works on the decimal
// digits rather than big.Rat so that an exponent like 1e999999999 costs
// nothing.
func parseEpochSeconds(s string) (time.Time, error) {
	bad := &timestampError{value: s}
	rest := s
	neg := strings.HasPrefix(rest, "-")
	if neg {
		rest = rest[1:]
	}
	mant, expStr, hasExp := strings.Cut(strings.ToLower(rest), "e")
	intPart, frac, hasFrac := strings.Cut(mant, ".")
	if !isDigits(intPart) || (hasFrac && !isDigits(frac)) {
		return time.Time{}, bad
	}
	exp := 0
	if hasExp {
		e, ok := parseExponent(expStr)
		if !ok {
			return time.Time{}, bad
		}
		exp = e
	}
	// value = digits × 10^(exp-len(frac)), digits without leading zeros.
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= len(frac)
	if digits == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	if len(digits)+exp > 12 { // more than 12 integer digits
		return time.Time{}, bad
	}
	// Nanoseconds = digits × 10^(exp+9), truncated; at most 21 digits.
	var ns string
	switch shift := exp + 9; {
	case shift >= 0:
		ns = digits + strings.Repeat("0", shift)
	case len(digits)+shift <= 0:
		return time.Unix(0, 0).UTC(), nil
	default:
		ns = digits[:len(digits)+shift]
	}
	n, ok := new(big.Int).SetString(ns, 10)
	if !ok {
		return time.Time{}, bad
	}
	sec, rem := new(big.Int).QuoRem(n, big.NewInt(1e9), new(big.Int))
	if sec.Int64() > maxEpochSeconds {
		return time.Time{}, bad
	}
	secs, nsec := sec.Int64(), rem.Int64()
	if neg {
		secs, nsec = -secs, -nsec
	}
	return time.Unix(secs, nsec).UTC(), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseExponent parses a JSON exponent, saturating at ±10^15, which is
// beyond any mantissa length a request body can hold.
func parseExponent(s string) (int, bool) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	if !isDigits(s) {
		return 0, false
	}
	s = strings.TrimLeft(s, "0")
	e := int(1e15)
	if len(s) < 16 {
		e, _ = strconv.Atoi("0" + s)
	}
	if neg {
		e = -e
	}
	return e, true
}

// appendEpochSeconds appends t as epoch seconds with at most three fraction
// digits, trailing zeros dropped: 1459799926, 1459799926.48.
func appendEpochSeconds(dst []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	if ms < 0 {
		dst = append(dst, '-')
		ms = -ms
	}
	sec, frac := ms/1000, ms%1000
	dst = strconv.AppendInt(dst, sec, 10)
	if frac == 0 {
		return dst
	}
	d := [4]byte{'.', byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := 4
	for d[n-1] == '0' {
		n--
	}
	return append(dst, d[:n]...)
}
