package flow

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"
)

// Record is a record of a source stream as read: a Kinesis record, or a
// user record out of a KPL aggregate.
type Record struct {
	Stream            string
	ShardID           string
	PartitionKey      string
	SequenceNumber    string
	SubSequenceNumber int64
	ArrivalTime       time.Time // ApproximateArrivalTimestamp
	Data              []byte
}

// ID is the record's identity, unique and the same on every read:
// stream/shard/sequence/sub-sequence.
func (r Record) ID() string {
	return fmt.Sprintf("%s/%s/%s/%d", r.Stream, r.ShardID, r.SequenceNumber, r.SubSequenceNumber)
}

// Stream is a stream of values of type T inside a pipeline: the records of
// a source, or what operators made of them. Operators are functions
// (Filter, Map, KeyBy, ...) that take a stream and return a new one;
// streams are only described until Pipeline.Run runs them.
type Stream[T any] struct {
	p       *Pipeline
	sources []*source
	// outs make, for one source shard, the functions that take this
	// stream's values downstream.
	outs []func(r *shardRun) (emitFn[T], error)
}

// emitFn takes one value downstream. An error is an operator's: the record
// goes to the dead-letter stream or stops the shard.
type emitFn[T any] func(e *elem, v T) error

// elem is the record a value came from, as it travels downstream.
type elem struct {
	run     *shardRun
	rec     *Record
	pos     position
	arrival int64 // ms
	silent  bool  // replayed: its effects happened before the checkpoint
	outputs int   // values this record sent to stream outputs so far
}

func newStream[T any](p *Pipeline, sources []*source) *Stream[T] {
	return &Stream[T]{p: p, sources: sources}
}

// attach adds a consumer of s's values.
func (s *Stream[T]) attach(f func(r *shardRun) (emitFn[T], error)) { s.outs = append(s.outs, f) }

// instance builds, once per source shard, the function that takes s's
// values to all its consumers.
func (s *Stream[T]) instance(r *shardRun) (emitFn[T], error) {
	if f, ok := r.built[s]; ok {
		return f.(emitFn[T]), nil
	}
	fns := make([]emitFn[T], 0, len(s.outs))
	for _, o := range s.outs {
		f, err := o(r)
		if err != nil {
			return nil, err
		}
		if f != nil {
			fns = append(fns, f)
		}
	}
	var f emitFn[T]
	switch len(fns) {
	case 0:
		f = func(*elem, T) error { return nil }
	case 1:
		f = fns[0]
	default:
		f = func(e *elem, v T) error {
			for _, fn := range fns {
				if err := fn(e, v); err != nil {
					return err
				}
			}
			return nil
		}
	}
	r.built[s] = f
	return f, nil
}

// feeds reports whether the stream carries records of src.
func (s *Stream[T]) feeds(src *source) bool { return slices.Contains(s.sources, src) }

// derive makes a stream fed by s through op, which wraps the downstream
// function of the new stream.
func derive[T, U any](s *Stream[T], op func(next emitFn[U], r *shardRun) emitFn[T]) *Stream[U] {
	out := newStream[U](s.p, s.sources)
	s.attach(func(r *shardRun) (emitFn[T], error) {
		if !out.feeds(r.src) {
			return nil, nil
		}
		next, err := out.instance(r)
		if err != nil {
			return nil, err
		}
		return op(next, r), nil
	})
	return out
}

// Source reads a stream (a name or an ARN) as a consumer group: the
// pipeline's workers share its shards. Its values are the records as read.
func Source(p *Pipeline, stream string) *Stream[Record] {
	src := p.addSource(stream)
	s := newStream[Record](p, []*source{src})
	src.stream = s
	return s
}

// JSON decodes each record's data as JSON into a T (a struct, or
// map[string]any for records of any shape), as encoding/json's Unmarshal
// does. A record that is not valid JSON for T is an operator error.
//
// The decoder is encoding/json's behaviour on the engine of its successor
// (github.com/go-json-experiment/json/v1, what encoding/json becomes with
// GOEXPERIMENT=jsonv2): the same results and errors for every input,
// error messages aside, at less than half the CPU time for structs
// (docs/benchmarks.md, "Pipelines").
func JSON[T any](s *Stream[Record]) *Stream[T] {
	return derive(s, func(next emitFn[T], _ *shardRun) emitFn[Record] {
		v := new(T) // the shard's, decoded into from zero for each record: one allocation less per record
		return func(e *elem, r Record) error {
			var zero T
			*v = zero
			if err := jsonv1.Unmarshal(r.Data, v); err != nil {
				return fmt.Errorf("decode JSON: %w", err)
			}
			return next(e, *v)
		}
	})
}

// Map turns each value into another.
func Map[T, U any](s *Stream[T], fn func(T) U) *Stream[U] {
	return derive(s, func(next emitFn[U], _ *shardRun) emitFn[T] {
		return func(e *elem, v T) error { return next(e, fn(v)) }
	})
}

// TryMap is Map with a function that may fail; an error is an operator
// error (see WithDeadLetterStream).
func TryMap[T, U any](s *Stream[T], fn func(T) (U, error)) *Stream[U] {
	return derive(s, func(next emitFn[U], _ *shardRun) emitFn[T] {
		return func(e *elem, v T) error {
			u, err := fn(v)
			if err != nil {
				return err
			}
			return next(e, u)
		}
	})
}

// Filter keeps the values keep returns true for.
func Filter[T any](s *Stream[T], keep func(T) bool) *Stream[T] {
	return derive(s, func(next emitFn[T], _ *shardRun) emitFn[T] {
		return func(e *elem, v T) error {
			if !keep(v) {
				return nil
			}
			return next(e, v)
		}
	})
}

// FlatMap turns each value into any number of values.
func FlatMap[T, U any](s *Stream[T], fn func(T) []U) *Stream[U] {
	return derive(s, func(next emitFn[U], _ *shardRun) emitFn[T] {
		return func(e *elem, v T) error {
			for _, u := range fn(v) {
				if err := next(e, u); err != nil {
					return err
				}
			}
			return nil
		}
	})
}

// Union merges streams of the same type, for example of several sources.
func Union[T any](streams ...*Stream[T]) *Stream[T] {
	if len(streams) == 0 {
		panic("flow.Union: no streams")
	}
	var sources []*source
	for _, s := range streams {
		for _, src := range s.sources {
			if !slices.Contains(sources, src) {
				sources = append(sources, src)
			}
		}
	}
	out := newStream[T](streams[0].p, sources)
	for _, s := range streams {
		s.attach(func(r *shardRun) (emitFn[T], error) {
			if !s.feeds(r.src) {
				return nil, nil
			}
			return out.instance(r)
		})
	}
	return out
}

// Dedup drops a value whose id was seen on the same source shard less
// than within before it, by arrival time: the duplicates a producer's
// retries make, which carry the same partition key and so land on the same
// shard. Ids are compared per source shard. The dedup is exact under
// replays: a pipeline restarted from a checkpoint drops the same values.
func Dedup[T any](s *Stream[T], id func(T) string, within time.Duration) *Stream[T] {
	idx := s.p.addDedup(within)
	return derive(s, func(next emitFn[T], r *shardRun) emitFn[T] {
		d := r.dedup(idx)
		return func(e *elem, v T) error {
			if d.seen(id(v), e.arrival, e.pos) {
				return nil
			}
			return next(e, v)
		}
	})
}

// ToStream writes each value to stream (a name or an ARN, which must
// exist) with what encode returns. encode gets an id unique to the value
// and the same on every replay (the source record's ID, and the value's
// index among those the record produced), to write into the data if
// downstream consumers are to deduplicate: writes to a stream are at least
// once, since a worker that crashes after writing and before its
// checkpoint writes the same values again.
func ToStream[T any](s *Stream[T], stream string, encode func(v T, id string) (partitionKey string, data []byte, err error)) {
	out := s.p.addOutput(stream)
	s.attach(func(r *shardRun) (emitFn[T], error) {
		if !s.feeds(r.src) {
			return nil, nil
		}
		return func(e *elem, v T) error {
			id := fmt.Sprintf("%s/%d", e.rec.ID(), e.outputs)
			e.outputs++
			key, data, err := encode(v, id)
			if err != nil {
				return fmt.Errorf("encode for %s: %w", stream, err)
			}
			if e.silent {
				return nil
			}
			return r.put(out, key, "", data)
		}, nil
	})
}

// ToStreamJSON writes each value to stream as JSON, with the partition key
// key returns (see ToStream).
func ToStreamJSON[T any](s *Stream[T], stream string, key func(T) string) {
	ToStream(s, stream, func(v T, _ string) (string, []byte, error) {
		b, err := json.Marshal(v)
		return key(v), b, err
	})
}
