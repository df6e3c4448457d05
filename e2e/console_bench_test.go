package e2e

// Measurements of the console, for docs/benchmarks.md ("console"); they
// take minutes, so they run only when asked:
//
//	SLUICE_CONSOLE_BENCH=1 go test ./e2e -run 'TestConsoleBench' -v -timeout 40m

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/chromedp/chromedp"
)

func benchGate(t *testing.T) {
	if os.Getenv("SLUICE_CONSOLE_BENCH") == "" {
		t.Skip("set SLUICE_CONSOLE_BENCH=1 to measure the console")
	}
}

// loadTime navigates to url and returns the page's own clock
// (performance.now(), from the start of navigation) when cond first holds.
func loadTime(t *testing.T, ctx context.Context, url, cond string) float64 {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(sctx, chromedp.Navigate("about:blank"), chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	ms, err := chromedp.Run(sctx, chromedp.Poll[float64](`(`+cond+`) && performance.now()`, chromedp.WithPollingTimeout(2*time.Minute)))
	if err != nil {
		t.Fatalf("wait for %s: %v", url, err)
	}
	return ms
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestConsoleBench_PageLoad: the overview with 100 streams, and a stream
// of 500 shards (its Monitoring and Shards tabs), from navigation until
// every row is drawn; median of 7 loads in one browser (cache warm after
// the first, as for a user coming back).
func TestConsoleBench_PageLoad(t *testing.T) {
	benchGate(t)
	bctx := newBrowser(t)
	srv := startServer(t, "--shard-limit", "1000")
	kc := srv.Client()
	ctx := ctxFor(t, 10*time.Minute)
	for i := range 100 {
		if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(fmt.Sprintf("stream-%03d", i)), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("big"), ShardCount: aws.Int32(500)}); err != nil {
		t.Fatal(err)
	}
	pages := []struct{ name, path, cond string }{
		// The floor: the page and its scripts loaded, no data drawn yet.
		{"page shell (scripts loaded)", "/console/graph", `document.readyState === 'complete' && typeof uPlot === 'function' && typeof dagre === 'object'`},
		{"overview, 101 streams", "/console/", `document.querySelectorAll('#streams-table tbody tr').length === 101`},
		{"stream of 500 shards, Monitoring", "/console/streams/big", `document.querySelectorAll('[data-chart] canvas').length === 6 && document.querySelector('#metric-shard').options.length === 501`},
		{"stream of 500 shards, Shards", "/console/streams/big/shards", `document.querySelectorAll('#shards tbody tr').length === 500 && document.querySelectorAll('.keyspace div').length === 500`},
	}
	for _, p := range pages {
		var ms []float64
		for range 7 {
			ms = append(ms, loadTime(t, bctx, srv.Endpoint+p.path, p.cond))
		}
		t.Logf("%s: median %.0f ms (first %.0f ms, all %v)", p.name, median(ms), ms[0], roundAll(ms))
	}
}

func roundAll(v []float64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x + 0.5)
	}
	return out
}

// TestConsoleBench_TailCost: `sluice bench` write throughput with no
// browser, with ten browsers (separate profiles' cookies: separate
// browser contexts) following the live tail of the stream written, and
// with none again; the ratio is the tailing run over the mean of the two
// others. The browsers run on the same two cores as the server and the
// load generator, so the ratio includes their own CPU.
func TestConsoleBench_TailCost(t *testing.T) {
	benchGate(t)
	chromiumPath(t)
	srv := startServer(t)
	ctx := ctxFor(t, 25*time.Minute)
	bench := func() float64 {
		t.Helper()
		cmd := exec.CommandContext(ctx, sluiceBin, "bench", "--endpoint", srv.Endpoint, "--stream", "load", "--create", "--shards", "4",
			"--producers", "8", "--record-size", "100", "--duration", "15s", "--json")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_REGION=us-east-1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sluice bench: %v\n%s", err, out)
		}
		var r struct {
			PerSec float64 `json:"put_records_per_s"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("sluice bench output: %v: %s", err, out)
		}
		return r.PerSec
	}
	before := bench()
	t.Logf("no browser: %.0f records/s", before)
	// Ten browsers: ten Chromium processes, each with its own profile
	// (so its own cookie) and one tab in the foreground, started at once.
	tabs := make([]context.Context, 10)
	for i := range tabs {
		tabs[i] = newBrowser(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(tabs))
	for i, tctx := range tabs {
		wg.Go(func() {
			sctx, scancel := context.WithTimeout(tctx, 10*time.Minute)
			defer scancel()
			errs[i] = chromedp.Do(sctx,
				chromedp.Navigate(srv.Endpoint+"/console/streams/load/data"),
				chromedp.Click(chromedp.CSS(`[data-test=viewer-follow]`)),
				waitJS(`document.querySelector('[data-test=viewer-status]').textContent.includes("Following live")`))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("browser %d: %v", i, err)
		}
	}
	t.Logf("ten browsers follow the live tail")
	during := bench()
	// Every tab followed: each shows records (it keeps the last 1,000).
	shown := 0
	for i, tctx := range tabs {
		n, err := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll('#records-table tr.rec').length`))
		if err != nil || n == 0 {
			t.Errorf("browser %d shows %d records (%v)", i, n, err)
		}
		shown += n
		chromedp.Cancel(tctx)
	}
	after := bench()
	base := (before + after) / 2
	t.Logf("sluice bench put records/s: no browser %.0f, ten tailing %.0f, no browser %.0f; ratio %.3f (the tabs showed %d records)", before, during, after, during/base, shown)
}

// TestConsoleBench_TailCostHTTP is TestConsoleBench_TailCost with the ten
// followers played by HTTP clients that ask for pages exactly as the page
// does (own cookie each, a page every second once caught up and every
// half second while behind, a jump to the newest records past 10 s
// behind): the server's cost alone, without ten browsers' CPU.
func TestConsoleBench_TailCostHTTP(t *testing.T) {
	benchGate(t)
	srv := startServer(t)
	ctx := ctxFor(t, 15*time.Minute)
	bench := func() float64 {
		t.Helper()
		cmd := exec.CommandContext(ctx, sluiceBin, "bench", "--endpoint", srv.Endpoint, "--stream", "load", "--create", "--shards", "4",
			"--producers", "8", "--record-size", "100", "--duration", "15s", "--json")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_REGION=us-east-1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sluice bench: %v\n%s", err, out)
		}
		var r struct {
			PerSec float64 `json:"put_records_per_s"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("sluice bench output: %v: %s", err, out)
		}
		return r.PerSec
	}
	before := bench()
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	pages := make([]int, 10)
	for i := range pages {
		wg.Go(func() { pages[i] = followHTTP(fctx, srv.Endpoint, fmt.Sprint("follower-", i)) })
	}
	during := bench()
	stop()
	wg.Wait()
	after := bench()
	t.Logf("sluice bench put records/s: no follower %.0f, ten HTTP followers %.0f, no follower %.0f; ratio %.3f (pages read per follower: %v)",
		before, during, after, during/((before+after)/2), pages)
}

// followHTTP follows the live tail of stream "load" as the page does and
// returns how many pages it read.
func followHTTP(ctx context.Context, endpoint, cookie string) int {
	type page struct {
		Cursor       string `json:"cursor"`
		CaughtUp     bool   `json:"caughtUp"`
		More         bool   `json:"more"`
		MillisBehind int64  `json:"millisBehind"`
	}
	get := func(q string) (page, bool) {
		req, _ := http.NewRequestWithContext(ctx, "GET", endpoint+"/console/api/streams/load/records?limit=100&"+q, nil)
		req.AddCookie(&http.Cookie{Name: "sluice_console", Value: cookie})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return page{}, false
		}
		defer res.Body.Close()
		var p page
		if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&p) != nil {
			return page{}, res.StatusCode == 429
		}
		return p, true
	}
	n := 0
	p, _ := get("type=LATEST")
	for ctx.Err() == nil {
		wait := time.Second
		next, ok := get("cursor=" + url.QueryEscape(p.Cursor))
		if ok && next.Cursor != "" {
			n++
			p = next
			if p.MillisBehind > 10000 {
				p, _ = get("type=LATEST")
			}
			if !p.CaughtUp || p.More {
				wait = 500 * time.Millisecond
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return n
}
