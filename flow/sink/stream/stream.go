// Package stream is a flow sink that writes window results into another
// Kinesis stream (on AWS or on Sluice) through the producer package: the
// edges of a processing graph, where one pipeline's results are the next
// one's input.
//
// Each row becomes one JSON record:
//
//	{"id":"5c1e…","pipeline":"clicks","table":"views_per_page",
//	 "window":{"start":"2025-06-01T12:00:00Z","end":"2025-06-01T12:01:00Z"},
//	 "keys":{"page":"/home"},"values":{"views":42},"final":true}
//
// id is derived from (pipeline, table, window, keys) alone (see RecordID),
// so every version of one result row, and every copy of one, has the same
// id. The partition key is made of the key values, so all the records of
// one key land on one shard, in the order they were written: the producer
// runs with producer.WithOrdering.
//
// # Delivery
//
// At-least-once. Write returns nil once the stream has acknowledged every
// row; a Write that fails (or a worker that crashes before its checkpoint)
// is followed by the pipeline writing the rows again, so a record may be
// in the stream twice, always with the same id and, for a final result,
// the same values. A downstream pipeline gets exactly-once results by
// treating records as upserts by id, as every flow sink does with rows:
// key its aggregation by the upstream keys and window (a replayed copy
// replaces the first), or drop repeated ids with the flow dedup operator
// when the upstream emits each window once (final results only, no early
// or late firings). A consumer that sums the values of every record it
// reads sees duplicates.
//
//	s, err := stream.New(kinesis.NewFromConfig(cfg), "page-views")
//	...
//	defer s.Close()
//	// a pipeline calls Open once per table, then Write with batches of rows
package stream

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/producer"
)

// Sink writes rows to one stream.
type Sink struct {
	p      *producer.Producer
	stream string
}

var _ flow.Sink = (*Sink)(nil)

// String names the sink in a pipeline's registry item: stream:name.
func (s *Sink) String() string { return "stream:" + s.stream }

// Option configures a Sink.
type Option func(*config)

type config struct {
	producerOpts []producer.Option
}

// WithProducerOptions passes options to the sink's producer (linger,
// aggregation, rate limits, metrics, a logger). producer.WithOrdering is
// always added.
func WithProducerOptions(opts ...producer.Option) Option {
	return func(c *config) { c.producerOpts = append(c.producerOpts, opts...) }
}

// New returns a sink writing to stream (a name or an ARN) with a producer
// of its own over client, started at once and stopped by Close.
func New(client producer.Client, stream string, opts ...Option) (*Sink, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	p, err := producer.New(client, stream, append(c.producerOpts, producer.WithOrdering())...)
	if err != nil {
		return nil, fmt.Errorf("stream sink %s: %w", stream, err)
	}
	return &Sink{p: p, stream: stream}, nil
}

// Open checks that t's rows can be written: a stream needs no set-up.
func (s *Sink) Open(_ context.Context, t flow.Table) error {
	if t.Pipeline == "" || t.Name == "" {
		return errors.New("stream sink: a table needs a pipeline and a name")
	}
	return nil
}

// Write puts one record per row and returns once the stream acknowledged
// all of them, or with the first failure (some records may be stored).
func (s *Sink) Write(ctx context.Context, t flow.Table, rows []flow.Row) error {
	futures := make([]*producer.Future, 0, len(rows))
	for i, r := range rows {
		rec, err := NewRecord(t, r)
		if err != nil {
			return fmt.Errorf("stream sink %s: row %d: %w", s.stream, i, err)
		}
		data, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("stream sink %s: row %d: encode: %w", s.stream, i, err)
		}
		f, err := s.p.PutAsync(ctx, PartitionKey(t, r.Keys), data)
		if err != nil {
			return fmt.Errorf("stream sink %s: %w", s.stream, err)
		}
		futures = append(futures, f)
	}
	if err := s.p.Flush(ctx); err != nil {
		return fmt.Errorf("stream sink %s: %w", s.stream, err)
	}
	failed := 0
	var first error
	for _, f := range futures {
		if _, err := f.Wait(ctx); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if first != nil {
		return fmt.Errorf("stream sink %s: %d of %d records failed: %w", s.stream, failed, len(rows), first)
	}
	return nil
}

// Close stops the producer.
func (s *Sink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.p.Close(ctx)
}

// Record is the JSON document of one row in the stream.
type Record struct {
	// ID identifies the row: RecordID of its pipeline, table, window and keys.
	ID       string `json:"id"`
	Pipeline string `json:"pipeline"`
	Table    string `json:"table"`
	Window   struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"window"`
	// Keys and Values by column name. Timestamps are RFC 3339 strings;
	// missing values and non-finite floats are null.
	Keys   map[string]any `json:"keys"`
	Values map[string]any `json:"values"`
	// Final is false for an early or updated result that a later record
	// with the same ID replaces.
	Final bool `json:"final"`
}

// NewRecord makes the record of a row of t.
func NewRecord(t flow.Table, r flow.Row) (Record, error) {
	if len(r.Keys) != len(t.Keys) || len(r.Values) != len(t.Values) {
		return Record{}, fmt.Errorf("%d keys and %d values, table %s has %d and %d", len(r.Keys), len(r.Values), t.Name, len(t.Keys), len(t.Values))
	}
	rec := Record{
		ID:       RecordID(t.Pipeline, t.Name, r.Window, r.Keys),
		Pipeline: t.Pipeline,
		Table:    t.Name,
		Keys:     make(map[string]any, len(t.Keys)),
		Values:   make(map[string]any, len(t.Values)),
		Final:    r.Final,
	}
	rec.Window.Start, rec.Window.End = r.Window.Start.UTC(), r.Window.End.UTC()
	for i, c := range t.Keys {
		rec.Keys[c.Name] = jsonValue(r.Keys[i])
	}
	for i, c := range t.Values {
		rec.Values[c.Name] = jsonValue(r.Values[i])
	}
	return rec, nil
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case time.Time:
		return x.UTC()
	}
	return v
}

// RecordID is the id of a result row: the first 128 bits, in hex, of the
// SHA-256 of the pipeline, table, window bounds (nanoseconds since 1970)
// and key values (each tagged with its type), length-prefixed so that no
// two rows share an encoding. It is stable across processes and versions
// of Sluice.
func RecordID(pipeline, table string, w flow.Window, keys []any) string {
	b := make([]byte, 0, 64+len(pipeline)+len(table)+16*len(keys))
	b = appendString(b, pipeline)
	b = appendString(b, table)
	b = binary.BigEndian.AppendUint64(b, uint64(w.Start.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(w.End.UnixNano()))
	for _, k := range keys {
		switch x := k.(type) {
		case nil:
			b = append(b, 'n')
		case int64:
			b = binary.BigEndian.AppendUint64(append(b, 'i'), uint64(x))
		case float64:
			b = binary.BigEndian.AppendUint64(append(b, 'f'), math.Float64bits(x))
		case string:
			b = appendString(append(b, 's'), x)
		case bool:
			b = append(b, 'b', boolByte(x))
		case time.Time:
			b = binary.BigEndian.AppendUint64(append(b, 't'), uint64(x.UnixNano()))
		default:
			b = appendString(append(b, '?'), fmt.Sprint(x))
		}
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// PartitionKey is the partition key of a row: its key values joined by
// "|" (the table's name for a table without keys), or, when that is longer
// than Kinesis's 256 characters, the hex SHA-256 of it.
func PartitionKey(t flow.Table, keys []any) string {
	if len(keys) == 0 {
		return t.Name
	}
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte('|')
		}
		switch x := k.(type) {
		case string:
			sb.WriteString(x)
		case int64:
			sb.WriteString(strconv.FormatInt(x, 10))
		case float64:
			sb.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		case time.Time:
			sb.WriteString(x.UTC().Format(time.RFC3339Nano))
		default:
			fmt.Fprint(&sb, x)
		}
	}
	s := sb.String()
	if s == "" || utf8.RuneCountInString(s) > 256 {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	return s
}
