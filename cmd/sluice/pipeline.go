package main

// `sluice pipeline run|validate|list|query`: pipelines described in a YAML
// file (internal/flowfile, docs/pipeline.md) run as flow workers, and the
// graph of the pipelines running against an endpoint.

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/internal/flowfile"
)

func pipelineCommands() []command {
	return []command{
		{name: "run", summary: "run a pipeline file as one of its workers", run: runPipelineRun},
		{name: "validate", summary: "check a pipeline file without running it", run: runPipelineValidate},
		{name: "list", summary: "print the running pipelines and the graph of streams they form", run: runPipelineList},
		{name: "query", summary: "run SQL on a DuckDB file read-only (a binary built with -tags duckdb)", run: runPipelineQuery},
	}
}

// pipelineClients are the clients a pipeline uses: Kinesis, and DynamoDB
// for its lease tables and the registry (Sluice answers both on one port).
type pipelineClients struct {
	cf          clientFlags
	ddbEndpoint string
}

func (c *pipelineClients) register(fs *flag.FlagSet, env *cmdEnv) {
	c.cf.register(fs, env)
	fs.StringVar(&c.ddbEndpoint, "dynamodb-endpoint", env.getenv("AWS_ENDPOINT_URL_DYNAMODB"),
		"DynamoDB endpoint `url` for the lease tables and the registry, or \"aws\" (default $AWS_ENDPOINT_URL_DYNAMODB, else --endpoint: Sluice serves DynamoDB on its Kinesis port)")
}

func (c *pipelineClients) clients(ctx context.Context) (*kinesis.Client, *dynamodb.Client, error) {
	kc, err := c.cf.newClient(ctx)
	if err != nil {
		return nil, nil, err
	}
	endpoint := c.ddbEndpoint
	if endpoint == "" {
		endpoint = c.cf.endpoint
	}
	cfg, base, err := c.cf.awsConfig(ctx, endpoint)
	if err != nil {
		return nil, nil, err
	}
	return kc, dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = base }), nil
}

// loadPipelineFile reads and checks a pipeline file.
func loadPipelineFile(env *cmdEnv, path string) (*flowfile.Spec, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lookup := func(name string) (string, bool) {
		v := env.getenv(name)
		return v, v != ""
	}
	return flowfile.Parse(path, src, lookup)
}

func duckDBOpener() func(context.Context, flowfile.DuckDBSink) (flow.Sink, error) {
	if !withDuckDB {
		return nil
	}
	return openDuckDBSink
}

func runPipelineValidate(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "pipeline validate", "sluice pipeline validate FILE.yaml [flags]")
	var pc pipelineClients
	pc.register(fs, env)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "pipeline validate: want exactly one FILE, got %d arguments", len(pos))
	}
	spec, err := loadPipelineFile(env, pos[0])
	if err != nil {
		return err
	}
	kc, ddb, err := pc.clients(ctx)
	if err != nil {
		return err
	}
	b, err := spec.Build(ctx, flowfile.Deps{
		Kinesis: kc, DynamoDB: ddb, OpenDuckDB: duckDBOpener(), ErrNoDuckDB: errNoDuckDB,
		Registerer: prometheus.NewRegistry(), DryRun: true,
	}, pos[0])
	if err != nil {
		return err
	}
	b.Close()
	// With an endpoint named on the command line, the streams read and
	// the streams written (which the pipeline does not create) must exist.
	if isFlagSet(fs, "endpoint") {
		for _, ref := range spec.Streams() {
			name, arn := streamRef(ref.Name)
			if _, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name, StreamARN: arn}); err != nil {
				return fmt.Errorf("%s:%d:%d: %s: stream %s: %w", pos[0], ref.Pos.Line, ref.Pos.Col, ref.What, ref.Name, err)
			}
		}
	}
	fmt.Fprintf(env.stdout, "%s: pipeline %s is valid\n", pos[0], spec.Name)
	for _, line := range spec.Summary() {
		fmt.Fprintln(env.stdout, "  "+line)
	}
	return nil
}

func runPipelineRun(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "pipeline run", "sluice pipeline run FILE.yaml [flags]")
	var pc pipelineClients
	pc.register(fs, env)
	workerID := fs.String("worker-id", "", "this worker's `id` among the pipeline's workers (default: host name and a random suffix)")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics (the pipeline's figures and its metrics sinks) at http://`addr`/metrics")
	report := fs.Duration("report-interval", 10*time.Second, "how often to log throughput, lag and the last window written (0: never)")
	generate := fs.String("generate", "", "for trying a pipeline out: write generated records of `kind` (clickstream) to its first source stream, created if missing, while it runs")
	genRate := fs.Int("generate-rate", 200, "records per second --generate writes once it has caught up with the present")
	genBackfill := fs.Duration("generate-backfill", 10*time.Minute, "how far into the past --generate starts, written as fast as the stream takes it")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "pipeline run: want exactly one FILE, got %d arguments", len(pos))
	}
	if *generate != "" && *generate != "clickstream" {
		return usageError(fs, "pipeline run: --generate %q: the one kind is clickstream", *generate)
	}
	if *genRate < 1 {
		return usageError(fs, "pipeline run: --generate-rate must be at least 1")
	}
	spec, err := loadPipelineFile(env, pos[0])
	if err != nil {
		return err
	}
	kc, ddb, err := pc.clients(ctx)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(env.stderr, nil))
	var gen *clickGenerator
	if *generate != "" {
		gen = &clickGenerator{client: kc, stream: spec.File.Sources[0].S, rate: *genRate, backfill: *genBackfill, log: log}
		if err := gen.prepare(ctx); err != nil {
			return fmt.Errorf("pipeline run: --generate: %w", err)
		}
	}
	var reg *prometheus.Registry
	if *metricsAddr != "" {
		reg = prometheus.NewRegistry()
	}
	var opts []flow.Option
	if *workerID != "" {
		opts = append(opts, flow.WithWorkerID(*workerID))
	}
	deps := flowfile.Deps{
		Kinesis: kc, DynamoDB: ddb, OpenDuckDB: duckDBOpener(), ErrNoDuckDB: errNoDuckDB,
		Stdout: env.stdout, Logger: log, Options: opts,
	}
	if reg != nil {
		deps.Registerer = reg
	}
	b, err := spec.Build(ctx, deps, pos[0])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	var background []func()
	defer func() {
		cancel()
		for _, wait := range background {
			wait()
		}
		close(done)
	}()
	if reg != nil {
		reg.MustRegister(newPipelineCollector(b.Pipeline))
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			b.Close()
			return fmt.Errorf("pipeline run: --metrics-addr: %w", err)
		}
		srv := &http.Server{Handler: metricsMux(reg), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		background = append(background, func() { srv.Close() })
		log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	if gen != nil {
		g := gen
		genDone := make(chan struct{})
		go func() {
			defer close(genDone)
			if err := g.run(ctx); err != nil && ctx.Err() == nil {
				log.Error("generator stopped", "err", err)
			}
		}()
		background = append(background, func() { <-genDone })
	}
	if *report > 0 {
		repDone := make(chan struct{})
		go func() {
			defer close(repDone)
			reportLoop(ctx, b.Pipeline, *report, log)
		}()
		background = append(background, func() { <-repDone })
	}
	log.Info("pipeline starting", "pipeline", spec.Name, "worker", b.WorkerID(), "file", pos[0], "sources", strings.Join(b.Stats().Sources, ","))
	err = b.Run(ctx)
	if err != nil && !isCanceled(ctx, err) {
		return fmt.Errorf("pipeline %s: %w", spec.Name, err)
	}
	return nil
}

func metricsMux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// reportLoop logs the pipeline's figures every interval.
func reportLoop(ctx context.Context, p *flow.Pipeline, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := p.Stats()
		attrs := []any{
			"records", s.Records, "records_per_second", fmt.Sprintf("%.1f", s.RecordsPerSecond),
			"lag_ms", s.LagMillis, "shards", s.SourceShards, "repartition_shards", s.MergeShards,
			"rows", s.Rows, "late", s.LateRecords, "dead_letters", s.DeadLetters,
		}
		if !s.LastWindowEnd.IsZero() {
			attrs = append(attrs, "last_window_end", s.LastWindowEnd.UTC().Format(time.RFC3339Nano))
		}
		if len(s.ShardLagMillis) > 0 {
			attrs = append(attrs, "lag_ms_by_shard", formatShardLag(s.ShardLagMillis))
		}
		log.Info("pipeline", attrs...)
	}
}

func formatShardLag(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

// pipelineCollector shows a pipeline's Stats on /metrics, read at scrape.
type pipelineCollector struct {
	p                                              *flow.Pipeline
	records, rate, lag, lastWindow, rows, late, dl *prometheus.Desc
	shards                                         *prometheus.Desc
}

func newPipelineCollector(p *flow.Pipeline) *pipelineCollector {
	l := []string{"pipeline", "worker"}
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc("sluice_pipeline_"+name, help, append(append([]string(nil), l...), extra...), nil)
	}
	return &pipelineCollector{
		p:          p,
		records:    d("records_total", "Source records read by this worker."),
		rate:       d("records_per_second", "Source records read per second, over the last seconds."),
		lag:        d("lag_milliseconds", "MillisBehindLatest of each shard this worker holds.", "shard"),
		lastWindow: d("last_window_end_seconds", "End of the last window whose rows every sink acknowledged (Unix seconds)."),
		rows:       d("rows_total", "Result rows acknowledged by the sinks."),
		late:       d("late_records_total", "Records sent to late streams."),
		dl:         d("dead_letters_total", "Records sent to the dead-letter stream."),
		shards:     d("shards", "Shards this worker holds, by stage (source or repartition).", "stage"),
	}
}

func (c *pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.records, c.rate, c.lag, c.lastWindow, c.rows, c.late, c.dl, c.shards} {
		ch <- d
	}
}

func (c *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	l := []string{s.Pipeline, s.Worker}
	ch <- prometheus.MustNewConstMetric(c.records, prometheus.CounterValue, float64(s.Records), l...)
	ch <- prometheus.MustNewConstMetric(c.rate, prometheus.GaugeValue, s.RecordsPerSecond, l...)
	for shard, lag := range s.ShardLagMillis {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(lag), append(l, shard)...)
	}
	if !s.LastWindowEnd.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.lastWindow, prometheus.GaugeValue, float64(s.LastWindowEnd.UnixMilli())/1000, l...)
	}
	ch <- prometheus.MustNewConstMetric(c.rows, prometheus.CounterValue, float64(s.Rows), l...)
	ch <- prometheus.MustNewConstMetric(c.late, prometheus.CounterValue, float64(s.LateRecords), l...)
	ch <- prometheus.MustNewConstMetric(c.dl, prometheus.CounterValue, float64(s.DeadLetters), l...)
	ch <- prometheus.MustNewConstMetric(c.shards, prometheus.GaugeValue, float64(s.SourceShards), append(l, "source")...)
	ch <- prometheus.MustNewConstMetric(c.shards, prometheus.GaugeValue, float64(s.MergeShards), append(l, "repartition")...)
}

func runPipelineQuery(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "pipeline query", "sluice pipeline query FILE.duckdb 'SELECT ...'")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError(fs, "pipeline query: want a DuckDB FILE and one SQL query, got %d arguments", len(pos))
	}
	if _, err := os.Stat(pos[0]); err != nil {
		return fmt.Errorf("pipeline query: %w", err)
	}
	return queryDuckDB(ctx, pos[0], pos[1], env.stdout)
}

const pipelineHelp = "Run 'sluice pipeline <command> --help' for the flags of a command. The file format: docs/pipeline.md."
