package main

// A plain `sluice tail` outlives a server restart: its readers retry with
// backoff while the endpoint cannot be reached and carry on from where
// they were (an iterator is a signed token the restarted server accepts;
// an expired one is renewed after the last record printed).

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// connWatch is shared by the readers of one tail, so a lost connection is
// reported once rather than once per shard.
type connWatch struct {
	logger   *slog.Logger
	endpoint string

	down atomic.Bool
	mu   sync.Mutex // serialises the reports
}

// lost reports whether err means the endpoint could not be reached or
// went away mid-call, rather than answering. The first of a run is logged.
func (c *connWatch) lost(ctx context.Context, err error) bool {
	if ctx.Err() != nil || !isConnectionError(err) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.down.Load() {
		c.down.Store(true)
		c.logger.Warn("lost the connection; reconnecting until the server is back (Ctrl-C to stop)", "endpoint", c.endpoint, "err", explain(err))
	}
	return true
}

// ok records an answered call, and logs the end of an outage.
func (c *connWatch) ok() {
	if !c.down.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down.Load() {
		c.down.Store(false)
		c.logger.Info("reconnected", "endpoint", c.endpoint)
	}
}

// wait sleeps for *delay and doubles it, up to readRetryMaxDelay.
func (c *connWatch) wait(ctx context.Context, delay *time.Duration) error {
	if err := sleepCtx(ctx, *delay); err != nil {
		return err
	}
	*delay = min(2**delay, readRetryMaxDelay)
	return nil
}

// isConnectionError reports a request that could not be sent, or whose
// connection broke before the answer was read.
func isConnectionError(err error) bool {
	var send *smithyhttp.RequestSendError
	return errors.As(err, &send) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}
