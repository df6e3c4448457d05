package server

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/httpapi"
)

// BenchmarkAPIMetrics measures what counting and timing costs a request:
// an answer written straight, and the same through apiMetrics, side by
// side; and an error answer, whose code is counted by label.
func BenchmarkAPIMetrics(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("{}"))
	})
	fail := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		w.WriteHeader(http.StatusBadRequest)
	})
	m := newAPIMetrics(prometheus.NewRegistry(),
		apiSpec{name: "kinesis", targetPrefix: httpapi.TargetPrefix, operations: httpapi.Operations(), streaming: httpapi.StreamingOperations()})
	req, _ := http.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	w := &nullWriter{hdr: http.Header{}}
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", ok},
		{"counted", m.handler(ok, httpapi.TargetPrefix)},
		{"counted-error", m.handler(fail, httpapi.TargetPrefix)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, req)
			}
		})
	}
}

type nullWriter struct{ hdr http.Header }

func (w *nullWriter) Header() http.Header         { return w.hdr }
func (w *nullWriter) WriteHeader(int)             {}
func (w *nullWriter) Write(p []byte) (int, error) { return len(p), nil }
