package jetstream

import (
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// leaderElectedPrefix + stream is the subject of JetStream's advisory that
// a stream has a new leader; every server of a cluster publishes it into
// the account of the stream.
const leaderElectedPrefix = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."

// events tells waiting appends that sending again may now succeed: the
// connection came back (to another server, perhaps) or a stream elected a
// new leader. An append that heard nothing would otherwise wait out its
// attempt's timeout, which is longer than a leader election takes.
type events struct {
	mu         sync.Mutex
	gen        uint64            // counts events
	reconnect  uint64            // gen of the last reconnect
	elected    map[string]uint64 // stream -> gen of its last election
	changed    chan struct{}     // closed and replaced at every event
	electedCap int               // bound on len(elected)
}

func newEvents() *events {
	return &events{elected: make(map[string]uint64), changed: make(chan struct{}), electedCap: 4096}
}

// mark returns the current generation and a channel closed at the next
// event, for a waiter that starts now.
func (e *events) mark() (uint64, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gen, e.changed
}

// since reports whether an event that concerns stream happened after gen,
// and otherwise returns the current generation and channel to wait on.
func (e *events) since(stream string, gen uint64) (bool, uint64, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.reconnect > gen || e.elected[stream] > gen {
		return true, e.gen, e.changed
	}
	return false, e.gen, e.changed
}

func (e *events) fire(stream string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gen++
	if stream == "" {
		e.reconnect = e.gen
	} else {
		if len(e.elected) >= e.electedCap {
			// Old entries matter only to appends waiting since before
			// them, which a reconnect-sized event wakes as well.
			clear(e.elected)
			e.reconnect = e.gen
		}
		e.elected[stream] = e.gen
	}
	close(e.changed)
	e.changed = make(chan struct{})
}

// reconnected is the connection's reconnect handler's share.
func (e *events) reconnected() { e.fire("") }

// subscribe listens to the leader elections of every stream.
func (e *events) subscribe(nc *nats.Conn) (*nats.Subscription, error) {
	return nc.Subscribe(leaderElectedPrefix+"*", func(m *nats.Msg) {
		e.fire(strings.TrimPrefix(m.Subject, leaderElectedPrefix))
	})
}
