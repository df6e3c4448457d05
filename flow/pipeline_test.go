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
			Count("views", nil), Sum("bytes", Int, From(func(c click) int64 { return c.Bytes }))).To(sink)
		return p
	}
	p1, p2 := describe("w1"), describe("w2")
	e.run(p1)
	stop2 := e.run(p2)
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
	// A worker that stops cleanly deletes its registration.
	stop2()
	got, err := e.ddb.GetItem(ctxFor(t, time.Minute), &dynamodb.GetItemInput{TableName: aws.String(DefaultRegistryTable), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"pipeline": &ddbtypes.AttributeValueMemberS{Value: "views"}, "worker": &ddbtypes.AttributeValueMemberS{Value: "w2"}}})
	if err != nil || len(got.Item) != 0 {
		t.Errorf("after w2 stopped: registry item %v, %v; want none", got.Item, err)
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

type event struct {
	Key string `json:"key"`
	TS  int64  `json:"ts"`
}

// putOne writes one record to the shard that holds hash key ehk.
func (e *testEnv) putOne(stream, ehk string, v any) {
	e.t.Helper()
	b, _ := json.Marshal(v)
	if _, err := e.kc.PutRecord(ctxFor(e.t, time.Minute), &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(ehk), Data: b}); err != nil {
		e.t.Fatal(err)
	}
}

// memSink rows by window start and first key.
func (s *memSink) row(start int64, key any) (Row, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rows {
		if r.Window.Start.UnixMilli() == start && r.Keys[0] == key {
			return r, true
		}
	}
	return Row{}, false
}

// TestPipeline_EventTimeLateness: a record within the allowed lateness
// updates its window's row, a record after it goes to the late stream,
// and rows end final.
func TestPipeline_EventTimeLateness(t *testing.T) {
	e := newTestEnv(t)
	e.srv.CreateStream(ctxFor(t, time.Minute), "events", 1)
	sink := newMemSink()
	p := e.pipeline("lateness", "w1")
	evs := JSON[event](Source(p, "events"))
	AggregateWindows(KeyBy(evs, func(v event) string { return v.Key }), "counts", Tumbling(10*time.Second), Count("n", nil)).
		EventTime(func(v event) time.Time { return time.UnixMilli(v.TS) }, 0).
		AllowedLateness(5 * time.Second).Idleness(time.Hour).To(sink)
	e.run(p)
	for _, ts := range []int64{1_000, 12_000, 3_000, 16_000, 4_000, 40_000} {
		e.putOne("events", "0", event{Key: "a", TS: ts})
	}
	waitFor(t, "both windows final", time.Minute, func() bool {
		w0, ok0 := sink.row(0, "a")
		w1, ok1 := sink.row(10_000, "a")
		return ok0 && ok1 && w0.Final && w1.Final
	})
	w0, _ := sink.row(0, "a")
	w1, _ := sink.row(10_000, "a")
	if w0.Values[0] != int64(2) || w1.Values[0] != int64(2) {
		t.Errorf("window [0,10s) %v, [10s,20s) %v: want 2 and 2 (1s and 3s; 12s and 16s)", w0.Values, w1.Values)
	}
	var late []LateRecord
	waitFor(t, "the late record", time.Minute, func() bool {
		late = late[:0]
		for _, r := range readAll(t, e.kc, "lateness-late") {
			var lr LateRecord
			if err := json.Unmarshal(r.Data, &lr); err != nil {
				t.Fatal(err)
			}
			late = append(late, lr)
		}
		return len(late) > 0
	})
	if len(late) != 1 || late[0].EventTime.UnixMilli() != 4_000 || late[0].Watermark.UnixMilli() != 16_000 || late[0].Aggregation != "counts" || !strings.HasPrefix(late[0].ID, "events/shardId-000000000000/") {
		t.Errorf("late records %+v, want the one at 4s, behind the watermark 16s", late)
	}
	if st := p.Stats(); st.LateRecords != 1 {
		t.Errorf("stats: %d late records, want 1", st.LateRecords)
	}
}

// TestPipeline_SessionsAcrossShards: one key's records on two shards make
// one session, merged by stage 2.
func TestPipeline_SessionsAcrossShards(t *testing.T) {
	e := newTestEnv(t)
	e.srv.CreateStream(ctxFor(t, time.Minute), "events", 2)
	sink := newMemSink()
	p := e.pipeline("sessions", "w1")
	evs := JSON[event](Source(p, "events"))
	AggregateWindows(KeyBy(evs, func(v event) string { return v.Key }), "visits", Session(5*time.Second), Count("n", nil)).
		EventTime(func(v event) time.Time { return time.UnixMilli(v.TS) }, 0).
		Idleness(time.Hour).To(sink)
	e.run(p)
	shard0, shard1 := "0", hashKeyAt(3, 4)
	e.putOne("events", shard0, event{Key: "a", TS: 0})
	e.putOne("events", shard0, event{Key: "a", TS: 4_000})
	e.putOne("events", shard1, event{Key: "b", TS: 1_000})
	e.putOne("events", shard1, event{Key: "a", TS: 8_000})  // bridges to [0, 13s) with the other shard's
	e.putOne("events", shard0, event{Key: "z", TS: 60_000}) // moves both watermarks past the sessions
	e.putOne("events", shard1, event{Key: "z", TS: 60_000})
	waitFor(t, "the sessions of a and b", time.Minute, func() bool {
		_, okA := sink.row(0, "a")
		_, okB := sink.row(1_000, "b")
		return okA && okB
	})
	a, _ := sink.row(0, "a")
	b, _ := sink.row(1_000, "b")
	if a.Window.End.UnixMilli() != 13_000 || a.Values[0] != int64(3) || !a.Final {
		t.Errorf("session of a: %+v, want [0, 13s) with 3 records, final", a)
	}
	if b.Window.End.UnixMilli() != 6_000 || b.Values[0] != int64(1) {
		t.Errorf("session of b: %+v, want [1s, 6s) with 1 record", b)
	}
	if st := p.Stats(); st.LateRecords != 0 {
		t.Errorf("%d late records, want none", st.LateRecords)
	}
}

// TestPipeline_DeadLetter: a record that is not JSON goes to the
// dead-letter stream; the others are counted.
func TestPipeline_DeadLetter(t *testing.T) {
	e := newTestEnv(t)
	e.srv.CreateStream(ctxFor(t, time.Minute), "clicks", 1)
	sink := newMemSink()
	p := e.pipeline("dl", "w1", WithDeadLetterStream("dl-errors"))
	clicks := JSON[click](Source(p, "clicks"))
	AggregateWindows(Global(clicks), "total", Tumbling(time.Second), Count("n", nil)).To(sink)
	e.run(p)
	e.putJSON("clicks", []string{"a", "b"}, []any{click{Page: "/x"}, click{Page: "/y"}})
	if _, err := e.kc.PutRecord(ctxFor(t, time.Minute), &kinesis.PutRecordInput{StreamName: aws.String("clicks"), PartitionKey: aws.String("c"), Data: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 records counted in final rows", time.Minute, func() bool {
		sum, rows, final := sink.total(0)
		return sum == 2 && rows == final
	})
	var dl []consumer.DeadLetter
	waitFor(t, "the dead letter", time.Minute, func() bool {
		dl = dl[:0]
		for _, r := range readAll(t, e.kc, "dl-errors") {
			var d consumer.DeadLetter
			json.Unmarshal(r.Data, &d)
			dl = append(dl, d)
		}
		return len(dl) > 0
	})
	if len(dl) != 1 || string(dl[0].Data) != "not json" || !strings.Contains(dl[0].Error, "decode JSON") {
		t.Errorf("dead letters %+v", dl)
	}
}

// TestPipeline_Handoff: a second worker joins while records flow and
// takes shards of both stages by handoff; the totals are exact.
func TestPipeline_Handoff(t *testing.T) {
	e := newTestEnv(t)
	e.srv.CreateStream(ctxFor(t, time.Minute), "clicks", 4)
	sink := newMemSink()
	describe := func(worker string) *Pipeline {
		p := e.pipeline("handoff", worker, WithRepartitionShards(4))
		clicks := JSON[click](Source(p, "clicks"))
		AggregateWindows(KeyBy(clicks, func(c click) string { return c.Page }), "views", Tumbling(time.Second), Count("n", nil)).To(sink)
		return p
	}
	e.run(describe("a"))
	const batches, per = 20, 100
	for i := range batches {
		var keys []string
		var vals []any
		for j := range per {
			keys, vals = append(keys, fmt.Sprint(i*per+j)), append(vals, click{Page: fmt.Sprintf("/p%d", j%5)})
		}
		e.putJSON("clicks", keys, vals)
		if i == batches/3 {
			e.run(describe("b"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, "every click counted in final rows", time.Minute, func() bool {
		sum, rows, final := sink.total(0)
		return sum == batches*per && rows == final
	})
	time.Sleep(500 * time.Millisecond) // a double count would show by now
	if sum, _, _ := sink.total(0); sum != batches*per {
		t.Errorf("counted %d, want %d", sum, batches*per)
	}
}
