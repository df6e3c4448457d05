package broker

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are CloudWatch's Kinesis metrics, per stream, in Prometheus's
// conventions: base units (seconds, bytes), _total for counters, and the
// CloudWatch name in the help text. Every series of a deleted stream is
// dropped (forgetStream).
type metrics struct {
	incomingRecords *prometheus.CounterVec
	incomingBytes   *prometheus.CounterVec
	outgoingRecords *prometheus.CounterVec
	outgoingBytes   *prometheus.CounterVec
	iteratorAge     *prometheus.GaugeVec
	putLatency      *prometheus.HistogramVec
	getLatency      *prometheus.HistogramVec
	writeThrottled  *prometheus.CounterVec
	readThrottled   *prometheus.CounterVec

	subscriptions    *prometheus.GaugeVec
	subscribeRecords *prometheus.CounterVec
	subscribeBytes   *prometheus.CounterVec
	subscribeAge     *prometheus.GaugeVec

	// Not CloudWatch's: what the read cache saves.
	logReadBytes *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	stream := []string{"stream"}
	m := &metrics{
		incomingRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "incoming_records_total",
			Help: "Records written (CloudWatch IncomingRecords).",
		}, stream),
		incomingBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "incoming_bytes_total",
			Help: "Bytes of record data and partition keys written (CloudWatch IncomingBytes).",
		}, stream),
		outgoingRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "get_records_records_total",
			Help: "Records returned by GetRecords (CloudWatch GetRecords.Records).",
		}, stream),
		outgoingBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "get_records_bytes_total",
			Help: "Bytes of record data returned by GetRecords (CloudWatch GetRecords.Bytes).",
		}, stream),
		iteratorAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "sluice", Name: "get_records_iterator_age_seconds",
			Help: "How far behind the newest record the latest GetRecords of the stream read: its MillisBehindLatest, in seconds (CloudWatch GetRecords.IteratorAgeMilliseconds).",
		}, stream),
		putLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "sluice", Name: "put_records_latency_seconds",
			Help:    "Time to store the records of a PutRecord or PutRecords call (CloudWatch PutRecords.Latency).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, stream),
		getLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "sluice", Name: "get_records_latency_seconds",
			Help:    "Time to gather a GetRecords response (CloudWatch GetRecords.Latency).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, stream),
		writeThrottled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "write_provisioned_throughput_exceeded_total",
			Help: "Records refused by the per-shard write quota with --shard-limits aws (CloudWatch WriteProvisionedThroughputExceeded).",
		}, stream),
		readThrottled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "read_provisioned_throughput_exceeded_total",
			Help: "GetRecords calls refused by the per-shard read quota with --shard-limits aws (CloudWatch ReadProvisionedThroughputExceeded).",
		}, stream),
		subscriptions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "sluice", Name: "subscriptions",
			Help: "Open SubscribeToShard feeds on this server.",
		}, stream),
		subscribeRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "subscribe_to_shard_event_records_total",
			Help: "Records sent by SubscribeToShard (CloudWatch SubscribeToShardEvent.Records).",
		}, stream),
		subscribeBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "subscribe_to_shard_event_bytes_total",
			Help: "Bytes of record data sent by SubscribeToShard (CloudWatch SubscribeToShardEvent.Bytes).",
		}, stream),
		subscribeAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "sluice", Name: "subscribe_to_shard_event_iterator_age_seconds",
			Help: "How far behind the newest record the latest SubscribeToShard event of the stream was: its MillisBehindLatest, in seconds (CloudWatch SubscribeToShardEvent.MillisBehindLatest).",
		}, stream),
		logReadBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Name: "log_read_bytes_total",
			Help: "Bytes of stream-log messages read from the store for readers (GetRecords, SubscribeToShard, the console's backlogs, the autoscaler): those the read cache did not hold. Well above get_records_bytes_total, the stream's readers spread wider than the cache (sluice serve --read-cache).",
		}, stream),
	}
	if reg != nil {
		reg.MustRegister(m.incomingRecords, m.incomingBytes, m.outgoingRecords, m.outgoingBytes, m.iteratorAge, m.putLatency, m.getLatency, m.writeThrottled, m.readThrottled,
			m.subscriptions, m.subscribeRecords, m.subscribeBytes, m.subscribeAge, m.logReadBytes)
	}
	return m
}

// forgetStream drops every series of a deleted stream.
func (m *metrics) forgetStream(name string) {
	l := prometheus.Labels{"stream": name}
	for _, v := range []*prometheus.MetricVec{m.incomingRecords.MetricVec, m.incomingBytes.MetricVec, m.outgoingRecords.MetricVec,
		m.outgoingBytes.MetricVec, m.iteratorAge.MetricVec, m.putLatency.MetricVec, m.getLatency.MetricVec, m.writeThrottled.MetricVec,
		m.readThrottled.MetricVec, m.subscriptions.MetricVec, m.subscribeRecords.MetricVec, m.subscribeBytes.MetricVec, m.subscribeAge.MetricVec,
		m.logReadBytes.MetricVec} {
		v.DeletePartialMatch(l)
	}
}
