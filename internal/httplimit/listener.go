package httplimit

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxConnections is the connection cap of `sluice serve`.
const DefaultMaxConnections = 4096

// Connections caps the connections open at once across the listeners it
// wraps: past the cap, Accept waits until one closes (the kernel's accept
// queue holds the newcomers meanwhile).
type Connections struct {
	// slots holds a token per connection open, and one while Accept
	// waits for a connection: the cap is on both.
	slots chan struct{}
	count atomic.Int64 // connections open

	open  prometheus.GaugeFunc
	waits prometheus.Counter
}

// NewConnections returns a cap of max connections, its metrics registered
// on reg (nil registers none).
func NewConnections(max int, reg prometheus.Registerer) (*Connections, error) {
	if max < 1 {
		return nil, fmt.Errorf("max connections %d: at least 1", max)
	}
	c := &Connections{slots: make(chan struct{}, max)}
	c.open = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "sluice", Name: "http_connections_open",
		Help: "HTTP connections open now, over every listener.",
	}, func() float64 { return float64(c.count.Load()) })
	c.waits = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sluice", Name: "http_connection_waits_total",
		Help: "Connections accepted only after waiting for another to close, at the connection cap.",
	})
	if reg != nil {
		limit := prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "sluice", Name: "http_connections_limit",
			Help: "The cap on HTTP connections open at once.",
		})
		limit.Set(float64(max))
		for _, m := range []prometheus.Collector{c.open, c.waits, limit} {
			if err := reg.Register(m); err != nil {
				return nil, fmt.Errorf("register connection metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Listen returns ln with its connections counted against the cap.
func (c *Connections) Listen(ln net.Listener) net.Listener {
	return &listener{Listener: ln, c: c, done: make(chan struct{})}
}

type listener struct {
	net.Listener
	c         *Connections
	done      chan struct{}
	closeOnce sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case l.c.slots <- struct{}{}:
	default:
		l.c.waits.Inc()
		select {
		case l.c.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	conn, err := l.Listener.Accept()
	if err != nil {
		<-l.c.slots
		return nil, err
	}
	l.c.count.Add(1)
	return &limitedConn{Conn: conn, c: l.c}, nil
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	err := l.Listener.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// limitedConn frees its slot when closed, once.
type limitedConn struct {
	net.Conn
	c         *Connections
	closeOnce sync.Once
}

// CloseWrite lets net/http half-close before closing, so that a client
// still sending a body reads the error answered to it rather than a
// reset.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.c.count.Add(-1)
		<-c.c.slots
	})
	return err
}
