package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/fxamacker/cbor/v2"
)

// fanOutClient returns a client whose HTTP client has no overall timeout:
// a feed lasts minutes. With h2c it speaks HTTP/2 with prior knowledge, as
// the Java and JavaScript SDKs do; otherwise HTTP/1.1 (a chunked body).
func fanOutClient(s *server, h2c bool) *kinesis.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return newClient(s.Endpoint, &http.Client{Transport: tr})
}

func streamARNOf(name string) string {
	return "arn:aws:kinesis:" + testRegion + ":000000000000:stream/" + name
}

// registerConsumer registers a consumer and returns its ARN.
func registerConsumer(t testing.TB, c *kinesis.Client, stream, name string) string {
	t.Helper()
	out, err := c.RegisterStreamConsumer(t.Context(), &kinesis.RegisterStreamConsumerInput{
		StreamARN: aws.String(streamARNOf(stream)), ConsumerName: aws.String(name)})
	if err != nil {
		t.Fatalf("RegisterStreamConsumer %s: %v", name, err)
	}
	return aws.ToString(out.Consumer.ConsumerARN)
}

// subscribeShard subscribes through a client of its own: the SDK's clients
// share one event-stream decoder among their streams without locking, a
// data race with two feeds open (aws/smithy-go#714).
func subscribeShard(ctx context.Context, c *kinesis.Client, consumerARN, shard string, start types.StartingPosition) (*kinesis.SubscribeToShardEventStream, error) {
	out, err := kinesis.New(c.Options()).SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
		ConsumerARN: aws.String(consumerARN), ShardId: aws.String(shard), StartingPosition: &start})
	if err != nil {
		return nil, err
	}
	return out.GetStream(), nil
}

func mustSubscribe(t testing.TB, c *kinesis.Client, consumerARN, shard string, start types.StartingPosition) *kinesis.SubscribeToShardEventStream {
	t.Helper()
	es, err := subscribeShard(t.Context(), c, consumerARN, shard, start)
	if err != nil {
		t.Fatalf("SubscribeToShard %s from %s: %v", shard, start.Type, err)
	}
	t.Cleanup(func() { es.Close() })
	return es
}

// nextEvent returns the feed's next event, or nil once it has ended (its
// error, if any, is es.Err()). It fails the test if none comes in time.
func nextEvent(t testing.TB, es *kinesis.SubscribeToShardEventStream) *types.SubscribeToShardEvent {
	t.Helper()
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	select {
	case e, ok := <-es.Events():
		if !ok {
			return nil
		}
		ev, ok := e.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !ok {
			t.Fatalf("unexpected event %T", e)
		}
		return &ev.Value
	case <-timer.C:
		t.Fatal("no event in 60s")
		return nil
	}
}

// readRecords reads until it has n records and returns their data.
func readRecords(t testing.TB, es *kinesis.SubscribeToShardEventStream, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		ev := nextEvent(t, es)
		if ev == nil {
			t.Fatalf("feed ended after %d of %d records: %v", len(got), n, es.Err())
		}
		for _, r := range ev.Records {
			got = append(got, string(r.Data))
		}
	}
	return got
}

func latest() types.StartingPosition {
	return types.StartingPosition{Type: types.ShardIteratorTypeLatest}
}

func trimHorizon() types.StartingPosition {
	return types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}
}

func after(seq string) types.StartingPosition {
	return types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(seq)}
}

// TestFanOut_StartingPositions subscribes from every kind of starting
// position, over HTTP/1.1 and h2c, and checks which records come.
func TestFanOut_StartingPositions(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	for _, h2c := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "h2c"}[h2c], func(t *testing.T) {
			c := fanOutClient(s, h2c)
			name := "positions-" + map[bool]string{false: "h1", true: "h2c"}[h2c]
			createStream(t, c, name, 1)
			arn := registerConsumer(t, c, name, "app")
			shard := shardIDs(1)[0]
			var seqs []string
			for _, d := range []string{"a", "b", "c"} {
				seqs = append(seqs, aws.ToString(putRecord(t, c, name, "k", []byte(d)).SequenceNumber))
			}
			mid := waitNextMillisecond() // after a, b and c arrived; d and e arrive at it or later
			for _, d := range []string{"d", "e"} {
				putRecord(t, c, name, "k", []byte(d))
			}
			for _, tc := range []struct {
				start types.StartingPosition
				want  string
			}{
				{trimHorizon(), "a b c d e"},
				{types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(seqs[1])}, "b c d e"},
				{after(seqs[1]), "c d e"},
				{types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: &mid}, "d e"},
			} {
				// The previous feed's slot frees once the server sees its
				// connection close.
				es := subscribeWhenFree(t, c, arn, shard, tc.start)
				want := strings.Fields(tc.want)
				if got := readRecords(t, es, len(want)); !slices.Equal(got, want) {
					t.Errorf("%s: got %v, want %v", tc.start.Type, got, want)
				}
				es.Close()
			}
			// LATEST: only what comes after, pushed as it is written.
			es := subscribeWhenFree(t, c, arn, shard, latest())
			putRecord(t, c, name, "k", []byte("f"))
			if got := readRecords(t, es, 1); !slices.Equal(got, []string{"f"}) {
				t.Errorf("LATEST: got %v, want [f]", got)
			}
		})
	}
}

// subscribeWhenFree subscribes, retrying while the consumer's previous
// subscription to the shard is still open (ResourceInUseException).
func subscribeWhenFree(t testing.TB, c *kinesis.Client, consumerARN, shard string, start types.StartingPosition) *kinesis.SubscribeToShardEventStream {
	t.Helper()
	var es *kinesis.SubscribeToShardEventStream
	waitFor(t, "the consumer's previous subscription to end", func() error {
		var err error
		es, err = subscribeShard(t.Context(), c, consumerARN, shard, start)
		var riu *types.ResourceInUseException
		if err != nil && !errors.As(err, &riu) {
			t.Fatalf("SubscribeToShard %s from %s: %v", shard, start.Type, err)
		}
		return err
	})
	t.Cleanup(func() { es.Close() })
	return es
}

// waitFor retries f until it succeeds, failing the test after a minute.
func waitFor(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFanOut_ResubscribeAcrossLifetime shortens the feed's lifetime to a
// second and reads a stream written meanwhile by resubscribing from each
// ContinuationSequenceNumber: nothing lost, nothing repeated.
func TestFanOut_ResubscribeAcrossLifetime(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--subscription-lifetime", "1s")
	c := fanOutClient(s, true)
	createStream(t, c, "resub", 1)
	arn := registerConsumer(t, c, "resub", "app")
	const total = 150
	go func() {
		for i := range total {
			if _, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("resub"), PartitionKey: aws.String("k"), Data: []byte(fmt.Sprint(i))}); err != nil {
				t.Errorf("PutRecord %d: %v", i, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	start := trimHorizon()
	var got []string
	subs := 0
	for len(got) < total && subs < 1000 {
		es := subscribeWhenFree(t, c, arn, shardIDs(1)[0], start)
		subs++
		for ev := nextEvent(t, es); ev != nil; ev = nextEvent(t, es) {
			for _, r := range ev.Records {
				got = append(got, string(r.Data))
			}
			start = after(aws.ToString(ev.ContinuationSequenceNumber))
		}
		if err := es.Err(); err != nil {
			t.Fatalf("feed %d ended with %v", subs, err)
		}
		es.Close()
	}
	for i, g := range got {
		if g != fmt.Sprint(i) {
			t.Fatalf("record %d is %q; read %v", i, g, got)
		}
	}
	if len(got) != total {
		t.Fatalf("read %d records, want %d", len(got), total)
	}
	if subs < 2 {
		t.Errorf("read everything in %d subscription; want feeds to end after a second", subs)
	}
	t.Logf("read %d records in %d subscriptions", total, subs)
}

// TestFanOut_ReadsThroughSplit reads a shard that is split under it: the
// parent's feed ends with its ChildShards, and feeds of the children
// (from TRIM_HORIZON) carry the rest. Every acknowledged record arrives
// exactly once.
func TestFanOut_ReadsThroughSplit(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := fanOutClient(s, true)
	createStream(t, c, "split", 1)
	arn := registerConsumer(t, c, "split", "app")
	parent := shardIDs(1)[0]
	es := mustSubscribe(t, c, arn, parent, trimHorizon())

	want := map[string]bool{}
	var mu sync.Mutex
	write := func(prefix string, n int) {
		for _, r := range putRecords(t, c, "split", entries(prefix, n)) {
			_ = r
		}
		mu.Lock()
		for i := range n {
			want[fmt.Sprintf("%s-%d", prefix, i)] = true
		}
		mu.Unlock()
	}
	write("before", 50)
	if got := readRecords(t, es, 50); got[0] != "before-0" {
		t.Fatalf("first record %s", got[0])
	}
	mid := "170141183460469231731687303715884105728"
	if _, err := c.SplitShard(t.Context(), &kinesis.SplitShardInput{StreamName: aws.String("split"), ShardToSplit: aws.String(parent), NewStartingHashKey: aws.String(mid)}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "split")
	write("after", 50)

	seen := map[string]int{}
	for i := range 50 {
		seen[fmt.Sprintf("before-%d", i)]++
	}
	var children []string
	for ev := nextEvent(t, es); ev != nil; ev = nextEvent(t, es) {
		for _, r := range ev.Records {
			seen[string(r.Data)]++
		}
		for _, cs := range ev.ChildShards {
			children = append(children, aws.ToString(cs.ShardId))
		}
		if len(ev.ChildShards) > 0 && ev.ContinuationSequenceNumber != nil {
			t.Errorf("the last event carries ContinuationSequenceNumber %s", aws.ToString(ev.ContinuationSequenceNumber))
		}
	}
	if err := es.Err(); err != nil {
		t.Fatalf("parent feed: %v", err)
	}
	if !slices.Equal(children, []string{"shardId-000000000001", "shardId-000000000002"}) {
		t.Fatalf("ChildShards %v", children)
	}
	for _, child := range children {
		ces := mustSubscribe(t, c, arn, child, trimHorizon())
		for {
			ev := nextEvent(t, ces)
			if ev == nil {
				t.Fatalf("child feed ended: %v", ces.Err())
			}
			for _, r := range ev.Records {
				seen[string(r.Data)]++
			}
			if len(ev.Records) == 0 { // caught up: an idle event
				break
			}
		}
	}
	for k := range want {
		if seen[k] != 1 {
			t.Errorf("record %s arrived %d times", k, seen[k])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("read %d distinct records, wrote %d", len(seen), len(want))
	}
}

// TestFanOut_TwentyConsumers: twenty consumers on one shard each get every
// record once, in order.
func TestFanOut_TwentyConsumers(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := fanOutClient(s, true)
	createStream(t, c, "twenty", 1)
	const consumers, batches, perBatch = 20, 10, 50
	feeds := make([]*kinesis.SubscribeToShardEventStream, consumers)
	for i := range feeds {
		arn := registerConsumer(t, c, "twenty", fmt.Sprint("app-", i))
		feeds[i] = mustSubscribe(t, c, arn, shardIDs(1)[0], latest())
	}
	var want []string
	for b := range batches {
		es := entries(fmt.Sprint("b", b), perBatch)
		for i := range es {
			es[i].PartitionKey = aws.String("one-key")
		}
		putRecords(t, c, "twenty", es)
		for i := range perBatch {
			want = append(want, fmt.Sprintf("b%d-%d", b, i))
		}
	}
	var wg sync.WaitGroup
	for i, es := range feeds {
		wg.Go(func() {
			var got []string
			for len(got) < len(want) {
				ev := nextEventNoFatal(es)
				if ev == nil {
					t.Errorf("consumer %d: feed ended after %d records: %v", i, len(got), es.Err())
					return
				}
				for _, r := range ev.Records {
					got = append(got, string(r.Data))
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("consumer %d got %d records, not the %d written in order", i, len(got), len(want))
			}
		})
	}
	wg.Wait()
}

// nextEventNoFatal is nextEvent for other goroutines: nil on end or after
// a minute without events.
func nextEventNoFatal(es *kinesis.SubscribeToShardEventStream) *types.SubscribeToShardEvent {
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	select {
	case e, ok := <-es.Events():
		if !ok {
			return nil
		}
		if ev, ok := e.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok {
			return &ev.Value
		}
		return nil
	case <-timer.C:
		return nil
	}
}

// TestFanOut_StalledSubscriber: a consumer that stops reading its feed
// delays no other consumer of the shard, and once it disconnects its
// subscription is gone: the same consumer can subscribe again.
func TestFanOut_StalledSubscriber(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := fanOutClient(s, true)
	createStream(t, c, "stall", 1)
	shard := shardIDs(1)[0]
	stalledARN := registerConsumer(t, c, "stall", "stalled")
	liveARN := registerConsumer(t, c, "stall", "live")
	stalledCtx, stopStalled := context.WithCancel(t.Context())
	stalled, err := subscribeShard(stalledCtx, c, stalledARN, shard, latest())
	if err != nil {
		t.Fatal(err)
	}
	live := mustSubscribe(t, c, liveARN, shard, latest())

	// 24 MiB in 10 KiB records: far more than HTTP/2 and TCP buffer for
	// the stalled feed, which is never read.
	data := bytes.Repeat([]byte("x"), 10<<10)
	const batches, perBatch = 48, 50
	go func() {
		for b := range batches {
			es := make([]types.PutRecordsRequestEntry, perBatch)
			for i := range es {
				es[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: append([]byte(fmt.Sprintf("%d-%d|", b, i)), data...)}
			}
			if _, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("stall"), Records: es}); err != nil {
				t.Errorf("PutRecords: %v", err)
				return
			}
		}
	}()
	n := 0
	for n < batches*perBatch {
		ev := nextEvent(t, live)
		if ev == nil {
			t.Fatalf("live feed ended after %d records: %v", n, live.Err())
		}
		for _, r := range ev.Records {
			if want := fmt.Sprintf("%d-%d|", n/perBatch, n%perBatch); !bytes.HasPrefix(r.Data, []byte(want)) {
				t.Fatalf("record %d starts %q, want %q", n, r.Data[:10], want)
			}
			n++
		}
	}

	// Disconnect the stalled consumer: its slot frees, so it can subscribe
	// again, and its new feed starts where asked.
	stopStalled()
	stalled.Close()
	waitFor(t, "the stalled consumer's slot to free", func() error {
		es, err := subscribeShard(t.Context(), c, stalledARN, shard, trimHorizon())
		if err != nil {
			return err
		}
		defer es.Close()
		if got := readRecords(t, es, 1); !strings.HasPrefix(got[0], "0-0|") {
			t.Errorf("resubscribed feed starts with %.10q", got[0])
		}
		return nil
	})
}

// TestFanOut_Errors: errors before the feed starts are ordinary AWS errors.
func TestFanOut_Errors(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--consumer-create-delay", "1h")
	c := fanOutClient(s, false)
	createStream(t, c, "errs", 1)
	shard := shardIDs(1)[0]

	creating := registerConsumer(t, c, "errs", "creating")
	_, err := subscribeShard(t.Context(), c, creating, shard, latest())
	var riu *types.ResourceInUseException
	if !errors.As(err, &riu) || !strings.Contains(aws.ToString(riu.Message), "is not in ACTIVE status") {
		t.Errorf("subscribing a CREATING consumer: %v, want ResourceInUseException", err)
	}
	_, err = subscribeShard(t.Context(), c, creating+"0", shard, latest())
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("subscribing an unknown consumer: %v, want ResourceNotFoundException", err)
	}
	// The SDK checks required members itself; a raw request shows the
	// server's answer.
	resp := rawSubscribe(t, s, "application/x-amz-json-1.1", []byte(`{"ConsumerARN":"`+creating+`","ShardId":"`+shard+`"}`))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != "ValidationException" || !strings.Contains(string(body), "startingPosition") {
		t.Errorf("no StartingPosition: %d %s %s, want ValidationException", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
	}
}

// rawSubscribe sends a SubscribeToShard request over HTTP/1.1 as it is.
func rawSubscribe(t testing.TB, s *server, contentType string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxFor(t, 60*time.Second), http.MethodPost, s.Endpoint, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.SubscribeToShard")
	req.Header.Set("X-Amz-Date", "20260405T060708Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260405/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestFanOut_OneSubscriptionPerConsumerAndShard: a second subscription of
// the same consumer to the same shard is refused while the first is open;
// an idle feed sends empty events.
func TestFanOut_OneSubscriptionPerConsumerAndShard(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--log-level", "debug")
	c := fanOutClient(s, false)
	createStream(t, c, "one", 2)
	arn := registerConsumer(t, c, "one", "app")
	es := mustSubscribe(t, c, arn, shardIDs(2)[0], latest())
	_, err := subscribeShard(t.Context(), c, arn, shardIDs(2)[0], latest())
	var riu *types.ResourceInUseException
	if !errors.As(err, &riu) || !strings.Contains(aws.ToString(riu.Message), "Another active subscription exists for this consumer") {
		t.Fatalf("second subscription: %v, want ResourceInUseException", err)
	}
	// Another shard, or another consumer, is fine.
	mustSubscribe(t, c, arn, shardIDs(2)[1], latest())
	mustSubscribe(t, c, registerConsumer(t, c, "one", "other"), shardIDs(2)[0], latest())

	ev := nextEvent(t, es)
	if ev == nil || len(ev.Records) != 0 || ev.ContinuationSequenceNumber == nil || ev.MillisBehindLatest == nil {
		t.Fatalf("idle event %+v, want no records, a continuation and MillisBehindLatest", ev)
	}
}

// TestFanOut_CBOR subscribes over raw HTTP with a CBOR body, as the Java
// SDK does, and reads the event stream: CBOR payloads, timestamps as tag 1
// and epoch milliseconds.
func TestFanOut_CBOR(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := fanOutClient(s, false)
	createStream(t, c, "cbor-efo", 1)
	arn := registerConsumer(t, c, "cbor-efo", "java")
	before := time.Now().Add(-time.Second)
	putRecord(t, c, "cbor-efo", "k", []byte{0, 1, 2})

	body, err := cbor.Marshal(map[string]any{
		"ConsumerARN":      arn,
		"ShardId":          shardIDs(1)[0],
		"StartingPosition": map[string]any{"Type": "AT_TIMESTAMP", "Timestamp": cbor.Tag{Number: 1, Content: before.UnixMilli()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp := rawSubscribe(t, s, "application/x-amz-cbor-1.1", body)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.amazon.eventstream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	dec := eventstream.NewDecoder()
	msg, err := dec.Decode(resp.Body, nil)
	if err != nil || msg.Headers.Get(":event-type").String() != "initial-response" {
		t.Fatalf("first message %v, %v; want initial-response", msg.Headers, err)
	}
	msg, err = dec.Decode(resp.Body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if et, ct := msg.Headers.Get(":event-type").String(), msg.Headers.Get(":content-type").String(); et != "SubscribeToShardEvent" || ct != "application/x-amz-cbor-1.1" {
		t.Fatalf("event type %s, content type %s", et, ct)
	}
	var ev struct {
		Records []struct {
			Data                        []byte
			ApproximateArrivalTimestamp cbor.RawTag
		}
		ContinuationSequenceNumber string
	}
	if err := cbor.Unmarshal(msg.Payload, &ev); err != nil {
		t.Fatalf("payload %x: %v", msg.Payload, err)
	}
	if len(ev.Records) != 1 || !bytes.Equal(ev.Records[0].Data, []byte{0, 1, 2}) || ev.ContinuationSequenceNumber == "" {
		t.Fatalf("event %+v", ev)
	}
	var ms int64
	ts := ev.Records[0].ApproximateArrivalTimestamp
	if ts.Number != 1 || cbor.Unmarshal(ts.Content, &ms) != nil || ms < before.UnixMilli() || ms > time.Now().UnixMilli() {
		t.Errorf("arrival timestamp: tag %d content %x, want tag 1 and epoch milliseconds", ts.Number, ts.Content)
	}
}

// TestFanOut_Cluster: with two servers over one JetStream cluster, a feed
// served by one gets records written through the other without waiting for
// an idle event (the records count must arrive between two of those).
func TestFanOut_Cluster(t *testing.T) {
	a, b := startClusterPair(t)
	ca, cb := fanOutClient(a, true), fanOutClient(b, true)
	createStream(t, ca, "efo-cluster", 1)
	waitActive(t, cb, "efo-cluster")
	arn := registerConsumer(t, cb, "efo-cluster", "app")
	es := mustSubscribe(t, ca, arn, shardIDs(1)[0], latest())
	for i := range 20 {
		c := cb
		if i%2 == 1 {
			c = ca
		}
		putRecord(t, c, "efo-cluster", "k", []byte(fmt.Sprint(i)))
		if got := readRecords(t, es, 1); got[0] != fmt.Sprint(i) {
			t.Fatalf("record %d: got %q", i, got[0])
		}
	}
}

// TestFanOut_TailCommand runs `sluice tail --fan-out` over a stream whose
// shard was split: it registers its consumer, reads the parent by
// SubscribeToShard and then the children, printing every record once and
// the parent's before its children's.
func TestFanOut_TailCommand(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	createStream(t, c, "tailed", 1)
	putRecords(t, c, "tailed", entries("parent", 20))
	mid := "170141183460469231731687303715884105728"
	if _, err := c.SplitShard(t.Context(), &kinesis.SplitShardInput{StreamName: aws.String("tailed"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(mid)}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "tailed")
	putRecords(t, c, "tailed", entries("child", 20))

	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin, "tail", "tailed", "--fan-out", "--from", "trim-horizon", "--max-records", "40", "--endpoint", s.Endpoint)
	cmd.Env = cliEnv(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sluice tail --fan-out: %v\nstderr:\n%s", err, stderr.String())
	}
	seen := map[string]int{}
	lastParent, firstChild := -1, -1
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("line %q", line)
		}
		seen[f[3]]++
		if f[0] == "shardId-000000000000" {
			lastParent = i
		} else if firstChild < 0 {
			firstChild = i
		}
	}
	if len(seen) != 40 {
		t.Errorf("printed %d distinct records, want 40:\n%s", len(seen), out)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s printed %d times", k, n)
		}
	}
	if firstChild < lastParent {
		t.Errorf("a child's record (line %d) printed before the parent's last (line %d)", firstChild, lastParent)
	}
	// tail deregisters the consumer it registered (--keep-consumer keeps it).
	_, err = c.DescribeStreamConsumer(t.Context(), &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(streamARNOf("tailed")), ConsumerName: aws.String("sluice-tail")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("tail's consumer after tail ended: %v, want ResourceNotFoundException", err)
	}
}
