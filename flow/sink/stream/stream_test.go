package stream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/deaggregate"
	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/stream"
	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// stored is a record read back from the stream.
type stored struct {
	partitionKey string
	stream.Record
	raw string
}

// readAll reads every shard of the stream from the start, deaggregating.
func readAll(ctx context.Context, t *testing.T, c *kinesis.Client, name string) []stored {
	t.Helper()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	var all []stored
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(name), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := deaggregate.Records(out.Records)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				var rec stream.Record
				if err := json.Unmarshal(r.Data, &rec); err != nil {
					t.Fatalf("record %s: %v", r.Data, err)
				}
				all = append(all, stored{partitionKey: r.PartitionKey, Record: rec, raw: string(r.Data)})
			}
			iter = out.NextShardIterator
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
		}
	}
	return all
}

var w0 = flow.Window{Start: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), End: time.Date(2025, 6, 1, 12, 1, 0, 0, time.UTC)}

func TestSink_Write(t *testing.T) {
	srv := sluicetest.Start(t)
	ctx := testContext(t)
	tests := []struct {
		name  string
		table flow.Table
		rows  []flow.Row
		// want is each row's keys and values as JSON, in row order.
		want []string
	}{
		{
			name: "string key",
			table: flow.Table{Pipeline: "clicks", Name: "views", Keys: []flow.Column{{Name: "page", Type: flow.String}},
				Values: []flow.Column{{Name: "views", Type: flow.Int}, {Name: "p99_ms", Type: flow.Float}}},
			rows: []flow.Row{
				{Window: w0, Keys: []any{"/home"}, Values: []any{int64(42), 12.5}, Final: true},
				{Window: w0, Keys: []any{"/cart"}, Values: []any{int64(1), nil}, Final: true},
				{Window: w0, Keys: []any{"/nan"}, Values: []any{int64(0), math.NaN()}},
			},
			want: []string{
				`{"page":"/home"} {"p99_ms":12.5,"views":42}`,
				`{"page":"/cart"} {"p99_ms":null,"views":1}`,
				`{"page":"/nan"} {"p99_ms":null,"views":0}`,
			},
		},
		{
			name:  "no keys",
			table: flow.Table{Pipeline: "clicks", Name: "total", Values: []flow.Column{{Name: "n", Type: flow.Int}}},
			rows:  []flow.Row{{Window: w0, Values: []any{int64(7)}, Final: true}},
			want:  []string{`{} {"n":7}`},
		},
		{
			name: "typed keys",
			table: flow.Table{Pipeline: "orders", Name: "by_customer",
				Keys:   []flow.Column{{Name: "customer", Type: flow.Int}, {Name: "vip", Type: flow.Bool}, {Name: "day", Type: flow.Timestamp}},
				Values: []flow.Column{{Name: "last_order", Type: flow.Timestamp}}},
			rows: []flow.Row{{Window: w0, Keys: []any{int64(9), true, w0.Start}, Values: []any{w0.End.In(time.FixedZone("x", 3600))}, Final: true}},
			want: []string{`{"customer":9,"day":"2025-06-01T12:00:00Z","vip":true} {"last_order":"2025-06-01T12:01:00Z"}`},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("out-%d", i)
			srv.CreateStream(ctx, name, 2)
			s, err := stream.New(srv.Kinesis(), name, stream.WithProducerOptions(producer.WithLinger(0)))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Open(ctx, tt.table); err != nil {
				t.Fatal(err)
			}
			if err := s.Write(ctx, tt.table, tt.rows); err != nil {
				t.Fatal(err)
			}
			got := readAll(ctx, t, srv.Kinesis(), name)
			if len(got) != len(tt.rows) {
				t.Fatalf("%d records, want %d", len(got), len(tt.rows))
			}
			byID := map[string]stored{}
			for _, r := range got {
				byID[r.ID] = r
			}
			for j, row := range tt.rows {
				id := stream.RecordID(tt.table.Pipeline, tt.table.Name, row.Window, row.Keys)
				r, ok := byID[id]
				if !ok {
					t.Fatalf("row %d: no record with id %s", j, id)
				}
				keys, _ := json.Marshal(r.Keys)
				vals, _ := json.Marshal(r.Values)
				if g := string(keys) + " " + string(vals); g != tt.want[j] {
					t.Errorf("row %d: %s, want %s", j, g, tt.want[j])
				}
				if r.Pipeline != tt.table.Pipeline || r.Table != tt.table.Name || !r.Window.Start.Equal(w0.Start) || !r.Window.End.Equal(w0.End) || r.Final != row.Final {
					t.Errorf("row %d: record %s", j, r.raw)
				}
				if want := stream.PartitionKey(tt.table, row.Keys); r.partitionKey != want {
					t.Errorf("row %d: partition key %q, want %q", j, r.partitionKey, want)
				}
			}
		})
	}
}

// A batch written again (a replay after a crash) lands again with the same
// ids and bytes, so downstream can tell the copies apart from new results;
// an updated row keeps its id and comes after the first version.
func TestSink_ReplayAndUpdate(t *testing.T) {
	srv := sluicetest.Start(t)
	ctx := testContext(t)
	srv.CreateStream(ctx, "out", 3)
	s, err := stream.New(srv.Kinesis(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	table := flow.Table{Pipeline: "p", Name: "n_by_key", Keys: []flow.Column{{Name: "k", Type: flow.String}}, Values: []flow.Column{{Name: "n", Type: flow.Int}}}
	var rows []flow.Row
	for i := range 200 {
		rows = append(rows, flow.Row{Window: w0, Keys: []any{fmt.Sprint("key-", i)}, Values: []any{int64(i)}})
	}
	for range 2 {
		if err := s.Write(ctx, table, rows); err != nil {
			t.Fatal(err)
		}
	}
	rows[0].Values[0], rows[0].Final = int64(1000), true
	if err := s.Write(ctx, table, rows[:1]); err != nil {
		t.Fatal(err)
	}

	got := readAll(ctx, t, srv.Kinesis(), "out")
	byID := map[string][]stored{}
	for _, r := range got {
		byID[r.ID] = append(byID[r.ID], r)
	}
	if len(byID) != 200 {
		t.Fatalf("%d distinct ids, want 200", len(byID))
	}
	for i, row := range rows {
		copies := byID[stream.RecordID("p", "n_by_key", w0, row.Keys)]
		want := 2
		if i == 0 {
			want = 3
		}
		if len(copies) != want {
			t.Fatalf("row %d: %d copies, want %d", i, len(copies), want)
		}
		if copies[0].raw != copies[1].raw {
			t.Errorf("row %d: replayed copy differs: %s vs %s", i, copies[0].raw, copies[1].raw)
		}
		if i == 0 && (copies[2].Values["n"] != 1000.0 || !copies[2].Final) {
			t.Errorf("the update is not the last copy of its id: %s", copies[2].raw)
		}
	}
}

func TestSink_Errors(t *testing.T) {
	srv := sluicetest.Start(t)
	ctx := testContext(t)
	srv.CreateStream(ctx, "out", 1)
	table := flow.Table{Pipeline: "p", Name: "t", Keys: []flow.Column{{Name: "k", Type: flow.String}}, Values: []flow.Column{{Name: "n", Type: flow.Int}}}

	s, err := stream.New(srv.Kinesis(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Write(ctx, table, []flow.Row{{Window: w0, Keys: []any{"a"}, Values: []any{int64(1), int64(2)}}})
	if err == nil || !strings.Contains(err.Error(), "1 keys and 2 values, table t has 1 and 1") {
		t.Errorf("a row of the wrong shape: %v", err)
	}
	if err := s.Open(ctx, flow.Table{Name: "t"}); err == nil {
		t.Error("a table without a pipeline opened")
	}

	// A stream that does not exist: the write fails, it is not lost quietly.
	gone, err := stream.New(srv.Kinesis(), "missing", stream.WithProducerOptions(producer.WithRecordTTL(2*time.Second), producer.WithRetryBackoff(10*time.Millisecond, 100*time.Millisecond)))
	if err != nil {
		t.Logf("new: %v", err)
		return
	}
	defer gone.Close()
	if err := gone.Write(ctx, table, []flow.Row{{Window: w0, Keys: []any{"a"}, Values: []any{int64(1)}}}); err == nil {
		t.Error("a write to a missing stream succeeded")
	}
}

func TestRecordID(t *testing.T) {
	w1 := flow.Window{Start: w0.End, End: w0.End.Add(time.Minute)}
	base := stream.RecordID("p", "t", w0, []any{"a", int64(1)})
	if len(base) != 32 {
		t.Errorf("id %q: want 32 hex digits", base)
	}
	if again := stream.RecordID("p", "t", flow.Window{Start: w0.Start.In(time.FixedZone("x", 7200)), End: w0.End}, []any{"a", int64(1)}); again != base {
		t.Error("the id depends on the window's time zone")
	}
	differ := []string{
		stream.RecordID("p2", "t", w0, []any{"a", int64(1)}),
		stream.RecordID("p", "t2", w0, []any{"a", int64(1)}),
		stream.RecordID("p", "t", w1, []any{"a", int64(1)}),
		stream.RecordID("p", "t", w0, []any{"a", int64(2)}),
		stream.RecordID("p", "t", w0, []any{"a", 1.0}),
		stream.RecordID("p", "t", w0, []any{"a", "1"}),
		stream.RecordID("pt", "", w0, []any{"a", int64(1)}),
	}
	for i, id := range differ {
		if id == base {
			t.Errorf("case %d: same id as a different row", i)
		}
	}
}

func TestPartitionKey(t *testing.T) {
	table := flow.Table{Name: "t"}
	tests := []struct {
		keys []any
		want string
	}{
		{nil, "t"},
		{[]any{"a", int64(1), 2.5, true}, "a|1|2.5|true"},
		{[]any{w0.Start}, "2025-06-01T12:00:00Z"},
		{[]any{""}, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{[]any{strings.Repeat("é", 257)}, ""},
	}
	for _, tt := range tests {
		got := stream.PartitionKey(table, tt.keys)
		if tt.want == "" {
			if len(got) != 64 {
				t.Errorf("long key: %q, want a 64-digit hash", got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("PartitionKey(%v) = %q, want %q", tt.keys, got, tt.want)
		}
	}
}
