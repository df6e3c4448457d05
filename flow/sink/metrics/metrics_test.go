package metrics_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/flow/sink/metrics"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// win is the i-th one-minute window from t0.
func win(i int) flow.Window {
	return flow.Window{Start: t0.Add(time.Duration(i) * time.Minute), End: t0.Add(time.Duration(i+1) * time.Minute)}
}

var views = flow.Table{Pipeline: "clicks", Name: "views_per_page",
	Keys:   []flow.Column{{Name: "page", Type: flow.String}},
	Values: []flow.Column{{Name: "views", Type: flow.Int}, {Name: "p99_ms", Type: flow.Float}, {Name: "top_referrer", Type: flow.String}}}

func row(w int, page string, n int64, p99 any) flow.Row {
	return flow.Row{Window: win(w), Keys: []any{page}, Values: []any{n, p99, "google"}, Final: true}
}

func TestSink_Write(t *testing.T) {
	const head = `
# HELP flow_views_per_page_views The views of the latest window per key of views_per_page (pipeline clicks).
# TYPE flow_views_per_page_views gauge
`
	tests := []struct {
		name    string
		opts    []metrics.Option
		batches [][]flow.Row
		want    string
	}{
		{
			name:    "one window",
			batches: [][]flow.Row{{row(0, "/a", 3, 1.5), row(0, "/b", 4, 2.5)}},
			want:    head + "flow_views_per_page_views{page=\"/a\",pipeline=\"clicks\"} 3\nflow_views_per_page_views{page=\"/b\",pipeline=\"clicks\"} 4\n",
		},
		{
			name:    "later windows replace earlier ones",
			batches: [][]flow.Row{{row(0, "/a", 3, 1.5)}, {row(1, "/a", 5, 1.5)}, {row(2, "/a", 7, 1.5)}},
			want:    head + "flow_views_per_page_views{page=\"/a\",pipeline=\"clicks\"} 7\n",
		},
		{
			name:    "a late update of an older window is ignored",
			batches: [][]flow.Row{{row(1, "/a", 5, 1.5)}, {row(0, "/a", 99, 1.5)}},
			want:    head + "flow_views_per_page_views{page=\"/a\",pipeline=\"clicks\"} 5\n",
		},
		{
			name:    "an update of the same window replaces it",
			batches: [][]flow.Row{{row(1, "/a", 5, 1.5)}, {row(1, "/a", 6, 1.5)}},
			want:    head + "flow_views_per_page_views{page=\"/a\",pipeline=\"clicks\"} 6\n",
		},
		{
			name:    "stale keys are dropped",
			batches: [][]flow.Row{{row(0, "/old", 1, 1.0), row(0, "/a", 1, 1.0)}, {row(1, "/a", 2, 1.0)}, {row(2, "/a", 3, 1.0)}, {row(3, "/a", 4, 1.0)}},
			want:    head + "flow_views_per_page_views{page=\"/a\",pipeline=\"clicks\"} 4\n",
		},
		{
			name:    "stale keys kept when told",
			opts:    []metrics.Option{metrics.WithStaleWindows(0)},
			batches: [][]flow.Row{{row(0, "/old", 1, 1.0)}, {row(9, "/a", 4, 1.0)}},
			want:    head + "flow_views_per_page_views{page=\"/a\",pipeline=\"clicks\"} 4\nflow_views_per_page_views{page=\"/old\",pipeline=\"clicks\"} 1\n",
		},
		{
			name: "the key bound drops the oldest keys",
			opts: []metrics.Option{metrics.WithMaxKeys(2), metrics.WithStaleWindows(0)},
			batches: [][]flow.Row{
				{row(0, "/a", 1, 1.0)}, {row(1, "/b", 2, 1.0)}, {row(2, "/c", 3, 1.0)},
			},
			want: head + "flow_views_per_page_views{page=\"/c\",pipeline=\"clicks\"} 3\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			s := metrics.New(reg, tt.opts...)
			defer s.Close()
			if err := s.Open(context.Background(), views); err != nil {
				t.Fatal(err)
			}
			for _, b := range tt.batches {
				if err := s.Write(context.Background(), views, b); err != nil {
					t.Fatal(err)
				}
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tt.want), "flow_views_per_page_views"); err != nil {
				t.Error(err)
			}
		})
	}
}

// The gauges are served on /metrics by the registry's handler, with every
// numeric type, and with a missing value's series left out.
func TestSink_Scrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := metrics.New(reg, metrics.WithNamespace("app"))
	defer s.Close()
	table := flow.Table{Pipeline: "orders", Name: "by_region",
		Keys: []flow.Column{{Name: "region", Type: flow.String}, {Name: "day", Type: flow.Timestamp}, {Name: "vip", Type: flow.Bool}},
		Values: []flow.Column{{Name: "n", Type: flow.Int}, {Name: "avg", Type: flow.Float}, {Name: "any_late", Type: flow.Bool},
			{Name: "last_at", Type: flow.Timestamp}, {Name: "missing", Type: flow.Float}}}
	ctx := context.Background()
	if err := s.Open(ctx, table); err != nil {
		t.Fatal(err)
	}
	err := s.Write(ctx, table, []flow.Row{{Window: win(0), Keys: []any{"eu", t0, true},
		Values: []any{int64(12), 2.5, true, t0.Add(90 * time.Second), nil}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	labels := `{day="2025-06-01T12:00:00Z",pipeline="orders",region="eu",vip="true"}`
	for _, want := range []string{
		"app_by_region_n" + labels + " 12",
		"app_by_region_avg" + labels + " 2.5",
		"app_by_region_any_late" + labels + " 1",
		"app_by_region_last_at" + labels + " " + fmt.Sprint(float64(t0.Unix()+90)),
		"app_by_region_window_end_seconds" + labels + " " + fmt.Sprint(float64(t0.Unix()+60)),
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
	if strings.Contains(string(body), "app_by_region_missing{") {
		t.Errorf("a missing value has a series:\n%s", body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Errorf("%d series after Close", n)
	}
}

func TestSink_Errors(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	s := metrics.New(reg)
	defer s.Close()
	for _, tb := range []flow.Table{
		{Pipeline: "p", Name: "t", Keys: []flow.Column{{Name: "__name", Type: flow.String}}},
		{Pipeline: "p", Name: "t", Keys: []flow.Column{{Name: "pipeline", Type: flow.String}}},
		{Pipeline: "p", Name: "t", Values: []flow.Column{{Name: "window_end_seconds", Type: flow.Int}}},
	} {
		if err := s.Open(ctx, tb); err == nil {
			t.Errorf("table %+v opened", tb)
		}
	}
	if err := s.Write(ctx, views, []flow.Row{row(0, "/a", 1, 1.0)}); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Errorf("write before open: %v", err)
	}
	if err := s.Open(ctx, views); err != nil {
		t.Fatal(err)
	}
	bad := flow.Row{Window: win(0), Keys: []any{"/a"}, Values: []any{int64(1)}}
	if err := s.Write(ctx, views, []flow.Row{bad, row(0, "/b", 2, math.Inf(1))}); err == nil {
		t.Error("a row of the wrong shape was taken")
	}
	if v := testutil.ToFloat64(gaugeOf(t, reg, "flow_views_per_page_views")); v != 2 {
		t.Errorf("the good row of a batch with a bad one: %v", v)
	}
}

// gaugeOf collects the one series of a metric.
func gaugeOf(t *testing.T, g prometheus.Gatherer, name string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return mf.Metric[0].GetGauge().GetValue() })
		}
	}
	t.Fatalf("no single series of %s", name)
	return nil
}
