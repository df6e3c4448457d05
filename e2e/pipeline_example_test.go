package e2e

// The worked example of the README (examples/clickstream), run as a user
// runs it: a real `sluice serve`, then `sluice pipeline run` of the example's
// file with the built-in clickstream generator, from a sluice built with
// -tags duckdb, and `sluice pipeline query` of the DuckDB file it wrote.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var duckBin struct {
	once sync.Once
	path string
	err  error
}

// sluiceDuckDB builds sluice with -tags duckdb once. It needs cgo and a C++
// compiler, as flow/sink/duckdb's tests do: without them the test skips,
// and fails under CI=true, where .ci/run installs them.
func sluiceDuckDB(t *testing.T) string {
	t.Helper()
	if !cgoAvailable() {
		if os.Getenv("CI") == "true" {
			t.Fatal("cgo or g++ missing, and CI=true: .ci/run must install gcc and g++")
		}
		t.Skip("a sluice with DuckDB needs cgo and g++ (Debian's gcc and g++)")
	}
	path, err := buildDuckDBSluice()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func cgoAvailable() bool {
	out, _ := exec.Command(goTool(), "env", "CGO_ENABLED").Output()
	_, gxx := exec.LookPath("g++")
	return strings.TrimSpace(string(out)) == "1" && gxx == nil
}

// buildDuckDBSluice builds sluice with -tags duckdb, once per test binary,
// or takes the one $SLUICE_DUCKDB_BIN names (for benchmarks run again).
func buildDuckDBSluice() (string, error) {
	if p := os.Getenv("SLUICE_DUCKDB_BIN"); p != "" {
		return p, nil
	}
	duckBin.once.Do(func() {
		duckBin.path = filepath.Join(filepath.Dir(sluiceBin), "sluice-duckdb")
		args := []string{"build", "-buildvcs=false", "-tags", "duckdb", "-o", duckBin.path, "github.com/sluicehq/sluice/cmd/sluice"}
		if b, err := exec.Command(goTool(), args...).CombinedOutput(); err != nil {
			duckBin.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	})
	return duckBin.path, duckBin.err
}

// TestPipelineExample_Clickstream runs examples/clickstream/pipeline.yaml:
// clicks generated over the last minutes, page views and the error rate
// per minute into DuckDB, and an alert when a minute's error rate passes
// 5 % (the generator fails cart and checkout every fifth minute).
func TestPipelineExample_Clickstream(t *testing.T) {
	bin := sluiceDuckDB(t)
	t.Parallel()
	s := startServer(t)
	file, err := filepath.Abs("../examples/clickstream/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The generator backfills from 6 minutes before its start, truncated
	// to the minute: every window up to the end of this minute holds at
	// least five of the backfill's minutes.
	enough := time.Now().Truncate(time.Minute).Add(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "pipeline", "run", file, "--endpoint", s.Endpoint,
		"--generate", "clickstream", "--generate-backfill", "6m", "--report-interval", "1s")
	cmd.Dir = dir
	cmd.Env = cliEnv(t)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &tailBuffer{max: 1 << 20}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The alert: printed on standard output (the example has no webhook).
	alarm := ""
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if l := lines.Text(); strings.HasPrefix(l, "alert: ") && strings.Contains(l, `"state":"ALARM"`) {
			alarm = l
			break
		}
	}
	if alarm == "" {
		t.Fatalf("no alarm printed; stderr:\n%s", stderr.String())
	}
	if !strings.Contains(alarm, `"alarm":"error_rate_above_5_percent"`) || !strings.Contains(alarm, `"table":"error_rate"`) {
		t.Errorf("alarm %s", alarm)
	}
	go func() {
		for lines.Scan() {
		}
	}()
	// The alarm comes with the first outage minute, which may be the
	// backfill's second: wait for the windows after it to be written.
	for lastWindowEnd(stderr.String()).Before(enough) {
		if ctx.Err() != nil {
			t.Fatalf("no window up to %v written; stderr:\n%s", enough, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Stop the worker cleanly: its last writes land, the file is let go.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pipeline run: %v\nstderr:\n%s", err, stderr.String())
	}

	query := func(sql string) [][]string {
		out := runCmd(t, cliEnv(t), "", bin, "pipeline", "query", filepath.Join(dir, "clickstream.duckdb"), sql)
		var rows [][]string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			if !strings.HasPrefix(l, "(") {
				rows = append(rows, strings.Fields(l))
			}
		}
		return rows
	}
	// Every closed minute of the backfill has its 12,000 requests (200 a
	// second), the per-page rows add up to them, and at least one minute
	// breaches 5 %.
	rows := query(`SELECT epoch(e.window_start)::BIGINT, e.requests, e.errors, e.error_rate > 0.05, sum(p.views), sum(p.errors)
		FROM error_rate e JOIN page_views p USING (pipeline, window_start, window_end)
		WHERE e.final GROUP BY ALL ORDER BY 1`)
	if len(rows) < 5 {
		t.Fatalf("%d minutes in DuckDB, want at least 5: %v", len(rows), rows)
	}
	breached := 0
	for i, r := range rows {
		if i < len(rows)-1 && r[1] != "12000" { // the last may be the live minute, cut short by the stop
			t.Errorf("minute %s: %s requests, want 12000", r[0], r[1])
		}
		if r[1] != r[4] || r[2] != r[5] {
			t.Errorf("minute %s: error_rate has %s requests and %s errors, page_views %s and %s", r[0], r[1], r[2], r[4], r[5])
		}
		if r[3] == "true" {
			breached++
			start, _ := strconv.ParseInt(r[0], 10, 64)
			if start/60%5 != 3 {
				t.Errorf("minute %s breached, but it is not an outage minute", r[0])
			}
		}
	}
	if breached == 0 {
		t.Errorf("no minute above 5 %%: %v", rows)
	}
}

// lastWindowEnd is the last window end a pipeline's reports logged.
func lastWindowEnd(log string) time.Time {
	const field = "last_window_end="
	i := strings.LastIndex(log, field)
	if i < 0 {
		return time.Time{}
	}
	v, _, _ := strings.Cut(log[i+len(field):], " ")
	end, _ := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
	return end
}
