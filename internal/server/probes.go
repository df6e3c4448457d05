package server

import (
	"encoding/json"
	"net/http"

	"github.com/sluicehq/sluice/internal/jetstream"
)

// Probes for load balancers and orchestrators. They answer GET (and HEAD)
// on their own paths; the Kinesis and DynamoDB APIs are POSTs with an
// X-Amz-Target header, which the mux sends to the API whatever the path.

// health answers 200 while the process serves HTTP: a liveness probe.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeProbe(w, http.StatusOK, probeBody{Status: "ok"})
}

// ready answers 200 when the store can take writes now (connected,
// JetStream answering, the metadata stream led) and 503 otherwise, with
// what the check found: a readiness probe, and a first look for a person.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	rd := s.store.Ready(r.Context())
	body, code := probeBody{Status: "ready", Store: &rd}, http.StatusOK
	if !rd.Ready {
		body.Status, code = "not ready", http.StatusServiceUnavailable
	}
	writeProbe(w, code, body)
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
