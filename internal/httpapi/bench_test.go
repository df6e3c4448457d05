package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// The benchmarks size requests as the targets do: PutRecords of 500
// records of 100 bytes, GetRecords answers of 10,000 records of 100 bytes.
// Run them with:
//
//	go test -run '^$' -bench . -benchmem ./internal/httpapi/
const (
	benchPutRecords = 500
	benchGetRecords = 10000
	benchDataSize   = 100
)

func benchPutRecordsBody(n int) []byte {
	data := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, benchDataSize))
	var b bytes.Buffer
	b.WriteString(`{"StreamName":"bench","Records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Data":"%s","PartitionKey":"partition-key-%06d"}`, data, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func benchGetRecordsOutput(n int) *kinesis.GetRecordsOutput {
	out := &kinesis.GetRecordsOutput{NextShardIterator: "AAAAAAAAAAEnextiterator", MillisBehindLatest: 0}
	t := time.UnixMilli(1459799926480)
	data := bytes.Repeat([]byte{'x'}, benchDataSize)
	for i := range n {
		out.Records = append(out.Records, kinesis.Record{
			SequenceNumber:              kinesis.SequenceNumber{Epoch: 7, MsgSeq: uint64(i/100 + 1), Index: uint16(i % 100)}.String(),
			ApproximateArrivalTimestamp: t.Add(time.Duration(i) * time.Millisecond),
			Data:                        data,
			PartitionKey:                "partition-key-" + strconv.Itoa(i),
		})
	}
	return out
}

// loop runs f b.N times and reports records per second.
func loop(b *testing.B, records int, f func()) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(float64(records*n)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkDecodePutRecords(b *testing.B) {
	body := benchPutRecordsBody(benchPutRecords)
	b.Run("handwritten", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		loop(b, benchPutRecords, func() {
			var in putRecordsInput
			if err := decodePutRecordsJSON(body, &in); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		loop(b, benchPutRecords, func() {
			var w putRecordsWire
			if err := json.Unmarshal(body, &w); err != nil {
				b.Fatal(err)
			}
			_ = w.input()
		})
	})
}

func BenchmarkEncodeGetRecords(b *testing.B) {
	out := benchGetRecordsOutput(benchGetRecords)
	size := len(appendGetRecordsJSON(nil, out))
	b.Run("handwritten", func(b *testing.B) {
		b.SetBytes(int64(size))
		buf := make([]byte, 0, size)
		loop(b, benchGetRecords, func() {
			buf = appendGetRecordsJSON(buf[:0], out)
		})
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(size))
		loop(b, benchGetRecords, func() {
			if _, err := json.Marshal(toWireGetRecords(out)); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkHandler measures a whole request through ServeHTTP, less the
// network and the service, which answers from memory.
func BenchmarkHandler(b *testing.B) {
	svc := &cannedService{records: benchGetRecordsOutput(benchGetRecords)}
	h := New(svc, Options{})
	w := &discardWriter{hdr: http.Header{}}

	body := benchPutRecordsBody(benchPutRecords)
	b.Run("PutRecords", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		loop(b, benchPutRecords, func() {
			r := newRequest("PutRecords", "")
			r.Body = &bodyReader{Reader: *bytes.NewReader(body)}
			r.ContentLength = int64(len(body))
			clear(w.hdr)
			h.ServeHTTP(w, r)
			if w.status != 200 {
				b.Fatalf("status %d", w.status)
			}
		})
	})
	get := []byte(`{"ShardIterator":"AAAAAAAAAAEiterator","Limit":10000}`)
	b.Run("GetRecords", func(b *testing.B) {
		loop(b, benchGetRecords, func() {
			r := newRequest("GetRecords", "")
			r.Body = &bodyReader{Reader: *bytes.NewReader(get)}
			r.ContentLength = int64(len(get))
			clear(w.hdr)
			h.ServeHTTP(w, r)
			if w.status != 200 {
				b.Fatalf("status %d", w.status)
			}
		})
	})
}

type bodyReader struct{ bytes.Reader }

func (*bodyReader) Close() error { return nil }

// discardWriter is an http.ResponseWriter that keeps only the status.
type discardWriter struct {
	hdr    http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.hdr }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// cannedService answers PutRecords and GetRecords from memory.
type cannedService struct {
	kinesis.Service
	records *kinesis.GetRecordsOutput
}

func (s *cannedService) PutRecords(ctx context.Context, ref kinesis.StreamRef, entries []kinesis.PutRecordEntry) ([]kinesis.PutRecordResult, error) {
	res := make([]kinesis.PutRecordResult, len(entries))
	for i := range res {
		res[i] = kinesis.PutRecordResult{ShardID: "shardId-000000000000", SequenceNumber: "49592592288669974188510550010873737925033238827737546754"}
	}
	return res, nil
}

func (s *cannedService) GetRecords(ctx context.Context, iterator string, limit int) (kinesis.GetRecordsOutput, error) {
	return *s.records, nil
}
