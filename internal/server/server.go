// Package server assembles a Sluice server from its parts: the JetStream
// store, the broker over it, and the HTTP API in front. `sluice serve` and
// the public sluicetest package both start servers through it, so a test
// server is wired exactly as the real one.
package server

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/dynamodb"
	"github.com/sluicehq/sluice/internal/httpapi"
	"github.com/sluicehq/sluice/internal/httplimit"
	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/opsmetrics"
)

// Config is a server's storage and semantics. Listening is left to the
// caller, which knows whether it wants a fixed port, TLS or a test port.
type Config struct {
	Store  jetstream.Config
	Broker broker.Config
	Logger *slog.Logger
	// DynamoDBBucket names the KV bucket of the DynamoDB tables. Default
	// "sluice_dynamodb".
	DynamoDBBucket string
	// ProcessMetrics adds the Go runtime and process collectors to
	// /metrics; a process runs one server with them, tests leave it off.
	ProcessMetrics bool
	// Pprof serves Go profiles under /debug/pprof/.
	Pprof bool
	// Auth authenticates and authorizes every request, and guards
	// /metrics, /debug/pprof and the console. Nil: an open server (a
	// signature must be present, nothing is verified), stored resource
	// policies still enforced.
	Auth *auth.Gate
	// Bodies bounds request bodies: bytes in flight across the server
	// and a read deadline per body (defaults in httplimit).
	Bodies httplimit.BodiesConfig
	// MaxConnections caps the connections open at once on the listeners
	// passed to Listen. 0: no cap.
	MaxConnections int
	// Console tunes the web console under /console/; its services are
	// filled in here.
	Console console.Config
	// ShardMetrics picks the streams whose shards get series of their own
	// on /metrics (default opsmetrics.ShardLevelEnhanced: those with
	// enhanced monitoring on).
	ShardMetrics opsmetrics.ShardLevel
}

// Server is an open store and broker and the HTTP handler serving them.
type Server struct {
	store   *jetstream.Backend
	broker  *broker.Broker
	console *console.Console
	handler http.Handler
	conns   *httplimit.Connections // nil: no cap
}

// Open opens the store, starts the broker and builds the handler. Close
// releases them.
func Open(ctx context.Context, c Config) (*Server, error) {
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if c.Store.Logger == nil {
		c.Store.Logger = logger.With("component", "jetstream")
	}
	reg := prometheus.NewRegistry()
	if c.ProcessMetrics {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	c.Store.Registerer = reg
	store, err := jetstream.Open(ctx, c.Store)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	bc := c.Broker
	if bc.Logger == nil {
		bc.Logger = logger.With("component", "broker")
	}
	bc.Registerer = reg
	b, err := broker.New(ctx, store, store, bc)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("start broker: %w", err)
	}
	bucket := c.DynamoDBBucket
	if bucket == "" {
		bucket = DefaultDynamoDBBucket
	}
	tables, err := store.OpenBucket(ctx, bucket)
	if err != nil {
		b.Close()
		store.Close()
		return nil, fmt.Errorf("open dynamodb tables: %w", err)
	}
	fail := func(err error) (*Server, error) {
		b.Close()
		store.Close()
		return nil, err
	}
	bodies, err := httplimit.NewBodies(c.Bodies, reg)
	if err != nil {
		return fail(err)
	}
	var conns *httplimit.Connections
	if c.MaxConnections > 0 {
		if conns, err = httplimit.NewConnections(c.MaxConnections, reg); err != nil {
			return fail(err)
		}
	}
	region, account := cmp.Or(bc.Region, "us-east-1"), cmp.Or(bc.AccountID, "000000000000")
	gate := c.Auth
	if gate == nil {
		gate = auth.New(auth.Options{Region: region, Account: account, Audit: logger.With("component", "audit")})
	}
	ddb := dynamodb.New(tables, dynamodb.Options{Logger: logger.With("component", "dynamodb"), Auth: gate,
		Region: region, Account: account})
	ops, err := opsmetrics.New(opsmetrics.Config{Activity: b, Tables: ddb, Storage: store, ShardLevel: c.ShardMetrics,
		Logger: logger.With("component", "metrics")})
	if err == nil {
		err = reg.Register(ops)
	}
	if err != nil {
		return fail(fmt.Errorf("metrics: %w", err))
	}
	cc := c.Console
	cc.Service, cc.Activity, cc.Tables, cc.Storage = b, b, ddb, store
	if cc.Authorize == nil {
		// The console's actions are authorized as the Kinesis action for
		// whoever signed in, resource policies included; its pages need
		// sluice:ViewConsole (the Protect below).
		cc.Authorize = func(ctx context.Context, action, resource string) error {
			policy := ""
			if resource != "*" {
				var err error
				if policy, err = b.ResourcePolicy(ctx, resource); err != nil {
					return err
				}
			}
			return gate.Authorize(ctx, action, resource, policy)
		}
	}
	if cc.Logger == nil {
		cc.Logger = logger.With("component", "console")
	}
	con, err := console.New(cc)
	if err != nil {
		return fail(fmt.Errorf("start console: %w", err))
	}
	api := byTarget{
		kinesis:  httpapi.New(gate.Kinesis(b, b), httpapi.Options{Logger: logger.With("component", "httpapi"), Auth: gate}),
		dynamodb: ddb,
	}
	guarded := gate.Protect(auth.ActionViewConsole, con)
	mux := http.NewServeMux()
	s := &Server{store: store, broker: b, console: con, conns: conns}
	mux.Handle("GET /metrics", gate.Protect(auth.ActionGetMetrics, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	// GET /ready?verbose says what the check found (node names, the
	// metadata stream's leader and replicas): behind the credentials
	// /metrics takes. The plain probes are served before the Host check
	// (probes).
	mux.Handle("GET /ready", gate.Protect(auth.ActionGetMetrics, http.HandlerFunc(s.readyVerbose)))
	if c.Pprof {
		mux.Handle("GET /debug/pprof/", gate.Protect(auth.ActionGetProfile, http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/profile", gate.Protect(auth.ActionGetProfile, http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/trace", gate.Protect(auth.ActionGetProfile, http.HandlerFunc(pprof.Trace)))
	}
	counted := newAPIMetrics(reg,
		apiSpec{name: "kinesis", targetPrefix: httpapi.TargetPrefix, operations: httpapi.Operations(), streaming: httpapi.StreamingOperations()},
		apiSpec{name: "dynamodb", targetPrefix: dynamodb.TargetPrefix, operations: dynamodb.Operations()},
	).handler(api, httpapi.TargetPrefix)
	mux.Handle(auth.LoginPath, gate.Login())
	mux.Handle(auth.LogoutPath, gate.Login())
	mux.Handle("/console/", consoleOrAPI{console: guarded, api: counted})
	mux.Handle("/console", consoleOrAPI{console: guarded, api: counted})
	mux.Handle("/", browserToConsole{counted})
	// The probes first, for load balancers and orchestrators that name
	// the server by its address; then the Host check; then, around
	// everything that reads a body (the APIs, the console), the limits on
	// bodies.
	s.handler = probes{s: s, next: gate.CheckHost(bodies.Handler(mux))}
	return s, nil
}

// Listen returns ln with its connections counted against MaxConnections
// (shared by every listener it wraps); ln itself without a cap.
func (s *Server) Listen(ln net.Listener) net.Listener {
	if s.conns == nil {
		return ln
	}
	return s.conns.Listen(ln)
}

// consoleOrAPI serves the console under /console/, except API requests
// (with an X-Amz-Target), which keep going to the API whatever their path.
type consoleOrAPI struct{ console, api http.Handler }

func (h consoleOrAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "" {
		h.api.ServeHTTP(w, r)
		return
	}
	h.console.ServeHTTP(w, r)
}

// browserToConsole redirects a browser opening the server's root (GET /
// accepting HTML, no X-Amz-Target) to the console; everything else goes to
// the API as before.
type browserToConsole struct{ api http.Handler }

func (h browserToConsole) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/" && r.Header.Get("X-Amz-Target") == "" &&
		strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, "/console/", http.StatusFound)
		return
	}
	h.api.ServeHTTP(w, r)
}

// DefaultDynamoDBBucket is the KV bucket of the DynamoDB tables.
const DefaultDynamoDBBucket = "sluice_dynamodb"

// byTarget sends DynamoDB requests (X-Amz-Target DynamoDB_20120810.*) to
// the DynamoDB handler and everything else to the Kinesis one, so that a
// consumer fleet's lease table lives on the same endpoint as its streams.
type byTarget struct{ kinesis, dynamodb http.Handler }

func (h byTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), dynamodb.TargetPrefix) {
		h.dynamodb.ServeHTTP(w, r)
		return
	}
	h.kinesis.ServeHTTP(w, r)
}

// Handler serves the Kinesis and DynamoDB APIs on every path (routed by
// X-Amz-Target), the probes GET /health (the process is up) and GET
// /ready (the store can take writes; 503 if not) to anyone, Prometheus
// metrics on GET /metrics, profiles under /debug/pprof/ when asked, the
// web console under /console/ (a browser's GET / is sent there) and its
// sign-in under /auth/, the operational surfaces behind the credentials
// when there are some; every request's Host is checked but the probes'.
func (s *Server) Handler() http.Handler { return s.handler }

// EndSubscriptions ends the open SubscribeToShard feeds (clients then
// subscribe again): an HTTP server calls it when it starts shutting down.
func (s *Server) EndSubscriptions() { s.broker.EndSubscriptions() }

// ReleaseMemory drops what the server keeps only to be faster (the
// broker's cache of decoded log messages), for a caller that is about to
// hand memory back to the OS because the API has been idle.
func (s *Server) ReleaseMemory() { s.broker.DropReadCache() }

// Close stops the console, the broker, then the store.
func (s *Server) Close() error {
	s.console.Close()
	s.broker.Close()
	return s.store.Close()
}
