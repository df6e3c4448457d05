package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// readyTimeout bounds each request of a readiness check.
const readyTimeout = 2 * time.Second

// replicaSilence is how long a stream leader may not have heard from a
// follower (they exchange heartbeats every second) before the follower
// no longer counts toward the quorum in a readiness check.
const replicaSilence = 3 * time.Second

// Readiness is what a readiness check found: whether the store can take
// writes now, and what a person looking into it wants to know.
type Readiness struct {
	Ready bool   `json:"ready"`
	Mode  string `json:"mode"` // "embedded" or "cluster"
	// Connection to NATS: the server it is connected to.
	Connected bool   `json:"connected"`
	Server    string `json:"server,omitempty"`
	URL       string `json:"url,omitempty"`
	// JetStream answered its API: in a cluster, a meta leader is elected.
	JetStream bool `json:"jetstream"`
	// The metadata bucket's stream: its leader and replicas.
	Meta *StreamPlacement `json:"meta,omitempty"`
	// Error says why the store is not ready.
	Error string `json:"error,omitempty"`
}

// StreamPlacement is where a stream's replicas are, and which leads.
type StreamPlacement struct {
	Stream   string         `json:"stream"`
	Leader   string         `json:"leader,omitempty"`
	Replicas []ReplicaState `json:"replicas,omitempty"`
}

// ReplicaState is one follower of a stream, as its leader sees it.
type ReplicaState struct {
	Server  string  `json:"server"`
	Current bool    `json:"current"`
	Lag     uint64  `json:"lag,omitempty"`
	Active  float64 `json:"active_seconds"` // since the leader last heard from it
}

// Ready checks that the store can take writes: the connection is up,
// JetStream answers (in a cluster: a meta leader is elected) and the
// metadata bucket's stream has a leader. Each check waits a couple of
// seconds at most.
func (b *Backend) Ready(ctx context.Context) Readiness {
	r := Readiness{Mode: "embedded"}
	if b.cfg.URL != "" {
		r.Mode = "cluster"
	}
	r.Connected = b.nc.Status() == nats.CONNECTED
	if r.Connected && b.cfg.URL != "" {
		r.Server, r.URL = b.nc.ConnectedServerName(), b.nc.ConnectedUrlRedacted()
	}
	fail := func(err error) Readiness {
		r.Error = err.Error()
		return r
	}
	if !r.Connected {
		return fail(fmt.Errorf("not connected to nats (%s)", b.nc.Status()))
	}
	actx, cancel := context.WithTimeout(ctx, readyTimeout)
	_, err := b.js.AccountInfo(actx)
	cancel()
	if err != nil {
		return fail(fmt.Errorf("jetstream does not answer: %w", err))
	}
	r.JetStream = true
	sctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	s, err := b.js.Stream(sctx, b.meta.stream)
	if err != nil {
		return fail(fmt.Errorf("metadata stream %s: %w", b.meta.stream, err))
	}
	info := s.CachedInfo()
	r.Meta = &StreamPlacement{Stream: b.meta.stream}
	if c := info.Cluster; c != nil {
		r.Meta.Leader = c.Leader
		heard := 1 // the leader
		for _, p := range c.Replicas {
			r.Meta.Replicas = append(r.Meta.Replicas, ReplicaState{Server: p.Name, Current: p.Current, Lag: p.Lag, Active: p.Active.Seconds()})
			if p.Current && !p.Offline && p.Active < replicaSilence {
				heard++
			}
		}
		if c.Leader == "" {
			return fail(errors.New("the metadata stream has no leader"))
		}
		// A leader that lost its quorum keeps leading for a while before
		// it notices; writes meanwhile cannot be stored.
		if size := len(c.Replicas) + 1; heard < size/2+1 {
			return fail(fmt.Errorf("the metadata stream's leader %s hears from %d of %d replicas, short of a quorum", c.Leader, heard, size))
		}
	}
	r.Ready = true
	return r
}
