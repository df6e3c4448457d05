package flowfile

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// joinOr lists words as "a, b or c".
func joinOr(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// File is a pipeline file as written; docs/pipeline.md is its reference.
type File struct {
	// Pipeline names the pipeline (flow.New): its lease tables, its
	// repartition stream and its rows in sinks.
	Pipeline Text `yaml:"pipeline,required"`
	// Sources are the streams read, as one consumer group each.
	Sources Names `yaml:"sources,required"`
	// Decode is json (default: each record a JSON object) or raw.
	Decode Text `yaml:"decode"`
	// Schema declares the types of the record's fields, for type checks.
	Schema NamedList `yaml:"schema"`
	// Dedup drops records whose id was seen on the same shard recently.
	Dedup *Dedup `yaml:"dedup"`
	// Filter keeps the records it is true for.
	Filter Expr `yaml:"filter"`
	// Map sets fields, each from an expression, in order.
	Map NamedList `yaml:"map"`
	// Aggregations are the windowed aggregations of the records.
	Aggregations []Aggregation `yaml:"aggregations"`
	// Outputs write each record to a stream (no aggregation).
	Outputs []Output `yaml:"outputs"`
	// Settings are the pipeline's options.
	Settings Settings `yaml:"settings"`

	Pos Pos
}

// Dedup is flow.Dedup.
type Dedup struct {
	ID     Expr     `yaml:"id,required"`
	Within Duration `yaml:"within,required"`
	Pos    Pos
}

// Aggregation is one flow.AggregateWindows.
type Aggregation struct {
	// Table names the results (the table in a warehouse).
	Table      Text      `yaml:"table,required"`
	Key        Key       `yaml:"key"`
	Window     Window    `yaml:"window,required"`
	Aggregates NamedList `yaml:"aggregates,required"`
	// LateTo is the stream for records after the allowed lateness.
	LateTo Text   `yaml:"late_to"`
	Sinks  []Sink `yaml:"sinks,required"`
	Pos    Pos
}

// Key is the grouping key: a field name, a list of field names, or a
// mapping of column names to expressions.
type Key struct {
	Cols NamedList
	Pos  Pos
}

func (k *Key) decodeNode(d *decoder, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	k.Pos = posOf(n)
	ident := func(c *yaml.Node, p string) {
		c = resolve(c)
		if c.Kind != yaml.ScalarNode || !validIdent(c.Value) {
			d.errorf(posOf(c), "%s: want a field name (letters, digits, _), got %s; give a mapping of column: expression to key by an expression", p, kindName(c))
			return
		}
		k.Cols = append(k.Cols, Named{Name: c.Value, NamePos: posOf(c), Expr: Expr{Src: c.Value, Pos: posOf(c), node: c}})
	}
	switch n.Kind {
	case yaml.ScalarNode:
		ident(n, path)
	case yaml.SequenceNode:
		for i, c := range n.Content {
			ident(c, index(path, i))
		}
	default:
		k.Cols.decodeNode(d, n, path)
	}
}

// Window is the windowing of an aggregation and its time settings.
type Window struct {
	// Type is tumbling, hopping or session.
	Type Text     `yaml:"type,required"`
	Size Duration `yaml:"size"`
	Step Duration `yaml:"step"`
	Gap  Duration `yaml:"gap"`
	// EventTime reads the event time from a record (a timestamp, an RFC
	// 3339 text or Unix milliseconds); default the arrival time.
	EventTime       Expr     `yaml:"event_time"`
	MaxOutOfOrder   Duration `yaml:"max_out_of_order"`
	AllowedLateness Duration `yaml:"allowed_lateness"`
	Idleness        Duration `yaml:"idleness"`
	Pos             Pos
}

// Output writes each record to a stream (flow.ToStream).
type Output struct {
	Stream Text `yaml:"stream,required"`
	// PartitionKey is an expression; default the source record's.
	PartitionKey Expr `yaml:"partition_key"`
	// Value is an expression whose value is written as JSON; default the
	// record with the fields map set.
	Value Expr `yaml:"value"`
	Pos   Pos
}

// Settings are pipeline options (flow.With...).
type Settings struct {
	// DeadLetter is the stream for records an expression fails on.
	DeadLetter Text `yaml:"dead_letter"`
	// StartAt is trim_horizon (default), latest or an RFC 3339 time.
	StartAt Text `yaml:"start_at"`
	// Retrieval is polling (default) or fan-out.
	Retrieval          Text     `yaml:"retrieval"`
	FailoverTime       Duration `yaml:"failover_time"`
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	RepartitionShards  int      `yaml:"repartition_shards"`
	// CostLimit bounds the work of one evaluation of one expression.
	CostLimit int64 `yaml:"cost_limit"`
}

// Sink is one sink of an aggregation: exactly one of the fields.
type Sink struct {
	DuckDB   *DuckDBSink   `yaml:"duckdb"`
	Postgres *PostgresSink `yaml:"postgres"`
	Parquet  *ParquetSink  `yaml:"parquet"`
	Stream   *StreamSink   `yaml:"stream"`
	Metrics  *MetricsSink  `yaml:"metrics"`
	Alert    *AlertSink    `yaml:"alert"`
	Pos      Pos
}

var sinkKinds = []string{"duckdb", "postgres", "parquet", "stream", "metrics", "alert"}

func (s *Sink) decodeNode(d *decoder, n *yaml.Node, path string) {
	s.Pos = posOf(n)
	if n.Kind == yaml.ScalarNode && n.Value == "metrics" {
		s.Metrics = &MetricsSink{Pos: posOf(n)} // the one sink with nothing to set
		return
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		d.errorf(posOf(n), "%s: want one sink, a mapping with one key of %s (e.g. duckdb: results.duckdb), got %s",
			path, joinOr(sinkKinds), kindName(n))
		return
	}
	k, v := resolve(n.Content[0]), resolve(n.Content[1])
	p := join(path, k.Value)
	// A sink with one setting it cannot do without takes it as a scalar:
	// duckdb: file.duckdb, stream: name, parquet: dir, postgres: DSN.
	short := func(field *Text) bool {
		if v.Kind != yaml.ScalarNode || isNull(v) {
			return false
		}
		field.decodeNode(d, v, p)
		return true
	}
	switch k.Value {
	case "duckdb":
		s.DuckDB = &DuckDBSink{}
		if !short(&s.DuckDB.Path) {
			d.decode(v, p, reflectOf(s.DuckDB))
		}
	case "postgres":
		s.Postgres = &PostgresSink{}
		if !short(&s.Postgres.DSN) {
			d.decode(v, p, reflectOf(s.Postgres))
		}
	case "parquet":
		s.Parquet = &ParquetSink{}
		if !short(&s.Parquet.Dir) {
			d.decode(v, p, reflectOf(s.Parquet))
		}
	case "stream":
		s.Stream = &StreamSink{}
		if !short(&s.Stream.Stream) {
			d.decode(v, p, reflectOf(s.Stream))
		}
	case "metrics":
		s.Metrics = &MetricsSink{}
		if !isNull(v) {
			d.decode(v, p, reflectOf(s.Metrics))
		}
	case "alert":
		s.Alert = &AlertSink{}
		d.decode(v, p, reflectOf(s.Alert))
	default:
		d.errorf(posOf(k), "%s: unknown sink %q; want one of: %s", path, k.Value, joinOr(sinkKinds))
	}
}

// DuckDBSink is flow/sink/duckdb (only in a sluice built with -tags duckdb).
type DuckDBSink struct {
	// Path is the database file, created if missing.
	Path        Text     `yaml:"path,required"`
	Schema      Text     `yaml:"schema"`
	TablePrefix Text     `yaml:"table_prefix"`
	Exclusive   bool     `yaml:"exclusive"`
	LockTimeout Duration `yaml:"lock_timeout"`
	Pos         Pos
}

// PostgresSink is flow/sink/postgres.
type PostgresSink struct {
	// DSN is the connection string (a URL or key=value pairs).
	DSN         Text `yaml:"dsn,required"`
	Schema      Text `yaml:"schema"`
	TablePrefix Text `yaml:"table_prefix"`
	Pos         Pos
}

// ParquetSink is flow/sink/parquet.
type ParquetSink struct {
	Dir         Text     `yaml:"dir,required"`
	BufferBytes int64    `yaml:"buffer_bytes"`
	BufferAge   Duration `yaml:"buffer_age"`
	WriterID    Text     `yaml:"writer_id"`
	Pos         Pos
}

// StreamSink is flow/sink/stream.
type StreamSink struct {
	Stream Text `yaml:"stream,required"`
	Pos    Pos
}

// MetricsSink is flow/sink/metrics, on the runner's /metrics.
type MetricsSink struct {
	Namespace    Text `yaml:"namespace"`
	MaxKeys      int  `yaml:"max_keys"`
	StaleWindows int  `yaml:"stale_windows"`
	Pos          Pos
}

// AlertSink is flow/sink/alert.
type AlertSink struct {
	// Webhook is the URL notifications are POSTed to; without it they are
	// printed on the runner's standard output.
	Webhook    Text        `yaml:"webhook"`
	Rules      []AlertRule `yaml:"rules,required"`
	DeadLetter Text        `yaml:"dead_letter"`
	Retry      *AlertRetry `yaml:"retry"`
	MaxKeys    int         `yaml:"max_keys"`
	Pos        Pos
}

// AlertRule is alert.Rule.
type AlertRule struct {
	Name Text `yaml:"name,required"`
	// Kind is threshold (default), change or absence.
	Kind              Text     `yaml:"kind"`
	Value             Text     `yaml:"value"`
	Op                Text     `yaml:"op"`
	Threshold         *float64 `yaml:"threshold"`
	Relative          bool     `yaml:"relative"`
	DatapointsToAlarm int      `yaml:"datapoints_to_alarm"`
	EvaluationWindows int      `yaml:"evaluation_windows"`
	Period            Duration `yaml:"period"`
	PerKey            bool     `yaml:"per_key"`
	Pos               Pos
}

// AlertRetry is alert.WithRetry.
type AlertRetry struct {
	Attempts   int      `yaml:"attempts"`
	MinBackoff Duration `yaml:"min_backoff"`
	MaxBackoff Duration `yaml:"max_backoff"`
}
