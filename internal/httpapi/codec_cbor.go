package httpapi

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// cborCodec is the CBOR variant of AWS JSON 1.1
// (application/x-amz-cbor-1.1), which the Java SDKs v1 and v2, and so the
// KCL, the Kinesis Agent and the Flink and Spark connectors, send by
// default. A body is one CBOR map with the JSON member names:
//
//	{"StreamName": "s", "Records": [{"Data": h'0001', "PartitionKey": "k"}]}
//	bf 6a StreamName 61 s 67 Records 9f bf 64 Data 42 0001 6c PartitionKey 61 k ff ff ff
//
// Blobs are CBOR byte strings, not base64. Timestamps are tag 1 followed
// by epoch *milliseconds* (see Timestamp.MarshalCBOR), which is what the
// Java SDK writes and reads, against RFC 8949's seconds. Maps and arrays
// may have indefinite length, as Jackson writes them.
//
// Requests are decoded by reflection into the same wire structs as JSON,
// PutRecords included, and go through the same validation; only the JSON
// codec has hand-written fast paths.
type cborCodec struct{}

var _ codec = cborCodec{}

// Limits of CBOR request bodies. The largest list of the API is PutRecords'
// 500 records and the largest map CreateStream's 50 tags; the limits leave
// room for lists the model rejects to be answered with ValidationException,
// while keeping a hostile 16 MiB body from allocating gigabytes of structs.
const (
	cborMaxNestedLevels  = 32
	cborMaxArrayElements = 10000
	cborMaxMapPairs      = 10000
)

// cborDecMode and cborEncMode are built once; both are immutable and safe
// for concurrent use.
var (
	cborDecMode = mustCBORDecMode(cbor.DecOptions{
		// Duplicate members are refused rather than resolved, since the
		// library keeps the first or the last depending on the Go type.
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  cborMaxNestedLevels,
		MaxArrayElements: cborMaxArrayElements,
		MaxMapPairs:      cborMaxMapPairs,
		IndefLength:      cbor.IndefLengthAllowed,
		TagsMd:           cbor.TagsAllowed,
		// Unknown members are skipped (the default), and member names match
		// case-insensitively after an exact match, as in encoding/json.
	})
	cborEncMode = mustCBOREncMode(cbor.EncOptions{})
)

func mustCBORDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(fmt.Sprintf("httpapi: CBOR decoding options: %v", err))
	}
	return m
}

func mustCBOREncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(fmt.Sprintf("httpapi: CBOR encoding options: %v", err))
	}
	return m
}

func (cborCodec) contentType() string { return contentTypeCBOR }

// decode parses a CBOR map into v. An empty body means {}, as for JSON.
func (cborCodec) decode(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := checkCBORMap(body); err != nil {
		return err
	}
	if err := cborDecMode.Unmarshal(body, v); err != nil {
		return cborSerializationError(err)
	}
	return nil
}

func (cborCodec) encode(dst []byte, v any) ([]byte, error) {
	b, err := cborEncMode.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("encode %T: %w", v, err)
	}
	return append(dst, b...), nil
}

func (c cborCodec) decodePutRecords(body []byte, in *putRecordsInput) error {
	var w putRecordsWire
	if err := c.decode(body, &w); err != nil {
		return err
	}
	*in = w.input()
	return nil
}

func (c cborCodec) encodePutRecords(dst []byte, out *putRecordsOutput) []byte {
	return mustEncodeCBOR(dst, out)
}

func (c cborCodec) encodeGetRecords(dst []byte, out *kinesis.GetRecordsOutput) []byte {
	w := toWireGetRecords(out)
	return mustEncodeCBOR(dst, &w)
}

func (cborCodec) encodeError(dst []byte, code kinesis.ErrorCode, msg string) []byte {
	key := errorMessageKey(code)
	if key == "" {
		dst = append(dst, 0xa1) // map of one pair
		dst = appendCBORText(dst, "__type")
		return appendCBORText(dst, string(code))
	}
	dst = append(dst, 0xa2) // map of two pairs
	dst = appendCBORText(dst, "__type")
	dst = appendCBORText(dst, string(code))
	dst = appendCBORText(dst, key)
	return appendCBORText(dst, msg)
}

// mustEncodeCBOR appends the encoding of a response wire struct. The
// PutRecords and GetRecords responses hold only strings, integers, byte
// slices and Timestamps, none of which can fail to encode, so an error here
// is a bug in this package.
func mustEncodeCBOR(dst []byte, v any) []byte {
	dst, err := cborCodec{}.encode(dst, v)
	if err != nil {
		panic(fmt.Sprintf("httpapi: %v", err))
	}
	return dst
}

// cborSelfDescribe is tag 55799, which a CBOR body may start with.
var cborSelfDescribe = []byte{0xd9, 0xd9, 0xf7}

// checkCBORMap rejects bodies whose top-level item is not a map.
func checkCBORMap(body []byte) error {
	b := body
	for len(b) >= len(cborSelfDescribe) && string(b[:len(cborSelfDescribe)]) == string(cborSelfDescribe) {
		b = b[len(cborSelfDescribe):]
	}
	if len(b) == 0 || b[0]>>5 != 5 { // major type 5: map
		return kinesis.Errorf(kinesis.ErrSerialization, "The request body must be a CBOR map")
	}
	return nil
}

// cborSerializationError turns a decoding failure into the error the
// client sees, naming the top-level member at fault where the decoder
// tells it (for Records[3].Data that is Records), but no Go types.
func cborSerializationError(err error) *kinesis.Error {
	var typeErr *cbor.UnmarshalTypeError
	var tsErr *cborTimestampError
	var dupErr *cbor.DupMapKeyError
	var kerr *kinesis.Error
	switch {
	case errors.As(err, &kerr):
		return kerr
	case errors.As(err, &tsErr):
		return kinesis.Errorf(kinesis.ErrSerialization, "%s", tsErr.Error())
	case errors.As(err, &typeErr):
		member := typeErr.StructFieldName
		if i := strings.LastIndexByte(member, '.'); i >= 0 {
			member = member[i+1:]
		}
		if member != "" {
			return kinesis.Errorf(kinesis.ErrSerialization, "Unexpected CBOR %s in member %s; expected %s",
				typeErr.CBORType, member, cborWireTypeName(typeErr.GoType))
		}
		return kinesis.Errorf(kinesis.ErrSerialization, "Unexpected CBOR %s; expected %s",
			typeErr.CBORType, cborWireTypeName(typeErr.GoType))
	case errors.As(err, &dupErr):
		return kinesis.Errorf(kinesis.ErrSerialization, "Duplicate member %v in the CBOR body", dupErr.Key)
	}
	// Syntax, limit and UTF-8 errors: the library's words describe the
	// input and nothing of the server.
	return kinesis.Errorf(kinesis.ErrSerialization, "Malformed CBOR request body: %s",
		strings.TrimPrefix(err.Error(), "cbor: "))
}

// cborWireTypeName names a Go type, as the decoder prints it, the way the
// AWS model would.
func cborWireTypeName(goType string) string {
	switch strings.TrimLeft(goType, "*") {
	case "string":
		return "String"
	case "bool":
		return "Boolean"
	case "int", "int8", "int16", "int32":
		return "Integer"
	case "int64":
		return "Long"
	case "[]uint8":
		return "Blob (a byte string)"
	case "httpapi.Timestamp":
		return "Timestamp (tag 1 and epoch milliseconds)"
	}
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "List"
	case strings.HasPrefix(goType, "map["):
		return "Map"
	}
	return "Structure"
}

// cborTimestampTag is the CBOR tag of epoch-based date/time (RFC 8949
// §3.4.2), which the AWS CBOR protocol fills with milliseconds.
const cborTimestampTag = 1

// maxEpochMillis bounds CBOR timestamps as maxEpochSeconds bounds JSON ones.
const maxEpochMillis = maxEpochSeconds * 1000

// MarshalCBOR writes the time as tag 1 and an integer of epoch
// milliseconds, as the Java SDK reads it (SdkCborGenerator writes
// writeTag(1) then toEpochMilli()). RFC 8949 would have seconds there; AWS
// does not, and a client given seconds would read a date in 1970.
func (t Timestamp) MarshalCBOR() ([]byte, error) {
	return appendCBORInt(append(make([]byte, 0, 10), 0xc1), t.UnixMilli()), nil // 0xc1: tag 1
}

// UnmarshalCBOR reads tag 1 followed by epoch milliseconds. The Java SDKs
// send an integer; a float is accepted too and also read as milliseconds
// (its fraction kept to the nanosecond), never as RFC 8949 seconds. An
// untagged number is refused, since its unit would be a guess. Null leaves
// the time unset.
func (t *Timestamp) UnmarshalCBOR(data []byte) error {
	if len(data) == 1 && (data[0] == 0xf6 || data[0] == 0xf7) { // null, undefined
		return nil
	}
	var raw cbor.RawTag
	if err := cborDecMode.Unmarshal(data, &raw); err != nil || raw.Number != cborTimestampTag {
		return &cborTimestampError{}
	}
	var n any
	if err := cborDecMode.Unmarshal(raw.Content, &n); err != nil {
		return &cborTimestampError{}
	}
	switch ms := n.(type) {
	case uint64:
		if ms > maxEpochMillis {
			return &cborTimestampError{}
		}
		t.Time = time.UnixMilli(int64(ms)).UTC()
	case int64:
		if ms < -maxEpochMillis || ms > maxEpochMillis {
			return &cborTimestampError{}
		}
		t.Time = time.UnixMilli(ms).UTC()
	case float64:
		if math.IsNaN(ms) || math.Abs(ms) > maxEpochMillis {
			return &cborTimestampError{}
		}
		whole, frac := math.Modf(ms)
		t.Time = time.UnixMilli(int64(whole)).Add(time.Duration(frac * 1e6)).UTC()
	default:
		return &cborTimestampError{}
	}
	return nil
}

// cborTimestampError reports a CBOR timestamp not in the AWS form.
type cborTimestampError struct{}

func (*cborTimestampError) Error() string {
	return "Invalid timestamp: expected CBOR tag 1 and a number of epoch milliseconds"
}

// appendCBORInt appends n as a CBOR integer (major type 0 or 1) in its
// shortest form.
func appendCBORInt(dst []byte, n int64) []byte {
	major, u := byte(0), uint64(n)
	if n < 0 {
		major, u = 1<<5, uint64(-1-n)
	}
	switch {
	case u < 24:
		return append(dst, major|byte(u))
	case u <= 0xff:
		return append(dst, major|24, byte(u))
	case u <= 0xffff:
		return append(dst, major|25, byte(u>>8), byte(u))
	case u <= 0xffffffff:
		return append(dst, major|26, byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
	return append(dst, major|27, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
		byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}
