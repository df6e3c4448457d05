// Package prommetrics reports a consumer's metrics to Prometheus.
//
//	m, err := prommetrics.New(prometheus.DefaultRegisterer)
//	...
//	c, err := consumer.New(kc, store, "orders", process, consumer.WithMetrics(m))
//
// Metric names follow the KCL's CloudWatch metrics where there is one
// (MillisBehindLatest, the iterator age, records and bytes processed):
//
//	sluice_consumer_records_processed_total{shard}
//	sluice_consumer_bytes_processed_total{shard}
//	sluice_consumer_millis_behind_latest{shard}
//	sluice_consumer_iterator_age_milliseconds{shard}
//	sluice_consumer_leases_held
//	sluice_consumer_lease_events_total{event}   taken, stolen, lost, handed_off, released, finished
//	sluice_consumer_errors_total{op}            process, checkpoint, renew, take, read, ...
package prommetrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/consumer"
)

// Metrics implements consumer.Metrics with Prometheus collectors.
type Metrics struct {
	records     *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	behind      *prometheus.GaugeVec
	iteratorAge *prometheus.GaugeVec
	leases      prometheus.Gauge
	events      *prometheus.CounterVec
	errors      *prometheus.CounterVec
}

var _ consumer.Metrics = (*Metrics)(nil)

// New creates the collectors and registers them with reg. Several
// consumers in one process need distinct registerers, e.g. one wrapped
// with prometheus.WrapRegistererWith(prometheus.Labels{"app": name}, reg).
func New(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "sluice", "consumer"
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "records_processed_total",
			Help: "Records the processors processed successfully."}, []string{"shard"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "bytes_processed_total",
			Help: "Data bytes of the records the processors processed successfully."}, []string{"shard"}),
		behind: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "millis_behind_latest",
			Help: "How far behind the tip of its shard the last read was, in milliseconds."}, []string{"shard"}),
		iteratorAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "iterator_age_milliseconds",
			Help: "Age of the last record handed to the processor, in milliseconds."}, []string{"shard"}),
		leases: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "leases_held",
			Help: "Shard leases this worker holds."}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "lease_events_total",
			Help: "Lease changes this worker took part in."}, []string{"event"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "errors_total",
			Help: "Failed operations, by operation."}, []string{"op"}),
	}
	for _, c := range []prometheus.Collector{m.records, m.bytes, m.behind, m.iteratorAge, m.leases, m.events, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register consumer metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) RecordsProcessed(shardID string, records, bytes int) {
	m.records.WithLabelValues(shardID).Add(float64(records))
	m.bytes.WithLabelValues(shardID).Add(float64(bytes))
}

func (m *Metrics) MillisBehindLatest(shardID string, millis int64) {
	m.behind.WithLabelValues(shardID).Set(float64(millis))
}

func (m *Metrics) IteratorAge(shardID string, age time.Duration) {
	m.iteratorAge.WithLabelValues(shardID).Set(float64(age.Milliseconds()))
}

func (m *Metrics) LeasesHeld(n int) { m.leases.Set(float64(n)) }

func (m *Metrics) LeaseEvent(shardID string, ev consumer.LeaseEventKind) {
	m.events.WithLabelValues(string(ev)).Inc()
	if ev == consumer.LeaseFinished || ev == consumer.LeaseLostEvent || ev == consumer.LeaseHanded || ev == consumer.LeaseReleased {
		// The shard is no longer this worker's: drop its series.
		m.behind.DeleteLabelValues(shardID)
		m.iteratorAge.DeleteLabelValues(shardID)
	}
}

func (m *Metrics) Error(op, shardID string) { m.errors.WithLabelValues(op).Inc() }
