package httplimit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// serve starts an HTTP/1.1 and h2c server of h behind b on 127.0.0.1.
func serve(t *testing.T, b *Bodies, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: b.Handler(h), ReadHeaderTimeout: 10 * time.Second}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func client(h2c bool) *http.Client {
	tr := &http.Transport{}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// readAll answers with what reading the body came to: "ok N", or the
// error.
func readAll() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		switch {
		case errors.Is(err, ErrBodyTimeout):
			http.Error(w, "timeout", http.StatusRequestTimeout)
		case errors.Is(err, ErrBusy):
			http.Error(w, "busy", http.StatusTooManyRequests)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			fmt.Fprintf(w, "ok %d", n)
		}
	})
}

func post(t *testing.T, c *http.Client, url string, body io.Reader, length int64) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// stalled is a body that sends head, then nothing until released (then
// one more byte), or until closed.
type stalled struct {
	head      []byte
	release   chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	tail      bool
}

func newStalled(head []byte) *stalled {
	return &stalled{head: head, release: make(chan struct{}), closed: make(chan struct{})}
}

func (s *stalled) Read(p []byte) (int, error) {
	if len(s.head) > 0 {
		n := copy(p, s.head)
		s.head = s.head[n:]
		return n, nil
	}
	select {
	case <-s.release:
		if !s.tail {
			s.tail = true
			p[0] = 'y'
			return 1, nil
		}
		return 0, io.EOF
	case <-s.closed:
		return 0, io.ErrClosedPipe
	}
}

func (s *stalled) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

func TestBodies_ReadTimeout(t *testing.T) {
	for _, h2c := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2c=%v", h2c), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			b, err := NewBodies(BodiesConfig{ReadTimeout: 200 * time.Millisecond}, reg)
			if err != nil {
				t.Fatal(err)
			}
			url := serve(t, b, readAll())
			body := newStalled([]byte("a few bytes of 16 MiB"))
			status, msg := post(t, client(h2c), url, body, 16<<20)
			if status != http.StatusRequestTimeout {
				t.Fatalf("stalled body: %d %q, want 408 timeout", status, msg)
			}
			if got := testutil.ToFloat64(b.timeouts); got != 1 {
				t.Errorf("timeouts counted: %v", got)
			}
			if b.budget.inUse() != 0 {
				t.Errorf("budget held after the request: %d", b.budget.inUse())
			}
		})
	}
}

// TestBodies_LongResponse checks that the deadline ends with the body: a
// response streamed for longer than the read timeout (an event stream)
// is not cut, over HTTP/1.1 and h2c.
func TestBodies_LongResponse(t *testing.T) {
	const timeout = 100 * time.Millisecond
	for _, h2c := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2c=%v", h2c), func(t *testing.T) {
			b, err := NewBodies(BodiesConfig{ReadTimeout: timeout}, nil)
			if err != nil {
				t.Fatal(err)
			}
			url := serve(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, err := io.Copy(io.Discard, r.Body); err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
				for i := range 5 {
					fmt.Fprintf(w, "event %d\n", i)
					w.(http.Flusher).Flush()
					select {
					case <-time.After(timeout): // 5 timeouts in all
					case <-r.Context().Done():
						return
					}
				}
			}))
			status, msg := post(t, client(h2c), url, strings.NewReader(`{"ConsumerARN":"x"}`), -1)
			if status != 200 || !strings.HasSuffix(msg, "event 4") {
				t.Fatalf("long response: %d %q", status, msg)
			}
		})
	}
}

// TestBodies_Budget fills the budget with a stalled large body: another
// large body is refused after the wait, while small bodies still pass
// through the reserve.
func TestBodies_Budget(t *testing.T) {
	for _, h2c := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2c=%v", h2c), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			b, err := NewBodies(BodiesConfig{InFlightBytes: 32 << 20, Wait: 100 * time.Millisecond, ReadTimeout: time.Minute}, reg)
			if err != nil {
				t.Fatal(err)
			}
			url := serve(t, b, readAll())
			c := client(h2c)

			// 24 MiB, the whole budget for large bodies, less a byte sent after a stall.
			hog := newStalled(bytes.Repeat([]byte{'x'}, 24<<20-1))
			var wg sync.WaitGroup
			wg.Go(func() {
				if status, msg := post(t, c, url, hog, 24<<20); status != 200 {
					t.Errorf("stalled body, once released: %d %q", status, msg)
				}
			})
			until(t, func() bool { return b.budget.inUse() >= 24<<20-1 })

			if status, msg := post(t, c, url, bytes.NewReader(make([]byte, 1<<20)), 1<<20); status != http.StatusTooManyRequests {
				t.Errorf("large body with the budget spent: %d %q, want 429 busy", status, msg)
			}
			small := `{"StreamName":"s","Data":"AA==","PartitionKey":"k"}`
			for range 3 {
				if status, msg := post(t, c, url, strings.NewReader(small), int64(len(small))); status != 200 {
					t.Errorf("small body with the large budget spent: %d %q", status, msg)
				}
			}
			// A body of unknown length may not use the reserve.
			if status, msg := post(t, c, url, strings.NewReader(small), -1); status != http.StatusTooManyRequests {
				t.Errorf("body of unknown length with the large budget spent: %d %q, want 429 busy", status, msg)
			}
			close(hog.release)
			wg.Wait()
			if got := testutil.ToFloat64(b.throttled); got != 2 {
				t.Errorf("throttled counted: %v", got)
			}
			if b.budget.inUse() != 0 {
				t.Errorf("budget held after the requests: %d", b.budget.inUse())
			}
		})
	}
}

// until polls cond, failing after a generous minute.
func until(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met within a minute")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestConnections(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := NewConnections(2, reg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := c.Listen(raw)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- conn
		}
	}()
	for range 3 {
		d, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
	}
	first, second := <-accepted, <-accepted
	until(t, func() bool { return testutil.ToFloat64(c.waits) == 1 })
	select {
	case <-accepted:
		t.Fatal("a third connection accepted over the cap of 2")
	default:
	}
	if got := testutil.ToFloat64(c.open); got != 2 {
		t.Errorf("open connections: %v", got)
	}
	first.Close()
	first.Close() // a second close frees nothing more
	third := <-accepted
	second.Close()
	third.Close()
	until(t, func() bool { return testutil.ToFloat64(c.open) == 0 })
}

// TestBodies_UnreadBody: a handler may answer without reading a large
// body (a 413 from the declared length); net/http must still see its own
// body and close the connection after the answer, rather than first
// drain the body the client has not sent.
func TestBodies_UnreadBody(t *testing.T) {
	b, err := NewBodies(BodiesConfig{ReadTimeout: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}))
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute)) // the failure would hang
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 100<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d", resp.StatusCode)
	}
}
