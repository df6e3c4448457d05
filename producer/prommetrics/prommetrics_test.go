package prommetrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/producer/prommetrics"
	"github.com/sluicehq/sluice/sluicetest"
)

// TestMetrics runs a producer against a real server and checks what
// reaches the registry.
func TestMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := sluicetest.Start(t)
	srv.CreateStream(ctx, "s", 2)
	reg := prometheus.NewRegistry()
	p, err := producer.New(srv.Kinesis(), "s", producer.WithMetrics(prommetrics.New(reg, "s")))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := p.PutAsync(ctx, "k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				key := mf.GetName()
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" {
						key += "{" + l.GetValue() + "}"
					}
				}
				got[key] += c.GetValue()
			}
		}
	}
	if got["kinesis_producer_user_records_total{put}"] != 100 {
		t.Errorf("user records put = %v, want 100 (%v)", got["kinesis_producer_user_records_total{put}"], got)
	}
	if got["kinesis_producer_put_records_requests_total{ok}"] < 1 || got["kinesis_producer_kinesis_records_sent_total"] < 1 {
		t.Errorf("requests not counted: %v", got)
	}
	if got["kinesis_producer_user_records_put_bytes_total"] != 100*2 {
		t.Errorf("bytes = %v, want 200 (1 byte of data and a 1-byte key each)", got["kinesis_producer_user_records_put_bytes_total"])
	}
}
