package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// Two pipelines chained through a stream: "views" counts clicks per page
// per second into the stream page-views (and alerts a webhook), "totals"
// reads those rows and sums them per second into the stream totals.
const chainA = `pipeline: views
sources: clicks
schema: {page: string}
aggregations:
  - table: page_views
    key: page
    window: {type: tumbling, size: 1s}
    aggregates: {views: count()}
    sinks:
      - stream: page-views
      - alert:
          webhook: ${WEBHOOK}
          rules:
            - {name: busy_page, value: views, op: ">", threshold: 0}
`

const chainB = `pipeline: totals
sources: page-views
filter: record.final
aggregations:
  - table: totals
    key: {page: string(record.keys.page)}
    window: {type: tumbling, size: 1s}
    aggregates: {views: sum(int(record.values.views))}
    sinks:
      - stream: totals
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPipeline_Chain runs two pipeline files with `sluice pipeline run`
// against a real server, A writing the stream B reads, and checks that B's
// results add up to the clicks written, that A's alert reached its
// webhook, and that `sluice pipeline list` shows the chain.
func TestPipeline_Chain(t *testing.T) {
	srv := sluicetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, s := range []string{"clicks", "page-views", "totals"} {
		srv.CreateStream(ctx, s, 2)
	}
	var hookMu sync.Mutex
	var hooks []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n map[string]any
		json.NewDecoder(r.Body).Decode(&n)
		hookMu.Lock()
		hooks = append(hooks, n)
		hookMu.Unlock()
	}))
	defer hook.Close()
	env := func(out io.Writer) *cmdEnv {
		return &cmdEnv{stdout: out, stderr: io.Discard, getenv: func(k string) string {
			if k == "WEBHOOK" {
				return hook.URL + "/alerts"
			}
			return ""
		}}
	}
	fileA, fileB := writeFile(t, "a.yaml", chainA), writeFile(t, "b.yaml", chainB)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, f := range []string{fileA, fileB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- runPipelineRun(runCtx, env(io.Discard), []string{f, "--endpoint", srv.Endpoint(), "--report-interval", "0"})
		}()
	}
	defer func() { stop(); wg.Wait() }()
	// The clicks: 4 pages, spread over a few seconds.
	p, err := producer.New(srv.Kinesis(), "clicks")
	if err != nil {
		t.Fatal(err)
	}
	const clicks = 400
	for i := range clicks {
		data := fmt.Appendf(nil, `{"page":"/p%d"}`, i%4)
		if _, err := p.PutAsync(ctx, fmt.Sprint(i), data); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			p.Flush(ctx)
			time.Sleep(300 * time.Millisecond) // spread the clicks over windows
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// B's rows, read from the stream totals, must add up to the clicks.
	reader := newStreamReader(srv.Kinesis(), "totals")
	sums := map[string]map[string]float64{} // window → page → views (upserts by id)
	total := func() float64 {
		n := 0.0
		for _, w := range sums {
			for _, v := range w {
				n += v
			}
		}
		return n
	}
	for total() < clicks {
		select {
		case err := <-errs:
			t.Fatalf("a pipeline stopped: %v", err)
		case <-ctx.Done():
			t.Fatalf("totals reached %v of %d clicks", total(), clicks)
		case <-time.After(200 * time.Millisecond):
		}
		for _, r := range reader.read(ctx, t) {
			var row struct {
				Window struct{ Start string } `json:"window"`
				Keys   map[string]string      `json:"keys"`
				Values map[string]float64     `json:"values"`
			}
			if err := json.Unmarshal(r, &row); err != nil {
				t.Fatal(err)
			}
			if sums[row.Window.Start] == nil {
				sums[row.Window.Start] = map[string]float64{}
			}
			sums[row.Window.Start][row.Keys["page"]] = row.Values["views"]
		}
	}
	if total() != clicks {
		t.Errorf("totals add up to %v, want %d", total(), clicks)
	}
	hookMu.Lock()
	fired := len(hooks) > 0 && hooks[0]["alarm"] == "busy_page" && hooks[0]["state"] == "ALARM" && hooks[0]["pipeline"] == "views"
	hookMu.Unlock()
	if !fired {
		t.Errorf("webhook got %v, want a busy_page ALARM", hooks)
	}

	// The registry shows both pipelines and the chain between them.
	var out bytes.Buffer
	if err := runPipelineList(ctx, env(&out), []string{"--endpoint", srv.Endpoint(), "--output", "json"}); err != nil {
		t.Fatal(err)
	}
	var g pipelineGraph
	if err := json.Unmarshal(out.Bytes(), &g); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	var names []string
	for _, p := range g.Pipelines {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"views", "totals"}) {
		t.Fatalf("pipelines %v, want views then totals (the order of the chain)", names)
	}
	for _, e := range []graphEdge{
		{"stream:clicks", "pipeline:views"}, {"pipeline:views", "stream:page-views"}, {"pipeline:views", "stream:views-late"},
		{"pipeline:views", "sink:alert:" + strings.TrimPrefix(hook.URL, "http://") + "#page_views"},
		{"stream:page-views", "pipeline:totals"}, {"pipeline:totals", "stream:totals"},
	} {
		if !slices.Contains(g.Edges, e) {
			t.Errorf("no edge %v in %v", e, g.Edges)
		}
	}
	if len(g.Pipelines[0].Workers) != 1 || g.Pipelines[0].Workers[0].Stale {
		t.Errorf("workers of views: %+v", g.Pipelines[0].Workers)
	}
	out.Reset()
	if err := runPipelineList(ctx, env(&out), []string{"--endpoint", srv.Endpoint()}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  clicks → views → stream page-views, stream views-late, alert:" + strings.TrimPrefix(hook.URL, "http://") + "#page_views\n",
		"  page-views → totals → stream totals, stream totals-late\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("pipeline list prints\n%s\nwant a line with %q", out.String(), want)
		}
	}
}

// streamReader reads every shard of a stream from its start.
type streamReader struct {
	kc     *kinesis.Client
	stream string
	its    map[string]*string
}

func newStreamReader(kc *kinesis.Client, stream string) *streamReader {
	return &streamReader{kc: kc, stream: stream, its: map[string]*string{}}
}

func (r *streamReader) read(ctx context.Context, t *testing.T) [][]byte {
	t.Helper()
	shards, err := listShards(ctx, r.kc, r.stream)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		if r.its[id] == nil {
			it, err := r.kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(r.stream), ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			r.its[id] = it.ShardIterator
		}
		res, err := r.kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: r.its[id]})
		if err != nil {
			t.Fatal(err)
		}
		r.its[id] = res.NextShardIterator
		for _, rec := range res.Records {
			out = append(out, rec.Data)
		}
	}
	return out
}

// TestPipeline_Validate checks validate's output for a good file, and that
// a bad one fails with its errors.
func TestPipeline_Validate(t *testing.T) {
	good := writeFile(t, "good.yaml", strings.ReplaceAll(chainB, "record.final", "record.final == true"))
	var out bytes.Buffer
	env := &cmdEnv{stdout: &out, stderr: io.Discard, getenv: func(string) string { return "" }}
	if err := runPipelineValidate(t.Context(), env, []string{good}); err != nil {
		t.Fatal(err)
	}
	want := good + ": pipeline totals is valid\n" +
		"  sources: page-views (decode json)\n" +
		"  table totals: tumbling 1s windows, key page string → views int; to stream totals\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	bad := writeFile(t, "bad.yaml", strings.Replace(chainB, "sum(", "total(", 1))
	err := runPipelineValidate(t.Context(), env, []string{bad})
	wantErr := bad + `:8:25: aggregations[0].aggregates.views: unknown aggregate "total"; want one of count, sum, avg, min, max, first, last, count_distinct, percentile`
	if err == nil || err.Error() != wantErr {
		t.Errorf("got %v, want %s", err, wantErr)
	}
	// With --endpoint, the sources must exist.
	srv := sluicetest.Start(t)
	err = runPipelineValidate(t.Context(), env, []string{good, "--endpoint", srv.Endpoint()})
	if err == nil || !strings.Contains(err.Error(), good+":2:10: sources: stream page-views: ") || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("a missing source: %v", err)
	}
}
