package flow

import (
	"fmt"
	"slices"
	"time"
)

// Keyed is a stream whose values have a grouping key, for
// AggregateWindows.
type Keyed[T any] struct {
	s    *Stream[T]
	cols []Column
	key  func(b []byte, v T) ([]byte, error)
	err  error
}

// KeyBy groups a stream's values by key(v). A key of a string, number,
// bool or time.Time type is one key column, named names[0] (default
// "key"); a struct of such fields is one column per exported field, named
// by its `flow:"name"` tag or its name in snake_case, or by names in
// order.
func KeyBy[T any, K comparable](s *Stream[T], key func(T) K, names ...string) *Keyed[T] {
	c, err := newKeyCodec[K](names)
	if err != nil {
		return &Keyed[T]{s: s, err: fmt.Errorf("KeyBy: %w", err)}
	}
	return &Keyed[T]{s: s, cols: c.cols, key: func(b []byte, v T) ([]byte, error) { return c.encode(b, key(v)) }}
}

// KeyByColumns groups by key columns chosen at run time (a pipeline file):
// key returns one value per column, of the column's type (or nil).
func KeyByColumns[T any](s *Stream[T], cols []Column, key func(T) ([]any, error)) *Keyed[T] {
	k := &Keyed[T]{s: s, cols: slices.Clone(cols)}
	for _, c := range cols {
		if !validIdent(c.Name) {
			k.err = fmt.Errorf("KeyByColumns: column name %q: want letters, digits and underscores, not starting with a digit", c.Name)
		}
	}
	k.key = func(b []byte, v T) ([]byte, error) {
		vals, err := key(v)
		if err != nil {
			return nil, err
		}
		if len(vals) != len(cols) {
			return nil, fmt.Errorf("key: %d values for %d columns", len(vals), len(cols))
		}
		for i, c := range cols {
			if b, err = appendKeyValue(b, c.Type, vals[i]); err != nil {
				return nil, fmt.Errorf("key column %s: %w", c.Name, err)
			}
		}
		return b, nil
	}
	return k
}

// Global groups all values under one key: a global aggregate has no key
// columns.
func Global[T any](s *Stream[T]) *Keyed[T] {
	return &Keyed[T]{s: s, key: func(b []byte, _ T) ([]byte, error) { return b, nil }}
}

// aggSpec is an aggregation as the runtime sees it, whatever T was.
type aggSpec struct {
	p      *Pipeline
	name   string
	table  Table
	window Windowing
	aggs   []Aggregate
	sinks  []Sink

	lateness   int64 // ms
	maxOOO     int64 // ms
	idle       int64 // ms: idleness after which a shard's watermark moves on its own
	arrival    bool  // event time is the arrival time
	lateStream string
	sources    []*source
	err        error
}

// streams lists the aggregation's source streams.
func (a *aggSpec) streams() []string {
	var out []string
	for _, s := range a.sources {
		out = append(out, s.name)
	}
	return out
}

// Aggregation is a windowed aggregation of a keyed stream, whose results
// are upserted into sinks as rows of a table: one row per window and key,
// with one column per key column and per aggregate.
type Aggregation[T any] struct {
	spec      *aggSpec
	eventTime func(T) time.Time
}

// AggregateWindows computes aggs over the windows w of each key of k. name names
// the result (the table in a warehouse; letters, digits and underscores).
// Keys of several source shards are brought together through the
// pipeline's repartition stream (see the package documentation); by
// default event time is the records' arrival time, and records later than
// the watermark allows go to the stream "<pipeline>-late".
func AggregateWindows[T any](k *Keyed[T], name string, w Windowing, aggs ...Aggregate) *Aggregation[T] {
	p := k.s.p
	spec := &aggSpec{p: p, name: name, window: w, aggs: aggs, arrival: true, idle: time.Second.Milliseconds(),
		lateStream: p.name + "-late", sources: k.s.sources}
	a := &Aggregation[T]{spec: spec}
	spec.table = Table{Pipeline: p.name, Name: name, Keys: slices.Clone(k.cols)}
	for _, ag := range aggs {
		spec.table.Values = append(spec.table.Values, Column{Name: ag.Name(), Type: ag.Type()})
	}
	switch {
	case k.err != nil:
		spec.err = k.err
	case !validIdent(name):
		spec.err = fmt.Errorf("aggregation name %q: want letters, digits and underscores, not starting with a digit", name)
	case len(aggs) == 0:
		spec.err = fmt.Errorf("aggregation %s: no aggregates", name)
	default:
		spec.err = w.validate()
	}
	p.addAggregation(spec)
	k.s.attach(func(r *shardRun) (emitFn[T], error) {
		if !k.s.feeds(r.src) {
			return nil, nil
		}
		pre := r.preAgg(spec)
		eventTime := a.eventTime
		vals := make([]any, len(aggs))
		// Boxing the record costs an allocation per record; aggregates
		// that only count records do not read it.
		reads := slices.ContainsFunc(aggs, readsRecord)
		var keyBuf []byte
		return func(e *elem, v T) error {
			var err error
			if keyBuf, err = k.key(keyBuf[:0], v); err != nil {
				return fmt.Errorf("key: %w", err)
			}
			ev := e.arrival
			if eventTime != nil {
				ev = eventTime(v).UnixMilli()
			}
			var boxed any
			if reads {
				boxed = v
			}
			for i, ag := range aggs {
				if vals[i], err = inputOf(ag, boxed); err != nil {
					return fmt.Errorf("aggregate %s input: %w", ag.Name(), err)
				}
			}
			late, err := pre.add(e.pos, ev, r.resumeBefore(e.pos, e.arrival), keyBuf, vals)
			if err != nil {
				return err
			}
			if eventTime != nil {
				pre.observe(ev)
			}
			pre.touched = true
			if late {
				return r.late(e, spec, ev)
			}
			return nil
		}, nil
	})
	return a
}

// inputer is an Aggregate that reads its own input from a record.
type inputer interface {
	Input(record any) (any, error)
}

// readsRecord reports whether an aggregate's input needs the record: all
// but the built-in ones that count records.
func readsRecord(ag Aggregate) bool {
	b, ok := ag.(*builtin)
	return !ok || !b.countsRecords
}

// inputOf is the value an aggregate folds for a record: what its Input
// reads, or the record itself.
func inputOf(ag Aggregate, record any) (any, error) {
	if in, ok := ag.(inputer); ok {
		return in.Input(record)
	}
	return record, nil
}

// EventTime sets the records' event time (default: their arrival time)
// and how far out of order they may come: a shard's watermark is the
// latest event time it has seen minus maxOutOfOrder.
func (a *Aggregation[T]) EventTime(fn func(T) time.Time, maxOutOfOrder time.Duration) *Aggregation[T] {
	a.eventTime = fn
	a.spec.arrival = false
	a.spec.maxOOO = maxOutOfOrder.Milliseconds()
	a.spec.idle = (10 * time.Second).Milliseconds()
	return a
}

// AllowedLateness keeps windows open for d after the watermark passed
// their end: a record that comes meanwhile updates the window's row
// (written again, Final false until the lateness is over). Later records
// go to the late stream. Default 0.
func (a *Aggregation[T]) AllowedLateness(d time.Duration) *Aggregation[T] {
	a.spec.lateness = d.Milliseconds()
	return a
}

// LateTo names the stream that records later than the allowed lateness go
// to, as JSON (see LateRecord); default "<pipeline>-late", created if
// missing.
func (a *Aggregation[T]) LateTo(stream string) *Aggregation[T] {
	a.spec.lateStream = stream
	return a
}

// Idleness sets how long a shard that is caught up and gets no records
// waits before its watermark moves on by the clock, so that the windows of
// other shards can close. Default 1s with arrival time (the margin for
// clock skew between the server and this worker), 10s with EventTime.
func (a *Aggregation[T]) Idleness(d time.Duration) *Aggregation[T] {
	a.spec.idle = d.Milliseconds()
	return a
}

// To adds sinks that receive the aggregation's rows.
func (a *Aggregation[T]) To(sinks ...Sink) *Aggregation[T] {
	a.spec.sinks = append(a.spec.sinks, sinks...)
	return a
}

// Table describes the aggregation's rows, as the sinks get it.
func (a *Aggregation[T]) Table() Table { return a.spec.table }

// LateRecord is the JSON document written to the late stream for a record
// that came after its window's allowed lateness; its partition key is the
// record's.
type LateRecord struct {
	Pipeline                    string    `json:"pipeline"`
	Aggregation                 string    `json:"aggregation"`
	ID                          string    `json:"id"` // Record.ID: the same on every replay
	Stream                      string    `json:"stream"`
	ShardID                     string    `json:"shardId"`
	SequenceNumber              string    `json:"sequenceNumber"`
	SubSequenceNumber           int64     `json:"subSequenceNumber,omitempty"`
	PartitionKey                string    `json:"partitionKey"`
	ApproximateArrivalTimestamp time.Time `json:"approximateArrivalTimestamp"`
	EventTime                   time.Time `json:"eventTime"`
	Watermark                   time.Time `json:"watermark"`
	Data                        []byte    `json:"data"`
}
