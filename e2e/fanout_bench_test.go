package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/internal/jetstream/natstest"
)

// BenchmarkFanOutLatency measures the time from a PutRecord's
// acknowledgement (the SDK call returning) to the record's arrival at a
// SubscribeToShard subscriber, one record at a time on an idle shard:
// p50 and p99 in milliseconds (0 when the record arrived first). AWS
// states about 70 ms for enhanced fan-out.
//
//	go test -run XXX -bench FanOutLatency -benchtime 500x ./e2e/
//
// "embedded": one server. "cluster": two servers over a 3-node JetStream
// cluster, the record written through one and pushed by the other.
func BenchmarkFanOutLatency(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		s := startServer(b)
		benchFanOutLatency(b, fanOutClient(s, true), fanOutClient(s, true))
	})
	b.Run("cluster", func(b *testing.B) {
		if testing.Short() {
			b.Skip("starts a JetStream cluster")
		}
		urls := strings.Join(natstest.StartCluster(b, 3), ",")
		sa := startServer(b, "--nats-url", urls, "--replicas", "3")
		sb := startServer(b, "--nats-url", urls, "--replicas", "3")
		benchFanOutLatency(b, fanOutClient(sa, true), fanOutClient(sb, true))
	})
}

func benchFanOutLatency(b *testing.B, writer, reader *kinesis.Client) {
	name := "latency"
	createStream(b, writer, name, 1)
	waitActive(b, reader, name)
	arn := registerConsumer(b, writer, name, "bench")
	es := mustSubscribe(b, reader, arn, shardIDs(1)[0], latest())
	arrived := make(chan time.Time, 1)
	go func() {
		for e := range es.Events() {
			if ev, ok := e.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok {
				for range ev.Value.Records {
					arrived <- time.Now()
				}
			}
		}
	}()
	data := []byte("0123456789abcdef0123456789abcdef")
	fromAck := make([]time.Duration, 0, b.N)
	fromSend := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent := time.Now()
		if _, err := writer.PutRecord(b.Context(), &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: data}); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		select {
		case at := <-arrived:
			fromAck = append(fromAck, max(0, at.Sub(acked)))
			fromSend = append(fromSend, at.Sub(sent))
		case <-time.After(30 * time.Second):
			b.Fatalf("record %d did not arrive", i)
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	slices.Sort(fromAck)
	slices.Sort(fromSend)
	pct := func(l []time.Duration, p float64) time.Duration { return l[min(len(l)-1, int(float64(len(l))*p))] }
	b.ReportMetric(ms(pct(fromAck, 0.50)), "ack-p50-ms")
	b.ReportMetric(ms(pct(fromAck, 0.99)), "ack-p99-ms")
	b.ReportMetric(ms(pct(fromSend, 0.50)), "send-p50-ms")
	b.ReportMetric(ms(pct(fromSend, 0.99)), "send-p99-ms")
	early := 0
	for _, d := range fromAck {
		if d == 0 {
			early++
		}
	}
	b.ReportMetric(float64(early)*100/float64(len(fromAck)), "%before-ack")
}

// BenchmarkFanOutStalledMemory writes 48 MiB in 10 KiB records to a
// 1-shard stream read by one live subscriber and by n subscribers that
// never read, and reports the server's peak resident memory and Go heap
// in use (sampled from /metrics every 100 ms): stalled feeds hold one
// batch each, not the stream.
//
//	go test -run XXX -bench FanOutStalledMemory -benchtime 1x ./e2e/
func BenchmarkFanOutStalledMemory(b *testing.B) {
	for _, stalled := range []int{0, 10} {
		b.Run(fmt.Sprintf("stalled=%d", stalled), func(b *testing.B) {
			for range b.N {
				benchStalledMemory(b, stalled)
			}
		})
	}
}

func benchStalledMemory(b *testing.B, stalled int) {
	b.StopTimer()
	s := startServer(b)
	c := fanOutClient(s, true)
	name := fmt.Sprint("stalled-", stalled, "-", time.Now().UnixNano())
	createStream(b, c, name, 1)
	shard := shardIDs(1)[0]
	for i := range stalled {
		mustSubscribe(b, c, registerConsumer(b, c, name, fmt.Sprint("stalled-", i)), shard, latest())
	}
	live := mustSubscribe(b, c, registerConsumer(b, c, name, "live"), shard, latest())
	var peakRSS, peakHeap float64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			rss, heap := serverMemory(b, s)
			peakRSS, peakHeap = max(peakRSS, rss), max(peakHeap, heap)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	b.StartTimer()
	data := make([]byte, 10<<10)
	const batches, perBatch = 96, 50
	go func() {
		for range batches {
			es := make([]types.PutRecordsRequestEntry, perBatch)
			for i := range es {
				es[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: data}
			}
			if _, err := c.PutRecords(b.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: es}); err != nil {
				b.Errorf("PutRecords: %v", err)
				return
			}
		}
	}()
	readRecords(b, live, batches*perBatch)
	b.StopTimer()
	close(stop)
	<-sampled
	b.ReportMetric(peakRSS/(1<<20), "peak-rss-MiB")
	b.ReportMetric(peakHeap/(1<<20), "peak-heap-MiB")
}

// serverMemory reads the server's resident memory and Go heap in use from
// its /metrics.
func serverMemory(b *testing.B, s *server) (rss, heap float64) {
	resp, err := http.Get(s.Endpoint + "/metrics")
	if err != nil {
		b.Errorf("metrics: %v", err)
		return 0, 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		var v float64
		if _, err := fmt.Sscanf(line, "process_resident_memory_bytes %g", &v); err == nil {
			rss = v
		}
		if _, err := fmt.Sscanf(line, "go_memstats_heap_inuse_bytes %g", &v); err == nil {
			heap = v
		}
	}
	return rss, heap
}
