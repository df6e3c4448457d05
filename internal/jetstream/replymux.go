package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Headers and statuses of direct get replies (ADR-31) and of requests
// nobody subscribes to.
const (
	hdrStatus    = "Status"
	hdrSequence  = "Nats-Sequence"
	hdrTimeStamp = "Nats-Time-Stamp"
	hdrSubject   = "Nats-Subject"

	statusEOB          = "204" // end of a batch
	statusNotFound     = "404" // nothing at or after the requested position
	statusNoResponders = "503" // nobody subscribes to the subject: no such stream
)

// errNoResponders means no server subscribes to a request's subject: the
// stream does not exist (or, in a cluster, is not ready yet).
var errNoResponders = errors.New("no responders")

// replyMux sends requests whose replies nats.go's request API cannot
// handle: batch direct gets (several replies; nats.go keeps only the
// first) and appends that check, while they wait, whether their log still
// exists. One wildcard subscription receives the replies of all calls;
// each call has its own token under the inbox prefix.
type replyMux struct {
	nc     *nats.Conn
	prefix string // "<inbox>."; a call's replies go to prefix+token
	next   atomic.Uint64

	mu    sync.Mutex
	calls map[string]*muxCall

	// lose, set only by tests, drops the replies to the requests it
	// reports true for, as a network or a leader change can.
	lose func(*nats.Msg) bool
	// hold, set only by tests, keeps the requests it reports true for
	// from being sent, as a paused server holds what it was sent.
	hold func(*nats.Msg) bool
}

// muxCall collects the replies of one request. The subscription's handler
// appends and never blocks, so one slow caller cannot stall the others.
type muxCall struct {
	mu   sync.Mutex
	msgs []*nats.Msg
	wake chan struct{} // capacity 1: "msgs is not empty"
}

func newReplyMux(nc *nats.Conn) (*replyMux, error) {
	d := &replyMux{nc: nc, prefix: nc.NewInbox() + ".", calls: make(map[string]*muxCall)}
	sub, err := nc.Subscribe(d.prefix+"*", d.dispatch)
	if err != nil {
		return nil, fmt.Errorf("subscribe reply inbox: %w", err)
	}
	// A batch can hold many large messages; never drop replies as a slow
	// consumer, the handler only hands them over.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, fmt.Errorf("reply inbox limits: %w", err)
	}
	return d, nil
}

func (d *replyMux) dispatch(m *nats.Msg) {
	d.mu.Lock()
	c := d.calls[strings.TrimPrefix(m.Subject, d.prefix)]
	d.mu.Unlock()
	if c == nil {
		return // a late reply to a call that gave up
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// idleCheck is called once if a request has had no reply for after; a
// non-nil error ends the request with that error.
type idleCheck struct {
	after time.Duration
	check func() error
}

// request publishes data to subject and passes each reply, in order, to fn
// until fn reports done or fails, or ctx ends. Status replies (EOB, not
// found) reach fn too; a 503 (no responders) ends with errNoResponders.
func (d *replyMux) request(ctx context.Context, subject string, data []byte, idle *idleCheck, fn func(*nats.Msg) (done bool, err error)) error {
	return d.requestMsg(ctx, &nats.Msg{Subject: subject, Data: data}, idle, fn)
}

// register sets msg's Reply to a token of its own and returns the call
// that collects the replies, and the func that forgets it.
func (d *replyMux) register(msg *nats.Msg) (*muxCall, func()) {
	token := strconv.FormatUint(d.next.Add(1), 36)
	c := &muxCall{wake: make(chan struct{}, 1)}
	d.mu.Lock()
	d.calls[token] = c
	d.mu.Unlock()
	msg.Reply = d.prefix + token
	if d.lose != nil && d.lose(msg) {
		msg.Reply = d.prefix + "lost" // a reply nobody waits for: the ack is lost
	}
	return c, func() {
		d.mu.Lock()
		delete(d.calls, token)
		d.mu.Unlock()
	}
}

// requestMsg is request for a message with headers; its Reply is set here.
func (d *replyMux) requestMsg(ctx context.Context, msg *nats.Msg, idle *idleCheck, fn func(*nats.Msg) (done bool, err error)) error {
	c, forget := d.register(msg)
	defer forget()
	if err := d.nc.PublishMsg(msg); err != nil {
		return err
	}
	var idleC <-chan time.Time
	if idle != nil {
		t := time.NewTimer(idle.after)
		defer t.Stop()
		idleC = t.C
	}
	var batch []*nats.Msg
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-idleC:
			if err := idle.check(); err != nil {
				return err
			}
			continue
		case <-c.wake:
		}
		idleC = nil // replies flow: no need to check
		c.mu.Lock()
		batch, c.msgs = c.msgs, batch[:0]
		c.mu.Unlock()
		for i, m := range batch {
			batch[i] = nil // let the caller's data go when it is done with it
			if m.Header.Get(hdrStatus) == statusNoResponders {
				return errNoResponders
			}
			done, err := fn(m)
			if err != nil || done {
				return err
			}
		}
	}
}

// Outcomes of attempt other than a reply.
var (
	// errAttemptTimeout: no reply within the attempt's timeout. The
	// message may still be stored.
	errAttemptTimeout = errors.New("no reply in time")
	// errWoken: while the attempt waited, the connection came back or the
	// stream elected a leader, so sending again may now be answered. The
	// message may still be stored.
	errWoken = errors.New("woken by a reconnect or a leader election")
	// errNotSent: the connection refused the message (it is
	// reconnecting and its buffer is full); nothing was sent.
	errNotSent = errors.New("not sent")
)

// attempt publishes msg and returns its first reply. It gives up after
// timeout (errAttemptTimeout), at an event of ev concerning stream
// (errWoken), or when ctx ends; a 503 reply is errNoResponders.
func (d *replyMux) attempt(ctx context.Context, msg *nats.Msg, timeout time.Duration, ev *events, stream string) (*nats.Msg, error) {
	c, forget := d.register(msg)
	defer forget()
	gen, changed := ev.mark()
	if d.hold != nil && d.hold(msg) {
		// Not sent: the test has it.
	} else if err := d.nc.PublishMsg(msg); err != nil {
		if errors.Is(err, nats.ErrReconnectBufExceeded) {
			return nil, fmt.Errorf("%w: %w", errNotSent, err)
		}
		return nil, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, errAttemptTimeout
		case <-changed:
			var woken bool
			if woken, gen, changed = ev.since(stream, gen); woken {
				return nil, errWoken
			}
		case <-c.wake:
			c.mu.Lock()
			m := c.msgs[0]
			c.mu.Unlock()
			if m.Header.Get(hdrStatus) == statusNoResponders {
				return nil, errNoResponders
			}
			return m, nil
		}
	}
}

// directGet sends a direct get request for stream; see request.
func (d *replyMux) directGet(ctx context.Context, stream string, req []byte, idle *idleCheck, fn func(*nats.Msg) (done bool, err error)) error {
	if err := d.request(ctx, "$JS.API.DIRECT.GET."+stream, req, idle, fn); err != nil {
		return fmt.Errorf("direct get: %w", err)
	}
	return nil
}

// batchEnd handles the status replies of a batch direct get: ok for a
// message; else done, with pending set to the messages left after the
// batch (from its EOB reply; 0 when nothing was found; unchanged if not
// said), or an error for an unexpected status.
func batchEnd(m *nats.Msg, pending *int) (ok bool, err error) {
	switch replyStatus(m) {
	case "":
		return true, nil
	case statusEOB:
		if np, err := strconv.Atoi(m.Header.Get("Nats-Num-Pending")); err == nil {
			*pending = np
		}
		return false, nil
	case statusNotFound:
		*pending = 0
		return false, nil
	default:
		return false, statusError(m)
	}
}

// replyStatus returns the status of a direct get reply, "" for a message.
// Stored messages never carry a Status header: the server strips it.
func replyStatus(m *nats.Msg) string {
	return m.Header.Get(hdrStatus)
}

// replyPosition parses the sequence and store time of a direct get reply.
func replyPosition(m *nats.Msg) (uint64, time.Time, error) {
	seq, err := strconv.ParseUint(m.Header.Get(hdrSequence), 10, 64)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("direct get reply: bad %s header: %w", hdrSequence, err)
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Header.Get(hdrTimeStamp))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("direct get reply: bad %s header: %w", hdrTimeStamp, err)
	}
	return seq, ts, nil
}

// statusError describes an unexpected status reply.
func statusError(m *nats.Msg) error {
	return fmt.Errorf("direct get: status %s %s", m.Header.Get(hdrStatus), m.Header.Get("Description"))
}
