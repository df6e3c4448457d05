package main

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// recordingPutter records the size of every PutRecords request and
// delegates to a fakeKinesis.
type recordingPutter struct {
	*fakeKinesis
	mu      sync.Mutex
	counts  []int // records per request
	bytes   []int // entrySize total per request
	streams []string
}

func (r *recordingPutter) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	r.mu.Lock()
	n := 0
	for _, e := range in.Records {
		n += entrySize(e)
	}
	r.counts = append(r.counts, len(in.Records))
	r.bytes = append(r.bytes, n)
	r.streams = append(r.streams, aws.ToString(in.StreamName))
	r.mu.Unlock()
	return r.fakeKinesis.PutRecords(ctx, in, opts...)
}

func noSleep(context.Context, time.Duration) error { return nil }

func TestPutter_Batching(t *testing.T) {
	tests := []struct {
		name       string
		lines      []string
		wantCounts []int
	}{
		{"records limit", repeatLine("x", 1201), []int{500, 500, 201}},
		// 1 MiB data + 1-byte key: five do not fit in 5 MiB, four do.
		{"size limit", repeatLine(strings.Repeat("d", 1<<20), 9), []int{4, 4, 1}},
		// Exactly 5 MiB with keys: five fit.
		{"size limit exact", repeatLine(strings.Repeat("d", 1<<20-1), 5), []int{5}},
		{"oversized record goes alone", []string{"a", strings.Repeat("d", 6<<20), "b"}, []int{1, 1, 1}},
		{"empty lines skipped", []string{"a", "", "b", ""}, []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &recordingPutter{fakeKinesis: newFakeKinesis(2)}
			// No linger: batches must not depend on how fast lines are read.
			p := &putter{api: api, stream: "s", linger: time.Hour, sleep: noSleep}
			in := strings.Join(tt.lines, "\n") + "\n"
			if err := p.put(context.Background(), linesSource(strings.NewReader(in), recordKeys{fixed: "k"})); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(api.counts, tt.wantCounts) {
				t.Errorf("requests of %v records, want %v", api.counts, tt.wantCounts)
			}
			for i, b := range api.bytes {
				if b > putMaxBytes && api.counts[i] > 1 {
					t.Errorf("request %d has %d bytes in %d records, over the limit", i, b, api.counts[i])
				}
			}
			if want := int64(api.count()); p.stats.records != want {
				t.Errorf("stats.records = %d, stream has %d", p.stats.records, want)
			}
		})
	}
}

func repeatLine(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestPutter_RetriesFailedEntries(t *testing.T) {
	api := &recordingPutter{fakeKinesis: newFakeKinesis(1)}
	api.failNext = 3 // the first three entries of the first request fail
	var out bytes.Buffer
	var sleeps []time.Duration
	p := &putter{api: api, stream: "s", retries: 2, linger: time.Hour, verbose: &out, sleep: func(_ context.Context, d time.Duration) error {
		sleeps = append(sleeps, d)
		return nil
	}}
	if err := p.put(context.Background(), argsSource([]string{"a", "b", "c", "d", "e"}, recordKeys{fixed: "k"})); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(api.counts, []int{5, 3}) {
		t.Errorf("requests of %v records, want [5 3]", api.counts)
	}
	if len(sleeps) != 1 || sleeps[0] < putRetryMinDelay/2 || sleeps[0] > putRetryMinDelay {
		t.Errorf("sleeps = %v, want one backoff around %v", sleeps, putRetryMinDelay)
	}
	// Results print in input order even though a, b, c were written last.
	want := "shardId-000000000000 2\nshardId-000000000000 3\nshardId-000000000000 4\nshardId-000000000000 0\nshardId-000000000000 1\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if p.stats.records != 5 || p.stats.retried != 3 || p.stats.requests != 2 {
		t.Errorf("stats = %+v", p.stats)
	}
}

func TestPutter_GivesUp(t *testing.T) {
	api := &recordingPutter{fakeKinesis: newFakeKinesis(1)}
	api.failNext = 100
	p := &putter{api: api, stream: "s", retries: 2, linger: time.Hour, sleep: noSleep}
	err := p.put(context.Background(), argsSource([]string{"a", "b"}, recordKeys{fixed: "k"}))
	if err == nil || !strings.Contains(err.Error(), "2 of 2 records still failing after 2 retries") ||
		!strings.Contains(err.Error(), "ProvisionedThroughputExceededException") {
		t.Errorf("err = %v", err)
	}
	if len(api.counts) != 3 {
		t.Errorf("%d requests, want 1 + 2 retries", len(api.counts))
	}
}

func TestPutter_SourceErrorAfterSending(t *testing.T) {
	api := &recordingPutter{fakeKinesis: newFakeKinesis(1)}
	p := &putter{api: api, stream: "s", linger: time.Hour, sleep: noSleep}
	err := p.put(context.Background(), linesSource(strings.NewReader("a\tx\nb\ty\nno-tab\n"), recordKeys{fromLine: true, delimiter: "\t"}))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("err = %v, want one naming line 3", err)
	}
	if api.count() != 2 {
		t.Errorf("stream has %d records, want the 2 good lines before the bad one", api.count())
	}
}

// TestPutter_Linger checks that a partial batch is sent without waiting for
// the source to end, as when stdin is a slow pipe.
func TestPutter_Linger(t *testing.T) {
	api := &recordingPutter{fakeKinesis: newFakeKinesis(1)}
	p := &putter{api: api, stream: "s", linger: time.Millisecond, sleep: noSleep}
	sent := make(chan struct{})
	src := func(ctx context.Context, out chan<- types.PutRecordsRequestEntry) error {
		out <- types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("first")}
		for api.count() == 0 {
			time.Sleep(time.Millisecond)
		}
		close(sent)
		return nil
	}
	done := make(chan error)
	go func() { done <- p.put(context.Background(), src) }()
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the first record was not sent while the source stayed open")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRecordKeys_Entry(t *testing.T) {
	fromLine := recordKeys{fromLine: true, delimiter: "|"}
	e, err := fromLine.entry([]byte("user-1|a|b"))
	if err != nil || aws.ToString(e.PartitionKey) != "user-1" || string(e.Data) != "a|b" {
		t.Errorf("key from line: %q %q %v", aws.ToString(e.PartitionKey), e.Data, err)
	}
	if _, err := fromLine.entry([]byte("|data")); err == nil {
		t.Error("empty key: want an error")
	}
	if _, err := fromLine.entry([]byte(strings.Repeat("k", 257) + "|d")); err == nil {
		t.Error("257-character key: want an error")
	}
	if _, err := fromLine.entry([]byte("\xff|d")); err == nil {
		t.Error("invalid UTF-8 key: want an error")
	}
	if e, err := fromLine.entry([]byte(strings.Repeat("é", 256) + "|d")); err != nil || string(e.Data) != "d" {
		t.Errorf("256 two-byte characters: %v", err)
	}

	random := recordKeys{}
	seen := map[string]bool{}
	for range 100 {
		e, err := random.entry([]byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		seen[aws.ToString(e.PartitionKey)] = true
	}
	if len(seen) < 99 {
		t.Errorf("100 random keys gave %d distinct ones", len(seen))
	}

	for _, k := range []recordKeys{{fixed: "a", fromLine: true, delimiter: "\t"}, {fromLine: true}, {fixed: strings.Repeat("k", 300)}} {
		if err := k.validate(); err == nil {
			t.Errorf("%+v: want a validation error", k)
		}
	}
}

func TestLinesSource(t *testing.T) {
	collect := func(in string) ([]string, error) {
		out := make(chan types.PutRecordsRequestEntry, 1000)
		err := linesSource(strings.NewReader(in), recordKeys{fixed: "k"})(context.Background(), out)
		close(out)
		var got []string
		for e := range out {
			got = append(got, string(e.Data))
		}
		return got, err
	}
	got, err := collect("a\r\nb\n\nc")
	if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("got %q, %v", got, err)
	}
	long := strings.Repeat("x", maxLineBytes+1)
	if _, err := collect("a\n" + long + "\n"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("over-long line: err = %v", err)
	}
	// A 1 MiB record, the default Kinesis maximum, is one line.
	got, err = collect(strings.Repeat("y", 1<<20) + "\n")
	if err != nil || len(got) != 1 || len(got[0]) != 1<<20 {
		t.Errorf("1 MiB line: %d records, %v", len(got), err)
	}
}

func TestRunPut_Errors(t *testing.T) {
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }}
	for _, args := range [][]string{
		{},
		{"s", "--partition-key", "a", "--key-from-line"},
		{"s", "--retries", "-1"},
	} {
		if err := runPut(context.Background(), env, args); err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := plural(1, "record") + ", " + plural(2, "record"); got != "1 record, 2 records" {
		t.Errorf("plural: %q", got)
	}
}
