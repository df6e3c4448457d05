package sluicetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/server"
)

// Region and AccountID are the defaults the server puts in ARNs and the
// region of AWSConfig.
const (
	Region    = "us-east-1"
	AccountID = "000000000000"
)

// createTimeout bounds CreateStream's wait for ACTIVE; generous for busy
// CI machines.
const createTimeout = 2 * time.Minute

// Server is a running Sluice server. Start returns it; it closes itself
// when the test ends.
type Server struct {
	t        testing.TB
	endpoint string
	region   string
	http     *http.Server
	parts    *server.Server
	client   *kinesis.Client

	closeOnce sync.Once
	closeErr  error
}

type config struct {
	region      string
	accountID   string
	shardLimit  int
	createDelay time.Duration
	deleteDelay time.Duration
	quotas      bool
	logger      *slog.Logger
}

// Option configures Start.
type Option func(*config)

// WithRegion sets the region in ARNs and in AWSConfig. Default us-east-1.
func WithRegion(region string) Option { return func(c *config) { c.region = region } }

// WithAccountID sets the 12-digit account id in ARNs. Default 000000000000.
func WithAccountID(id string) Option { return func(c *config) { c.accountID = id } }

// WithShardLimit caps the open shards of the account. Default 500.
func WithShardLimit(n int) Option { return func(c *config) { c.shardLimit = n } }

// WithCreateStreamDelay keeps new streams CREATING for d, as AWS does for
// some seconds. Default 0: streams are ACTIVE at once.
func WithCreateStreamDelay(d time.Duration) Option { return func(c *config) { c.createDelay = d } }

// WithDeleteStreamDelay keeps deleted streams DELETING for d. Default 0.
func WithDeleteStreamDelay(d time.Duration) Option { return func(c *config) { c.deleteDelay = d } }

// WithShardQuotas makes the server throttle as AWS does (`sluice serve
// --shard-limits aws`): each shard takes 1 MiB/s and 1000 records/s of
// writes and 2 MiB/s and 5 calls/s of reads, refusing the excess with
// ProvisionedThroughputExceededException, and control-plane calls are
// held to AWS's rates (LimitExceededException). Use it to test how code
// copes with throttling. Default off.
func WithShardQuotas() Option { return func(c *config) { c.quotas = true } }

// WithLogger receives the server's log. Default: discarded.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Start starts a server on 127.0.0.1 with a fresh store in t.TempDir and
// registers its Close with t.Cleanup. It fails the test if the server
// cannot start.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	c := config{region: Region, accountID: AccountID}
	for _, o := range opts {
		o(&c)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sluicetest: listen: %v", err)
	}
	parts, err := server.Open(context.Background(), server.Config{
		Store: jetstream.Config{DataDir: t.TempDir()},
		Broker: broker.Config{
			Region:             c.region,
			AccountID:          c.accountID,
			ShardLimit:         c.shardLimit,
			CreateDelay:        c.createDelay,
			DeleteDelay:        c.deleteDelay,
			EnforceShardQuotas: c.quotas,
		},
		Logger: c.logger,
	})
	if err != nil {
		ln.Close()
		t.Fatalf("sluicetest: open server: %v", err)
	}
	hs := &http.Server{
		Handler:           parts.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(c.logger.Handler(), slog.LevelWarn),
	}
	// HTTP/1.1 and h2c on one port, as `sluice serve` listens.
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	go hs.Serve(ln)

	s := &Server{t: t, endpoint: "http://" + ln.Addr().String(), region: c.region, http: hs, parts: parts}
	s.client = kinesis.NewFromConfig(s.AWSConfig())
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("sluicetest: close server: %v", err)
		}
	})
	return s
}

// Endpoint is the server's base URL, http://127.0.0.1:port.
func (s *Server) Endpoint() string { return s.endpoint }

// AWSConfig is an aws.Config for the server: its endpoint, the region and
// static credentials (the server accepts any). Each call returns a new
// value the caller may change.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       s.region,
		Credentials:  credentials.NewStaticCredentialsProvider("sluicetest", "sluicetest", ""),
		BaseEndpoint: aws.String(s.endpoint),
		HTTPClient:   OwnBodies(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}),
		// Without the client-side retry quota, which a test that throttles
		// on purpose would run dry.
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		},
	}
}

// Kinesis is a Kinesis client for the server, built from AWSConfig.
func (s *Server) Kinesis() *kinesis.Client { return s.client }

// CreateStream creates a provisioned stream of the given shard count and
// waits until it is ACTIVE, failing the test on error.
func (s *Server) CreateStream(ctx context.Context, name string, shards int) {
	s.t.Helper()
	if _, err := s.client.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String(name),
		ShardCount: aws.Int32(int32(shards)),
	}); err != nil {
		s.t.Fatalf("sluicetest: create stream %s: %v", name, err)
	}
	w := kinesis.NewStreamExistsWaiter(s.client, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, createTimeout); err != nil {
		s.t.Fatalf("sluicetest: wait for stream %s: %v", name, err)
	}
}

// Close stops the server and releases its store. Start registers it with
// t.Cleanup; calling it earlier (to test a client against a vanished
// server) is allowed, and later calls return the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := s.http.Shutdown(ctx)
		if err != nil {
			s.http.Close()
			err = fmt.Errorf("shut down http: %w", err)
		}
		s.closeErr = errors.Join(err, s.parts.Close())
	})
	return s.closeErr
}
