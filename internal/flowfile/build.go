package flowfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/alert"
	"github.com/sluicehq/sluice/flow/sink/metrics"
	"github.com/sluicehq/sluice/flow/sink/parquet"
	"github.com/sluicehq/sluice/flow/sink/postgres"
	"github.com/sluicehq/sluice/flow/sink/stream"
)

// Deps are what Build needs from the process that runs the pipeline.
type Deps struct {
	Kinesis  *kinesis.Client
	DynamoDB flow.DynamoDBAPI
	// OpenDuckDB opens a DuckDB sink; nil in a binary built without
	// DuckDB, where ErrNoDuckDB says how to get one.
	OpenDuckDB  func(context.Context, DuckDBSink) (flow.Sink, error)
	ErrNoDuckDB error
	// Registerer receives the metrics sinks' gauges; nil makes a metrics
	// sink an error (there would be nowhere to show them).
	Registerer prometheus.Registerer
	// Stdout receives alert notifications of alert sinks without a webhook.
	Stdout io.Writer
	Logger *slog.Logger
	// Options are added to the pipeline's (worker id, intervals).
	Options []flow.Option
	// DryRun builds the pipeline with sinks that only check their
	// settings: for validate, which must not create files or tables.
	DryRun bool
}

// Built is a pipeline built from a file, ready to Run.
type Built struct {
	*flow.Pipeline
	sinks []flow.Sink
}

// Close releases the sinks Build opened but the pipeline never ran (Run
// closes them itself).
func (b *Built) Close() error {
	var errs []error
	for _, s := range b.sinks {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// Build describes the pipeline with flow and creates its sinks. Errors in
// sink settings that need the process to find out (a DuckDB sink without
// DuckDB, a metrics sink without /metrics) come back as *Errors too.
func (s *Spec) Build(ctx context.Context, d Deps, file string) (*Built, error) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Stdout == nil {
		d.Stdout = io.Discard
	}
	opts := []flow.Option{flow.WithLogger(d.Logger)}
	st := s.File.Settings
	if st.DeadLetter.S != "" {
		opts = append(opts, flow.WithDeadLetterStream(st.DeadLetter.S))
	}
	if !s.startAt.IsZero() {
		opts = append(opts, flow.WithStartAt(s.startAt))
	}
	if s.fanOut {
		opts = append(opts, flow.WithRetrieval(consumer.FanOut{ConsumerName: s.Name}))
	}
	if st.FailoverTime.Set {
		opts = append(opts, flow.WithFailoverTime(st.FailoverTime.D))
	}
	if st.CheckpointInterval.Set {
		opts = append(opts, flow.WithCheckpointInterval(st.CheckpointInterval.D))
	}
	if st.RepartitionShards > 0 {
		opts = append(opts, flow.WithRepartitionShards(st.RepartitionShards))
	}
	p, err := flow.New(s.Name, d.Kinesis, d.DynamoDB, append(opts, d.Options...)...)
	if err != nil {
		return nil, err
	}
	b := &Built{Pipeline: p}
	errs := &Errors{File: file}
	fail := func(p Pos, format string, args ...any) {
		errs.List = append(errs.List, Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
	}

	var srcs []*flow.Stream[flow.Record]
	for _, src := range s.File.Sources {
		srcs = append(srcs, flow.Source(p, src.S))
	}
	records := srcs[0]
	if len(srcs) > 1 {
		records = flow.Union(srcs...)
	}
	vals := flow.TryMap(records, s.decode)
	if s.dedup != nil {
		vals = flow.Dedup(vals, func(v *value) string { return v.id }, s.File.Dedup.Within.D)
	}
	if s.filter != nil {
		vals = flow.Filter(flow.TryMap(vals, s.runFilter), func(v *value) bool { return v.keep })
	}
	if len(s.maps) > 0 {
		vals = flow.TryMap(vals, s.runMaps)
	}
	for i := range s.aggs {
		a := &s.aggs[i]
		path := fmt.Sprintf("aggregations[%d]", i)
		in := vals
		if a.event != nil {
			in = flow.TryMap(vals, a.runEventTime)
		}
		var keyed *flow.Keyed[*value]
		if len(a.keys) == 0 {
			keyed = flow.Global(in)
		} else {
			cols := make([]flow.Column, len(a.keys))
			for j, k := range a.keys {
				cols[j] = k.col
			}
			keyed = flow.KeyByColumns(in, cols, a.key)
		}
		aggs := make([]flow.Aggregate, len(a.funcs))
		for j, fn := range a.funcs {
			spec := fn.spec
			if fn.prg != nil {
				prg := fn.prg
				spec.Input = func(r any) (any, error) { return prg.evalGo(r.(*value)) }
			}
			if aggs[j], err = flow.NewAggregate(spec); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
		ag := flow.AggregateWindows(keyed, a.a.Table.S, a.windowing, aggs...)
		w := a.a.Window
		if a.event != nil {
			ag.EventTime(func(v *value) time.Time { return v.event }, w.MaxOutOfOrder.D)
		}
		if w.AllowedLateness.Set {
			ag.AllowedLateness(w.AllowedLateness.D)
		}
		if w.Idleness.Set {
			ag.Idleness(w.Idleness.D)
		}
		if a.a.LateTo.S != "" {
			ag.LateTo(a.a.LateTo.S)
		}
		for j := range a.a.Sinks {
			sk, err := s.openSink(ctx, d, a, &a.a.Sinks[j])
			if err != nil {
				fail(a.a.Sinks[j].Pos, "%s.sinks[%d]: %v", path, j, err)
				continue
			}
			b.sinks = append(b.sinks, sk)
			ag.To(sk)
		}
	}
	for i := range s.outputs {
		o := &s.outputs[i]
		flow.ToStream(vals, o.o.Stream.S, o.encode)
		_ = i
	}
	if len(errs.List) > 0 {
		b.Close()
		return nil, errs
	}
	if err := p.Validate(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Run runs the pipeline until ctx ends; it closes the sinks.
func (b *Built) Run(ctx context.Context) error {
	b.sinks = nil // Run closes them
	return b.Pipeline.Run(ctx)
}

// decode turns a source record into a value.
func (s *Spec) decode(r flow.Record) (*value, error) {
	v := &value{rec: r}
	if s.json {
		if err := json.Unmarshal(r.Data, &v.fields); err != nil || v.fields == nil {
			if err == nil {
				err = errors.New("not a JSON object")
			}
			return nil, fmt.Errorf("decode JSON: %w", err)
		}
		for _, f := range s.schema {
			x, ok := v.fields[f.name]
			if !ok {
				continue
			}
			c, err := convertField(x, f.t)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
			v.fields[f.name] = c
		}
	}
	if s.dedup != nil {
		id, err := s.dedup.evalGo(v)
		if err != nil {
			return nil, fmt.Errorf("dedup.id: %w", err)
		}
		switch x := id.(type) {
		case string:
			v.id = x
		case int64, float64:
			v.id = fmt.Sprint(x)
		default:
			return nil, fmt.Errorf("dedup.id: %s: got %s, want a string", s.dedup.src, describe(id))
		}
	}
	return v, nil
}

func (s *Spec) runFilter(v *value) (*value, error) {
	out, err := s.filter.eval(v)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return nil, fmt.Errorf("filter: %s: got %s, want a bool", s.filter.src, out.Type().TypeName())
	}
	v.keep = b
	return v, nil
}

func (s *Spec) runMaps(v *value) (*value, error) {
	if v.fields == nil {
		v.fields = map[string]any{}
	}
	for _, m := range s.maps {
		g, err := m.prg.evalGo(v)
		if err != nil {
			return nil, fmt.Errorf("map.%s: %w", m.name, err)
		}
		v.fields[m.name] = g
	}
	return v, nil
}

func (a *aggSpec) runEventTime(v *value) (*value, error) {
	g, err := a.event.evalGo(v)
	if err != nil {
		return nil, fmt.Errorf("%s: event_time: %w", a.a.Table.S, err)
	}
	t, err := asTime(g)
	if err != nil {
		return nil, fmt.Errorf("%s: event_time: %s: %w", a.a.Table.S, a.event.src, err)
	}
	// A copy: aggregations of one record may read different event times.
	c := *v
	c.event = t
	return &c, nil
}

func (a *aggSpec) key(v *value) ([]any, error) {
	out := make([]any, len(a.keys))
	for i, k := range a.keys {
		g, err := k.prg.evalGo(v)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.col.Name, err)
		}
		if out[i], err = toColumn(g, k.col.Type); err != nil {
			return nil, fmt.Errorf("key %s: %s: %w", k.col.Name, k.prg.src, err)
		}
	}
	return out, nil
}

func (o *outputSpec) encode(v *value, id string) (string, []byte, error) {
	pk := v.rec.PartitionKey
	if o.key != nil {
		g, err := o.key.evalGo(v)
		if err != nil {
			return "", nil, fmt.Errorf("outputs %s: partition_key: %w", o.o.Stream.S, err)
		}
		switch x := g.(type) {
		case string:
			pk = x
		case int64, float64:
			pk = fmt.Sprint(x)
		default:
			return "", nil, fmt.Errorf("outputs %s: partition_key: got %s, want a string", o.o.Stream.S, describe(g))
		}
		if pk == "" {
			return "", nil, fmt.Errorf("outputs %s: partition_key: empty", o.o.Stream.S)
		}
	}
	var out any = v.fields
	if o.value != nil {
		g, err := o.value.evalGo(v)
		if err != nil {
			return "", nil, fmt.Errorf("outputs %s: value: %w", o.o.Stream.S, err)
		}
		if b, ok := g.([]byte); ok {
			return pk, b, nil // bytes go as they are (value: data)
		}
		out = g
	}
	data, err := json.Marshal(out)
	if err != nil {
		return "", nil, fmt.Errorf("outputs %s: %w", o.o.Stream.S, err)
	}
	return pk, data, nil
}

// openSink creates the sink a file describes, or with DryRun checks its
// settings only.
func (s *Spec) openSink(ctx context.Context, d Deps, a *aggSpec, k *Sink) (flow.Sink, error) {
	switch {
	case k.DuckDB != nil:
		c := *k.DuckDB
		if c.Path.S == "" {
			return nil, errors.New("duckdb: path is empty")
		}
		if d.OpenDuckDB == nil {
			return nil, d.ErrNoDuckDB
		}
		if d.DryRun {
			return dryRun{}, nil
		}
		return d.OpenDuckDB(ctx, c)
	case k.Postgres != nil:
		c := k.Postgres
		if c.DSN.S == "" {
			return nil, errors.New("postgres: dsn is empty")
		}
		if d.DryRun {
			return dryRun{}, nil
		}
		opts := []postgres.Option{postgres.WithTablePrefix(c.TablePrefix.S)}
		if c.Schema.S != "" {
			opts = append(opts, postgres.WithSchema(c.Schema.S))
		}
		return postgres.New(ctx, c.DSN.S, opts...)
	case k.Parquet != nil:
		c := k.Parquet
		if c.Dir.S == "" {
			return nil, errors.New("parquet: dir is empty")
		}
		if c.BufferBytes < 0 {
			return nil, errors.New("parquet: buffer_bytes is negative")
		}
		if d.DryRun {
			return dryRun{}, nil
		}
		var opts []parquet.Option
		if c.BufferBytes > 0 || c.BufferAge.Set {
			size, age := int(c.BufferBytes), c.BufferAge.D
			if size == 0 {
				size = 5 << 20
			}
			if !c.BufferAge.Set {
				age = 300 * time.Second
			}
			opts = append(opts, parquet.WithBuffer(size, age))
		}
		if c.WriterID.S != "" {
			opts = append(opts, parquet.WithWriterID(c.WriterID.S))
		}
		return parquet.New(c.Dir.S, append(opts, parquet.WithLogger(d.Logger))...)
	case k.Stream != nil:
		if k.Stream.Stream.S == "" {
			return nil, errors.New("stream: the stream name is empty")
		}
		if d.DryRun {
			return dryRun{}, nil
		}
		return stream.New(d.Kinesis, k.Stream.Stream.S)
	case k.Metrics != nil:
		c := k.Metrics
		if c.Namespace.S != "" && !validIdent(c.Namespace.S) {
			return nil, fmt.Errorf("metrics: namespace %q: want letters, digits and _", c.Namespace.S)
		}
		if c.MaxKeys < 0 || c.StaleWindows < 0 {
			return nil, errors.New("metrics: max_keys and stale_windows must not be negative")
		}
		if d.Registerer == nil {
			return nil, errors.New("metrics: the gauges need somewhere to be shown: run with --metrics-addr")
		}
		if d.DryRun {
			return dryRun{}, nil
		}
		var opts []metrics.Option
		if c.Namespace.S != "" {
			opts = append(opts, metrics.WithNamespace(c.Namespace.S))
		}
		if c.MaxKeys > 0 {
			opts = append(opts, metrics.WithMaxKeys(c.MaxKeys))
		}
		if c.StaleWindows > 0 {
			opts = append(opts, metrics.WithStaleWindows(c.StaleWindows))
		}
		return metrics.New(d.Registerer, opts...), nil
	case k.Alert != nil:
		return s.openAlert(d, a, k.Alert)
	}
	return nil, errors.New("no sink")
}

func (s *Spec) openAlert(d Deps, a *aggSpec, c *AlertSink) (flow.Sink, error) {
	target := c.Webhook.S
	var opts []alert.Option
	if target == "" {
		// No webhook: print the notifications, for trying rules out.
		target = "http://stdout/"
		opts = append(opts, alert.WithHTTPClient(&http.Client{Transport: &printTransport{w: d.Stdout}}))
	} else if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alert: webhook %q: want an http:// or https:// URL", target)
	}
	var rules []alert.Rule
	for i, r := range c.Rules {
		rule := alert.Rule{Name: r.Name.S, Table: a.table.Name, Value: r.Value.S, Op: r.Op.S, Relative: r.Relative,
			DatapointsToAlarm: r.DatapointsToAlarm, EvaluationWindows: r.EvaluationWindows, Period: r.Period.D, PerKey: r.PerKey}
		if r.Threshold != nil {
			rule.Threshold = *r.Threshold
		}
		switch r.Kind.S {
		case "", "threshold":
			rule.Kind = alert.Threshold
		case "change":
			rule.Kind = alert.Change
		case "absence":
			rule.Kind = alert.Absence
		default:
			return nil, fmt.Errorf("alert: rules[%d].kind: %q: want threshold, change or absence", i, r.Kind.S)
		}
		if rule.Kind != alert.Absence {
			if r.Threshold == nil {
				return nil, fmt.Errorf("alert: rules[%d] (%s): threshold is missing", i, r.Name.S)
			}
			col := -1
			for j, v := range a.table.Values {
				if v.Name == r.Value.S {
					col = j
				}
			}
			if col < 0 {
				var names []string
				for _, v := range a.table.Values {
					names = append(names, v.Name)
				}
				return nil, fmt.Errorf("alert: rules[%d] (%s): value %q is not an aggregate of table %s; want one of: %s",
					i, r.Name.S, r.Value.S, a.table.Name, strings.Join(names, ", "))
			}
			if t := a.table.Values[col].Type; t != flow.Int && t != flow.Float && t != flow.Bool {
				return nil, fmt.Errorf("alert: rules[%d] (%s): value %s is a %s; a rule compares an int, float or bool", i, r.Name.S, r.Value.S, t)
			}
		}
		rules = append(rules, rule)
	}
	if c.Retry != nil {
		r := c.Retry
		if r.Attempts < 0 || r.MinBackoff.D > r.MaxBackoff.D && r.MaxBackoff.Set {
			return nil, errors.New("alert: retry: want attempts ≥ 1 and min_backoff ≤ max_backoff")
		}
		attempts, lo, hi := max(r.Attempts, 1), r.MinBackoff.D, r.MaxBackoff.D
		if !r.MinBackoff.Set {
			lo = 500 * time.Millisecond
		}
		if !r.MaxBackoff.Set {
			hi = max(30*time.Second, lo)
		}
		opts = append(opts, alert.WithRetry(attempts, lo, hi))
	}
	if c.MaxKeys < 0 {
		return nil, errors.New("alert: max_keys is negative")
	}
	if c.MaxKeys > 0 {
		opts = append(opts, alert.WithMaxKeys(c.MaxKeys))
	}
	if c.DeadLetter.S != "" && !d.DryRun {
		opts = append(opts, alert.WithDeadLetter(d.Kinesis, c.DeadLetter.S))
	}
	sk, err := alert.New(target, rules, append(opts, alert.WithLogger(d.Logger))...)
	if err != nil {
		return nil, err
	}
	if d.DryRun {
		sk.Close()
		return dryRun{}, nil
	}
	return sk, nil
}

// printTransport answers an alert sink's POSTs by printing their bodies,
// one JSON document a line.
type printTransport struct {
	mu sync.Mutex
	w  io.Writer
}

func (t *printTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	t.mu.Lock()
	fmt.Fprintf(t.w, "alert: %s\n", strings.TrimSpace(string(body)))
	t.mu.Unlock()
	return &http.Response{StatusCode: http.StatusNoContent, Status: "204 No Content", Body: http.NoBody, Request: r, Header: http.Header{}}, nil
}

// dryRun stands for a sink in a pipeline that is only validated.
type dryRun struct{}

func (dryRun) Open(context.Context, flow.Table) error              { return nil }
func (dryRun) Write(context.Context, flow.Table, []flow.Row) error { return nil }
func (dryRun) Close() error                                        { return nil }
