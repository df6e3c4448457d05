package httpapi

import (
	"net/http"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// admittingService is the fake service with a call limiter that refuses
// the operations in refuse and records what it was asked.
type admittingService struct {
	*fakeService
	refuse map[string]bool

	mu     sync.Mutex
	asked  []string            // operations, in order
	stream []kinesis.StreamRef // the stream of each per-stream call
	last   kinesis.CallTarget  // the target of the last call
	done   map[string]int      // successful calls reported, by operation
}

func (a *admittingService) AdmitCall(op string, target func() kinesis.CallTarget) (func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, op)
	if op != "PutRecords" { // as the broker, which never asks for a data-plane stream
		a.last = target()
		a.stream = append(a.stream, a.last.Stream)
	}
	if a.refuse[op] {
		return nil, kinesis.Errorf(kinesis.ErrLimitExceeded, "Rate exceeded for account 000000000000.")
	}
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.done[op]++
	}, nil
}

func TestHandler_AdmitCall(t *testing.T) {
	f := newFakeService()
	a := &admittingService{fakeService: f, refuse: map[string]bool{"DescribeLimits": true}, done: map[string]int{}}
	h := New(a, Options{})
	if rec := serve(h, newRequest("CreateStream", `{"StreamName":"s","ShardCount":1}`)); rec.Code != http.StatusOK {
		t.Fatalf("CreateStream: %d %s", rec.Code, rec.Body)
	}

	// Refused: LimitExceededException, and the operation never runs.
	rec := serve(h, newRequest("DescribeLimits", `{}`))
	if e := readError(t, rec); e.Status != 400 || e.Code != "LimitExceededException" {
		t.Fatalf("refused call answered %+v", e)
	}
	if f.lastCall("DescribeLimits") != nil {
		t.Error("a refused call reached the service")
	}

	// The stream is taken from StreamName, StreamARN or a ConsumerARN, in
	// JSON and in CBOR.
	serve(h, newRequest("DescribeStreamSummary", `{"StreamName":"s"}`))
	serve(h, newCBORRequest("ListShards", mustCBOR(t, map[string]any{"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s"})))
	serve(h, newRequest("DescribeStreamConsumer", `{"ConsumerARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1"}`))
	serve(h, newRequest("DescribeStream", `not json`))
	a.mu.Lock()
	defer a.mu.Unlock()
	want := []kinesis.StreamRef{
		{Name: "s"},
		{}, // DescribeLimits
		{Name: "s"},
		{ARN: "arn:aws:kinesis:us-east-1:000000000000:stream/s"},
		{ARN: "arn:aws:kinesis:us-east-1:000000000000:stream/s"},
		{}, // a body that does not decode names no stream
	}
	if len(a.stream) != len(want) {
		t.Fatalf("asked for %d streams (%v), want %d", len(a.stream), a.asked, len(want))
	}
	for i, w := range want {
		if a.stream[i] != w {
			t.Errorf("%s: stream %+v, want %+v", a.asked[i], a.stream[i], w)
		}
	}
	// A subscription is limited per consumer and shard.
	consumer := "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1"
	a.mu.Unlock()
	serve(h, newRequest("SubscribeToShard", `{"ConsumerARN":"`+consumer+`","ShardId":"shardId-000000000001","StartingPosition":{"Type":"LATEST"}}`))
	a.mu.Lock()
	if want := (kinesis.CallTarget{Stream: kinesis.StreamRef{ARN: "arn:aws:kinesis:us-east-1:000000000000:stream/s"}, ConsumerARN: consumer, ShardID: "shardId-000000000001"}); a.last != want {
		t.Errorf("SubscribeToShard target %+v, want %+v", a.last, want)
	}
	// done is reported for successful calls only.
	if a.done["CreateStream"] != 1 || a.done["DescribeStreamSummary"] != 1 || a.done["DescribeLimits"] != 0 || a.done["DescribeStream"] != 0 {
		t.Errorf("successes reported: %v", a.done)
	}
}
