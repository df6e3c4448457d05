package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/kinesis"
)

var putRecordsSeeds = []string{
	`{"StreamName":"s","Records":[{"Data":"AAEC","PartitionKey":"k"},{"Data":"","PartitionKey":"","ExplicitHashKey":"12"}]}`,
	`{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s","DryRun":false,"Records":[null,{}]}`,
	`{"records":[{"data":"AA==","partitionkey":"\u00fc\ud83d\ude00\ud800x\"\\\/\b\f\n\r\t"}],"STREAMNAME":null}`,
	`{"Records":[{"Data":"QU\/C","PartitionKey":"\u212aey","PartitionKey":null}],"Unknown":{"a":[1,-2.5e+3,true,false,null,"x"]}}`,
	`{"Records":[{"Data":"AA\r\n==","ExplicitHashKey":"340282366920938463463374607431768211455"}],"DryRun":true}`,
	`{"Records":null}`, `{"Records":[]}`, `{"Records":[1]}`, `{"Records":{}}`, `{"Records":[{"Data":5}]}`,
	`{"Records":[{"Data":"!!"}]}`, `{"StreamName":1}`, `{"DryRun":"yes"}`, `{"a":01}`, `{"a":1.}`, `{"a":"\x"}`,
	"{\"a\":\"\x01\"}", "{\"Records\":[{\"PartitionKey\":\"\xff\xfe\"}]}", `{} x`, `{"Records":[],}`, `{"a" 1}`,
	`{"Records":[{"Data":"AAAA"}],"Records":[{"PartitionKey":"b"}]}`,
	"  \t\n{\"StreamName\":\"s\"}\r\n ",
}

// FuzzDecodePutRecords checks the hand-written PutRecords decoder against
// encoding/json decoding into putRecordsWire: both accept the same bodies
// and yield the same request.
func FuzzDecodePutRecords(f *testing.F) {
	for _, s := range putRecordsSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"Records":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`))
	f.Add([]byte(`{"Records":[` + strings.Repeat(`{"Data":"","PartitionKey":"k"},`, 1100) + `{}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast putRecordsInput
		fastErr := jsonCodec11.decodePutRecords(body, &fast)
		var w putRecordsWire
		refErr := jsonCodec11.decode(body, &w)
		if (fastErr == nil) != (refErr == nil) {
			t.Fatalf("body %q: fast decoder error %v, encoding/json error %v", body, fastErr, refErr)
		}
		if fastErr != nil {
			if kinesis.CodeOf(fastErr) != kinesis.ErrSerialization {
				t.Fatalf("body %q: error %v is not a SerializationException", body, fastErr)
			}
			return
		}
		if recordsMembers(body) > 1 {
			return // encoding/json merges repeated lists; see json_decode.go
		}
		ref := w.input()
		if !equalPtr(fast.StreamName, ref.StreamName) || !equalPtr(fast.StreamARN, ref.StreamARN) || !equalPtr(fast.DryRun, ref.DryRun) {
			t.Fatalf("body %q: members differ: fast %+v, encoding/json %+v", body, fast, ref)
		}
		if (fast.Records == nil) != (ref.Records == nil) || fast.count != ref.count {
			t.Fatalf("body %q: records differ: fast %d (nil %v), encoding/json %d (nil %v)",
				body, fast.count, fast.Records == nil, ref.count, ref.Records == nil)
		}
		if len(fast.Records) != min(ref.count, maxDecodedRecords) {
			t.Fatalf("body %q: kept %d of %d records", body, len(fast.Records), ref.count)
		}
		for i := range fast.Records {
			a, b := fast.Records[i], ref.Records[i]
			if fast.has[i] != ref.has[i] || !bytes.Equal(a.Data, b.Data) || a.PartitionKey != b.PartitionKey || a.ExplicitHashKey != b.ExplicitHashKey {
				t.Fatalf("body %q: record %d differs: fast %+v %b, encoding/json %+v %b", body, i, a, fast.has[i], b, ref.has[i])
			}
			if cap(a.Data) != len(a.Data) {
				t.Fatalf("record %d: data has spare capacity %d", i, cap(a.Data)-len(a.Data))
			}
		}
	})
}

// recordsMembers counts the top-level members of a valid JSON object that
// encoding/json would take for Records.
func recordsMembers(body []byte) int {
	s := jsonScanner{b: body}
	var scratch []byte
	n := 0
	if s.enter('{') != nil {
		return 0
	}
	for first := true; ; first = false {
		if more, err := s.more('}', first); !more || err != nil {
			return n
		}
		key, err := s.key()
		if err != nil {
			return n
		}
		if s.keyIs(key, "Records", &scratch) {
			n++
		}
		if s.skip() != nil {
			return n
		}
	}
}

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// FuzzHandler sends arbitrary bodies to every operation and checks that the
// answer is well formed: JSON (or empty, for operations without output),
// an error with __type and X-Amzn-ErrorType, and never a 500, since the
// fake service only fails on bad input with client errors.
func FuzzHandler(f *testing.F) {
	ops := slices.Sorted(func(yield func(string) bool) {
		for op := range operations {
			if !yield(op) {
				return
			}
		}
	})
	for i, op := range ops {
		f.Add(uint8(i), []byte(`{}`))
		f.Add(uint8(i), []byte(`{"StreamName":"s","Limit":1,"ShardId":"shardId-000000000000","ShardIteratorType":"LATEST",`+
			`"ShardIterator":"s/shardId-000000000000/0","RetentionPeriodHours":48,"Tags":{"a":"b"},"TagKeys":["a"],`+
			`"ResourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s","Data":"AA==","PartitionKey":"k"}`))
		_ = op
	}
	for _, s := range putRecordsSeeds {
		f.Add(uint8(slices.Index(ops, "PutRecords")), []byte(s))
	}
	f.Add(uint8(slices.Index(ops, "CreateStream")), []byte(`{"StreamName":"t","ShardCount":3,"StreamModeDetails":{"StreamMode":"PROVISIONED"}}`))
	f.Add(uint8(slices.Index(ops, "ListShards")), []byte(`{"StreamName":"s","ShardFilter":{"Type":"AT_TIMESTAMP","Timestamp":1e9}}`))
	f.Add(uint8(slices.Index(ops, "GetShardIterator")), []byte(`{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":-1e-9}`))

	f.Fuzz(func(t *testing.T, opIndex uint8, body []byte) {
		svc := newFakeService()
		_ = svc.CreateStream(context.Background(), kinesis.CreateStreamInput{Name: "s", ShardCount: 2})
		h := New(svc, Options{MaxBodyBytes: 1 << 20})
		op := ops[int(opIndex)%len(ops)]
		r := newRequest(op, "")
		r.Body = http.NoBody
		if len(body) > 0 {
			r = newRequest(op, string(body))
		}
		rec := serve(h, r)
		if rec.Code == 500 {
			t.Fatalf("%s %q: 500 %s", op, body, rec.Body)
		}
		if rec.Code != 200 {
			readError(t, rec)
			return
		}
		checkCommonHeaders(t, rec)
		if rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %q: invalid JSON answer %q", op, body, rec.Body)
		}
	})
}
