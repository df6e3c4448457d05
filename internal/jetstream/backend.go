package jetstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/kinesis"
)

var (
	_ kinesis.Log       = (*Backend)(nil)
	_ kinesis.MetaStore = (*Backend)(nil)
)

// Backend stores logs and metadata in JetStream. It is safe for concurrent
// use. Close it to release the connection and the embedded server.
type Backend struct {
	cfg Config
	log *slog.Logger

	srv  *server.Server // embedded server; nil with an external cluster
	lock *os.File       // holds the data dir's lock; nil with a cluster
	nc   *nats.Conn
	js   jetstream.JetStream
	mux  *replyMux // batch direct gets and publishes

	meta *Bucket // the metadata bucket

	// events wakes appends at reconnects and leader elections.
	events *events
	// writerID names this Backend's subjects, sluice.log.<log>.<writerID>.
	writerID  string
	writersMu sync.Mutex
	writers   map[string]*logWriter // by log name
	// pieceLimit is the largest message (headers included) the
	// connected server takes: its max_payload, at most MaxMessageBytes.
	pieceLimit int

	guard *diskGuard // refuses writes on a full disk; nil with a cluster

	ncClosed  chan struct{} // closed when the connection is closed
	stop      chan struct{} // closed by Close; stops watchers
	watchers  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open starts or connects to JetStream and returns a ready Backend: the
// metadata bucket exists and JetStream answers. With an external cluster it
// waits, bounded by ctx, until the cluster has elected its meta leader.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Backend{
		cfg:      cfg,
		log:      cfg.Logger,
		ncClosed: make(chan struct{}),
		stop:     make(chan struct{}),
		events:   newEvents(),
		writerID: newWriterID(),
		writers:  make(map[string]*logWriter),
	}
	if err := b.open(ctx); err != nil {
		b.shutdown()
		return nil, err
	}
	return b, nil
}

// How the connection to an external cluster finds out that its server is
// gone or frozen: a PING every pingInterval, and the connection counts as
// dead once maxPingsOut of them are unanswered (0.6 to 0.9 s, so that a
// frozen node that leads nothing holds writes up less than a second; a
// PONG comes back in microseconds from a live node), or once a
// write to the socket blocks for flusherTimeout. It then reconnects to
// another server of the cluster (those in the URL and those the cluster
// announces), waiting reconnectWait between rounds over all of them.
const (
	pingInterval   = 300 * time.Millisecond
	maxPingsOut    = 2
	flusherTimeout = 3 * time.Second
	dialTimeout    = 2 * time.Second
	reconnectWait  = 250 * time.Millisecond
)

func (b *Backend) open(ctx context.Context) error {
	opts := []nats.Option{
		nats.Name("sluice"),
		nats.ClosedHandler(func(*nats.Conn) { close(b.ncClosed) }),
		nats.DrainTimeout(b.cfg.Timeout),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			b.log.Warn("nats async error", "subject", subject, "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("reconnected to nats", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
			b.events.reconnected()
		}),
	}
	var err error
	if b.cfg.URL == "" {
		if b.lock, err = lockDir(b.cfg.DataDir); err != nil {
			return err
		}
		if b.srv, err = startEmbedded(b.cfg); err != nil {
			return err
		}
		if err := b.startGuard(); err != nil {
			return err
		}
		b.nc, err = nats.Connect("", append(opts, nats.InProcessServer(b.srv))...)
	} else {
		b.nc, err = nats.Connect(b.cfg.URL, append(opts,
			nats.RetryOnFailedConnect(true), // the cluster may start after us
			nats.MaxReconnects(-1),
			nats.ReconnectWait(reconnectWait),
			nats.Timeout(dialTimeout),
			nats.PingInterval(pingInterval),
			nats.MaxPingsOutstanding(maxPingsOut),
			nats.FlusherTimeout(flusherTimeout),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil { // nil: we closed the connection
					b.log.Warn("disconnected from nats", "err", err)
				}
			}),
		)...)
	}
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	if b.js, err = jetstream.New(b.nc, jetstream.WithDefaultTimeout(b.cfg.Timeout)); err != nil {
		return fmt.Errorf("jetstream context: %w", err)
	}
	if err := b.waitJetStream(ctx); err != nil {
		return err
	}
	maxPayload := int(b.nc.MaxPayload())
	if maxPayload < minMaxPayload {
		return fmt.Errorf("server max_payload %d is below the %d bytes Sluice needs: raise max_payload in the nats-server config", maxPayload, minMaxPayload)
	}
	// Messages above max_payload are stored in parts (see Append).
	b.pieceLimit = min(maxPayload, b.cfg.MaxMessageBytes)
	if b.pieceLimit < b.cfg.MaxMessageBytes {
		b.log.Info("messages above the server's max_payload are stored in parts; max_payload: 8MB in the nats-server config stores every PutRecords call whole",
			"max_payload", maxPayload)
	}
	if b.mux, err = newReplyMux(b.nc); err != nil {
		return err
	}
	if b.cfg.URL != "" {
		if _, err := b.events.subscribe(b.nc); err != nil {
			return fmt.Errorf("subscribe to leader elections: %w", err)
		}
	}
	b.meta, err = b.openMetaBucket(ctx)
	return err
}

// openMetaBucket opens the metadata bucket. An external cluster that is
// still forming may have a meta leader but not yet its peers ("no suitable
// peers for placement, peer offline"), so like waitJetStream it keeps
// trying, bounded by ctx rather than the configured timeout.
func (b *Backend) openMetaBucket(ctx context.Context) (*Bucket, error) {
	for attempt := 1; ; attempt++ {
		k, err := b.openBucket(ctx, b.cfg.MetaBucket)
		if err == nil || b.srv != nil || ctx.Err() != nil || !transient(err) {
			return k, err
		}
		b.log.Warn("waiting for the jetstream cluster to place the meta bucket", "url", RedactURLs(b.cfg.URL), "attempt", attempt, "err", err)
		if err := sleepCtx(ctx, time.Second); err != nil {
			return nil, fmt.Errorf("open meta bucket %s: %w", b.cfg.MetaBucket, err)
		}
	}
}

// startEmbedded starts an in-process server without a listener.
func startEmbedded(cfg Config) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "sluice",
		JetStream:  true,
		StoreDir:   cfg.DataDir,
		DontListen: true, // clients connect in-process
		SyncAlways: true, // fsync before every acknowledgement
		// Set, so that nats-server does not freeze its limit at 75 % of
		// the space free when it starts (see disk.go).
		JetStreamMaxStore: cmp.Or(cfg.MaxStore, maxStoreUnlimited),
		MaxPayload:        int32(cfg.MaxMessageBytes),
		MaxPending:        max(64<<20, int64(cfg.MaxMessageBytes)), // must be >= MaxPayload
		NoSigs:            true,
		NoLog:             true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats server: %w", err)
	}
	l := natsLogger{log: cfg.Logger.With("component", "nats-server")}
	srv.SetLoggerV2(l, l.enabled(levelNATSDebug), l.enabled(levelNATSTrace), false)
	srv.Start()
	if !srv.ReadyForConnections(cfg.Timeout) {
		srv.Shutdown()
		return nil, errors.New("embedded nats server: not ready in time")
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		return nil, errors.New("embedded nats server: jetstream failed to start (see log)")
	}
	return srv, nil
}

// startGuard starts the disk guard of the embedded server.
func (b *Backend) startGuard() error {
	jsCfg := *b.srv.JetStreamConfig()
	jsCfg.StoreDir = b.cfg.DataDir // EnableJetStream adds "jetstream"
	g := newDiskGuard(b.cfg.DataDir, b.cfg.MinFreeDisk, b.cfg.DiskCheckInterval, b.log.With("component", "disk"))
	g.restart = func() error { return restartJetStream(b.srv, jsCfg) }
	g.unhealth = func() string { return storeWriteError(b.srv) }
	if b.cfg.Registerer != nil {
		if err := g.register(b.cfg.Registerer); err != nil {
			return err
		}
	}
	b.guard = g
	// Also without a reserve: it recovers from write errors.
	b.watchers.Go(func() { g.run(b.stop) })
	return nil
}

// waitJetStream retries until JetStream answers: an external cluster may
// still be starting or electing its meta leader.
func (b *Backend) waitJetStream(ctx context.Context) error {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := b.js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		if b.srv != nil || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return fmt.Errorf("jetstream account info: %w", err)
		}
		if attempt == 1 || attempt%10 == 0 { // say so at once, then now and then
			b.log.Warn("waiting for jetstream", "url", RedactURLs(b.cfg.URL), "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for jetstream at %s: %w (last error: %v)", RedactURLs(b.cfg.URL), ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// OpenBucket binds to the KV bucket name (letters, digits, '_' and '-'),
// creating it if absent with the configured replica count.
func (b *Backend) OpenBucket(ctx context.Context, name string) (*Bucket, error) {
	if !bucketNameRe.MatchString(name) {
		return nil, fmt.Errorf("open bucket %q: invalid name: use letters, digits, '_' and '-'", name)
	}
	return b.openBucket(ctx, name)
}

// openBucket binds to a KV bucket, creating it if absent.
func (b *Backend) openBucket(ctx context.Context, name string) (*Bucket, error) {
	cfg := jetstream.KeyValueConfig{
		Bucket:   name,
		History:  1,
		Storage:  jetstream.FileStorage,
		Replicas: b.cfg.Replicas,
	}
	k := &Bucket{be: b, stream: "KV_" + name, prefix: "$KV." + name + "."}
	err := b.retryIdempotent(ctx, func(ctx context.Context) error {
		kv, err := b.js.KeyValue(ctx, cfg.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = b.js.CreateKeyValue(ctx, cfg)
		}
		if err != nil {
			return err // ErrBucketExists too: created meanwhile, bind next time
		}
		k.kv = kv
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", cfg.Bucket, err)
	}
	sctx, cancel := b.opCtx(ctx)
	defer cancel()
	if st, err := k.kv.Status(sctx); err == nil {
		if st, ok := st.(*jetstream.KeyValueBucketStatus); ok && st.StreamInfo().Config.Replicas != b.cfg.Replicas {
			b.log.Warn("bucket has another replica count than configured",
				"bucket", cfg.Bucket, "replicas", st.StreamInfo().Config.Replicas, "configured", b.cfg.Replicas)
		}
	}
	return k, nil
}

// retryIdempotent runs op, an idempotent JetStream API call, until it
// succeeds, fails for good, or ctx (bounded by the configured timeout)
// ends. JetStream sometimes leaves a request unanswered: one of several
// concurrent creates of a stream, a leader read in the first moments of a
// new stream or during a leader election. Attempts therefore get short
// timeouts (0.5s, doubling up to 4s) rather than the whole budget.
func (b *Backend) retryIdempotent(ctx context.Context, op func(context.Context) error) error {
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	attemptTimeout := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, attemptTimeout)
		err := op(actx)
		acancel()
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		b.log.Debug("jetstream request failed, retrying", "attempt", attempt, "err", err)
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
		attemptTimeout = min(2*attemptTimeout, 4*time.Second)
	}
}

// Close stops watchers, drains the connection and shuts the embedded server
// down, waiting for each. It is safe to call more than once.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.shutdown() })
	return b.closeErr
}

func (b *Backend) shutdown() error {
	close(b.stop)
	var err error
	if b.nc != nil {
		if derr := b.nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
			err = fmt.Errorf("drain nats connection: %w", derr)
			b.nc.Close()
		}
		select {
		case <-b.ncClosed:
		case <-time.After(b.cfg.Timeout + time.Second):
			b.nc.Close() // Drain has its own timeout; this is a safety net
		}
	}
	b.watchers.Wait()
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	if b.lock != nil {
		b.lock.Close() // releases the lock
	}
	return err
}

// errNotReady asks retryIdempotent for another attempt: the state looked
// for is not there yet.
var errNotReady = errors.New("not ready yet")

// transient reports whether a JetStream API error may go away by itself.
func transient(err error) bool {
	if errors.Is(err, errNotReady) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10008, 10009: // JetStream temporarily unavailable; no meta leader
			return true
		case 10005: // no suitable peers for placement
			// Transient only for want of peers that are offline (or
			// not yet heard from): a cluster forming or a node restarting.
			return strings.Contains(apiErr.Description, "peer offline")
		}
	}
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrBucketExists) || // a concurrent create won
		errors.Is(err, jetstream.ErrStreamNameAlreadyInUse)
}

// MaxMessageBytes is the largest message Append accepts: the configured
// MaxMessageBytes less room for the Nats-Msg-Id header stored with it.
func (b *Backend) MaxMessageBytes() int { return b.cfg.MaxMessageBytes - appendHeaderBytes }

// RedactURLs hides the passwords in a Config.URL, for logs and messages.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// opCtx bounds ctx by the configured timeout unless it has a deadline.
func (b *Backend) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.cfg.Timeout)
}
