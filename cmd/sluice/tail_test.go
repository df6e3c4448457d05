package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/deaggregate"
)

func TestParseStartPosition(t *testing.T) {
	now := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   types.ShardIteratorType
		wantAt time.Time
	}{
		{"latest", types.ShardIteratorTypeLatest, time.Time{}},
		{"LATEST", types.ShardIteratorTypeLatest, time.Time{}},
		{"trim-horizon", types.ShardIteratorTypeTrimHorizon, time.Time{}},
		{"TRIM_HORIZON", types.ShardIteratorTypeTrimHorizon, time.Time{}},
		{"2026-07-31T10:00:00Z", types.ShardIteratorTypeAtTimestamp, time.Date(2026, 7, 31, 10, 0, 0, 0, time.UTC)},
		{"2026-07-31T10:00:00.5+02:00", types.ShardIteratorTypeAtTimestamp, time.Date(2026, 7, 31, 8, 0, 0, 5e8, time.UTC)},
		{"15m", types.ShardIteratorTypeAtTimestamp, now.Add(-15 * time.Minute)},
	}
	for _, tt := range tests {
		got, err := parseStartPosition(tt.in, now)
		if err != nil || got.typ != tt.want || !got.at.Equal(tt.wantAt) {
			t.Errorf("parseStartPosition(%q) = %v %v, %v; want %v %v", tt.in, got.typ, got.at, err, tt.want, tt.wantAt)
		}
	}
	for _, bad := range []string{"", "earliest", "2026-07-31", "-5m"} {
		if _, err := parseStartPosition(bad, now); err == nil {
			t.Errorf("parseStartPosition(%q): want an error", bad)
		}
	}
}

func TestAppendRecordText(t *testing.T) {
	rec := func(data string) *printRecord {
		return &printRecord{shardID: "shardId-000000000001", Record: deaggregate.Record{SequenceNumber: "4960", PartitionKey: "user-1", Data: []byte(data)}}
	}
	tests := []struct {
		data, want string
	}{
		{`{"a":1}`, "shardId-000000000001 4960 user-1 {\"a\":1}\n"},
		{"tab\tand ünïcode", "shardId-000000000001 4960 user-1 tab\tand ünïcode\n"},
		{"", "shardId-000000000001 4960 user-1 \n"},
		{"\xff\x00", "shardId-000000000001 4960 user-1 /wA=\n"},
		{"two\nlines", "shardId-000000000001 4960 user-1 dHdvCmxpbmVz\n"},
		{"esc\x1b[31m", "shardId-000000000001 4960 user-1 ZXNjG1szMW0=\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		appendRecordText(&buf, rec(tt.data))
		if buf.String() != tt.want {
			t.Errorf("data %q: got %q, want %q", tt.data, buf.String(), tt.want)
		}
	}
	var buf bytes.Buffer
	r := rec("x")
	r.Aggregated, r.SubSequenceNumber = true, 0
	appendRecordText(&buf, r)
	if want := "shardId-000000000001 4960/0 user-1 x\n"; buf.String() != want {
		t.Errorf("a user record of an aggregate: got %q, want %q", buf.String(), want)
	}
}

func TestAppendRecordJSON(t *testing.T) {
	at := time.Date(2026, 8, 1, 12, 0, 0, 123e6, time.UTC)
	var buf bytes.Buffer
	r := &printRecord{shardID: "shardId-000000000000", Record: deaggregate.Record{SequenceNumber: "7", PartitionKey: "k", Data: []byte("hi"), ApproximateArrivalTimestamp: at}}
	if err := appendRecordJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	r = &printRecord{shardID: "shardId-000000000000", Record: deaggregate.Record{SequenceNumber: "8", PartitionKey: "k", Data: []byte{0xff},
		Aggregated: true, SubSequenceNumber: 2, ExplicitHashKey: "42"}}
	if err := appendRecordJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	want := `{"ShardId":"shardId-000000000000","SequenceNumber":"7","PartitionKey":"k","ApproximateArrivalTimestamp":"2026-08-01T12:00:00.123Z","Data":"aGk=","Text":"hi"}` + "\n" +
		`{"ShardId":"shardId-000000000000","SequenceNumber":"8","SubSequenceNumber":2,"PartitionKey":"k","ExplicitHashKey":"42","Data":"/w=="}` + "\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	var back recordJSON
	if err := json.Unmarshal(bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0], &back); err != nil || string(back.Data) != "hi" {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestRecordFormat_Template(t *testing.T) {
	at := time.UnixMilli(1785585600123)
	r := &printRecord{shardID: "shardId-000000000003", Record: deaggregate.Record{SequenceNumber: "49", SubSequenceNumber: 4, PartitionKey: "user-1",
		ExplicitHashKey: "7", Data: []byte("hello"), ApproximateArrivalTimestamp: at}}
	tests := []struct{ spec, want string }{
		{`%s\n`, "hello\n"},
		{`%k=%s (%S bytes, key %K)\t%p@%o/%O %e %T %t 100%%`, "user-1=hello (5 bytes, key 6)\tshardId-000000000003@49/4 7 1785585600123 orders 100%"},
		{`\\%s\r`, "\\hello\r"},
	}
	for _, tt := range tests {
		f, err := parseRecordFormat(tt.spec, "orders")
		if err != nil {
			t.Fatalf("%q: %v", tt.spec, err)
		}
		var buf bytes.Buffer
		if err := f(&buf, r); err != nil || buf.String() != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.spec, buf.String(), err, tt.want)
		}
	}
	for _, bad := range []string{"xml", "%x", "ends in %"} {
		if _, err := parseRecordFormat(bad, "orders"); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestRecordPrinter_Max(t *testing.T) {
	var out bytes.Buffer
	p := &recordPrinter{w: &out, max: 3}
	recs := []types.Record{{SequenceNumber: aws.String("1")}, {SequenceNumber: aws.String("2")}}
	if err := p.printRaw("s", recs); err != nil {
		t.Fatal(err)
	}
	if err := p.printRaw("s", recs); err != errEnough {
		t.Errorf("err = %v, want errEnough", err)
	}
	if err := p.printRaw("s", recs); err != errEnough {
		t.Errorf("err = %v, want errEnough", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("printed %d records, want 3", n)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestShardReader_ResumesAfterExpiredIterator(t *testing.T) {
	f := newFakeKinesis(1)
	f.add("shardId-000000000000", "a", "b")
	id := "shardId-000000000000"
	var got []string
	r := &shardReader{api: f, stream: "s", shardID: id, stopAtTip: true, logger: discardLogger(), limit: aws.Int32(1),
		onRecords: func(out *kinesis.GetRecordsOutput, _ time.Duration) error {
			for _, rec := range out.Records {
				got = append(got, string(rec.Data))
			}
			// Expire the iterator once the first record is read.
			if len(got) == 1 {
				f.expireOnce[id] = true
			}
			return nil
		}}
	if _, err := r.read(context.Background(), startPosition{typ: types.ShardIteratorTypeTrimHorizon}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("read %q, want [a b] with nothing twice", got)
	}
	want := []string{id + " TRIM_HORIZON", id + " AFTER_SEQUENCE_NUMBER 0"}
	if !slices.Equal(f.iterators, want) {
		t.Errorf("iterators %q, want %q", f.iterators, want)
	}
}

// lockedBuffer is a bytes.Buffer safe for the tail goroutines and the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSuffix(b.buf.String(), "\n"), "\n")
}

// TestTailer_ParentsBeforeChildren reshards twice (a split, then a merge
// of the two children) and checks that tail prints every parent's records
// before any of its children's and stops at --max-records.
func TestTailer_ParentsBeforeChildren(t *testing.T) {
	f := newFakeKinesis(1)
	const p, c1, c2, m = "shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003"
	f.add(p, "p1", "p2", "p3")
	f.reshard([]string{p}, c1, c2)
	f.add(c1, "c1-1", "c1-2")
	f.add(c2, "c2-1")
	f.reshard([]string{c1, c2}, m)
	f.add(m, "m1", "m2")

	var out lockedBuffer
	tl := &tailer{api: f, stream: "s", start: startPosition{typ: types.ShardIteratorTypeTrimHorizon}, relist: time.Hour,
		out: &recordPrinter{w: &out, max: 8}, logger: discardLogger()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tl.run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("tail did not stop at --max-records")
	}
	var data []string
	for _, l := range out.lines() {
		fields := strings.Fields(l)
		data = append(data, fields[len(fields)-1])
	}
	if len(data) != 8 {
		t.Fatalf("printed %q, want 8 records", data)
	}
	pos := func(d string) int { return slices.Index(data, d) }
	for _, order := range [][2]string{{"p3", "c1-1"}, {"p3", "c2-1"}, {"c1-2", "m1"}, {"c2-1", "m1"}, {"m1", "m2"}, {"p1", "p2"}} {
		if pos(order[0]) < 0 || pos(order[1]) < 0 || pos(order[0]) > pos(order[1]) {
			t.Errorf("%s printed after %s: %q", order[0], order[1], data)
		}
	}
}

// TestTailer_FollowsNewRecordsAndShards starts at LATEST, then writes
// records and adds a shard that only a re-listing can find.
func TestTailer_FollowsNewRecordsAndShards(t *testing.T) {
	f := newFakeKinesis(2)
	f.add("shardId-000000000000", "old")
	var out lockedBuffer
	tl := &tailer{api: f, stream: "s", start: startPosition{typ: types.ShardIteratorTypeLatest}, relist: 10 * time.Millisecond,
		out: &recordPrinter{w: &out}, logger: discardLogger()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tl.run(ctx) }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; printed %q", what, out.lines())
			}
		}
	}
	// The readers must hold their LATEST iterators before new records land.
	waitFor("iterators", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.iterators) == 2 })
	f.add("shardId-000000000001", "new")
	waitFor("the new record", func() bool { return strings.Contains(strings.Join(out.lines(), "\n"), " new") })

	f.mu.Lock()
	f.shards = append(f.shards, &fakeShard{id: "shardId-000000000009", start: f.shards[0].start, end: f.shards[0].end})
	f.mu.Unlock()
	f.add("shardId-000000000009", "late")
	waitFor("the record in the late shard", func() bool { return strings.Contains(strings.Join(out.lines(), "\n"), " late") })

	cancel()
	if err := <-done; err != nil {
		t.Errorf("tail after cancel: %v, want a clean stop", err)
	}
	if s := strings.Join(out.lines(), "\n"); strings.Contains(s, "old") {
		t.Errorf("LATEST printed an old record:\n%s", s)
	}
}

func TestRunTail_UsageErrors(t *testing.T) {
	env := &cmdEnv{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	for _, args := range [][]string{{}, {"a", "b"}, {"s", "--from", "yesterday"}, {"s", "--format", "xml"}} {
		if err := runTail(context.Background(), env, args); err == nil {
			t.Errorf("%q: want a usage error", args)
		}
	}
}

type alwaysExpired struct{ *fakeKinesis }

func (alwaysExpired) GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	return nil, &types.ExpiredIteratorException{Message: aws.String("Iterator expired")}
}

func TestShardReader_GivesUpOnIteratorsThatAlwaysExpire(t *testing.T) {
	f := newFakeKinesis(1)
	r := &shardReader{api: alwaysExpired{f}, stream: "s", shardID: "shardId-000000000000", logger: discardLogger(),
		onRecords: func(*kinesis.GetRecordsOutput, time.Duration) error { return nil }}
	_, err := r.read(context.Background(), startPosition{typ: types.ShardIteratorTypeLatest})
	var expired *types.ExpiredIteratorException
	if !errors.As(err, &expired) {
		t.Errorf("err = %v, want ExpiredIteratorException", err)
	}
	if len(f.iterators) != 4 {
		t.Errorf("%d iterators requested, want 1 + 3 renewals", len(f.iterators))
	}
}
