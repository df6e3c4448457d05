package httpapi

import (
	"encoding/base64"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Hand-written JSON encoders for the two responses that carry many records.
// They write what encoding/json would write for getRecordsOutput and
// putRecordsOutput (TestAppendGetRecordsJSON compares), in one pass into a
// buffer sized up front.

// appendGetRecordsJSON appends the JSON of a GetRecords response:
//
//	{"Records":[{"SequenceNumber":"…","ApproximateArrivalTimestamp":1459799926.48,
//	  "Data":"<base64>","PartitionKey":"…","EncryptionType":"NONE"}],
//	 "NextShardIterator":"…","MillisBehindLatest":0,"ChildShards":[…]}
func appendGetRecordsJSON(dst []byte, out *kinesis.GetRecordsOutput) []byte {
	dst = slices.Grow(dst, getRecordsJSONSize(out))

	dst = append(dst, `{"Records":[`...)
	for i := range out.Records {
		r := &out.Records[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"SequenceNumber":`...)
		dst = appendJSONString(dst, r.SequenceNumber)
		dst = append(dst, `,"ApproximateArrivalTimestamp":`...)
		dst = appendEpochSeconds(dst, r.ApproximateArrivalTimestamp)
		dst = append(dst, `,"Data":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, r.Data)
		dst = append(dst, `","PartitionKey":`...)
		dst = appendJSONString(dst, r.PartitionKey)
		dst = append(dst, `,"EncryptionType":`...)
		dst = appendJSONString(dst, encryptionType(r.EncryptionType))
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	if out.NextShardIterator != "" {
		dst = append(dst, `,"NextShardIterator":`...)
		dst = appendJSONString(dst, out.NextShardIterator)
	}
	dst = append(dst, `,"MillisBehindLatest":`...)
	dst = strconv.AppendInt(dst, out.MillisBehindLatest, 10)
	if len(out.ChildShards) > 0 {
		dst = append(dst, `,"ChildShards":[`...)
		for i, cs := range out.ChildShards {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"ShardId":`...)
			dst = appendJSONString(dst, cs.ShardID)
			dst = append(dst, `,"ParentShards":[`...)
			for j, p := range cs.ParentShards {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendJSONString(dst, p)
			}
			dst = append(dst, `],"HashKeyRange":{"StartingHashKey":"`...)
			dst = append(dst, cs.HashRange.Start.String()...)
			dst = append(dst, `","EndingHashKey":"`...)
			dst = append(dst, cs.HashRange.End.String()...)
			dst = append(dst, `"}}`...)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// getRecordsJSONSize is at least the size of a GetRecords response in
// JSON, short of escapes and of its ChildShards (CBOR's is smaller).
func getRecordsJSONSize(out *kinesis.GetRecordsOutput) int {
	size := 128 + len(out.NextShardIterator)
	for i := range out.Records {
		r := &out.Records[i]
		size += 128 + len(r.SequenceNumber) + base64.StdEncoding.EncodedLen(len(r.Data)) + len(r.PartitionKey) + len(r.EncryptionType)
	}
	return size
}

// appendPutRecordsJSON appends the JSON of a PutRecords response.
func appendPutRecordsJSON(dst []byte, out *putRecordsOutput) []byte {
	size := 96
	for i := range out.Records {
		r := &out.Records[i]
		size += 64 + len(r.SequenceNumber) + len(r.ShardId) + len(r.ErrorCode) + len(r.ErrorMessage)
	}
	dst = slices.Grow(dst, size)

	dst = append(dst, `{"FailedRecordCount":`...)
	dst = strconv.AppendInt(dst, int64(out.FailedRecordCount), 10)
	dst = append(dst, `,"Records":[`...)
	for i := range out.Records {
		r := &out.Records[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		sep := false
		field := func(name, v string) {
			if v == "" {
				return
			}
			if sep {
				dst = append(dst, ',')
			}
			sep = true
			dst = append(dst, name...)
			dst = appendJSONString(dst, v)
		}
		field(`"SequenceNumber":`, r.SequenceNumber)
		field(`"ShardId":`, r.ShardId)
		field(`"ErrorCode":`, r.ErrorCode)
		field(`"ErrorMessage":`, r.ErrorMessage)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"EncryptionType":`...)
	dst = appendJSONString(dst, out.EncryptionType)
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string, escaping as encoding/json
// does except that <, > and & are left as they are: control characters,
// quote and backslash, U+2028 and U+2029, and invalid UTF-8 as \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', byte('0'+r-'\u2020'))
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
