// Package console serves Sluice's web console: a single-page front end
// (embedded with go:embed, no build step at run time) and the JSON
// endpoints it polls, mounted by the server under /console/.
//
//	GET  /console/...                         the page (index.html for every route)
//	GET  /console/assets/...                  scripts, styles, vendored libraries
//	GET  /console/api/overview                streams, their rates now, server health
//	GET  /console/api/streams/{name}          shards, lineage, consumers, tags, settings
//	GET  /console/api/streams/{name}/metrics  rate history of a stream or a shard
//	GET  /console/api/streams/{name}/records  a page of records from a cursor
//	GET  /console/api/apps                    lease-table applications, pipelines, fan-out consumers
//	GET  /console/api/graph                   streams and what reads and writes them
//	POST /console/api/streams[/{name}/{action}]  changes, each one Kinesis operation
//
// The console reads and acts through the same domain services as the API:
// the kinesis.Service (the broker), the broker's activity counters, the
// DynamoDB tables' store and the storage's description. It has no path
// to storage of its own and holds no lock of the data path. Its only
// background work is the sampler (history.go), which turns the broker's
// running totals into a bounded ring of rates for the charts.
//
// Live views poll: the overview and a stream's charts every sample
// interval, the live tail by reading pages from a cursor of stateless
// shard iterators. Reads are bounded per request (records, bytes, calls)
// and per browser (a token bucket keyed by a cookie), and record reads
// server-wide by a semaphore, so that ten open tails cost the writers
// little (docs/benchmarks.md, "console").
//
// Authentication is left to the server's middleware around Handler; every
// action passes the request's context to the service, so a principal the
// middleware puts there reaches the service's policy checks, and
// Config.Authorize is called before each action with the Kinesis action
// name and the resource, for a middleware that authorizes at the edge.
package console

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/dynamodb"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// Activity is the broker's view of what it served, read without touching
// storage except for ShardBacklog, which reads a bounded number of
// messages. *broker.Broker implements it.
type Activity interface {
	// Activity returns running totals of every stream, sorted by name.
	Activity() []kinesis.StreamActivity
	// ShardBacklog tells how far a position (a sequence number, "" for
	// TRIM_HORIZON) is behind a shard's newest record.
	ShardBacklog(ctx context.Context, ref kinesis.StreamRef, shardID, after string) (kinesis.Backlog, error)
}

// Tables reads the DynamoDB tables served beside Kinesis, where consumer
// groups keep their leases and pipelines register. *dynamodb.Handler
// implements it.
type Tables interface {
	Tables(ctx context.Context) ([]dynamodb.TableInfo, error)
	// Items returns up to limit items as plain values;
	// dynamodb.ErrNoSuchTable if the table does not exist.
	Items(ctx context.Context, table string, limit int) ([]map[string]any, error)
}

// Storage describes the store. *jetstream.Backend implements it.
type Storage interface {
	Info(ctx context.Context) (kinesis.StorageInfo, error)
}

// Config configures a Console. Service and Activity are required.
type Config struct {
	Service  kinesis.Service
	Activity Activity
	// Tables, if set, is read for lease tables and the pipelines table.
	Tables Tables
	// Storage, if set, is described on the overview.
	Storage Storage
	// Version is shown in the footer; "" shows nothing.
	Version string
	// SampleInterval is how often the sampler reads the broker's
	// counters; default 2 s. History is how many samples a stream keeps
	// (default 300: 10 minutes at 2 s) and ShardHistory how many a shard
	// keeps (default 150); MaxShards bounds the shards with a history
	// (default 2000; more are charted only per stream). Memory: 36 bytes
	// (9 float32 series) × History per stream and × ShardHistory per shard.
	SampleInterval time.Duration
	History        int
	ShardHistory   int
	MaxShards      int
	// LagThreshold is how far behind an application's shard may be
	// before it is shown as lagging; default one minute. StallAfter is
	// how long a held lease may go without a heartbeat (its leaseCounter
	// unchanged) before it is shown as stalled; default 30 s.
	LagThreshold time.Duration
	StallAfter   time.Duration
	// ReadsPerSecond and ReadBurst bound the record pages one browser may
	// read (default 10/s, burst 20); ConcurrentReads bounds record reads
	// in flight server-wide (default 8).
	ReadsPerSecond  float64
	ReadBurst       int
	ConcurrentReads int
	// Authorize, if set, is called before every action with the Kinesis
	// action name ("kinesis:CreateStream") and the resource (a stream ARN,
	// or "*" for CreateStream); an error refuses the action and is shown
	// (a *kinesis.Error keeps its code).
	Authorize func(ctx context.Context, action, resource string) error
	Logger    *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.SampleInterval <= 0 {
		c.SampleInterval = 2 * time.Second
	}
	if c.History <= 0 {
		c.History = 300
	}
	if c.ShardHistory <= 0 {
		c.ShardHistory = 150
	}
	if c.MaxShards <= 0 {
		c.MaxShards = 2000
	}
	if c.LagThreshold <= 0 {
		c.LagThreshold = time.Minute
	}
	if c.StallAfter <= 0 {
		c.StallAfter = 30 * time.Second
	}
	if c.ReadsPerSecond <= 0 {
		c.ReadsPerSecond = 10
	}
	if c.ReadBurst <= 0 {
		c.ReadBurst = 20
	}
	if c.ConcurrentReads <= 0 {
		c.ConcurrentReads = 8
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Console is the console's handler and its sampler. Close stops the
// sampler.
type Console struct {
	cfg     Config
	svc     kinesis.Service
	log     *slog.Logger
	started time.Time
	mux     *http.ServeMux
	assets  *assets

	hist    *history
	readers *readLimiter
	apps    appsCache
	storage storageCache
	descs   descCache

	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New builds a console and starts its sampler.
func New(cfg Config) (*Console, error) {
	if cfg.Service == nil || cfg.Activity == nil {
		return nil, errors.New("console: Service and Activity are required")
	}
	cfg.setDefaults()
	a, err := loadAssets(cfg.Version)
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg:     cfg,
		svc:     cfg.Service,
		log:     cfg.Logger,
		started: cfg.Now(),
		assets:  a,
		hist:    newHistory(cfg.History, cfg.ShardHistory, cfg.MaxShards),
		readers: newReadLimiter(cfg.ReadsPerSecond, cfg.ReadBurst, cfg.ConcurrentReads, cfg.Now),
	}
	c.apps.tracks = make(map[string]*leaseTrack)
	c.routes()
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	c.wg.Go(func() { c.sampleLoop(ctx) })
	return c, nil
}

// Close stops the sampler and waits for it.
func (c *Console) Close() error {
	c.closeOnce.Do(func() {
		c.stop()
		c.wg.Wait()
	})
	return nil
}

// ServeHTTP serves the console's pages and endpoints under /console/.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /console/{$}", c.serveIndex)
	m.HandleFunc("GET /console/assets/{file...}", c.serveAsset)
	m.HandleFunc("GET /console/api/overview", c.api(c.overview))
	m.HandleFunc("GET /console/api/streams/{name}", c.api(c.stream))
	m.HandleFunc("GET /console/api/streams/{name}/metrics", c.api(c.metrics))
	m.HandleFunc("GET /console/api/streams/{name}/records", c.api(c.records))
	m.HandleFunc("GET /console/api/apps", c.api(c.applications))
	m.HandleFunc("GET /console/api/graph", c.api(c.graph))
	m.HandleFunc("POST /console/api/streams", c.action(c.createStream))
	m.HandleFunc("POST /console/api/streams/{name}/{action}", c.action(c.streamAction))
	m.HandleFunc("/console/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, kinesis.Errorf(kinesis.ErrUnknownOperation, "No console endpoint %s %s.", r.Method, r.URL.Path))
	})
	// Every other page is a route of the single-page front end.
	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		c.serveIndex(w, r)
	})
	m.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusFound)
	})
	c.mux = m
}

// api wraps a read endpoint: its result as JSON, errors in AWS's shape.
func (c *Console) api(f func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := f(r)
		if err != nil {
			c.logInternal(r, err)
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// action wraps a POST endpoint. Browsers send actions as JSON with the
// X-Sluice-Console header, which a cross-site form cannot set without a
// CORS preflight that this handler never grants: that is the console's
// defence against cross-site request forgery.
func (c *Console) action(f func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Sluice-Console") == "" {
			writeError(w, kinesis.Errorf(kinesis.ErrAccessDenied, "Console actions need the X-Sluice-Console header."))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
			writeError(w, kinesis.Errorf(kinesis.ErrAccessDenied, "Cross-origin console actions are refused."))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxActionBody)
		v, err := f(r)
		if err != nil {
			c.logInternal(r, err)
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// maxActionBody bounds an action's JSON body: a test record of 1 MiB in
// base64 and some room.
const maxActionBody = 2 << 20

func (c *Console) logInternal(r *http.Request, err error) {
	var ke *kinesis.Error
	if !errors.As(err, &ke) && !errors.Is(err, context.Canceled) {
		c.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

// writeError answers an error as the API does: AWS's __type and message,
// with the code's status; anything else is an InternalFailure whose
// details stay in the log.
func writeError(w http.ResponseWriter, err error) {
	var ke *kinesis.Error
	if !errors.As(err, &ke) {
		ke = kinesis.Errorf(kinesis.ErrInternalFailure, "Internal service failure.")
	}
	status := ke.Code.HTTPStatus()
	if ke.Code == kinesis.ErrLimitExceeded && ke.Message == busyMessage {
		w.Header().Set("Retry-After", "1")
		status = http.StatusTooManyRequests
	}
	writeJSON(w, status, map[string]string{"__type": string(ke.Code), "message": ke.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"__type":"InternalFailureException","message":"Internal service failure."}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}

// decodeBody decodes an action's JSON body, refusing unknown fields.
func decodeBody(r *http.Request, v any) error {
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return kinesis.Errorf(kinesis.ErrSerialization, "Malformed request body: %v", err)
	}
	return nil
}
