package jetstream

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Disk full, embedded server.
//
// nats-server meets a full disk badly: a message write that fails for
// want of space (ENOSPC) is not answered at all, the publisher waits out
// its timeout, and the error sticks to the stream's store, which refuses
// every later write the same way until JetStream restarts, whatever space
// is freed meanwhile. Its own storage limit, left unset, is frozen at 75 %
// of the space free when it starts.
//
// So the embedded server gets an explicit storage limit (Config.MaxStore,
// by default none but the disk), and the backend keeps JetStream away
// from a full disk: before each write it measures the free space of the
// data directory's filesystem and refuses the write with
// kinesis.ErrStorageFull when what would be left is under a reserve
// (Config.MinFreeDisk for appends, a quarter of it for metadata and item
// writes, so that streams can still be deleted to free space). Nothing is
// written, so nothing is acknowledged that is not stored, and writes pass
// again as soon as space is back. If the disk fills anyway (another
// process writing to it), an append left unanswered is checked against
// JetStream's health: a stream with a write error fails the append with
// ErrStorageFull at once, and once space is back the guard restarts
// JetStream in the running server, which reopens every stream from disk
// (dropping the unacknowledged tail of the failed write) and clears the
// error.

// Defaults of the disk guard.
const (
	// DefaultMinFreeDisk is the reserve kept free on the data directory's
	// filesystem.
	DefaultMinFreeDisk = 64 << 20
	// DefaultDiskCheckInterval is how often the guard measures free space
	// and, after a write error, tries to recover.
	DefaultDiskCheckInterval = time.Second
	// maxStoreUnlimited stands for "no limit but the disk".
	maxStoreUnlimited = 1 << 60
	// fullLogInterval is how often the guard repeats, while the disk stays
	// full, that writes are refused.
	fullLogInterval = 30 * time.Second
	// recoveryMargin is the space that must come free, after a write
	// failed on a full disk, before JetStream is restarted: without a
	// reserve, "room" would otherwise be any free byte.
	recoveryMargin = 1 << 20
)

// diskGuard refuses writes that would leave less than a reserve of free
// space, and restarts JetStream after a write error once space is back.
type diskGuard struct {
	dir      string
	reserve  int64
	free     func(dir string) (int64, error) // bytes free for this process
	restart  func() error                    // restarts JetStream
	unhealth func() string                   // a stream write error, or ""
	log      *slog.Logger
	interval time.Duration

	mu       sync.Mutex
	pending  int64 // bytes of admitted writes not finished yet
	full     bool  // appends are refused
	suspect  bool  // space ran low, or a write went unanswered: check health once space is back
	failFree int64 // free space when a write was found failed; -1: none since the last recovery
	lastFree int64
	lastLog  time.Time

	fullGauge prometheus.Gauge
	freeGauge prometheus.Gauge
	refused   *prometheus.CounterVec
	restarts  prometheus.Counter
}

func newDiskGuard(dir string, reserve int64, interval time.Duration, log *slog.Logger) *diskGuard {
	return &diskGuard{
		dir: dir, reserve: reserve, interval: interval, free: freeBytes, log: log, failFree: -1,
		fullGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "sluice", Name: "storage_full",
			Help: "1 while the embedded store refuses appends for want of disk space, else 0.",
		}),
		freeGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "sluice", Name: "storage_free_bytes",
			Help: "Free space of the data directory's filesystem, as last measured.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "storage_full_refusals_total",
			Help: "Writes refused for want of disk space, by kind (append, meta).",
		}, []string{"kind"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "sluice", Name: "storage_recoveries_total",
			Help: "Restarts of the embedded JetStream to clear write errors left by a full disk.",
		}),
	}
}

func (g *diskGuard) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{g.fullGauge, g.freeGauge, g.refused, g.restarts} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register storage metrics: %w", err)
		}
	}
	return nil
}

// admit checks that n more bytes leave the reserve free (a quarter of it
// for meta writes) and counts them as pending until done is called.
// kinesis.ErrStorageFull if not, and for appends while a write error left
// by a full disk waits to be cleared. Without a reserve, or on a
// filesystem that cannot be measured, space is not checked.
func (g *diskGuard) admit(n int64, meta bool) (done func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	free, ferr := g.free(g.dir)
	need, kind := g.reserve, "append"
	if meta {
		need, kind = g.reserve/4, "meta"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var reason string
	if ferr == nil {
		g.observeLocked(free)
		if g.reserve > 0 && free-g.pending-n < need {
			reason = fmt.Sprintf("%d bytes free, %d kept free", free, need)
		}
	}
	// After a write failed on a full disk, appends wait for the restart
	// that clears it rather than each waiting out an unanswered attempt.
	if !meta && g.failFree >= 0 {
		reason = "a write failed on the full disk; writes resume once space is freed"
	}
	if reason != "" {
		g.refused.WithLabelValues(kind).Inc()
		if !meta {
			g.setFullLocked(true, free)
		}
		return nil, fmt.Errorf("%w: %s", kinesis.ErrStorageFull, reason)
	}
	if !meta && ferr == nil {
		g.setFullLocked(false, free)
	}
	g.pending += n
	return func() {
		g.mu.Lock()
		g.pending -= n
		g.mu.Unlock()
	}, nil
}

func (g *diskGuard) observeLocked(free int64) {
	g.lastFree = free
	g.freeGauge.Set(float64(free))
	if free < g.reserve {
		g.suspect = true
	}
}

// setFullLocked records whether appends are refused, logging the change
// (and, while full, a reminder every fullLogInterval).
func (g *diskGuard) setFullLocked(full bool, free int64) {
	now := time.Now()
	switch {
	case full && !g.full:
		g.log.Error("disk full: refusing writes until space is freed",
			"dir", g.dir, "free_bytes", free, "min_free_bytes", g.reserve)
		g.lastLog = now
	case full && now.Sub(g.lastLog) >= fullLogInterval:
		g.log.Error("disk still full: writes refused", "dir", g.dir, "free_bytes", free, "min_free_bytes", g.reserve)
		g.lastLog = now
	case !full && g.full:
		g.log.Info("disk has room again: writes resume", "dir", g.dir, "free_bytes", free)
	}
	g.full = full
	if full {
		g.fullGauge.Set(1)
	} else {
		g.fullGauge.Set(0)
	}
}

// failing returns kinesis.ErrStorageFull while a write failed on a full
// disk and JetStream was not restarted since: a write sent now would fail
// the same way, unanswered.
func (g *diskGuard) failing() error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failFree < 0 {
		return nil
	}
	return fmt.Errorf("%w: a write failed on the full disk; writes resume once space is freed", kinesis.ErrStorageFull)
}

// writeFailed reports whether an unanswered write was lost to a store
// write error (a full disk): then the write must fail now, not be sent
// again, and JetStream must be restarted once space is back.
func (g *diskGuard) writeFailed() error {
	if g == nil {
		return nil
	}
	msg := g.unhealth()
	if msg == "" {
		return nil
	}
	free, err := g.free(g.dir)
	g.mu.Lock()
	if err != nil {
		free = g.lastFree
	}
	g.suspect = true
	g.failFree = free
	g.setFullLocked(true, free)
	g.mu.Unlock()
	return fmt.Errorf("%w: %s", kinesis.ErrStorageFull, msg)
}

// run measures free space every interval until stop closes; once there
// is room after space ran low, it restarts JetStream if a stream has a
// write error.
func (g *diskGuard) run(stop <-chan struct{}) {
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		free, err := g.free(g.dir)
		if err != nil {
			continue
		}
		g.mu.Lock()
		g.observeLocked(free)
		room := free-g.pending >= g.reserve && (g.failFree < 0 || free >= g.failFree+recoveryMargin)
		check := room && g.suspect
		if !check { // else full ends once the store is known healthy
			g.setFullLocked(!room, free)
		}
		g.mu.Unlock()
		if !check {
			continue
		}
		if msg := g.unhealth(); msg != "" {
			g.log.Warn("restarting jetstream to clear a write error left by a full disk", "error", msg)
			if err := g.restart(); err != nil {
				g.log.Error("restart jetstream", "err", err)
				continue // and again next time
			}
			g.restarts.Inc()
			g.log.Info("jetstream restarted: writes resume")
		}
		g.mu.Lock()
		g.suspect = false
		g.failFree = -1
		g.setFullLocked(false, free)
		g.mu.Unlock()
	}
}

// storeWriteError returns the first stream write error JetStream's health
// check reports, or "".
func storeWriteError(srv *server.Server) string {
	h := srv.Healthz(&server.HealthzOptions{Details: true})
	if h == nil {
		return ""
	}
	for _, e := range h.Errors {
		if strings.Contains(e.Error, "write error") {
			return e.Error
		}
	}
	if strings.Contains(h.Error, "write error") {
		return h.Error
	}
	return ""
}

// restartJetStream shuts JetStream down in the embedded server and
// enables it again with the configuration it started with: every stream
// is recovered from disk, without the write errors that stuck to them.
func restartJetStream(srv *server.Server, cfg server.JetStreamConfig) error {
	if err := srv.ShutdownJetStream(); err != nil {
		return fmt.Errorf("shut jetstream down: %w", err)
	}
	if err := srv.EnableJetStream(&cfg); err != nil {
		return fmt.Errorf("enable jetstream: %w", err)
	}
	if !srv.JetStreamEnabled() {
		return errors.New("jetstream not enabled after restart")
	}
	return nil
}

// isStorageFull reports whether a JetStream API error is a refusal for
// want of storage: its limits (an external cluster's, or MaxStore) or a
// full disk.
func isStorageFull(code int, description string) bool {
	switch code {
	case 10023, 10047: // insufficient resources; storage resources exceeded
		return true
	}
	return strings.Contains(description, "no space left")
}
