package server

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// apiMetrics counts the API requests of both protocols by operation and
// their errors by AWS error code, and times them: the counterparts of
// CloudWatch's per-operation metrics (PutRecords.Success, GetRecords.Latency,
// ...) for every operation at once. The operation comes from
// X-Amz-Target and the error code from the X-Amzn-ErrorType header both
// handlers set on errors.
type apiMetrics struct {
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// byTarget holds the series of every known X-Amz-Target, resolved on
	// its first request (an idle operation exports nothing) and then kept,
	// so that a request costs no label lookup; other targets share one
	// "unknown" operation, so clients cannot add series at will.
	byTarget map[string]*operationMetrics
	unknown  map[string]*operationMetrics // by API
}

type operationMetrics struct {
	api, operation string
	streaming      bool // its answer streams (SubscribeToShard): not timed, its length is the client's

	once     sync.Once
	requests prometheus.Counter
	duration prometheus.Observer // nil when streaming
}

// series returns the operation's series, made on first use.
func (om *operationMetrics) series(m *apiMetrics) *operationMetrics {
	om.once.Do(func() {
		om.requests = m.requests.WithLabelValues(om.api, om.operation)
		if !om.streaming {
			om.duration = m.duration.WithLabelValues(om.api, om.operation)
		}
	})
	return om
}

// apiSpec names one protocol: its X-Amz-Target prefix, operations and the
// operations that stream their answer.
type apiSpec struct {
	name, targetPrefix string
	operations         []string
	streaming          []string
}

func newAPIMetrics(reg prometheus.Registerer, apis ...apiSpec) *apiMetrics {
	labels := []string{"api", "operation"}
	m := &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "api_requests_total",
			Help: "API requests by API (kinesis, dynamodb) and operation, answered with success or an error " +
				"(CloudWatch's per-operation metrics, e.g. PutRecords.Success plus its errors).",
		}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "api_errors_total",
			Help: "API requests answered with an error, by API, operation and AWS error code (e.g. ResourceNotFoundException; " +
				"ProvisionedThroughputExceededException and LimitExceededException are throttles, CloudWatch's " +
				"ReadProvisionedThroughputExceeded, WriteProvisionedThroughputExceeded and SubscribeToShard.RateExceeded).",
		}, []string{"api", "operation", "error"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "sluice", Name: "api_request_duration_seconds",
			Help: "Time from a request's arrival to its answer, by API and operation; SubscribeToShard, whose answer " +
				"streams for minutes, is left out (CloudWatch PutRecord.Latency, PutRecords.Latency, GetRecords.Latency).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 17), // 100µs to 6.5s
		}, labels),
		byTarget: map[string]*operationMetrics{},
		unknown:  map[string]*operationMetrics{},
	}
	for _, a := range apis {
		for _, op := range a.operations {
			m.byTarget[a.targetPrefix+op] = &operationMetrics{api: a.name, operation: op, streaming: contains(a.streaming, op)}
		}
		m.unknown[a.targetPrefix] = &operationMetrics{api: a.name, operation: "unknown"}
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.errors, m.duration)
	}
	return m
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// statusWriters are reused: a request costs no allocation for its metrics.
var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// handler counts and times the requests next answers. Requests without an
// X-Amz-Target are not API calls and pass uncounted.
func (m *apiMetrics) handler(next http.Handler, fallback string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		if target == "" {
			next.ServeHTTP(w, r)
			return
		}
		om := m.byTarget[target]
		if om == nil {
			prefix := fallback
			if i := strings.IndexByte(target, '.'); i >= 0 && m.unknown[target[:i+1]] != nil {
				prefix = target[:i+1]
			}
			om = m.unknown[prefix]
		}
		om = om.series(m)
		start := time.Now()
		sw := statusWriters.Get().(*statusWriter)
		sw.ResponseWriter, sw.status = w, 0
		next.ServeHTTP(sw, r)
		status := sw.status
		sw.ResponseWriter = nil
		statusWriters.Put(sw)

		om.requests.Inc()
		if om.duration != nil {
			om.duration.Observe(time.Since(start).Seconds())
		}
		if status >= 400 {
			code := w.Header().Get("X-Amzn-ErrorType")
			if i := strings.IndexAny(code, ":#"); i >= 0 { // "Code:http://..." or "namespace#Code"
				if code[i] == '#' {
					code = code[i+1:]
				} else {
					code = code[:i]
				}
			}
			if code == "" || len(code) > 64 {
				code = "HTTP " + strconv.Itoa(status)
			}
			m.errors.WithLabelValues(om.api, om.operation, code).Inc()
		}
	})
}

// statusWriter remembers the status of a response. Unwrap lets
// http.ResponseController reach the connection's Flush (event streams).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
