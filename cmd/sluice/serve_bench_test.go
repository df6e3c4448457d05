package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/httpapi"
	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/kinesis"
	"github.com/sluicehq/sluice/internal/server"
)

// BenchmarkServe runs the bench command's load against Sluice with its
// durable JetStream store and, side by side in the same run, against the
// same protocol layer over a service that stores nothing, so that the
// ratio shows what storage costs with the same client on the same machine.
// Client and server share one process here; `sluice bench` against
// `sluice serve` measures them apart.
//
//	go test -run '^$' -bench Serve -benchtime 1x ./cmd/sluice
func BenchmarkServe(b *testing.B) {
	for _, store := range []string{"jetstream", "none"} {
		b.Run("store="+store, func(b *testing.B) {
			var svc kinesis.Service
			if store == "jetstream" {
				svc = openDurableService(b)
			} else {
				svc = newNullService(4)
			}
			endpoint := serveForBench(b, svc)
			client, err := (&clientFlags{endpoint: endpoint, region: "us-east-1"}).newClient(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			if store == "jetstream" {
				if err := ensureStream(b.Context(), client, "bench", 4); err != nil {
					b.Fatal(err)
				}
			}
			var put, read float64
			for b.Loop() {
				res, err := benchmark(b.Context(), client, benchConfig{
					Stream: "bench", Producers: 4, RecordSize: 100, Batch: 500, Duration: 5 * time.Second, Read: true,
				})
				if err != nil {
					b.Fatal(err)
				}
				put, read = res.Put.recordsPerSec(), res.Read.recordsPerSec()
			}
			b.ReportMetric(put, "put-records/s")
			b.ReportMetric(read, "read-records/s")
		})
	}
}

func openDurableService(b *testing.B) kinesis.Service {
	store, err := jetstream.Open(b.Context(), jetstream.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	br, err := broker.New(b.Context(), store, store, broker.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	return br
}

func serveForBench(b *testing.B, svc kinesis.Service) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: httpapi.New(svc, httpapi.Options{})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// nullService answers PutRecords and GetRecords without storing anything:
// it counts records per shard and hands back that many canned records.
// The methods the bench does not call are left to the embedded nil
// interface.
type nullService struct {
	kinesis.Service
	shards []kinesis.Shard
	counts []atomic.Int64
	data   []byte
}

func newNullService(n int) *nullService {
	s := &nullService{counts: make([]atomic.Int64, n), data: make([]byte, 100)}
	for i, r := range kinesis.SplitHashSpace(n) {
		s.shards = append(s.shards, kinesis.Shard{ID: kinesis.ShardID(i), HashRange: r, Epoch: uint64(i + 1)})
	}
	return s
}

func (s *nullService) ListShards(context.Context, kinesis.ListShardsInput) (kinesis.ListShardsOutput, error) {
	return kinesis.ListShardsOutput{Shards: s.shards}, nil
}

func (s *nullService) PutRecords(_ context.Context, _ kinesis.StreamRef, entries []kinesis.PutRecordEntry) ([]kinesis.PutRecordResult, error) {
	out := make([]kinesis.PutRecordResult, len(entries))
	for i, e := range entries {
		key := kinesis.HashPartitionKey(e.PartitionKey)
		if e.ExplicitHashKey != "" {
			key, _ = kinesis.ParseHashKey(e.ExplicitHashKey)
		}
		for j, sh := range s.shards {
			if sh.HashRange.Contains(key) {
				n := s.counts[j].Add(1)
				out[i] = kinesis.PutRecordResult{ShardID: sh.ID, SequenceNumber: kinesis.SequenceNumber{Epoch: sh.Epoch, MsgSeq: uint64(n)}.String()}
			}
		}
	}
	return out, nil
}

func (s *nullService) GetShardIterator(_ context.Context, in kinesis.GetShardIteratorInput) (string, error) {
	return strings.TrimPrefix(in.ShardID, "shardId-") + ":0", nil
}

func (s *nullService) GetRecords(_ context.Context, iterator string, limit int) (kinesis.GetRecordsOutput, error) {
	shard, offset, ok := strings.Cut(iterator, ":")
	i, err1 := strconv.Atoi(shard)
	from, err2 := strconv.Atoi(offset)
	if !ok || err1 != nil || err2 != nil || i >= len(s.shards) {
		return kinesis.GetRecordsOutput{}, errors.New("bad iterator")
	}
	n := min(int(s.counts[i].Load())-from, limit)
	out := kinesis.GetRecordsOutput{Records: make([]kinesis.Record, n)}
	now := time.Now()
	for j := range out.Records {
		out.Records[j] = kinesis.Record{
			SequenceNumber:              kinesis.SequenceNumber{Epoch: uint64(i + 1), MsgSeq: uint64(from + j + 1)}.String(),
			ApproximateArrivalTimestamp: now, Data: s.data, PartitionKey: "pk",
		}
	}
	out.NextShardIterator = fmt.Sprintf("%d:%d", i, from+n)
	return out, nil
}

// BenchmarkServeAuth measures what verifying signatures costs writes:
// the whole server (durable JetStream store, HTTP, the Kinesis API) with
// authentication off and on, loaded by the bench command's producers
// through one SDK client configuration. Both servers get requests signed
// with the same key; only one verifies them and authorizes every call
// against the key's policies. The two run in alternating 2-second rounds
// (off-on, then on-off) so that a busy machine's drift falls on both
// alike; the ratio of their totals is the cost. Small records (500 of 100
// bytes per PutRecords) and large ones (100 of 10 KiB, about 1.3 MiB per
// request, where hashing the body weighs most).
//
//	go test -run '^$' -bench ServeAuth -benchtime 1x ./cmd/sluice
func BenchmarkServeAuth(b *testing.B) {
	b.Setenv("AWS_ACCESS_KEY_ID", "AKIDBENCH")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "bench-secret")
	creds, err := auth.ParseConfig([]byte(`{"principals":[{"arn":"arn:aws:iam::000000000000:user/bench",
		"accessKeys":[{"accessKeyId":"AKIDBENCH","secretAccessKey":"bench-secret"}],
		"policies":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:*","Resource":"arn:aws:kinesis:*:*:stream/bench"},
			{"Effect":"Allow","Action":"kinesis:ListStreams","Resource":"*"}]}]}]}`))
	if err != nil {
		b.Fatal(err)
	}
	const rounds = 6
	for _, size := range []struct {
		name          string
		record, batch int
	}{{"records=100B", 100, 500}, {"records=10KiB", 10 << 10, 100}} {
		b.Run(size.name, func(b *testing.B) {
			var clients [2]*awskinesis.Client // off, on
			for i, cfg := range []*auth.Config{nil, creds} {
				parts, err := server.Open(b.Context(), server.Config{
					Store: jetstream.Config{DataDir: b.TempDir()},
					Auth:  auth.New(auth.Options{Region: "us-east-1", Account: "000000000000", Credentials: cfg}),
				})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { parts.Close() })
				endpoint := serveHandlerForBench(b, parts.Handler())
				if clients[i], err = (&clientFlags{endpoint: endpoint, region: "us-east-1"}).newClient(b.Context()); err != nil {
					b.Fatal(err)
				}
				if err := ensureStream(b.Context(), clients[i], "bench", 4); err != nil {
					b.Fatal(err)
				}
			}
			var records [2]int64
			var elapsed [2]time.Duration
			for b.Loop() {
				for r := range rounds {
					for _, i := range [][2]int{{0, 1}, {1, 0}}[r%2] {
						res, err := benchmark(b.Context(), clients[i], benchConfig{
							Stream: "bench", Producers: 4, RecordSize: size.record, Batch: size.batch, Duration: 2 * time.Second,
						})
						if err != nil {
							b.Fatal(err)
						}
						records[i] += res.Put.Records
						elapsed[i] += res.Put.Elapsed
					}
				}
			}
			off := float64(records[0]) / elapsed[0].Seconds()
			on := float64(records[1]) / elapsed[1].Seconds()
			b.ReportMetric(off, "off-records/s")
			b.ReportMetric(on, "on-records/s")
			b.ReportMetric(off*float64(size.record)/(1<<20), "off-MiB/s")
			b.ReportMetric(on*float64(size.record)/(1<<20), "on-MiB/s")
			b.ReportMetric(100*(off-on)/off, "cost-%")
		})
	}
}

// serveHandlerForBench serves h on 127.0.0.1 (HTTP/1.1 and h2c) until the
// benchmark ends.
func serveHandlerForBench(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// BenchmarkHandlerAuth is the CPU cost of authentication on the API
// layer alone, where it weighs most: signed PutRecords requests served by
// the Kinesis handler over a service that stores nothing, with the gate
// open (a signature must be present; resource policies still looked up)
// or verifying (the body hashed, the signature checked, identity and
// resource policies evaluated). Run with -count to see the spread.
//
//	go test -run '^$' -bench HandlerAuth -count 5 ./cmd/sluice
func BenchmarkHandlerAuth(b *testing.B) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	creds, err := auth.ParseConfig([]byte(`{"principals":[{"arn":"arn:aws:iam::000000000000:user/bench",
		"accessKeys":[{"accessKeyId":"AKIDBENCH","secretAccessKey":"bench-secret"}],
		"policies":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:Put*","Resource":"arn:aws:kinesis:*:*:stream/bench"}]}]}]}`))
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []struct {
		name          string
		record, batch int
	}{{"records=100B", 100, 500}, {"records=10KiB", 10 << 10, 100}} {
		body := putRecordsBody(size.record, size.batch)
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/auth=%v", size.name, on), func(b *testing.B) {
				var cfg *auth.Config
				if on {
					cfg = creds
				}
				gate := auth.New(auth.Options{Region: "us-east-1", Account: "000000000000", Credentials: cfg, Now: func() time.Time { return now }})
				svc := newNullService(4)
				h := httpapi.New(gate.Kinesis(svc, noPolicies{}), httpapi.Options{Auth: gate})
				req := signedPutRecords(b, body, now)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					r := req.Clone(b.Context())
					r.Body = io.NopCloser(bytes.NewReader(body))
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, r)
					if rec.Code != 200 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
				// CPU time, unlike wall time, hardly grows when other
				// processes crowd the machine.
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// putRecordsBody is a PutRecords request of n records of size bytes.
func putRecordsBody(size, n int) []byte {
	data := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, size))
	var buf bytes.Buffer
	buf.WriteString(`{"StreamName":"bench","Records":[`)
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"PartitionKey":"k%d","Data":"%s"}`, i, data)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// signedPutRecords signs a PutRecords request as aws-sdk-go-v2 does.
func signedPutRecords(b *testing.B, body []byte, at time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4567/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: "AKIDBENCH", SecretAccessKey: "bench-secret"}
	if err := v4.NewSigner().SignHTTP(b.Context(), creds, r, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", at); err != nil {
		b.Fatal(err)
	}
	return r
}

// noPolicies is a Kinesis service's lookups with no resource policy.
type noPolicies struct{}

func (noPolicies) ResourcePolicy(context.Context, string) (string, error)  { return "", nil }
func (noPolicies) TokenStream(string) (string, bool)                       { return "", false }
func (noPolicies) ConsumerARN(context.Context, kinesis.ConsumerRef) string { return "" }
