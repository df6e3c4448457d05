// Package metrics is a flow sink that shows window results as Prometheus
// gauges, on a registerer the caller injects (the pipeline's /metrics):
// one gauge per value column, one series per key, holding the value of the
// key's latest window.
//
// For a table views_per_page of pipeline clicks with key column page and
// value columns views and p99_ms:
//
//	flow_views_per_page_views{pipeline="clicks",page="/home"} 42
//	flow_views_per_page_p99_ms{pipeline="clicks",page="/home"} 12.5
//	flow_views_per_page_window_end_seconds{pipeline="clicks",page="/home"} 1.74877926e+09
//
// Int, Float and Bool (0 or 1) values and Timestamps (seconds since 1970)
// are shown; String values are not (a gauge holds a number). A row of a
// window older than the key's latest one (a late update) is ignored, so a
// gauge never goes back in time; a missing value removes its series until
// the key's next window.
//
// # Cardinality
//
// The window is not a label, so a key has one series per value column
// however many windows pass. Keys do come and go: a key whose latest
// window ends more than WithStaleWindows window lengths (default 2) before
// the newest window of its table is dropped, and a table keeps at most
// WithMaxKeys keys (default 10,000): past that the keys with the oldest
// windows go first. A table of V value columns exposes at most
// (V+1) × max keys series.
//
// Metrics are not storage: Write only updates memory and never fails for
// lack of a place to put rows; a restarted process shows gauges again from
// the next windows on.
//
//	reg := prometheus.NewRegistry() // the registry behind /metrics
//	s := metrics.New(reg)
//	defer s.Close()
package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/flow"
)

// Sink exposes window results as gauges.
type Sink struct {
	reg  prometheus.Registerer
	opts options

	mu     sync.Mutex
	tables map[string]*table // by pipeline and name
}

var _ flow.Sink = (*Sink)(nil)

// String names the sink in a pipeline's registry item: metrics:namespace.
func (s *Sink) String() string { return "metrics:" + s.opts.namespace }

type options struct {
	namespace   string
	maxKeys     int
	staleWindow int
}

// Option configures a Sink.
type Option func(*options)

// WithNamespace sets the metric names' prefix. Default "flow".
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithMaxKeys bounds the keys (series per value column) one table keeps.
// Default 10,000.
func WithMaxKeys(n int) Option { return func(o *options) { o.maxKeys = n } }

// WithStaleWindows sets how many window lengths a key may fall behind its
// table's newest window before its series are dropped. Default 2; 0 keeps
// keys until WithMaxKeys pushes them out.
func WithStaleWindows(n int) Option { return func(o *options) { o.staleWindow = n } }

// New returns a sink registering its gauges on reg.
func New(reg prometheus.Registerer, opts ...Option) *Sink {
	o := options{namespace: "flow", maxKeys: 10000, staleWindow: 2}
	for _, f := range opts {
		f(&o)
	}
	if o.maxKeys < 1 {
		o.maxKeys = 1
	}
	return &Sink{reg: reg, opts: o, tables: map[string]*table{}}
}

// Open registers the gauges of t's value columns.
func (s *Sink) Open(_ context.Context, t flow.Table) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := t.Pipeline + "\x00" + t.Name
	if _, ok := s.tables[id]; ok {
		return nil
	}
	tb, err := newTable(s.opts, t)
	if err != nil {
		return fmt.Errorf("metrics sink: table %s: %w", t.Name, err)
	}
	if err := s.reg.Register(tb); err != nil {
		return fmt.Errorf("metrics sink: table %s: register: %w", t.Name, err)
	}
	s.tables[id] = tb
	return nil
}

// Write sets each row's key to its window's values, unless the key already
// shows a later window.
func (s *Sink) Write(_ context.Context, t flow.Table, rows []flow.Row) error {
	s.mu.Lock()
	tb := s.tables[t.Pipeline+"\x00"+t.Name]
	s.mu.Unlock()
	if tb == nil {
		return fmt.Errorf("metrics sink: table %s of pipeline %s is not open", t.Name, t.Pipeline)
	}
	return tb.write(rows)
}

// Close unregisters every table's gauges.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, tb := range s.tables {
		s.reg.Unregister(tb)
		delete(s.tables, id)
	}
	return nil
}

// table is the collector of one result table.
type table struct {
	opts   options
	t      flow.Table
	descs  []*prometheus.Desc // per value column; nil for a String column
	winEnd *prometheus.Desc

	mu     sync.Mutex
	series map[string]*series // by encoded key
	newest time.Time          // the end of the newest window written
}

// series is one key's latest window.
type series struct {
	labels []string
	end    time.Time
	values []float64 // NaN: no value
}

func newTable(o options, t flow.Table) (*table, error) {
	prefix := o.namespace + "_" + t.Name + "_"
	labels := make([]string, len(t.Keys))
	for i, k := range t.Keys {
		if !validName(k.Name) || strings.HasPrefix(k.Name, "__") || k.Name == "pipeline" {
			return nil, fmt.Errorf("key column %q cannot be a label", k.Name)
		}
		labels[i] = k.Name
	}
	if !validName(prefix) {
		return nil, fmt.Errorf("%q is not a metric name", prefix)
	}
	constLabels := prometheus.Labels{"pipeline": t.Pipeline}
	tb := &table{opts: o, t: t, series: map[string]*series{}}
	for _, v := range t.Values {
		if v.Type == flow.String {
			tb.descs = append(tb.descs, nil)
			continue
		}
		if !validName(v.Name) {
			return nil, fmt.Errorf("value column %q cannot be in a metric name", v.Name)
		}
		help := fmt.Sprintf("The %s of the latest window per key of %s (pipeline %s).", v.Name, t.Name, t.Pipeline)
		tb.descs = append(tb.descs, prometheus.NewDesc(prefix+v.Name, help, labels, constLabels))
	}
	tb.winEnd = prometheus.NewDesc(prefix+"window_end_seconds",
		fmt.Sprintf("The end of the latest window per key of %s (pipeline %s), in seconds since 1970.", t.Name, t.Pipeline), labels, constLabels)
	return tb, nil
}

func validName(s string) bool {
	for i, c := range s {
		if !(c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9' && i > 0)) {
			return false
		}
	}
	return s != ""
}

func (tb *table) write(rows []flow.Row) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	newest := tb.newest
	var errs []error
	for i, r := range rows {
		if len(r.Keys) != len(tb.t.Keys) || len(r.Values) != len(tb.t.Values) {
			errs = append(errs, fmt.Errorf("row %d: %d keys and %d values, table %s has %d and %d", i, len(r.Keys), len(r.Values), tb.t.Name, len(tb.t.Keys), len(tb.t.Values)))
			continue
		}
		labels := make([]string, len(r.Keys))
		for j, k := range r.Keys {
			labels[j] = labelValue(k)
		}
		id := strings.Join(labels, "\x00")
		s := tb.series[id]
		if s == nil {
			s = &series{labels: labels, values: make([]float64, len(r.Values))}
			tb.series[id] = s
		} else if r.Window.End.Before(s.end) {
			continue // a late update of an older window
		}
		s.end = r.Window.End
		for j, v := range r.Values {
			s.values[j] = number(v)
		}
		if r.Window.End.After(newest) {
			newest = r.Window.End
		}
	}
	if newest.After(tb.newest) {
		tb.newest = newest
		tb.dropStale(rows)
	}
	if len(tb.series) > tb.opts.maxKeys {
		tb.evictOldest()
	}
	return errors.Join(errs...)
}

// dropStale drops the keys that fell more than the stale limit behind the
// newest window, measured in lengths of the rows' windows.
func (tb *table) dropStale(rows []flow.Row) {
	if tb.opts.staleWindow <= 0 || len(rows) == 0 {
		return
	}
	length := rows[0].Window.End.Sub(rows[0].Window.Start)
	limit := tb.newest.Add(-time.Duration(tb.opts.staleWindow) * length)
	for id, s := range tb.series {
		if s.end.Before(limit) {
			delete(tb.series, id)
		}
	}
}

// evictOldest drops the keys with the oldest windows down to 90 % of the
// bound, so that a table at its bound sorts once per many new keys.
func (tb *table) evictOldest() {
	all := make([]string, 0, len(tb.series))
	for id := range tb.series {
		all = append(all, id)
	}
	slices.SortFunc(all, func(a, b string) int { return tb.series[a].end.Compare(tb.series[b].end) })
	keep := tb.opts.maxKeys * 9 / 10
	for _, id := range all[:len(all)-keep] {
		delete(tb.series, id)
	}
}

func labelValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// number is a value as a gauge shows it; NaN when it has none.
func number(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case bool:
		if x {
			return 1
		}
		return 0
	case time.Time:
		return float64(x.UnixNano()) / 1e9
	case int:
		return float64(x)
	}
	return math.NaN()
}

// Describe sends the table's descriptors.
func (tb *table) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range tb.descs {
		if d != nil {
			ch <- d
		}
	}
	ch <- tb.winEnd
}

// Collect sends one sample per key and value column.
func (tb *table) Collect(ch chan<- prometheus.Metric) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, s := range tb.series {
		for j, d := range tb.descs {
			if d == nil || math.IsNaN(s.values[j]) {
				continue
			}
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, s.values[j], s.labels...)
		}
		ch <- prometheus.MustNewConstMetric(tb.winEnd, prometheus.GaugeValue, float64(s.end.UnixNano())/1e9, s.labels...)
	}
}
