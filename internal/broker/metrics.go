package broker

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are named after CloudWatch's Kinesis metrics, per stream.
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
			Namespace: "sluice", Name: "get_records_iterator_age_milliseconds",
			Help: "MillisBehindLatest of the latest GetRecords (CloudWatch GetRecords.IteratorAgeMilliseconds).",
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
	}
	if reg != nil {
		reg.MustRegister(m.incomingRecords, m.incomingBytes, m.outgoingRecords, m.outgoingBytes, m.iteratorAge, m.putLatency, m.getLatency, m.writeThrottled, m.readThrottled,
			m.subscriptions, m.subscribeRecords, m.subscribeBytes)
	}
	return m
}
