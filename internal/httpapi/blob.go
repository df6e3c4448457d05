package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// blobEncoding decodes Blob members of JSON requests as AWS does: standard
// base64 with padding, strictly, so that a final quantum whose unused bits
// are not zero ("+/+=") is refused rather than silently truncated. Every
// blob the server decodes from JSON goes through it (blob.UnmarshalJSON,
// and the PutRecords scanner of json_decode.go).
var blobEncoding = base64.StdEncoding.Strict()

// blob is a Blob member of a request: base64 in JSON (decoded with
// blobEncoding), a byte string in CBOR. A present but empty blob is
// non-nil, as encoding/json makes it.
type blob []byte

func (b *blob) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: bytesType}
	}
	dec, err := blobEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("invalid base64 in a blob: %w", err)
	}
	*b = dec
	return nil
}

// maxShardCountMember is the model's bound on ShardCount and
// TargetShardCount (PositiveIntegerObject: 1 to 100000).
const maxShardCountMember = 100000

// clampedInt32 is an Integer member that AWS reads past the int32 range
// by clamping it, so that a ShardCount of 3000000000 fails model
// validation (ValidationException at 2147483647) rather than
// serialization. Fractions and non-numbers are still
// SerializationException.
type clampedInt32 int32

func (n *clampedInt32) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var i int32
	err := json.Unmarshal(data, &i)
	if err == nil {
		*n = clampedInt32(i)
		return nil
	}
	// A whole number out of range: clamp.
	if v, perr := strconv.ParseFloat(string(data), 64); perr == nil && v == math.Trunc(v) && json.Valid(data) && data[0] != '"' {
		*n = clampedInt32(math.MaxInt32)
		if v < 0 {
			*n = clampedInt32(math.MinInt32)
		}
		return nil
	}
	return err
}
