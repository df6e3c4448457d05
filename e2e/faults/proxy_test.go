//go:build linux

package faults

import (
	"net"
	"sync"
	"testing"
)

// proxy forwards TCP connections from its own port to a target. Cut, it
// forwards nothing more, in either direction, and holds new connections
// without connecting them: as a network partition, it drops nothing, the
// peers just hear nothing and find out by their own timeouts. Healed, it
// forwards again whatever it held, as TCP delivers what it retransmits.
type proxy struct {
	ln net.Listener

	tmu    sync.Mutex
	target string // changed by retarget

	mu     sync.Mutex
	open   chan struct{} // closed while forwarding; replaced when cut
	conns  map[net.Conn]struct{}
	closed bool
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &proxy{ln: ln, target: target, open: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	close(p.open)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// retarget forwards the connections it accepts from now on to target.
func (p *proxy) retarget(target string) {
	p.tmu.Lock()
	defer p.tmu.Unlock()
	p.target = target
}

func (p *proxy) targetAddr() string {
	p.tmu.Lock()
	defer p.tmu.Unlock()
	return p.target
}

// addr is the proxy's address, 127.0.0.1:port.
func (p *proxy) addr() string { return p.ln.Addr().String() }

// gate returns a channel that is closed while the proxy forwards.
func (p *proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// cut stops forwarding.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default: // already cut
	}
}

// heal forwards again.
func (p *proxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// reset closes every connection it forwards, as a peer's crash does.
func (p *proxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.heal()
	p.ln.Close()
	p.reset()
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	c.Close()
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		go p.serve(c)
	}
}

func (p *proxy) serve(c net.Conn) {
	defer p.untrack(c)
	<-p.gate() // a connection made while cut waits, unconnected
	u, err := net.Dial("tcp", p.targetAddr())
	if err != nil {
		return // the target is down: the client sees its connection close
	}
	if !p.track(u) {
		return
	}
	defer p.untrack(u)
	done := make(chan struct{}, 2)
	go func() { p.pipe(u, c); done <- struct{}{} }()
	go func() { p.pipe(c, u); done <- struct{}{} }()
	<-done // either side gone: close both
}

// pipe copies from src to dst, waiting at the gate before each write.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or reset: serve closes both sides
		}
	}
}
