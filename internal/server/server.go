// Package server assembles a Sluice server from its parts: the JetStream
// store, the broker over it, and the HTTP API in front. `sluice serve` and
// the public sluicetest package both start servers through it, so a test
// server is wired exactly as the real one.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/dynamodb"
	"github.com/sluicehq/sluice/internal/httpapi"
	"github.com/sluicehq/sluice/internal/jetstream"
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
}

// Server is an open store and broker and the HTTP handler serving them.
type Server struct {
	store   *jetstream.Backend
	broker  *broker.Broker
	handler http.Handler
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
	store, err := jetstream.Open(ctx, c.Store)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	reg := prometheus.NewRegistry()
	if c.ProcessMetrics {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
	mux := http.NewServeMux()
	s := &Server{store: store, broker: b, handler: mux}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /ready", s.ready)
	mux.Handle("/", byTarget{
		kinesis:  httpapi.New(b, httpapi.Options{Logger: logger.With("component", "httpapi")}),
		dynamodb: dynamodb.New(tables, dynamodb.Options{Logger: logger.With("component", "dynamodb")}),
	})
	return s, nil
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

// Handler serves the Kinesis and DynamoDB APIs on every path, Prometheus
// metrics on GET /metrics, and the probes GET /health (the process is up)
// and GET /ready (the store can take writes; 503 if not), with a JSON
// body.
func (s *Server) Handler() http.Handler { return s.handler }

// EndSubscriptions ends the open SubscribeToShard feeds (clients then
// subscribe again): an HTTP server calls it when it starts shutting down.
func (s *Server) EndSubscriptions() { s.broker.EndSubscriptions() }

// Close stops the broker, then the store.
func (s *Server) Close() error {
	s.broker.Close()
	return s.store.Close()
}
