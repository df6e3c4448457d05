package flow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/producer"
)

// KinesisAPI is the part of the Kinesis client a pipeline uses;
// *kinesis.Client implements it (and consumer.FanOutAPI, for fan-out).
type KinesisAPI interface {
	consumer.KinesisAPI
	CreateStream(ctx context.Context, in *kinesis.CreateStreamInput, optFns ...func(*kinesis.Options)) (*kinesis.CreateStreamOutput, error)
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// DynamoDBAPI is the part of the DynamoDB client a pipeline uses for its
// lease tables and its registration; *dynamodb.Client implements it.
type DynamoDBAPI = consumer.DynamoDBAPI

var (
	_ KinesisAPI  = (*kinesis.Client)(nil)
	_ DynamoDBAPI = (*dynamodb.Client)(nil)
)

// Pipeline is a stream-processing application: sources, the operators
// over them, and where the results go. Describe it with Source and the
// operator functions, then Run it; every process that runs a pipeline of
// the same name is one of its workers, sharing its shards.
type Pipeline struct {
	name string
	kc   KinesisAPI
	ddb  DynamoDBAPI
	opts options
	log  *slog.Logger

	sources []*source
	aggs    []*aggSpec
	dedups  []int64 // within, ms, by index
	outputs map[string]*output
	errs    []error

	runMu   sync.Mutex
	running bool
	rt      *runtime
}

// source is one source stream and its consumer group.
type source struct {
	name   string // as given: a name or an ARN
	stream *Stream[Record]
}

var nameRe = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,100}$`)

// New describes a pipeline named name (letters, digits, '_', '.' and '-',
// at most 100), unique among the pipelines of a deployment: it names its
// lease tables, its repartition stream and its rows in sinks. The Kinesis
// client reads and writes streams; the DynamoDB client keeps the lease
// tables and the registry (on Sluice, the same endpoint serves both).
func New(name string, kc KinesisAPI, ddb DynamoDBAPI, opts ...Option) (*Pipeline, error) {
	if !nameRe.MatchString(name) {
		return nil, fmt.Errorf("pipeline name %q: want 1 to 100 letters, digits, '_', '.' or '-'", name)
	}
	if kc == nil || ddb == nil {
		return nil, errors.New("pipeline: a Kinesis and a DynamoDB client are required")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.workerID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		o.workerID = host + "-" + hex.EncodeToString(b[:])
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.metrics == nil {
		o.metrics = NopMetrics{}
	}
	switch {
	case o.checkpointInterval <= 0, o.markerInterval <= 0, o.heartbeat <= 0:
		return nil, errors.New("pipeline: intervals must be positive")
	case o.failover < 100*time.Millisecond:
		return nil, fmt.Errorf("pipeline: failover time %v is below 100ms", o.failover)
	}
	return &Pipeline{
		name: name, kc: kc, ddb: ddb, opts: o,
		log:     o.logger.With("pipeline", name, "worker", o.workerID),
		outputs: map[string]*output{},
	}, nil
}

// NewFromConfig describes a pipeline with Kinesis and DynamoDB clients
// built from cfg.
func NewFromConfig(name string, cfg aws.Config, opts ...Option) (*Pipeline, error) {
	return New(name, kinesis.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg), opts...)
}

// Name returns the pipeline's name.
func (p *Pipeline) Name() string { return p.name }

// WorkerID returns this worker's name.
func (p *Pipeline) WorkerID() string { return p.opts.workerID }

// RepartitionStream is the name of the stream that carries the pipeline's
// partial aggregates between its two stages.
func (p *Pipeline) RepartitionStream() string { return p.name + "-repartition" }

func (p *Pipeline) addSource(stream string) *source {
	for _, s := range p.sources {
		if s.name == stream {
			p.errs = append(p.errs, fmt.Errorf("source %s: already a source of the pipeline (use the same Stream twice instead)", stream))
		}
	}
	s := &source{name: stream}
	p.sources = append(p.sources, s)
	return s
}

func (p *Pipeline) addAggregation(a *aggSpec) {
	for _, o := range p.aggs {
		if o.name == a.name {
			p.errs = append(p.errs, fmt.Errorf("aggregation %s: the name is taken", a.name))
		}
	}
	p.aggs = append(p.aggs, a)
}

func (p *Pipeline) addDedup(within time.Duration) int {
	if within <= 0 {
		p.errs = append(p.errs, fmt.Errorf("Dedup within %v: want a positive duration", within))
	}
	p.dedups = append(p.dedups, within.Milliseconds())
	return len(p.dedups) - 1
}

func (p *Pipeline) addOutput(stream string) *output {
	if o := p.outputs[stream]; o != nil {
		return o
	}
	o := &output{stream: stream}
	p.outputs[stream] = o
	return o
}

// Validate reports mistakes in the pipeline's description: bad names,
// windows, keys, missing sinks. Run validates too.
func (p *Pipeline) Validate() error {
	errs := append([]error(nil), p.errs...)
	if len(p.sources) == 0 {
		errs = append(errs, errors.New("no source"))
	}
	for _, a := range p.aggs {
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		if len(a.sinks) == 0 {
			errs = append(errs, fmt.Errorf("aggregation %s: no sink (To)", a.name))
		}
		if a.lateness < 0 || a.maxOOO < 0 || a.idle < 0 {
			errs = append(errs, fmt.Errorf("aggregation %s: negative lateness, out-of-orderness or idleness", a.name))
		}
		if a.lateStream == "" {
			errs = append(errs, fmt.Errorf("aggregation %s: no late stream", a.name))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("pipeline %s: %w", p.name, errors.Join(errs...))
	}
	return nil
}

// streamName is a stream's name whether given as a name or an ARN.
func streamName(s string) string {
	if i := strings.LastIndex(s, "stream/"); strings.HasPrefix(s, "arn:") && i >= 0 {
		return s[i+len("stream/"):]
	}
	return s
}

// output is a stream the pipeline writes to, through a producer.
type output struct {
	stream string
	p      *producer.Producer
}
