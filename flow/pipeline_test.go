package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/consumer/leasetest"
	"github.com/sluicehq/sluice/deaggregate"
	"github.com/sluicehq/sluice/sluicetest"
)

// memSink keeps the latest row of each (window, keys) in memory.
type memSink struct {
	mu     sync.Mutex
	opened []Table
	rows   map[string]Row
	writes int
}

func newMemSink() *memSink { return &memSink{rows: map[string]Row{}} }

func (s *memSink) Open(_ context.Context, t Table) error {
	s.mu.Lock()
	s.opened = append(s.opened, t)
	s.mu.Unlock()
	return nil
}

func (s *memSink) Write(_ context.Context, t Table, rows []Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		s.rows[rowID(t, r)] = r
	}
	s.writes++
	return nil
}

func (s *memSink) Close() error { return nil }

func (s *memSink) String() string { return "memory" }

func rowID(t Table, r Row) string {
	return fmt.Sprintf("%s|%s|%d|%d|%v", t.Pipeline, t.Name, r.Window.Start.UnixMilli(), r.Window.End.UnixMilli(), r.Keys)
}

// total sums value column i over the rows; final counts rows marked final.
func (s *memSink) total(i int) (sum int64, rows, final int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rows {
		sum += r.Values[i].(int64)
		rows++
		if r.Final {
			final++
		}
	}
	return sum, rows, final
}

// testEnv is a server with a source stream.
type testEnv struct {
	t   *testing.T
	srv *sluicetest.Server
	kc  *kinesis.Client
	ddb *dynamodb.Client
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	srv := sluicetest.Start(t)
	return &testEnv{t: t, srv: srv, kc: srv.Kinesis(), ddb: leasetest.DynamoDBClient(srv.Endpoint())}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("FLOW_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// pipeline describes a pipeline with short timings for tests.
func (e *testEnv) pipeline(name, worker string, opts ...Option) *Pipeline {
	e.t.Helper()
	opts = append([]Option{
		WithWorkerID(worker), WithLogger(testLogger().With("worker", worker)),
		WithFailoverTime(2 * time.Second), WithLeaseScanInterval(200 * time.Millisecond),
		WithRetrieval(consumer.Polling{IdleTime: 50 * time.Millisecond}),
		WithRepartitionRetrieval(consumer.Polling{IdleTime: 50 * time.Millisecond}),
		WithHeartbeat(200 * time.Millisecond), WithCheckpointInterval(200 * time.Millisecond),
	}, opts...)
	p, err := New(name, e.kc, e.ddb, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// run runs p until the test ends or stop is called.
func (e *testEnv) run(p *Pipeline) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run: %v", err)
				}
			case <-time.After(time.Minute):
				e.t.Errorf("Run did not return within a minute of its context's end")
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// putJSON writes values as JSON records with the given partition keys.
func (e *testEnv) putJSON(stream string, keys []string, vals []any) {
	e.t.Helper()
	ctx := ctxFor(e.t, time.Minute)
	for start := 0; start < len(vals); start += 500 {
		var entries []types.PutRecordsRequestEntry
		for i := start; i < min(start+500, len(vals)); i++ {
			b, _ := json.Marshal(vals[i])
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(keys[i]), Data: b})
		}
		for len(entries) > 0 {
			out, err := e.kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
			if err != nil {
				e.t.Fatalf("PutRecords: %v", err)
			}
			var failed []types.PutRecordsRequestEntry
			for i, r := range out.Records {
				if r.ErrorCode != nil {
					failed = append(failed, entries[i])
				}
			}
			entries = failed
		}
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type click struct {
	Page  string `json:"page"`
	Bytes int64  `json:"bytes"`
}

// TestPipeline_CountsByKey counts clicks per page over 1s tumbling windows
// of arrival time, read from 3 shards by two workers: every record is
// counted once, in final rows, and the workers register.
func TestPipeline_CountsByKey(t *testing.T) {
	e := newTestEnv(t)
	e.srv.CreateStream(ctxFor(t, time.Minute), "clicks", 3)
	sink := newMemSink()
	describe := func(worker string) *Pipeline {
		p := e.pipeline("views", worker)
		clicks := JSON[click](Source(p, "clicks"))
		byPage := KeyBy(clicks, func(c click) string { return c.Page }, "page")
		AggregateWindows(byPage, "page_views", Tumbling(time.Second),
			testCount{"views"}, testSum{"bytes", func(r any) (any, error) { return r.(click).Bytes, nil }}).To(sink)
		return p
	}
	p1, p2 := describe("w1"), describe("w2")
	e.run(p1)
	e.run(p2)
	const n = 3000
	var keys []string
	var vals []any
	wantBytes := int64(0)
	for i := range n {
		c := click{Page: fmt.Sprintf("/p%d", i%7), Bytes: int64(i % 100)}
		keys, vals = append(keys, fmt.Sprintf("user-%d", i%50)), append(vals, c)
		wantBytes += c.Bytes
	}
	e.putJSON("clicks", keys[:n/2], vals[:n/2])
	time.Sleep(300 * time.Millisecond)
	e.putJSON("clicks", keys[n/2:], vals[n/2:])
	waitFor(t, "every click counted in final rows", time.Minute, func() bool {
		sum, rows, final := sink.total(0)
		return sum == n && rows == final
	})
	if sum, _, _ := sink.total(1); sum != wantBytes {
		t.Errorf("bytes summed %d, want %d", sum, wantBytes)
	}
	if len(sink.opened) != 2 || !slices.EqualFunc(sink.opened[0].Keys, []Column{{"page", String}}, func(a, b Column) bool { return a == b }) {
		t.Errorf("opened %+v", sink.opened)
	}
	// Both workers are registered, with what they read and write.
	out, err := e.ddb.Query(ctxFor(t, time.Minute), &dynamodb.QueryInput{
		TableName: aws.String(DefaultRegistryTable), KeyConditionExpression: aws.String("pipeline = :p"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": &ddbtypes.AttributeValueMemberS{Value: "views"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 2 {
		t.Fatalf("registry has %d workers, want 2", len(out.Items))
	}
	item := out.Items[0]
	if s := item["sources"].(*ddbtypes.AttributeValueMemberL).Value; len(s) != 1 || s[0].(*ddbtypes.AttributeValueMemberS).Value != "clicks" {
		t.Errorf("sources %v", s)
	}
	if s := item["sinks"].(*ddbtypes.AttributeValueMemberL).Value; len(s) != 1 || s[0].(*ddbtypes.AttributeValueMemberS).Value != "memory#page_views" {
		t.Errorf("sinks %v", s)
	}
	var outputs []string
	for _, v := range item["outputs"].(*ddbtypes.AttributeValueMemberL).Value {
		outputs = append(outputs, v.(*ddbtypes.AttributeValueMemberS).Value)
	}
	if !slices.Equal(outputs, []string{"views-late", "views-repartition"}) {
		t.Errorf("outputs %v", outputs)
	}
	st := p1.Stats()
	st2 := p2.Stats()
	if st.Records+st2.Records < n || (st.LastWindowEnd.IsZero() && st2.LastWindowEnd.IsZero()) {
		t.Errorf("stats %+v and %+v: want %d records read between them and a last window", st, st2, n)
	}
}

// TestPipeline_FilterMapToStream is a one-stage pipeline: filter and map
// into another stream, with the record ids the encoder gets.
func TestPipeline_FilterMapToStream(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxFor(t, time.Minute)
	e.srv.CreateStream(ctx, "in", 2)
	e.srv.CreateStream(ctx, "out", 1)
	p := e.pipeline("upper", "w1")
	in := JSON[click](Source(p, "in"))
	big := Filter(in, func(c click) bool { return c.Bytes >= 50 })
	upper := Map(big, func(c click) click { c.Page = strings.ToUpper(c.Page); return c })
	ToStream(upper, "out", func(c click, id string) (string, []byte, error) {
		b, err := json.Marshal(map[string]any{"id": id, "page": c.Page})
		return c.Page, b, err
	})
	e.run(p)
	var keys []string
	var vals []any
	for i := range 100 {
		keys, vals = append(keys, fmt.Sprint(i)), append(vals, click{Page: fmt.Sprintf("/p%d", i), Bytes: int64(i)})
	}
	e.putJSON("in", keys, vals)
	got := map[string]string{}
	waitFor(t, "50 records in the output stream", time.Minute, func() bool {
		for _, r := range readAll(t, e.kc, "out") {
			var v map[string]string
			json.Unmarshal(r.Data, &v)
			got[v["id"]] = v["page"]
		}
		return len(got) >= 50
	})
	if len(got) != 50 {
		t.Fatalf("%d distinct records out, want 50", len(got))
	}
	for id, page := range got {
		if !strings.HasPrefix(page, "/P") || !strings.HasPrefix(id, "in/shardId-") {
			t.Errorf("output %s %s", id, page)
		}
	}
}

// readAll reads every record of every shard of a stream from the start.
func readAll(t *testing.T, kc *kinesis.Client, stream string) []types.Record {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	shards, err := listShards(ctx, kc, stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []types.Record
	for _, s := range shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			r, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			users, err := deaggregateAll(r.Records)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, users...)
			if len(r.Records) == 0 || aws.ToInt64(r.MillisBehindLatest) == 0 {
				break
			}
			iter = r.NextShardIterator
		}
	}
	return out
}

// deaggregateAll splits KPL aggregates into user records.
func deaggregateAll(recs []types.Record) ([]types.Record, error) {
	users, err := deaggregate.Records(recs)
	if err != nil {
		return nil, err
	}
	out := make([]types.Record, len(users))
	for i, u := range users {
		out[i] = types.Record{Data: u.Data, PartitionKey: aws.String(u.PartitionKey), SequenceNumber: aws.String(u.SequenceNumber)}
	}
	return out, nil
}
