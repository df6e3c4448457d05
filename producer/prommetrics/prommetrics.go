// Package prommetrics exports a producer's measurements as Prometheus
// metrics:
//
//	m := prommetrics.New(prometheus.DefaultRegisterer, "orders")
//	p, err := producer.New(client, "orders", producer.WithMetrics(m))
//
// It is a package of its own so that programs without Prometheus do not
// link it.
package prommetrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/producer"
)

// Metrics implements producer.Metrics with Prometheus collectors, named
// after the KPL's CloudWatch metrics where they have a counterpart.
type Metrics struct {
	userRecords   *prometheus.CounterVec
	userBytes     prometheus.Counter
	recordLatency prometheus.Histogram
	attempts      prometheus.Histogram

	requests        *prometheus.CounterVec
	kinesisRecords  prometheus.Counter
	kinesisBytes    prometheus.Counter
	throttled       prometheus.Counter
	failed          prometheus.Counter
	retries         prometheus.Counter
	requestDuration prometheus.Histogram
}

var _ producer.Metrics = (*Metrics)(nil)

// New creates the metrics, labelled with stream, and registers them on
// reg. It panics if they are registered already for that stream, as
// prometheus.MustRegister does.
func New(reg prometheus.Registerer, stream string) *Metrics {
	labels := prometheus.Labels{"stream": stream}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kinesis_producer", Name: name, Help: help, ConstLabels: labels})
	}
	m := &Metrics{
		userRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kinesis_producer", Name: "user_records_total", ConstLabels: labels,
			Help: "User records done, by result: put (acknowledged), expired (TTL passed) or failed.",
		}, []string{"result"}),
		userBytes: counter("user_records_put_bytes_total", "Data and partition key bytes of acknowledged user records."),
		recordLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kinesis_producer", Name: "user_record_latency_seconds", ConstLabels: labels,
			Help:    "Time from Put to a user record's result.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		attempts: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kinesis_producer", Name: "user_record_attempts", ConstLabels: labels,
			Help:    "PutRecords calls that carried each user record.",
			Buckets: []float64{1, 2, 3, 5, 8, 13, 21},
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kinesis_producer", Name: "put_records_requests_total", ConstLabels: labels,
			Help: "PutRecords calls, by result: ok (a response, possibly with failed entries) or error.",
		}, []string{"result"}),
		kinesisRecords: counter("kinesis_records_sent_total", "Kinesis records sent (an aggregate counts once)."),
		kinesisBytes:   counter("kinesis_records_sent_bytes_total", "Data and partition key bytes of Kinesis records sent."),
		throttled:      counter("throttled_records_total", "Kinesis records refused with ProvisionedThroughputExceededException."),
		failed:         counter("failed_records_total", "Kinesis records refused otherwise, or sent in a failed call."),
		retries:        counter("retries_total", "User records sent back for another attempt."),
		requestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kinesis_producer", Name: "put_records_duration_seconds", ConstLabels: labels,
			Help:    "Duration of PutRecords calls.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
	}
	reg.MustRegister(m.userRecords, m.userBytes, m.recordLatency, m.attempts, m.requests,
		m.kinesisRecords, m.kinesisBytes, m.throttled, m.failed, m.retries, m.requestDuration)
	return m
}

// RequestDone implements producer.Metrics.
func (m *Metrics) RequestDone(s producer.RequestStats) {
	result := "ok"
	if s.Err != nil {
		result = "error"
	}
	m.requests.WithLabelValues(result).Inc()
	m.requestDuration.Observe(s.Latency.Seconds())
	m.kinesisRecords.Add(float64(s.Records))
	m.kinesisBytes.Add(float64(s.Bytes))
	m.throttled.Add(float64(s.Throttled))
	m.failed.Add(float64(s.Failed))
	m.retries.Add(float64(s.Retried))
}

// RecordDone implements producer.Metrics.
func (m *Metrics) RecordDone(s producer.RecordStats) {
	switch {
	case s.Err == nil:
		m.userRecords.WithLabelValues("put").Inc()
		m.userBytes.Add(float64(s.Bytes))
	case errors.Is(s.Err, producer.ErrExpired):
		m.userRecords.WithLabelValues("expired").Inc()
	default:
		m.userRecords.WithLabelValues("failed").Inc()
	}
	m.recordLatency.Observe(s.Latency.Seconds())
	m.attempts.Observe(float64(s.Attempts))
}
