package consumer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/consumer"
)

// TestConsumer_FanOutWatchdogRenewsAStalledSubscription freezes the TCP
// connection carrying a subscription, without closing it, while records
// are being put: the watchdog abandons it and the consumer resubscribes
// over a new connection, processing every record once and in order.
func TestConsumer_FanOutWatchdogRenewsAStalledSubscription(t *testing.T) {
	e := newEnv(t, 1)
	proxy := startFreezeProxy(t, e.srv.Endpoint())
	// The consumer's Kinesis client goes through the proxy, with a
	// transport of its own; puts and the lease table go direct.
	pe := *e
	pe.kc = kinesis.New(e.kc.Options(), func(o *kinesis.Options) {
		o.BaseEndpoint = &proxy.url
		o.HTTPClient = &http.Client{Transport: &http.Transport{}}
	})
	logs := newLogRecorder(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	col := newCollector()
	// Short, yet longer than the 5 s a server may leave an idle
	// subscription without an event, so only the freeze trips it.
	const stall = 8 * time.Second
	pe.start("a", col, consumer.WithLogger(slog.New(logs)),
		consumer.WithRetrieval(consumer.FanOut{ConsumerName: "app", StallTimeout: stall}))

	e.put(0, 200, 4)
	waitFor(t, "200 records", time.Minute, func() bool { return col.count() >= 200 })
	if n := proxy.subscriptions(); n != 1 {
		t.Fatalf("%d subscription connections before the freeze, want 1", n)
	}
	if n := logs.count("stalled"); n != 0 {
		t.Fatalf("%d stalls before the freeze; logged: %q", n, logs.messages())
	}
	// Records put just before the freeze may be in flight: delivered in
	// part, held in the frozen connection or not yet sent.
	e.put(200, 100, 4)
	frozen := proxy.freezeSubscriptions()
	if frozen != 1 {
		t.Fatalf("froze %d subscription connections, want 1", frozen)
	}
	e.put(300, 100, 4)
	waitFor(t, "a new subscription", time.Minute, func() bool { return proxy.subscriptions() >= 2 })
	waitFor(t, "400 records", time.Minute, func() bool { return col.distinct() >= 400 })
	e.put(400, 100, 4)
	waitFor(t, "500 records", time.Minute, func() bool { return col.distinct() >= 500 })

	if logs.count("stalled") == 0 {
		t.Errorf("no subscription was abandoned as stalled; logged: %q", logs.messages())
	}
	if dups := col.check(t, 500); dups != 0 {
		t.Errorf("%d duplicates with one worker and one subscription at a time", dups)
	}
	if n := proxy.frozenOpen(); n != 1 {
		t.Errorf("%d frozen connections still open, want the 1 frozen: the test must stall, not cut, the feed", n)
	}
}

// TestConsumer_FanOutWatchdogRenewsAStalledSubscribe freezes the first
// SubscribeToShard request before it reaches the server: the call gets no
// response at all, and the watchdog abandons it too.
func TestConsumer_FanOutWatchdogRenewsAStalledSubscribe(t *testing.T) {
	e := newEnv(t, 1)
	proxy := startFreezeProxy(t, e.srv.Endpoint())
	proxy.freezeNextSubscriptions(1)
	pe := *e
	pe.kc = kinesis.New(e.kc.Options(), func(o *kinesis.Options) {
		o.BaseEndpoint = &proxy.url
		o.HTTPClient = &http.Client{Transport: &http.Transport{}}
	})
	logs := newLogRecorder(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	col := newCollector()
	e.put(0, 100, 4)
	pe.start("a", col, consumer.WithLogger(slog.New(logs)),
		consumer.WithRetrieval(consumer.FanOut{ConsumerName: "app", StallTimeout: 8 * time.Second}))
	waitFor(t, "100 records", time.Minute, func() bool { return col.distinct() >= 100 })
	e.put(100, 100, 4)
	waitFor(t, "200 records", time.Minute, func() bool { return col.distinct() >= 200 })
	if n := proxy.subscriptions(); n < 2 {
		t.Errorf("%d subscription connections, want the frozen one and another", n)
	}
	if logs.count("stalled") == 0 {
		t.Errorf("no subscription was abandoned as stalled; logged: %q", logs.messages())
	}
	if dups := col.check(t, 200); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
}

// TestConsumer_FanOutWatchdogIgnoresBackPressure holds a subscription
// behind a full prefetch, with a processor slower than the watchdog's
// timeout: the pause is the consumer's own, so the subscription is kept.
func TestConsumer_FanOutWatchdogIgnoresBackPressure(t *testing.T) {
	e := newEnv(t, 1)
	logs := newLogRecorder(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	col := newCollector()
	const stall = 2 * time.Second
	// The server sends an idle subscription an event every 5 s: the
	// processor's pause ends before the next one is due, so after it the
	// feed sees no event for a while.
	started := make(chan int)
	var once sync.Once
	fn := consumer.Func(func(ctx context.Context, in consumer.ProcessRecordsInput) error {
		once.Do(func() {
			started <- logs.count("stalled")
			time.Sleep(2 * stall) // the next batch waits in the full prefetch
		})
		col.add("a", in.Records)
		return nil
	})
	e.startProcessor("a", fn, consumer.WithLogger(slog.New(logs)),
		consumer.WithRetrieval(consumer.FanOut{ConsumerName: "app", StallTimeout: stall, PrefetchBytes: 1}))
	e.put(0, 10, 2)
	before := <-started
	e.put(10, 10, 2)
	waitFor(t, "20 records", time.Minute, func() bool { return col.count() >= 20 })
	if logs.count("stalled") != before {
		t.Errorf("a subscription paused by back-pressure was abandoned as stalled; logged: %q", logs.messages())
	}
	if dups := col.check(t, 20); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
}

// freezeProxy forwards TCP connections to a server and can freeze those
// that carried a SubscribeToShard request: it then stops forwarding bytes
// either way but keeps them open, as a dead network path does.
type freezeProxy struct {
	url    string
	ln     net.Listener
	target string

	mu         sync.Mutex
	cond       *sync.Cond
	conns      []*proxyConn
	freezeNext int // subscription connections to freeze before their request passes
	closed     bool
	wg         sync.WaitGroup
}

type proxyConn struct {
	client, server net.Conn
	subscribe      bool // carried a SubscribeToShard request
	frozen         bool
	done           bool // both directions stopped
}

func startFreezeProxy(t *testing.T, endpoint string) *freezeProxy {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{url: "http://" + ln.Addr().String(), ln: ln, target: u.Host}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close) // before the server's Close, registered earlier
	return p
}

func (p *freezeProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		pc := &proxyConn{client: c, server: s}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns = append(p.conns, pc)
		p.mu.Unlock()
		var halves sync.WaitGroup
		halves.Add(2)
		p.wg.Add(2)
		go func() { defer halves.Done(); p.pipe(pc, c, s, true) }()
		go func() { defer halves.Done(); p.pipe(pc, s, c, false) }()
		go func() {
			halves.Wait()
			p.mu.Lock()
			pc.done = true
			p.mu.Unlock()
		}()
	}
}

// pipe copies src to dst, holding what it read while pc is frozen.
func (p *freezeProxy) pipe(pc *proxyConn, src, dst net.Conn, request bool) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	const target = "Kinesis_20131202.SubscribeToShard"
	buf := make([]byte, 32<<10)
	var tail []byte // the end of the previous read, for a target split across reads
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		if request && !pc.subscribe && n > 0 {
			joined := append(tail, buf[:n]...)
			pc.subscribe = bytes.Contains(joined, []byte(target))
			tail = append([]byte(nil), joined[max(0, len(joined)-len(target)):]...)
			if pc.subscribe && p.freezeNext > 0 {
				p.freezeNext--
				pc.frozen = true
			}
		}
		// Frozen, neither data nor the end of it passes.
		for pc.frozen && !p.closed {
			p.cond.Wait()
		}
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if errors.Is(err, io.EOF) {
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
		if err != nil {
			return
		}
	}
}

// subscriptions counts the connections that carried a SubscribeToShard.
func (p *freezeProxy) subscriptions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, pc := range p.conns {
		if pc.subscribe {
			n++
		}
	}
	return n
}

// freezeSubscriptions freezes the open subscription connections and
// returns how many.
func (p *freezeProxy) freezeSubscriptions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, pc := range p.conns {
		if pc.subscribe && !pc.done {
			pc.frozen = true
			n++
		}
	}
	return n
}

// freezeNextSubscriptions freezes the next n connections to carry a
// SubscribeToShard request, before the request passes.
func (p *freezeProxy) freezeNextSubscriptions(n int) {
	p.mu.Lock()
	p.freezeNext = n
	p.mu.Unlock()
}

// frozenOpen counts frozen connections the proxy still holds open.
func (p *freezeProxy) frozenOpen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, pc := range p.conns {
		if pc.frozen && !pc.done {
			n++
		}
	}
	return n
}

func (p *freezeProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	conns := p.conns
	p.mu.Unlock()
	p.ln.Close()
	for _, pc := range conns {
		pc.client.Close()
		pc.server.Close()
	}
	p.wg.Wait()
}

// logRecorder keeps the messages and errors logged, passing records on.
type logRecorder struct {
	next slog.Handler
	mu   *sync.Mutex
	logs *[]string
}

func newLogRecorder(next slog.Handler) *logRecorder {
	return &logRecorder{next: next, mu: new(sync.Mutex), logs: new([]string)}
}

func (h *logRecorder) Enabled(ctx context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *logRecorder) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	h.mu.Lock()
	*h.logs = append(*h.logs, b.String())
	h.mu.Unlock()
	return h.next.Handle(ctx, r)
}

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder{next: h.next.WithAttrs(as), mu: h.mu, logs: h.logs}
}

func (h *logRecorder) WithGroup(name string) slog.Handler {
	return &logRecorder{next: h.next.WithGroup(name), mu: h.mu, logs: h.logs}
}

func (h *logRecorder) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), *h.logs...)
}

// count counts the records logged that contain s.
func (h *logRecorder) count(s string) int {
	n := 0
	for _, m := range h.messages() {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}
