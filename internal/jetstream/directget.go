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

// Headers and statuses of direct get replies (ADR-31).
const (
	hdrStatus    = "Status"
	hdrSequence  = "Nats-Sequence"
	hdrTimeStamp = "Nats-Time-Stamp"
	hdrSubject   = "Nats-Subject"

	statusEOB          = "204" // end of a batch
	statusNotFound     = "404" // nothing at or after the requested position
	statusNoResponders = "503" // no replica serves direct gets: no such stream
)

// errNoResponders means no server answered a direct get: the stream does
// not exist (or, in a cluster, no replica is ready yet).
var errNoResponders = errors.New("no responders")

// directGets sends batch direct get requests, whose several replies nats.go
// cannot collect (its request mux keeps only the first reply). One wildcard
// subscription receives the replies of all calls; each call has its own
// token under the inbox prefix.
type directGets struct {
	nc     *nats.Conn
	prefix string // "<inbox>."; a call's replies go to prefix+token
	next   atomic.Uint64

	mu    sync.Mutex
	calls map[string]*getCall
}

// getCall collects the replies of one request. The subscription's handler
// appends and never blocks, so one slow reader cannot stall the others.
type getCall struct {
	mu   sync.Mutex
	msgs []*nats.Msg
	wake chan struct{} // capacity 1: "msgs is not empty"
}

func newDirectGets(nc *nats.Conn) (*directGets, error) {
	d := &directGets{nc: nc, prefix: nc.NewInbox() + ".", calls: make(map[string]*getCall)}
	sub, err := nc.Subscribe(d.prefix+"*", d.dispatch)
	if err != nil {
		return nil, fmt.Errorf("subscribe direct get inbox: %w", err)
	}
	// A batch can hold many large messages; never drop replies as a slow
	// consumer, the handler only hands them over.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, fmt.Errorf("direct get inbox limits: %w", err)
	}
	return d, nil
}

func (d *directGets) dispatch(m *nats.Msg) {
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

// do sends req to stream's direct get API and passes each reply, in order,
// to fn until fn reports done or fails, or ctx ends. Status replies (EOB,
// not found) reach fn too; a 503 (no responders) ends with errNoResponders.
func (d *directGets) do(ctx context.Context, stream string, req []byte, fn func(*nats.Msg) (done bool, err error)) error {
	token := strconv.FormatUint(d.next.Add(1), 36)
	c := &getCall{wake: make(chan struct{}, 1)}
	d.mu.Lock()
	d.calls[token] = c
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.calls, token)
		d.mu.Unlock()
	}()

	if err := d.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, d.prefix+token, req); err != nil {
		return fmt.Errorf("direct get request: %w", err)
	}
	var batch []*nats.Msg
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("direct get: %w", ctx.Err())
		case <-c.wake:
		}
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
