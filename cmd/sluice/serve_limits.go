package main

import (
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/httplimit"
	"github.com/sluicehq/sluice/internal/jetstream"
)

// serveLimits are the bounds `sluice serve` puts on what clients can make
// it hold (docs/limits.md lists them all).
type serveLimits struct {
	maxConnections int
	bodies         httplimit.BodiesConfig
	maxStore       int64 // JetStream's max_file_store; 0: the disk
	minFreeDisk    int64 // 0: no guard
	readCache      int64 // decoded log messages kept for readers; 0: none
	readBudget     int64 // GetRecords answers gathered at once; 0: no bound
	memoryLimit    int64 // the Go runtime's soft limit; 0: GOMEMLIMIT's, or none
}

// Fixed bounds of the HTTP servers, documented in docs/limits.md.
const (
	// maxHeaderBytes caps a request's header (HTTP/1.1) and header list
	// (HTTP/2); SigV4-signed AWS requests send a few KiB.
	maxHeaderBytes = 64 << 10
	// HTTP/2, per connection: streams at once, the flow-control windows
	// (what a client may send before the server reads it), and the
	// largest frame read (its buffer stays with the connection).
	h2MaxStreams          = 100
	h2MaxReceivePerConn   = 1 << 20
	h2MaxReceivePerStream = 1 << 20
	h2MaxReadFrameSize    = 64 << 10
)

// limitFlags adds the flags of the request limits.
func limitFlags(fs *flag.FlagSet, c *serveLimits) {
	fs.IntVar(&c.maxConnections, "max-connections", httplimit.DefaultMaxConnections, "most `connections` open at once over all listeners; past it new ones wait to be accepted")
	c.bodies.InFlightBytes = httplimit.DefaultInFlightBytes
	fs.Var(sizeFlag{&c.bodies.InFlightBytes}, "max-request-bytes-in-flight", "most `bytes` of request bodies held at once across the server (at least 32MiB; a quarter kept for bodies declaring at most 64 KiB); a request that finds no room within --request-body-wait gets ThrottlingException")
	fs.DurationVar(&c.bodies.Wait, "request-body-wait", httplimit.DefaultWait, "how long a request body waits for room under --max-request-bytes-in-flight before ThrottlingException")
	fs.DurationVar(&c.bodies.ReadTimeout, "request-body-timeout", httplimit.DefaultReadTimeout, "how long a request body may take to arrive before RequestTimeoutException (responses, such as SubscribeToShard's event stream, are not limited)")
	fs.Var(sizeFlag{&c.maxStore}, "max-store", "most `bytes` the embedded store keeps on disk (0: as much as the disk holds); past it writes get ServiceUnavailable")
	c.minFreeDisk = jetstream.DefaultMinFreeDisk
	fs.Var(sizeFlag{&c.minFreeDisk}, "min-free-disk", "free `bytes` the embedded store keeps on the data directory's filesystem: writes that would leave less get ServiceUnavailable until space is freed (0: no guard)")
	c.readCache, c.readBudget = defaultReadCache, defaultReadBudget
	fs.Var(sizeFlag{&c.readCache}, "read-cache", "most `bytes` of decoded log messages kept for readers, shared by every reader of a log (0: none)")
	fs.Var(sizeFlag{&c.readBudget}, "read-budget", "most `bytes` of GetRecords answers being gathered at once; past it a reader answers with the records it has (0: no bound)")
	fs.Var(sizeFlag{&c.memoryLimit}, "memory-limit", "soft limit of the process's Go memory, as GOMEMLIMIT: the collector works harder as it nears it (0: GOMEMLIMIT's, else none)")
}

// The read cache and budget by default; with --memory-limit 224MiB, 32MiB
// each keep a thousand readers at once near 256 MiB (docs/benchmarks.md).
const (
	defaultReadCache  = 64 << 20
	defaultReadBudget = 64 << 20
)

// brokerLimits applies the read flags to the broker's configuration,
// whose zero values mean its defaults and negative ones none.
func (c serveLimits) brokerLimits(bc *broker.Config) {
	bc.ReadCacheBytes, bc.ReadBudgetBytes = c.readCache, c.readBudget
	if c.readCache == 0 {
		bc.ReadCacheBytes = -1
	}
	if c.readBudget == 0 {
		bc.ReadBudgetBytes = -1
	}
}

// storeLimits applies the storage flags to the store's configuration.
func (c serveLimits) storeLimits(sc *jetstream.Config) {
	sc.MaxStore = c.maxStore
	sc.MinFreeDisk = c.minFreeDisk
	if c.minFreeDisk == 0 {
		sc.MinFreeDisk = -1 // off
	}
}

func checkLimits(c serveLimits) error {
	if c.maxConnections < 1 {
		return fmt.Errorf("--max-connections %d: want at least 1", c.maxConnections)
	}
	if c.bodies.Wait <= 0 || c.bodies.ReadTimeout <= 0 {
		return fmt.Errorf("--request-body-wait and --request-body-timeout: want more than 0")
	}
	if err := c.bodies.Validate(); err != nil {
		return fmt.Errorf("--max-request-bytes-in-flight: %w", err)
	}
	if c.memoryLimit != 0 && c.memoryLimit < minMemoryLimit {
		return fmt.Errorf("--memory-limit %s: want 0 or at least %s", formatSize(c.memoryLimit), formatSize(minMemoryLimit))
	}
	return nil
}

// minMemoryLimit is the least --memory-limit: the idle server alone holds
// about 50 MiB, and a limit below what it must hold only burns CPU.
const minMemoryLimit = 64 << 20

// limitServer sets the fixed bounds of an HTTP server: header size,
// HTTP/2 streams, windows and frames, and the timeouts of headers and
// idle connections (bodies have theirs in httplimit).
func limitServer(srv *http.Server) {
	srv.MaxHeaderBytes = maxHeaderBytes
	srv.ReadHeaderTimeout = 10 * time.Second
	srv.IdleTimeout = 2 * time.Minute
	srv.HTTP2 = &http.HTTP2Config{
		MaxConcurrentStreams:          h2MaxStreams,
		MaxReceiveBufferPerConnection: h2MaxReceivePerConn,
		MaxReceiveBufferPerStream:     h2MaxReceivePerStream,
		MaxReadFrameSize:              h2MaxReadFrameSize,
	}
}
