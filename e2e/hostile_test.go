package e2e

// Hostile input against a real `sluice serve` (issue 13): requests that
// used to crash or exhaust the server are answered in AWS's words, in
// bounded memory, and the server goes on serving.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice/internal/disktest"
)

// maxHostileRSS is the resident memory a server may reach under any of
// these attacks (the goal of issue 13).
const maxHostileRSS = 256 << 20

// peakRSS is the most resident memory the server process has used so far
// (VmHWM), in bytes.
func (s *server) peakRSS(t testing.TB) int64 {
	t.Helper()
	return procStatus(t, s.pid(t), "VmHWM")
}

func (s *server) pid(t testing.TB) int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		t.Fatal("server is not running")
	}
	return s.proc.cmd.Process.Pid
}

func (s *server) stderrText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.stderr.String()
}

// procStatus reads a kB field of /proc/PID/status, in bytes.
func procStatus(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to read the server's memory from: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", field, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// metricValue reads one sample of the server's /metrics; -1 if absent.
func (s *server) metricValue(t testing.TB, name string) float64 {
	t.Helper()
	resp, err := s.http.Get(s.Endpoint + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestHostile_Expressions sends the expression attacks of issue 13 (a
// ConditionExpression of 800,000 nested parentheses, NOT 4,000,000 times)
// and a value nested 4,000 levels deep: each is a ValidationException in
// DynamoDB's words, the server stays up, and its memory stays bounded.
func TestHostile_Expressions(t *testing.T) {
	s := startServer(t)
	c := s.DynamoDB()
	ctx := ctxFor(t, 5*time.Minute)
	if err := createTableFor(ctx, c, "hostile", ""); err != nil {
		t.Fatal(err)
	}
	put := func(cond string, item map[string]ddbtypes.AttributeValue) error {
		if item == nil {
			item = map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "k"}}
		}
		in := &dynamodb.PutItemInput{TableName: aws.String("hostile"), Item: item}
		if cond != "" {
			in.ConditionExpression = aws.String(cond)
			in.ExpressionAttributeValues = map[string]ddbtypes.AttributeValue{":v": &ddbtypes.AttributeValueMemberS{Value: "k"}}
		}
		_, err := c.PutItem(ctx, in)
		return err
	}
	nest := func(n int) string { return strings.Repeat("(", n) + "pk = :v" + strings.Repeat(")", n) }
	for _, tc := range []struct{ name, cond string }{
		{"parentheses × 100,000", nest(100_000)},
		{"parentheses × 800,000", nest(800_000)},
		{"NOT × 4,000,000", strings.Repeat("NOT ", 4_000_000) + "pk = :v"},
	} {
		err := put(tc.cond, nil)
		want := fmt.Sprintf("Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: %d", len(tc.cond))
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || ae.ErrorMessage() != want {
			t.Errorf("%s: %v, want ValidationException %q", tc.name, err, want)
		}
	}

	// Within the limits: deep but legal nesting passes.
	if err := put(nest(300), nil); err != nil {
		var failed *ddbtypes.ConditionalCheckFailedException
		if !errors.As(err, &failed) {
			t.Errorf("300 nested parentheses: %v", err)
		}
	}
	if err := put(nest(301), nil); apiErrorCode(err) != "ValidationException" {
		t.Errorf("301 nested parentheses: %v, want ValidationException", err)
	}

	var deep ddbtypes.AttributeValue = &ddbtypes.AttributeValueMemberS{Value: "x"}
	for range 4000 {
		deep = &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{deep}}
	}
	err := put("", map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "deep"}, "v": deep})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || ae.ErrorMessage() != "Nesting Levels have exceeded supported limits" {
		t.Errorf("value nested 4,000 levels: %v", err)
	}

	if _, err := c.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("server gone after the attacks: %v", err)
	}
	if rss := s.peakRSS(t); rss > maxHostileRSS {
		t.Errorf("server peak RSS %d MiB, above %d MiB", rss>>20, maxHostileRSS>>20)
	}
}

// hostileRun runs `sluice bench hostile` against s and returns its JSON
// report.
func hostileRun(t *testing.T, s *server, args ...string) map[string]any {
	t.Helper()
	args = append([]string{"bench", "hostile", "--endpoint", s.Endpoint, "--json",
		"--server-pid", strconv.Itoa(s.pid(t))}, args...)
	cmd := exec.CommandContext(ctxFor(t, 5*time.Minute), sluiceBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDSLUICEE2E", "AWS_SECRET_ACCESS_KEY=secret", "AWS_REGION="+testRegion)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sluice %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var report map[string]any
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	t.Logf("sluice %s:\n%s", strings.Join(args[2:], " "), out)
	return report
}

// reportNum reads a number at a path of a decoded JSON report.
func reportNum(t *testing.T, v any, path ...string) float64 {
	t.Helper()
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("report has no %s", strings.Join(path, "."))
		}
		v = m[k]
	}
	f, _ := v.(float64)
	return f
}

// TestHostile_Bodies runs slow and stalled request bodies against a server
// with short body limits: the slow bodies are cut at the read timeout,
// stalled large bodies past the budget are refused, a well-behaved client
// meanwhile gets every record in, and memory stays bounded.
func TestHostile_Bodies(t *testing.T) {
	s := startServer(t, "--request-body-timeout", "2s", "--request-body-wait", "200ms",
		"--max-request-bytes-in-flight", "32MiB")

	slow := hostileRun(t, s, "--attack", "slow-body", "--connections", "50", "--duration", "4s")
	if e := reportNum(t, slow, "under_attack", "errors"); e != 0 || reportNum(t, slow, "under_attack", "puts") == 0 {
		t.Errorf("probe under the slow-body attack: %v puts, %v errors", reportNum(t, slow, "under_attack", "puts"), e)
	}
	if cut := reportNum(t, slow, "attackers", "outcomes", "408"); cut < 50 {
		t.Errorf("slow bodies cut with 408: %v, want each of the 50 at least once", cut)
	}

	stalled := hostileRun(t, s, "--attack", "stalled-body", "--connections", "8", "--h2c", "--duration", "4s")
	if e := reportNum(t, stalled, "under_attack", "errors"); e != 0 || reportNum(t, stalled, "under_attack", "puts") == 0 {
		t.Errorf("probe under the stalled-body attack: %v puts, %v errors", reportNum(t, stalled, "under_attack", "puts"), e)
	}
	if refused := reportNum(t, stalled, "attackers", "outcomes", "400"); refused == 0 {
		t.Errorf("no stalled body refused past the budget (ThrottlingException)")
	}
	if n := s.metricValue(t, "sluice_http_request_body_throttled_total"); n <= 0 {
		t.Errorf("sluice_http_request_body_throttled_total = %v", n)
	}
	if n := s.metricValue(t, "sluice_http_request_body_timeouts_total"); n < 50 {
		t.Errorf("sluice_http_request_body_timeouts_total = %v", n)
	}
	if rss := s.peakRSS(t); rss > maxHostileRSS {
		t.Errorf("server peak RSS %d MiB, above %d MiB", rss>>20, maxHostileRSS>>20)
	}
}

// TestHostile_DiskFull fills a real small filesystem under the server's
// data directory: writes fail with ServiceUnavailable (503) and nothing
// unstored is acknowledged; once space is freed they succeed again by
// themselves, and every acknowledged record is there. With the reserve
// (--min-free-disk) the disk never fills; without it (0) JetStream meets
// ENOSPC and the server restarts it once there is room.
func TestHostile_DiskFull(t *testing.T) {
	for _, tc := range []struct{ name, minFree string }{{"reserve", "4MiB"}, {"enospc", "0"}} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := disktest.Tmpfs(t, 64<<20)
			ballast := disktest.Fill(t, mnt, 24<<20)
			s := startServer(t, "--data-dir", filepath.Join(mnt, "data"), "--min-free-disk", tc.minFree)
			c := s.Client()
			createStream(t, c, "full", 1)

			acked := map[string][]byte{} // sequence number → data
			put := func(i int) error {
				entries := make([]types.PutRecordsRequestEntry, 8)
				for j := range entries {
					entries[j] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"),
						Data: bytes.Repeat([]byte(fmt.Sprintf("%06d-%d;", i, j)), 64<<10/10)}
				}
				out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("full"), Records: entries})
				if err != nil {
					return err
				}
				for j, r := range out.Records {
					if r.SequenceNumber != nil {
						acked[*r.SequenceNumber] = entries[j].Data
					} else if aws.ToString(r.ErrorCode) != "InternalFailure" || !strings.Contains(aws.ToString(r.ErrorMessage), "storage is full") {
						t.Errorf("record failed with %s: %s", aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
					}
				}
				return nil
			}
			var err error
			i := 0
			for ; err == nil; i++ {
				if i > 200 {
					t.Fatal("a 64 MiB disk took 100 MiB of records")
				}
				err = put(i)
			}
			var ae smithy.APIError
			var re *awshttp.ResponseError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusServiceUnavailable {
				t.Fatalf("PutRecords on a full disk: %v, want 503 ServiceUnavailable", err)
			}
			if !strings.Contains(ae.ErrorMessage(), "storage is full") {
				t.Errorf("message %q says nothing of the full storage", ae.ErrorMessage())
			}
			t.Logf("%d records acknowledged before: %v", len(acked), err)
			if v := s.metricValue(t, "sluice_storage_full"); v != 1 {
				t.Errorf("sluice_storage_full = %v while full", v)
			}
			if !strings.Contains(s.stderrText(), "disk full") {
				t.Errorf("no log line says the disk is full")
			}
			// Reads go on.
			if got := len(readShard(t, c, "full", "shardId-000000000000")); got != len(acked) {
				t.Errorf("read %d records of %d acknowledged while full", got, len(acked))
			}

			if err := os.Remove(ballast); err != nil {
				t.Fatal(err)
			}
			freed := time.Now()
			until(t, "writes to resume", func() bool {
				err := put(i)
				if err != nil && apiErrorCode(err) != "ServiceUnavailable" {
					t.Fatalf("PutRecords after freeing space: %v", err)
				}
				if err != nil {
					time.Sleep(100 * time.Millisecond)
				}
				return err == nil
			})
			t.Logf("writes resumed %v after space was freed", time.Since(freed).Round(time.Millisecond))
			if v := s.metricValue(t, "sluice_storage_full"); v != 0 {
				t.Errorf("sluice_storage_full = %v after recovery", v)
			}

			recs := readShard(t, c, "full", "shardId-000000000000")
			got := map[string][]byte{}
			for _, r := range recs {
				got[*r.SequenceNumber] = r.Data
			}
			for seq, data := range acked {
				if !bytes.Equal(got[seq], data) {
					t.Fatalf("acknowledged record %s lost", seq)
				}
			}
			// The whole server works after recovery: metadata, new logs.
			createStream(t, c, "after", 1)
			putRecord(t, c, "after", "k", []byte("fine"))
			if got := readShard(t, c, "after", "shardId-000000000000"); len(got) != 1 {
				t.Errorf("new stream after recovery holds %d records", len(got))
			}
		})
	}
}
