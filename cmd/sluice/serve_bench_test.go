package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/httpapi"
	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// BenchmarkServe runs the bench command's load against Sluice with its
// durable JetStream store and, side by side in the same run, against the
// same protocol layer over a service that stores nothing, so that the
// ratio shows what storage costs with the same client on the same machine;
// at 4 shards and at 1,000 (records spread over all of them), so that it
// also shows what the shard count costs.
// Client and server share one process here; `sluice bench` against
// `sluice serve` measures them apart.
//
//	go test -run '^$' -bench Serve -benchtime 1x ./cmd/sluice
func BenchmarkServe(b *testing.B) {
	for _, shards := range []int{4, 1000} {
		for _, store := range []string{"jetstream", "none"} {
			b.Run(fmt.Sprintf("shards=%d/store=%s", shards, store), func(b *testing.B) {
				var svc kinesis.Service
				if store == "jetstream" {
					svc = openDurableService(b)
				} else {
					svc = newNullService(shards)
				}
				endpoint := serveForBench(b, svc)
				client, err := (&clientFlags{endpoint: endpoint, region: "us-east-1"}).newClient(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				if store == "jetstream" {
					if err := ensureStream(b.Context(), client, "bench", shards); err != nil {
						b.Fatal(err)
					}
				}
				var res benchResult
				for b.Loop() {
					res, err = benchmark(b.Context(), client, benchConfig{
						Stream: "bench", Producers: 4, RecordSize: 100, Batch: 500, Duration: 5 * time.Second, Read: true,
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(res.Put.recordsPerSec(), "put-records/s")
				b.ReportMetric(float64(res.Put.Latency.P99.Microseconds())/1000, "put-p99-ms")
				b.ReportMetric(res.Read.recordsPerSec(), "read-records/s")
			})
		}
	}
}

func openDurableService(b *testing.B) kinesis.Service {
	store, err := jetstream.Open(b.Context(), jetstream.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	br, err := broker.New(b.Context(), store, store, broker.Config{ShardLimit: 10000})
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
		// The shards' ranges are in order: the last starting at or below key.
		j := sort.Search(len(s.shards), func(j int) bool { return s.shards[j].HashRange.Start.Cmp(key) > 0 }) - 1
		n := s.counts[j].Add(1)
		sh := s.shards[j]
		out[i] = kinesis.PutRecordResult{ShardID: sh.ID, SequenceNumber: kinesis.SequenceNumber{Epoch: sh.Epoch, MsgSeq: uint64(n)}.String()}
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
