package server

import (
	"encoding/json"
	"net/http"

	"github.com/sluicehq/sluice/internal/jetstream"
)

// Probes for load balancers and orchestrators. GET (and HEAD) /health
// and /ready answer anyone, whatever the Host header: a load balancer or
// a kubelet cannot sign a request, and names a server by its address,
// which --allowed-hosts need not list. So their bodies say nothing but
// the status. GET /ready?verbose adds what the check found (node names,
// leaders), behind the Host check and the credentials /metrics takes.
// The Kinesis and DynamoDB APIs are POSTs with an X-Amz-Target header,
// which keep going to the API whatever the path.

// probes serves the plain probes and hands every other request to next.
type probes struct {
	s    *Server
	next http.Handler
}

func (p probes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.Header.Get("X-Amz-Target") == "" {
		switch {
		case r.URL.Path == "/health":
			p.s.health(w, r)
			return
		case r.URL.Path == "/ready" && !r.URL.Query().Has("verbose"):
			p.s.ready(w, r)
			return
		}
	}
	p.next.ServeHTTP(w, r)
}

// health answers 200 while the process serves HTTP: a liveness probe.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeProbe(w, http.StatusOK, probeBody{Status: "ok"})
}

// ready answers 200 when the store can take writes now (connected,
// JetStream answering, the metadata stream led) and 503 otherwise: a
// readiness probe.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	rd := s.store.Ready(r.Context())
	code, body := readiness(rd)
	writeProbe(w, code, body)
}

// readyVerbose is ready with what the check found, for a person.
func (s *Server) readyVerbose(w http.ResponseWriter, r *http.Request) {
	rd := s.store.Ready(r.Context())
	code, body := readiness(rd)
	body.Store = &rd
	writeProbe(w, code, body)
}

func readiness(rd jetstream.Readiness) (int, probeBody) {
	if !rd.Ready {
		return http.StatusServiceUnavailable, probeBody{Status: "not ready"}
	}
	return http.StatusOK, probeBody{Status: "ready"}
}

type probeBody struct {
	Status string               `json:"status"`
	Store  *jetstream.Readiness `json:"store,omitempty"`
}

func writeProbe(w http.ResponseWriter, code int, body probeBody) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
