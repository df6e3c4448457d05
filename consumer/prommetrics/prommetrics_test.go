package prommetrics_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/consumer/prommetrics"
)

// values gathers reg into "name{label=value}" -> value.
func values(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := prommetrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	const s0 = "shardId-000000000000"
	m.RecordsProcessed(s0, 3, 30)
	m.MillisBehindLatest(s0, 1500)
	m.IteratorAge(s0, 2*time.Second)
	m.LeasesHeld(2)
	m.LeaseEvent("shardId-000000000001", consumer.LeaseStolen)
	m.Error(consumer.OpRenew, s0)
	got := values(t, reg)
	want := map[string]float64{
		"sluice_consumer_records_processed_total{shard=" + s0 + "}":   3,
		"sluice_consumer_bytes_processed_total{shard=" + s0 + "}":     30,
		"sluice_consumer_millis_behind_latest{shard=" + s0 + "}":      1500,
		"sluice_consumer_iterator_age_milliseconds{shard=" + s0 + "}": 2000,
		"sluice_consumer_leases_held":                                 2,
		"sluice_consumer_lease_events_total{event=stolen}":            1,
		"sluice_consumer_errors_total{op=renew}":                      1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// A lease handed off drops the shard's gauges.
	m.LeaseEvent(s0, consumer.LeaseHanded)
	if _, ok := values(t, reg)["sluice_consumer_millis_behind_latest{shard="+s0+"}"]; ok {
		t.Errorf("millis_behind_latest of %s still reported after handoff", s0)
	}
	if _, err := prommetrics.New(reg); err == nil {
		t.Fatal("registering twice on one registry succeeded")
	}
}
