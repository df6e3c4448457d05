package consumer

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// cannedHTTP answers every request with the same response.
type cannedHTTP struct {
	status int
	body   []byte
	// unknownLength leaves Content-Length out, as a chunked response does.
	unknownLength bool
}

func (c *cannedHTTP) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	n := int64(len(c.body))
	if c.unknownLength {
		n = -1
	}
	return &http.Response{
		StatusCode: c.status, Status: http.StatusText(c.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Requestid": {"r"}}, ContentLength: n,
		Body: io.NopCloser(bytes.NewReader(c.body)), Request: req,
	}, nil
}

func cannedClient(c *cannedHTTP) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1"), HTTPClient: c,
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
	})
}

// getRecordsBoth decodes body with the SDK's decoder and with
// getRecordsProtocol.
func getRecordsBoth(t testing.TB, status int, body []byte, unknownLength bool) (sdk, fast *kinesis.GetRecordsOutput, sdkErr, fastErr error) {
	c := cannedClient(&cannedHTTP{status: status, body: body, unknownLength: unknownLength})
	in := &kinesis.GetRecordsInput{ShardIterator: aws.String("it")}
	sdk, sdkErr = c.GetRecords(context.Background(), in)
	fast, fastErr = c.GetRecords(context.Background(), in, fastGetRecords(newBodyBuffers()))
	return sdk, fast, sdkErr, fastErr
}

// checkSame fails unless both decoders gave the same result, or both an
// error (of the same type).
func checkSame(t testing.TB, status int, body []byte, unknownLength bool) {
	t.Helper()
	sdk, fast, sdkErr, fastErr := getRecordsBoth(t, status, body, unknownLength)
	if (sdkErr == nil) != (fastErr == nil) {
		t.Fatalf("body %.200q: SDK error %v, fast error %v", body, sdkErr, fastErr)
	}
	if sdkErr != nil {
		if reflect.TypeOf(sdkErr) != reflect.TypeOf(fastErr) || sdkErr.Error() != fastErr.Error() {
			t.Fatalf("body %.200q: SDK error %v (%T), fast error %v (%T)", body, sdkErr, sdkErr, fastErr, fastErr)
		}
		return
	}
	sdk.ResultMetadata, fast.ResultMetadata = fast.ResultMetadata, sdk.ResultMetadata // not compared
	sdk.ResultMetadata = fast.ResultMetadata
	if !reflect.DeepEqual(sdk, fast) {
		t.Fatalf("body %.300q:\nSDK  %s\nfast %s", body, dumpOutput(sdk), dumpOutput(fast))
	}
}

func dumpOutput(o *kinesis.GetRecordsOutput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "next=%v behind=%v children=%d records=%d(nil %v)", ptrString(o.NextShardIterator), ptrInt(o.MillisBehindLatest), len(o.ChildShards), len(o.Records), o.Records == nil)
	for i, r := range o.Records {
		if i == 3 {
			break
		}
		fmt.Fprintf(&b, "\n  seq=%v pk=%v at=%v data=%q (nil %v) enc=%q", ptrString(r.SequenceNumber), ptrString(r.PartitionKey), r.ApproximateArrivalTimestamp, r.Data, r.Data == nil, r.EncryptionType)
	}
	return b.String()
}

func ptrString(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return strconv.Quote(*p)
}

func ptrInt(p *int64) string {
	if p == nil {
		return "<nil>"
	}
	return strconv.FormatInt(*p, 10)
}

// getRecordsBody writes a GetRecords response as Sluice does.
func getRecordsBody(recs []types.Record, next string, behind int64) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"SequenceNumber":%q,"ApproximateArrivalTimestamp":%s,"Data":"%s","PartitionKey":%q,"EncryptionType":"NONE"}`,
			*r.SequenceNumber, strconv.FormatFloat(float64(r.ApproximateArrivalTimestamp.UnixMilli())/1e3, 'f', -1, 64),
			base64.StdEncoding.EncodeToString(r.Data), *r.PartitionKey)
	}
	fmt.Fprintf(&b, `],"NextShardIterator":%q,"MillisBehindLatest":%d}`, next, behind)
	return b.Bytes()
}

func randomRecords(rng *rand.Rand, n, size int) []types.Record {
	recs := make([]types.Record, n)
	at := time.UnixMilli(1_700_000_000_000 + rng.Int64N(1e9))
	for i := range recs {
		data := make([]byte, rng.IntN(2*size+1))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		at = at.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		recs[i] = types.Record{
			SequenceNumber:              aws.String(fmt.Sprintf("4963%052d", rng.Uint64())),
			PartitionKey:                aws.String(fmt.Sprintf("user-%d", rng.IntN(1000))),
			ApproximateArrivalTimestamp: aws.Time(at),
			Data:                        data,
		}
	}
	return recs
}

func TestGetRecordsDecoder_SameAsSDK(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	big := getRecordsBody(randomRecords(rng, 2000, 100), "AAAA-iterator", 0)
	cases := map[string]string{
		"sluice":                  string(getRecordsBody(randomRecords(rng, 20, 100), "it-1", 42)),
		"empty records":           `{"Records":[],"NextShardIterator":"x","MillisBehindLatest":0}`,
		"no records member":       `{"NextShardIterator":"x","MillisBehindLatest":0}`,
		"empty object":            `{}`,
		"empty body":              ``,
		"whitespace":              " {\n \"Records\" : [ { \"SequenceNumber\" : \"1\" , \"Data\" : \"AQI=\" } ] ,\t\"MillisBehindLatest\" :\r 7 } \n",
		"member order":            `{"MillisBehindLatest":3,"Records":[{"PartitionKey":"k","Data":"","SequenceNumber":"2","ApproximateArrivalTimestamp":1700000000.5}],"NextShardIterator":"n"}`,
		"unknown members":         `{"Future":{"a":[1,2,{"b":"c\"]}"}]},"Records":[{"X":null,"SequenceNumber":"1","Y":[true,false],"Data":"AA=="}],"Z":-1.5e3}`,
		"no next iterator":        `{"Records":[],"MillisBehindLatest":0}`,
		"child shards":            `{"Records":[],"MillisBehindLatest":0,"ChildShards":[{"ShardId":"shardId-000000000001","ParentShards":["shardId-000000000000"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"1"}}]}`,
		"escaped key":             `{"Records":[{"SequenceNumber":"1","PartitionKey":"a\"b\u00e9\n","Data":"AA=="}]}`,
		"unicode key":             `{"Records":[{"SequenceNumber":"1","PartitionKey":"clé-ключ-鍵","Data":"AA=="}]}`,
		"invalid utf8 key":        "{\"Records\":[{\"SequenceNumber\":\"1\",\"PartitionKey\":\"a\xffb\",\"Data\":\"AA==\"}]}",
		"kms":                     `{"Records":[{"SequenceNumber":"1","Data":"AA==","EncryptionType":"KMS"},{"SequenceNumber":"2","Data":"AA==","EncryptionType":"OTHER"}]}`,
		"integer timestamp":       `{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":1700000000,"Data":""}]}`,
		"exponent timestamp":      `{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":1.7000000001239E9,"Data":""}]}`,
		"negative timestamp":      `{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":-12.3456,"Data":""}]}`,
		"rounding timestamp":      `{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":1459799926.48,"Data":""},{"SequenceNumber":"2","ApproximateArrivalTimestamp":0.0019999999,"Data":""}]}`,
		"null member":             `{"Records":[{"SequenceNumber":null,"Data":"AA=="}]}`,
		"null record":             `{"Records":[null]}`,
		"null records":            `{"Records":null}`,
		"duplicate member":        `{"Records":[{"SequenceNumber":"1","SequenceNumber":"2","Data":"AA==","Data":"AQ=="}]}`,
		"duplicate records":       `{"Records":[{"SequenceNumber":"1"}],"Records":[]}`,
		"bad base64":              `{"Records":[{"SequenceNumber":"1","Data":"A"}]}`,
		"base64 newline":          `{"Records":[{"SequenceNumber":"1","Data":"AQ\r\nI="}]}`,
		"base64 4 newlines":       "{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"AQID\n\n\n\nBA==\"}]}",
		"base64 escaped newlines": `{"Records":[{"SequenceNumber":"1","Data":"AQID\n\n\n\nBA=="}]}`,
		"base64 unpadded":         `{"Records":[{"SequenceNumber":"1","Data":"AQI"}]}`,
		"float behind":            `{"Records":[],"MillisBehindLatest":1.5}`,
		"huge behind":             `{"Records":[],"MillisBehindLatest":99999999999999999999}`,
		"truncated":               `{"Records":[{"SequenceNumber":"1","Data":"AA=="}`,
		"trailing garbage":        `{"Records":[]} x`,
		"missing comma":           `{"Records":[] "MillisBehindLatest":0}`,
		"trailing comma":          `{"Records":[{"SequenceNumber":"1",}]}`,
		"leading zero":            `{"Records":[],"MillisBehindLatest":01}`,
		"bad unknown member":      `{"Records":[],"X":[1,,2]}`,
		"not an object":           `[]`,
		"records not a list":      `{"Records":{}}`,
		"record not a struct":     `{"Records":["x"]}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			checkSame(t, 200, []byte(body), false)
			checkSame(t, 200, []byte(body), true)
		})
	}
	t.Run("2000 records", func(t *testing.T) { checkSame(t, 200, big, false) })
	t.Run("errors", func(t *testing.T) {
		checkSame(t, 400, []byte(`{"__type":"ExpiredIteratorException","message":"Iterator expired"}`), false)
		checkSame(t, 400, []byte(`{"__type":"ProvisionedThroughputExceededException","message":"slow down"}`), false)
		checkSame(t, 500, []byte(`{"__type":"InternalFailure"}`), false)
	})
}

func TestGetRecordsDecoder_CappedSlices(t *testing.T) {
	body := getRecordsBody(randomRecords(rand.New(rand.NewPCG(3, 4)), 3, 10), "n", 0)
	_, fast, _, err := getRecordsBoth(t, 200, body, false)
	if err != nil {
		t.Fatal(err)
	}
	second := bytes.Clone(fast.Records[1].Data)
	_ = append(fast.Records[0].Data, 0xAA, 0xBB, 0xCC) // must not write into record 1
	if !bytes.Equal(fast.Records[1].Data, second) {
		t.Fatal("appending to one record's Data changed the next record's")
	}
}

// processCPU is the CPU time this process used, user and system, garbage
// collection included: a steadier measure than elapsed time on a shared
// machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func FuzzGetRecordsDecoder(f *testing.F) {
	f.Add([]byte(`{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":1700000000.123,"Data":"AQI=","PartitionKey":"k","EncryptionType":"NONE"}],"NextShardIterator":"n","MillisBehindLatest":0}`))
	f.Add([]byte(`{"Records":[],"X":{"a":["b",1e5,null,true]}}`))
	f.Add([]byte(`{"Records":[{"SequenceNumber":"1","PartitionKey":"\u00e9"}]}`))
	f.Add(getRecordsBody(randomRecords(rand.New(rand.NewPCG(5, 6)), 3, 8), "n", 5))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSame(t, 200, body, false)
	})
}

// BenchmarkGetRecordsDecode decodes a response of 10,000 records of 100
// bytes, as Sluice writes it, with the SDK's decoder and with
// getRecordsProtocol (the HTTP round trip is a canned response):
//
//	go test ./consumer -run '^$' -bench BenchmarkGetRecordsDecode
func BenchmarkGetRecordsDecode(b *testing.B) {
	recs := randomRecords(rand.New(rand.NewPCG(7, 8)), 10000, 50) // 0 to 100 bytes: 50 on average
	for i := range recs {
		recs[i].Data = bytes.Repeat([]byte{'x'}, 100)
	}
	body := getRecordsBody(recs, "iterator", 0)
	for _, tc := range []struct {
		name string
		opts []func(*kinesis.Options)
	}{{"sdk", nil}, {"fast", []func(*kinesis.Options){fastGetRecords(newBodyBuffers())}}} {
		b.Run(tc.name, func(b *testing.B) {
			c := cannedClient(&cannedHTTP{status: 200, body: body})
			in := &kinesis.GetRecordsInput{ShardIterator: aws.String("it")}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			cpu0 := processCPU()
			for b.Loop() {
				out, err := c.GetRecords(context.Background(), in, tc.opts...)
				if err != nil || len(out.Records) != len(recs) {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N*len(recs)), "cpu-ns/record")
		})
	}
}
