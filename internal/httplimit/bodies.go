package httplimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of BodiesConfig.
const (
	DefaultInFlightBytes = 64 << 20
	DefaultWait          = 2 * time.Second
	DefaultReadTimeout   = 30 * time.Second

	// SmallBodyBytes is the largest declared Content-Length of a body that
	// may draw on the reserve (a quarter of the budget): the calls of
	// normal traffic. Bodies declaring more, or no length, cannot.
	SmallBodyBytes = 64 << 10

	// chunkBytes is the most one Read takes from a body at once, and so
	// the largest single draw on the budget.
	chunkBytes = 64 << 10
	// minInFlightBytes leaves room, beside the reserve, for one body of
	// the largest size an API accepts (16 MiB) and some more.
	minInFlightBytes = 32 << 20
)

// Sentinel errors a body read returns; handlers answer them.
var (
	// ErrBusy: the server holds as many body bytes as its budget allows,
	// and none came free within the wait.
	ErrBusy = errors.New("request body bytes in flight at the server's limit")
	// ErrBodyTimeout: the body did not arrive within the read timeout.
	ErrBodyTimeout = errors.New("request body not received in time")
)

// BodiesConfig configures Bodies. Zero fields take their defaults.
type BodiesConfig struct {
	// InFlightBytes is the budget: bytes of request bodies held by
	// handlers at once, across the server. Default 64 MiB; at least
	// 32 MiB. A quarter of it is kept for bodies that declare at most
	// SmallBodyBytes.
	InFlightBytes int64 `yaml:"in_flight_bytes"`
	// Wait is how long a read waits for budget before it fails with
	// ErrBusy. Default 2s.
	Wait time.Duration `yaml:"wait"`
	// ReadTimeout is how long a request's body may take to arrive, from
	// the moment its handler starts. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
}

func (c BodiesConfig) withDefaults() BodiesConfig {
	if c.InFlightBytes == 0 {
		c.InFlightBytes = DefaultInFlightBytes
	}
	if c.Wait == 0 {
		c.Wait = DefaultWait
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	return c
}

// Validate reports whether c is usable; zero fields count as defaults.
func (c BodiesConfig) Validate() error {
	if c.InFlightBytes != 0 && c.InFlightBytes < minInFlightBytes {
		return fmt.Errorf("request bytes in flight %d: at least %d", c.InFlightBytes, minInFlightBytes)
	}
	if c.Wait < 0 || c.ReadTimeout < 0 {
		return errors.New("body wait and read timeout must not be negative")
	}
	return nil
}

// Bodies bounds the request bodies of the handlers it wraps. It is safe
// for concurrent use.
type Bodies struct {
	cfg    BodiesConfig
	budget *budget
	now    func() time.Time

	inFlight  prometheus.GaugeFunc
	throttled prometheus.Counter
	timeouts  prometheus.Counter
}

// NewBodies returns a Bodies with cfg, its metrics registered on reg (nil
// registers none).
func NewBodies(cfg BodiesConfig, reg prometheus.Registerer) (*Bodies, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Bodies{cfg: cfg, budget: newBudget(cfg.InFlightBytes, cfg.InFlightBytes/4), now: time.Now}
	b.inFlight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "sluice", Name: "http_request_body_bytes_in_flight",
		Help: "Bytes of request bodies held by handlers now.",
	}, func() float64 { return float64(b.budget.inUse()) })
	b.throttled = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sluice", Name: "http_request_body_throttled_total",
		Help: "Requests refused because request bodies in flight stayed at the server's limit.",
	})
	b.timeouts = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sluice", Name: "http_request_body_timeouts_total",
		Help: "Requests whose body did not arrive within the read timeout.",
	})
	if reg != nil {
		limit := prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "sluice", Name: "http_request_body_bytes_limit",
			Help: "The budget of request body bytes in flight.",
		})
		limit.Set(float64(cfg.InFlightBytes))
		for _, c := range []prometheus.Collector{b.inFlight, b.throttled, b.timeouts, limit} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register body metrics: %w", err)
			}
		}
	}
	return b, nil
}

// Handler returns next with its request bodies bounded: read through the
// budget, with a deadline for the whole body that is lifted once it has
// been read. Budget a request took is returned when next returns.
func (b *Bodies) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body := &body{rc: r.Body, b: b, ctx: r.Context(), rctl: http.NewResponseController(w),
			small: r.ContentLength >= 0 && r.ContentLength <= SmallBodyBytes}
		if b.cfg.ReadTimeout > 0 {
			body.deadline = b.now().Add(b.cfg.ReadTimeout)
			// Not every ResponseWriter supports deadlines (test
			// recorders); the budget still applies there.
			body.hasDeadline = body.rctl.SetReadDeadline(body.deadline) == nil
		}
		// On a copy: net/http decides from its own request's body what
		// to do with a body the handler left unread (drain it, or close
		// the connection), and must keep seeing its own type there.
		r = r.WithContext(r.Context())
		r.Body = body
		defer body.release()
		next.ServeHTTP(w, r)
	})
}

// body is a request body read through a Bodies.
type body struct {
	rc   io.ReadCloser
	b    *Bodies
	ctx  context.Context
	rctl *http.ResponseController

	deadline    time.Time
	hasDeadline bool
	small       bool // may draw on the reserve

	read int64 // bytes read so far
	held int64 // bytes of budget held
	err  error // sticky: ErrBusy or ErrBodyTimeout
}

func (r *body) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) > chunkBytes {
		p = p[:chunkBytes]
	}
	n, err := r.rc.Read(p)
	if n > 0 {
		if !r.b.budget.acquire(r.ctx, int64(n), r.small, r.b.cfg.Wait) {
			r.b.throttled.Inc()
			r.err = ErrBusy
			return 0, r.err
		}
		r.held += int64(n)
		r.read += int64(n)
	}
	switch {
	case err == io.EOF:
		r.lift()
	case err != nil && r.timedOut(err):
		r.b.timeouts.Inc()
		r.err = ErrBodyTimeout
		return n, r.err
	}
	return n, err
}

// timedOut reports whether a read error is the body's deadline.
func (r *body) timedOut(err error) bool {
	if !r.hasDeadline {
		return false
	}
	return errors.Is(err, os.ErrDeadlineExceeded) || !r.b.now().Before(r.deadline)
}

// lift removes the deadline once the body is read: what follows (the
// response, maybe a long event stream) has no read deadline.
func (r *body) lift() {
	if r.hasDeadline {
		r.hasDeadline = false
		_ = r.rctl.SetReadDeadline(time.Time{})
	}
}

func (r *body) Close() error { return r.rc.Close() }

func (r *body) release() {
	r.b.budget.release(r.held)
	r.held = 0
}
