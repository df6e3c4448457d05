// Package alert is a flow sink that evaluates alarm rules over window
// results and notifies a webhook when an alarm fires or recovers, as
// CloudWatch alarms do for metrics.
//
// A rule watches one value column of one result table, per key:
//
//   - Threshold: the window's value against a number (error_rate > 0.05);
//   - Change: the change from the key's previous, adjacent window, as a
//     difference or relative to the previous value (views fell by half:
//     Relative, < -0.5);
//   - Absence: no rows of the table (or of a key) for a period, by the
//     sink's clock (processing time): a stalled source or pipeline.
//
// Each (rule, key) has a state: INSUFFICIENT_DATA at first, ALARM when at
// least N of the last M windows breach (DatapointsToAlarm,
// EvaluationWindows), OK when at least N windows have data and fewer
// breach. Windows without a row are missing data. A row for a window seen
// before (an update, or a replay after a crash) replaces its datapoint, so
// replays do not fire twice.
//
// # Notifications
//
// A firing (into ALARM) and a recovery (out of ALARM) are POSTed to the
// webhook as JSON (see Notification) and logged with slog; other changes
// (INSUFFICIENT_DATA to OK at start) are logged at debug level only. A
// failed POST (a network error, 408, 429 or 5xx) is retried with
// exponential backoff and jitter; when the attempts are exhausted, or the
// webhook answers another 4xx, the notification goes to the dead-letter
// stream (WithDeadLetter, as JSON: see DeadLetter), or, without one, is
// logged at error level and dropped, so that a webhook outage never stalls
// the pipeline. A notification that neither the webhook nor the
// dead-letter stream took stays pending: Write returns an error and the
// next Write or check delivers it first.
//
// Alarm state lives in memory: a restarted process starts from
// INSUFFICIENT_DATA and fires again for alarms still breaching.
//
//	s, err := alert.New("https://hooks.example.com/sluice", []alert.Rule{{
//		Name: "error_rate_high", Table: "errors_per_minute", Kind: alert.Threshold,
//		Value: "error_rate", Op: ">", Threshold: 0.05,
//		DatapointsToAlarm: 2, EvaluationWindows: 3,
//	}}, alert.WithDeadLetter(kinesisClient, "alerts-failed"), alert.WithLogger(log))
package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/producer"
)

// Clock is the sink's time: absence periods, notification times and the
// waits between retries.
type Clock interface {
	Now() time.Time
	// After sends the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Sink evaluates rules over the rows written to it.
type Sink struct {
	url   string
	opts  options
	dlq   *producer.Producer
	rules []*ruleState

	mu      sync.Mutex // guards the rules' state and pending
	pending []Notification

	stop context.CancelFunc
	done chan struct{}
}

var _ flow.Sink = (*Sink)(nil)

// String names the sink in a pipeline's registry item by the webhook's
// host alone (a webhook's path often holds a secret): alert:host.
func (s *Sink) String() string {
	if u, err := url.Parse(s.url); err == nil && u.Host != "" {
		return "alert:" + u.Host
	}
	return "alert"
}

type options struct {
	clock         Clock
	log           *slog.Logger
	client        *http.Client
	attempts      int
	minBackoff    time.Duration
	maxBackoff    time.Duration
	attemptTime   time.Duration
	checkInterval time.Duration
	maxKeys       int
	dlqClient     producer.Client
	dlqStream     string
	dlqOpts       []producer.Option
}

// Option configures a Sink.
type Option func(*options)

// WithClock sets the sink's clock. Default: the system's.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger receives firings, recoveries and delivery failures. Default:
// discarded.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithHTTPClient sets the client that POSTs to the webhook. Default: a
// client of its own.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithRetry sets the attempts at one notification (default 6) and the range
// of the exponential backoff between them (default 500 ms doubling up to
// 30 s): the n-th wait is drawn from [d/2, d) with d = min(max, min·2^n).
func WithRetry(attempts int, minBackoff, maxBackoff time.Duration) Option {
	return func(o *options) { o.attempts, o.minBackoff, o.maxBackoff = attempts, minBackoff, maxBackoff }
}

// WithAttemptTimeout bounds one POST. Default 10 s.
func WithAttemptTimeout(d time.Duration) Option { return func(o *options) { o.attemptTime = d } }

// WithCheckInterval sets how often absence rules are checked in the
// background. Default 10 s; 0 checks only on Write and Check.
func WithCheckInterval(d time.Duration) Option { return func(o *options) { o.checkInterval = d } }

// WithMaxKeys bounds the keys each rule tracks (default 10,000); rows of
// further keys are not evaluated, and a warning says so once per rule.
func WithMaxKeys(n int) Option { return func(o *options) { o.maxKeys = n } }

// WithDeadLetter sends notifications the webhook did not take to a stream,
// through a producer of the sink's own (options passed on).
func WithDeadLetter(client producer.Client, stream string, opts ...producer.Option) Option {
	return func(o *options) { o.dlqClient, o.dlqStream, o.dlqOpts = client, stream, opts }
}

// New starts a sink notifying url. Absence rules are checked in the
// background until Close.
func New(url string, rules []Rule, opts ...Option) (*Sink, error) {
	o := options{clock: realClock{}, client: &http.Client{}, attempts: 6, minBackoff: 500 * time.Millisecond,
		maxBackoff: 30 * time.Second, attemptTime: 10 * time.Second, checkInterval: 10 * time.Second, maxKeys: 10000}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.attempts < 1 {
		o.attempts = 1
	}
	s := &Sink{url: url, opts: o, done: make(chan struct{})}
	names := map[string]bool{}
	for _, r := range rules {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("alert sink: %w", err)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("alert sink: two rules named %s", r.Name)
		}
		names[r.Name] = true
		s.rules = append(s.rules, &ruleState{Rule: r, valueIdx: -1, keys: map[string]*keyState{}})
	}
	if o.dlqStream != "" {
		p, err := producer.New(o.dlqClient, o.dlqStream, append(o.dlqOpts, producer.WithLinger(0))...)
		if err != nil {
			return nil, fmt.Errorf("alert sink: dead-letter stream: %w", err)
		}
		s.dlq = p
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.checkLoop(ctx)
	return s, nil
}

// Open binds the rules of table t to its columns and starts its absence
// periods.
func (s *Sink) Open(_ context.Context, t flow.Table) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range s.rules {
		if rs.Table != t.Name {
			continue
		}
		rs.table = t
		if rs.opened.IsZero() {
			rs.opened = s.opts.clock.Now()
		}
		if rs.Kind == Absence {
			continue
		}
		rs.valueIdx = -1
		for i, c := range t.Values {
			if c.Name == rs.Value {
				if c.Type != flow.Int && c.Type != flow.Float && c.Type != flow.Bool {
					return fmt.Errorf("alert sink: rule %s: column %s is a %s, not a number", rs.Name, c.Name, c.Type)
				}
				rs.valueIdx = i
			}
		}
		if rs.valueIdx < 0 {
			return fmt.Errorf("alert sink: rule %s: table %s has no value column %s", rs.Name, t.Name, rs.Value)
		}
	}
	return nil
}

// Write evaluates the rules of table t over rows and delivers the
// notifications of the state changes they cause (and any still pending).
func (s *Sink) Write(ctx context.Context, t flow.Table, rows []flow.Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.clock.Now()
	for _, rs := range s.rules {
		if rs.Table != t.Name {
			continue
		}
		if rs.Kind != Absence && rs.valueIdx < 0 {
			return fmt.Errorf("alert sink: table %s is not open", t.Name)
		}
		for _, r := range rows {
			if len(r.Keys) != len(t.Keys) || len(r.Values) != len(t.Values) {
				return fmt.Errorf("alert sink: a row of %d keys and %d values, table %s has %d and %d", len(r.Keys), len(r.Values), t.Name, len(t.Keys), len(t.Values))
			}
			var tr transition
			var changed bool
			switch {
			case rs.Kind == Absence && !rs.PerKey:
				if rs.whole == nil {
					rs.whole = &keyState{state: InsufficientData}
				}
				tr, changed = rs.seen(rs.whole, now)
			case rs.Kind == Absence:
				if ks := s.keyState(rs, r.Keys); ks != nil {
					tr, changed = rs.seen(ks, now)
				}
			default:
				if ks := s.keyState(rs, r.Keys); ks != nil {
					tr, changed = rs.observe(ks, r.Window, r.Values[rs.valueIdx])
				}
			}
			if changed {
				s.note(tr, now)
			}
		}
	}
	s.checkAbsence(now)
	return s.deliverPending(ctx)
}

// keyState finds or makes the state of a key, nil past the key bound.
func (s *Sink) keyState(rs *ruleState, keys []any) *keyState {
	id := keyID(keys)
	ks := rs.keys[id]
	if ks == nil {
		if len(rs.keys) >= s.opts.maxKeys {
			if !rs.warned {
				s.opts.log.Warn("alert rule tracks its maximum of keys; rows of further keys are not evaluated", "alarm", rs.Name, "keys", s.opts.maxKeys)
				rs.warned = true
			}
			return nil
		}
		ks = &keyState{keys: append([]any(nil), keys...), state: InsufficientData}
		rs.keys[id] = ks
	}
	return ks
}

// Check evaluates the absence rules now and delivers what they fire. The
// sink calls it every check interval; a caller may call it too.
func (s *Sink) Check(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkAbsence(s.opts.clock.Now())
	return s.deliverPending(ctx)
}

func (s *Sink) checkAbsence(now time.Time) {
	for _, rs := range s.rules {
		if rs.Kind != Absence || rs.opened.IsZero() {
			continue
		}
		if !rs.PerKey {
			if rs.whole == nil {
				rs.whole = &keyState{state: InsufficientData}
			}
			if tr, ok := rs.silent(rs.whole, now); ok {
				s.note(tr, now)
			}
			continue
		}
		for _, ks := range rs.keys {
			if tr, ok := rs.silent(ks, now); ok {
				s.note(tr, now)
			}
		}
	}
}

func (s *Sink) checkLoop(ctx context.Context) {
	defer close(s.done)
	if s.opts.checkInterval <= 0 {
		return
	}
	hasAbsence := false
	for _, rs := range s.rules {
		hasAbsence = hasAbsence || rs.Kind == Absence
	}
	if !hasAbsence {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.opts.clock.After(s.opts.checkInterval):
		}
		if err := s.Check(ctx); err != nil && ctx.Err() == nil {
			s.opts.log.Error("alert sink: notifications pending after an absence check", "err", err)
		}
	}
}

// Notification is the JSON body POSTed to the webhook.
type Notification struct {
	// Alarm is the rule's name.
	Alarm         string `json:"alarm"`
	State         State  `json:"state"`
	PreviousState State  `json:"previous_state"`
	// Reason says why, in words.
	Reason   string         `json:"reason"`
	Pipeline string         `json:"pipeline"`
	Table    string         `json:"table"`
	Keys     map[string]any `json:"keys,omitempty"`
	// Window and Value are the datapoint that changed the state; absent for
	// an absence rule.
	Window *Window   `json:"window,omitempty"`
	Value  *float64  `json:"value,omitempty"`
	Time   time.Time `json:"time"`
}

// Window is a window in a Notification.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// note logs a state change and queues its notification if it fires or
// recovers an alarm.
func (s *Sink) note(tr transition, now time.Time) {
	rs := tr.rule
	n := Notification{Alarm: rs.Name, State: tr.to, PreviousState: tr.from, Reason: tr.reason,
		Pipeline: rs.table.Pipeline, Table: rs.Table, Time: now.UTC()}
	if len(tr.key.keys) > 0 {
		n.Keys = map[string]any{}
		for i, k := range tr.key.keys {
			if i < len(rs.table.Keys) {
				n.Keys[rs.table.Keys[i].Name] = k
			}
		}
	}
	if tr.point != nil {
		n.Window = &Window{Start: tr.point.start.UTC(), End: tr.point.end.UTC()}
		if !math.IsInf(tr.point.value, 0) {
			v := tr.point.value
			n.Value = &v
		}
	}
	attrs := []any{"alarm", n.Alarm, "state", n.State, "previous_state", n.PreviousState, "reason", n.Reason, "table", n.Table, "keys", n.Keys}
	switch {
	case tr.to == Alarm:
		s.opts.log.Warn("alarm fired", attrs...)
	case tr.from == Alarm:
		s.opts.log.Info("alarm recovered", attrs...)
	default:
		s.opts.log.Debug("alarm state changed", attrs...)
		return
	}
	s.pending = append(s.pending, n)
}

// deliverPending sends the pending notifications in order; those neither
// the webhook nor the dead-letter stream took stay pending.
func (s *Sink) deliverPending(ctx context.Context) error {
	var errs []error
	left := s.pending[:0]
	for _, n := range s.pending {
		if err := s.deliver(ctx, n); err != nil {
			left = append(left, n)
			errs = append(errs, err)
		}
	}
	clear(s.pending[len(left):])
	s.pending = left
	if len(errs) > 0 {
		return fmt.Errorf("alert sink: %d notifications pending: %w", len(left), errors.Join(errs...))
	}
	return nil
}

// deliver POSTs n with retries, then dead-letters it.
func (s *Sink) deliver(ctx context.Context, n Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	var last error
	attempts := 0
	for attempts < s.opts.attempts {
		if attempts > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.opts.clock.After(s.backoff(attempts)):
			}
		}
		attempts++
		retry, err := s.post(ctx, body)
		if err == nil {
			return nil
		}
		last = err
		s.opts.log.Warn("webhook refused a notification", "alarm", n.Alarm, "attempt", attempts, "err", err)
		if !retry || ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if s.dlq == nil {
		s.opts.log.Error("notification dropped: the webhook did not take it and there is no dead-letter stream", "alarm", n.Alarm, "state", n.State, "attempts", attempts, "err", last)
		return nil
	}
	dl, err := json.Marshal(DeadLetter{Notification: n, Webhook: s.url, Attempts: attempts, Error: last.Error()})
	if err != nil {
		return fmt.Errorf("encode dead letter: %w", err)
	}
	if _, err := s.dlq.Put(ctx, n.Alarm, dl); err != nil {
		return fmt.Errorf("dead-letter notification of %s: %w", n.Alarm, err)
	}
	s.opts.log.Error("notification sent to the dead-letter stream", "alarm", n.Alarm, "state", n.State, "stream", s.opts.dlqStream, "attempts", attempts, "err", last)
	return nil
}

// DeadLetter is the JSON record written to the dead-letter stream.
type DeadLetter struct {
	Notification Notification `json:"notification"`
	Webhook      string       `json:"webhook"`
	Attempts     int          `json:"attempts"`
	Error        string       `json:"error"`
}

// backoff is the wait before attempt n+1 (n ≥ 1): drawn from [d/2, d),
// d = min(max, min·2^(n-1)).
func (s *Sink) backoff(n int) time.Duration {
	d := s.opts.maxBackoff
	if n-1 < 62 {
		if e := s.opts.minBackoff << (n - 1); e > 0 && e < d {
			d = e
		}
	}
	if d <= 1 {
		return d
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)))
}

// post sends one attempt; retry says whether a failure may heal.
func (s *Sink) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.attemptTime)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice-flow-alert")
	resp, err := s.opts.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("webhook: %w", err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	retry = resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return retry, fmt.Errorf("webhook answered %s: %s", resp.Status, bytes.TrimSpace(msg))
}

// Close stops the absence checks and the dead-letter producer. Pending
// notifications are dropped (and were logged).
func (s *Sink) Close() error {
	s.stop()
	<-s.done
	if s.dlq != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return s.dlq.Close(ctx)
	}
	return nil
}
