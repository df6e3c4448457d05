package alert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/deaggregate"
	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/alert"
	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// fakeClock is a clock whose waits pass at once: After moves the time on
// by d and records d.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// webhook is a real HTTP server that answers with the statuses queued in
// fail, then with always if set, else 200, and records the notifications
// it accepted.
type webhook struct {
	*httptest.Server
	mu       sync.Mutex
	fail     []int
	always   int
	calls    int
	received []alert.Notification
}

func newWebhook(t testing.TB, always int, fail ...int) *webhook {
	w := &webhook{fail: fail, always: always}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.calls++
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook called with %s %s", r.Method, r.Header.Get("Content-Type"))
		}
		if len(w.fail) > 0 {
			http.Error(rw, "no thanks", w.fail[0])
			w.fail = w.fail[1:]
			return
		}
		if w.always != 0 {
			http.Error(rw, "no thanks", w.always)
			return
		}
		var n alert.Notification
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &n); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		w.received = append(w.received, n)
	}))
	t.Cleanup(w.Close)
	return w
}

// got lists the accepted notifications as "alarm state keys" strings.
func (w *webhook) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, n := range w.received {
		s := fmt.Sprintf("%s %s", n.Alarm, n.State)
		if n.Keys != nil {
			s += fmt.Sprint(" ", n.Keys)
		}
		out = append(out, s)
	}
	return out
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func win(i int) flow.Window {
	return flow.Window{Start: t0.Add(time.Duration(i) * time.Minute), End: t0.Add(time.Duration(i+1) * time.Minute)}
}

var errorsTable = flow.Table{Pipeline: "shop", Name: "errors",
	Keys:   []flow.Column{{Name: "service", Type: flow.String}},
	Values: []flow.Column{{Name: "rate", Type: flow.Float}, {Name: "views", Type: flow.Int}}}

// point is one window's row: window index, key, rate (nil for none), views.
type point struct {
	w    int
	key  string
	rate any
}

func rowsOf(ps ...point) []flow.Row {
	rows := make([]flow.Row, len(ps))
	for i, p := range ps {
		rows[i] = flow.Row{Window: win(p.w), Keys: []any{p.key}, Values: []any{p.rate, int64(100)}, Final: true}
	}
	return rows
}

func TestSink_Rules(t *testing.T) {
	high := alert.Rule{Name: "high", Table: "errors", Kind: alert.Threshold, Value: "rate", Op: ">", Threshold: 0.05}
	twoOfThree := high
	twoOfThree.Name, twoOfThree.DatapointsToAlarm, twoOfThree.EvaluationWindows = "twoOfThree", 2, 3
	twoOfTwo := high
	twoOfTwo.Name, twoOfTwo.DatapointsToAlarm = "twoOfTwo", 2
	drop := alert.Rule{Name: "drop", Table: "errors", Kind: alert.Change, Value: "rate", Op: "<", Threshold: -0.5, Relative: true}
	jump := alert.Rule{Name: "jump", Table: "errors", Kind: alert.Change, Value: "rate", Op: ">=", Threshold: 10}
	tests := []struct {
		name    string
		rule    alert.Rule
		batches [][]point // written one batch per Write
		want    []string
	}{
		{"threshold fires and recovers", high,
			[][]point{{{0, "a", 0.01}}, {{1, "a", 0.07}}, {{2, "a", 0.08}}, {{3, "a", 0.02}}},
			[]string{"high ALARM map[service:a]", "high OK map[service:a]"}},
		{"2 of 3 windows", twoOfThree,
			[][]point{{{0, "a", 0.07}}, {{1, "a", 0.01}}, {{2, "a", 0.07}}, {{3, "a", 0.01}}, {{4, "a", 0.01}}},
			[]string{"twoOfThree ALARM map[service:a]", "twoOfThree OK map[service:a]"}},
		{"missing windows are missing data", twoOfTwo,
			[][]point{{{0, "a", 0.07}}, {{2, "a", 0.07}}, {{4, "a", 0.07}}, {{5, "a", nil}}},
			nil},
		{"two of two adjacent windows", twoOfTwo,
			[][]point{{{0, "a", 0.07}}, {{1, "a", 0.07}}},
			[]string{"twoOfTwo ALARM map[service:a]"}},
		{"keys are separate alarms", high,
			[][]point{{{0, "a", 0.07}, {0, "b", 0.01}}, {{1, "a", 0.07}, {1, "b", 0.09}}, {{2, "a", 0.01}, {2, "b", 0.09}}},
			[]string{"high ALARM map[service:a]", "high ALARM map[service:b]", "high OK map[service:a]"}},
		{"a replayed batch does not fire twice", high,
			[][]point{{{0, "a", 0.07}, {1, "a", 0.01}}, {{0, "a", 0.07}, {1, "a", 0.01}}},
			[]string{"high ALARM map[service:a]", "high OK map[service:a]"}},
		{"an update of a window replaces its datapoint", high,
			[][]point{{{0, "a", 0.01}}, {{0, "a", 0.09}}},
			[]string{"high ALARM map[service:a]"}},
		{"relative change", drop,
			[][]point{{{0, "a", 100.0}}, {{1, "a", 90.0}}, {{2, "a", 40.0}}, {{3, "a", 45.0}}},
			[]string{"drop ALARM map[service:a]", "drop OK map[service:a]"}},
		{"change needs the adjacent window", jump,
			[][]point{{{0, "a", 1.0}}, {{2, "a", 50.0}}, {{3, "a", 70.0}}, {{4, "a", 71.0}}},
			[]string{"jump ALARM map[service:a]", "jump OK map[service:a]"}},
		{"a late window between two changes both", jump,
			[][]point{{{0, "a", 0.0}}, {{2, "a", 20.0}}, {{1, "a", 10.0}}},
			[]string{"jump ALARM map[service:a]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hook := newWebhook(t, 0)
			s, err := alert.New(hook.URL, []alert.Rule{tt.rule}, alert.WithClock(newClock()), alert.WithCheckInterval(0))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if err := s.Open(ctx, errorsTable); err != nil {
				t.Fatal(err)
			}
			for _, b := range tt.batches {
				if err := s.Write(ctx, errorsTable, rowsOf(b...)); err != nil {
					t.Fatal(err)
				}
			}
			if got := hook.got(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("notifications %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSink_Absence(t *testing.T) {
	ctx := context.Background()
	for _, perKey := range []bool{false, true} {
		t.Run(fmt.Sprint("per key ", perKey), func(t *testing.T) {
			hook := newWebhook(t, 0)
			clock := newClock()
			rule := alert.Rule{Name: "silent", Table: "errors", Kind: alert.Absence, Period: 5 * time.Minute, PerKey: perKey}
			s, err := alert.New(hook.URL, []alert.Rule{rule}, alert.WithClock(clock), alert.WithCheckInterval(0))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Open(ctx, errorsTable); err != nil {
				t.Fatal(err)
			}
			if err := s.Write(ctx, errorsTable, rowsOf(point{0, "a", 0.1}, point{0, "b", 0.1})); err != nil {
				t.Fatal(err)
			}
			clock.Advance(3 * time.Minute)
			if err := s.Write(ctx, errorsTable, rowsOf(point{1, "b", 0.1})); err != nil {
				t.Fatal(err)
			}
			clock.Advance(2 * time.Minute) // a: 5 min, b: 2 min without rows
			if err := s.Check(ctx); err != nil {
				t.Fatal(err)
			}
			clock.Advance(3 * time.Minute) // b: 5 min
			if err := s.Check(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.Write(ctx, errorsTable, rowsOf(point{5, "a", 0.1})); err != nil {
				t.Fatal(err)
			}
			want := []string{"silent ALARM map[service:b]", "silent OK map[service:a]"}
			want = append([]string{"silent ALARM map[service:a]"}, want...)
			if !perKey {
				want = []string{"silent ALARM", "silent OK"}
			}
			if got := hook.got(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("notifications %q, want %q", got, want)
			}
		})
	}
}

// A table that never gets a row alarms a period after it was opened, by
// the background check.
func TestSink_AbsenceInBackground(t *testing.T) {
	hook := newWebhook(t, 0)
	rule := alert.Rule{Name: "silent", Table: "errors", Kind: alert.Absence, Period: time.Hour}
	s, err := alert.New(hook.URL, []alert.Rule{rule}, alert.WithClock(newClock()), alert.WithCheckInterval(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background(), errorsTable); err != nil {
		t.Fatal(err)
	}
	// The fake clock lets each check interval pass at once: the alarm
	// comes after six checks.
	deadline := time.Now().Add(time.Minute)
	for len(hook.got()) == 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	s.Close()
	if got := hook.got(); len(got) != 1 || got[0] != "silent ALARM" {
		t.Errorf("notifications %q, want one ALARM", got)
	}
}

// logs collects slog records as text.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestSink_Delivery(t *testing.T) {
	srv := sluicetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv.CreateStream(ctx, "alerts-failed", 1)
	high := alert.Rule{Name: "high", Table: "errors", Kind: alert.Threshold, Value: "rate", Op: ">", Threshold: 0.05}
	tests := []struct {
		name      string
		fail      []int // statuses the webhook answers first
		always    int   // then this status, or 200
		dlq       bool
		wantGot   []string
		wantCalls int
		wantDead  int
		wantLog   []string
	}{
		{name: "delivered first time", wantGot: []string{"high ALARM map[service:a]"}, wantCalls: 1,
			wantLog: []string{`level=WARN msg="alarm fired" alarm=high state=ALARM previous_state=INSUFFICIENT_DATA`}},
		{name: "retried until it is taken", fail: []int{503, 500, 429}, dlq: true, wantGot: []string{"high ALARM map[service:a]"}, wantCalls: 4,
			wantLog: []string{`msg="webhook refused a notification" alarm=high attempt=3 err="webhook answered 429 Too Many Requests: no thanks"`}},
		{name: "retries exhausted go to the dead-letter stream", always: 502, dlq: true, wantCalls: 4, wantDead: 1,
			wantLog: []string{`level=ERROR msg="notification sent to the dead-letter stream" alarm=high state=ALARM stream=alerts-failed attempts=4`}},
		{name: "a client error is not retried", fail: []int{400}, dlq: true, wantCalls: 1, wantDead: 1},
		{name: "without a dead-letter stream it is logged and dropped", always: 500, wantCalls: 4,
			wantLog: []string{`level=ERROR msg="notification dropped: the webhook did not take it and there is no dead-letter stream" alarm=high`}},
	}
	dead := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hook := newWebhook(t, tt.always, tt.fail...)
			clock := newClock()
			var log logs
			opts := []alert.Option{alert.WithClock(clock), alert.WithCheckInterval(0), alert.WithRetry(4, time.Second, 3*time.Second),
				alert.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})))}
			if tt.dlq {
				opts = append(opts, alert.WithDeadLetter(srv.Kinesis(), "alerts-failed"))
			}
			s, err := alert.New(hook.URL, []alert.Rule{high}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Open(ctx, errorsTable); err != nil {
				t.Fatal(err)
			}
			if err := s.Write(ctx, errorsTable, rowsOf(point{0, "a", 0.5})); err != nil {
				t.Fatal(err)
			}
			if got := hook.got(); fmt.Sprint(got) != fmt.Sprint(tt.wantGot) {
				t.Errorf("notifications %q, want %q", got, tt.wantGot)
			}
			if hook.calls != tt.wantCalls {
				t.Errorf("%d webhook calls, want %d", hook.calls, tt.wantCalls)
			}
			// Backoff: the n-th wait is in [d/2, d), d = 1 s · 2^(n-1), at most 3 s.
			for i, w := range clock.waits {
				d := min(time.Second<<i, 3*time.Second)
				if w < d/2 || w >= d {
					t.Errorf("wait %d: %v, want [%v, %v)", i+1, w, d/2, d)
				}
			}
			if len(clock.waits) != tt.wantCalls-1 {
				t.Errorf("%d waits for %d calls", len(clock.waits), tt.wantCalls)
			}
			dead += tt.wantDead
			letters := readDeadLetters(ctx, t, srv.Kinesis())
			if len(letters) != dead {
				t.Fatalf("%d dead letters, want %d", len(letters), dead)
			}
			if tt.wantDead > 0 {
				dl := letters[len(letters)-1]
				if dl.Notification.Alarm != "high" || dl.Notification.State != alert.Alarm || dl.Webhook != hook.URL ||
					dl.Attempts != tt.wantCalls || !strings.Contains(dl.Error, "webhook answered") || *dl.Notification.Value != 0.5 {
					t.Errorf("dead letter %+v", dl)
				}
			}
			for _, want := range tt.wantLog {
				if !strings.Contains(log.String(), want) {
					t.Errorf("no %s in the log:\n%s", want, log.String())
				}
			}
		})
	}
}

func readDeadLetters(ctx context.Context, t *testing.T, c *kinesis.Client) []alert.DeadLetter {
	t.Helper()
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("alerts-failed"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := deaggregate.Records(out.Records)
	var dls []alert.DeadLetter
	for _, r := range recs {
		var dl alert.DeadLetter
		if err := json.Unmarshal(r.Data, &dl); err != nil {
			t.Fatalf("dead letter %s: %v", r.Data, err)
		}
		dls = append(dls, dl)
	}
	return dls
}

// A notification that neither the webhook nor the dead-letter stream took
// stays pending: Write fails, and a later Write delivers it.
func TestSink_Pending(t *testing.T) {
	srv := sluicetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hook := newWebhook(t, 0, 500, 500)
	high := alert.Rule{Name: "high", Table: "errors", Kind: alert.Threshold, Value: "rate", Op: ">", Threshold: 0.05}
	s, err := alert.New(hook.URL, []alert.Rule{high}, alert.WithClock(newClock()), alert.WithCheckInterval(0),
		alert.WithRetry(2, time.Millisecond, time.Millisecond),
		alert.WithDeadLetter(srv.Kinesis(), "no-such-stream", producer.WithRecordTTL(time.Second), producer.WithRetryBackoff(time.Millisecond, 10*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Open(ctx, errorsTable); err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, errorsTable, rowsOf(point{0, "a", 0.5}))
	if err == nil || !strings.Contains(err.Error(), "1 notifications pending") {
		t.Fatalf("write with nowhere to deliver: %v", err)
	}
	// The pipeline writes the batch again; the webhook is back.
	if err := s.Write(ctx, errorsTable, rowsOf(point{0, "a", 0.5})); err != nil {
		t.Fatal(err)
	}
	if got := hook.got(); fmt.Sprint(got) != "[high ALARM map[service:a]]" {
		t.Errorf("notifications %q", got)
	}
}

func TestNew_Errors(t *testing.T) {
	tests := []struct {
		rules []alert.Rule
		want  string
	}{
		{[]alert.Rule{{Table: "t", Kind: alert.Threshold}}, "a rule needs a name and a table"},
		{[]alert.Rule{{Name: "r", Table: "t", Kind: alert.Threshold, Value: "v", Op: "=>"}}, `operator "=>"`},
		{[]alert.Rule{{Name: "r", Table: "t", Kind: alert.Threshold, Op: ">"}}, "no value column"},
		{[]alert.Rule{{Name: "r", Table: "t", Kind: alert.Threshold, Value: "v", Op: ">", DatapointsToAlarm: 3, EvaluationWindows: 2}}, "3 of 2 windows"},
		{[]alert.Rule{{Name: "r", Table: "t", Kind: alert.Absence}}, "needs a period"},
		{[]alert.Rule{{Name: "r", Table: "t", Kind: 9}}, "unknown kind 9"},
		{[]alert.Rule{{Name: "r", Table: "t", Kind: alert.Absence, Period: 1}, {Name: "r", Table: "t", Kind: alert.Absence, Period: 1}}, "two rules named r"},
	}
	for _, tt := range tests {
		if _, err := alert.New("http://127.0.0.1:1", tt.rules); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.rules, err, tt.want)
		}
	}
	s, err := alert.New("http://127.0.0.1:1", []alert.Rule{{Name: "r", Table: "errors", Kind: alert.Threshold, Value: "nope", Op: ">"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Open(context.Background(), errorsTable); err == nil || !strings.Contains(err.Error(), "no value column nope") {
		t.Errorf("open with a rule on a missing column: %v", err)
	}
}
