package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkAuthCost measures what verifying signatures costs writes, with
// `sluice bench` against two `sluice serve` processes side by side: one
// open, one with --credentials (every request's signature verified and
// its call authorized against the key's identity policy). Both get the
// same signed load. The servers run in alternating rounds (open first,
// then authenticating first) so that a busy machine's drift falls on both
// alike. Reported per server: records/s, and the server process's CPU
// time per MB of record data (from /proc), which hardly moves when other
// processes crowd the machine; and the cost of authentication in both.
//
//	go test -run '^$' -bench AuthCost -benchtime 1x ./e2e/
func BenchmarkAuthCost(b *testing.B) {
	file := b.TempDir() + "/credentials.json"
	creds := `{"principals":[{"arn":"arn:aws:iam::000000000000:user/bench",
	  "accessKeys":[{"accessKeyId":"AKIDBENCHE2E","secretAccessKey":"bench-secret-e2e"}],
	  "policies":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}]}]}]}`
	if err := os.WriteFile(file, []byte(creds), 0o600); err != nil {
		b.Fatal(err)
	}
	servers := [2]*server{startServer(b), startServer(b, "--credentials", file)} // open, authenticating
	const rounds = 6
	for _, size := range []struct {
		name          string
		record, batch int
	}{{"records=100B", 100, 500}, {"records=10KiB", 10 << 10, 100}} {
		b.Run(size.name, func(b *testing.B) {
			var records, mb [2]float64
			var elapsed, cpu [2]time.Duration
			for b.Loop() {
				for r := range rounds {
					for _, i := range [][2]int{{0, 1}, {1, 0}}[r%2] {
						s := servers[i]
						cpu0 := procCPU(b, s.proc.cmd.Process.Pid)
						cmd := exec.CommandContext(b.Context(), sluiceBin, "bench", "--endpoint", s.Endpoint, "--stream", fmt.Sprintf("bench-%d", size.record),
							"--create", "--duration", "2s", "--json", "--record-size", strconv.Itoa(size.record), "--batch", strconv.Itoa(size.batch))
						cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDBENCHE2E", "AWS_SECRET_ACCESS_KEY=bench-secret-e2e", "AWS_REGION=us-east-1")
						var stderr strings.Builder
						cmd.Stderr = &stderr
						out, err := cmd.Output()
						if err != nil {
							b.Fatalf("sluice bench: %v\n%s%s", err, out, stderr.String())
						}
						cpu[i] += procCPU(b, s.proc.cmd.Process.Pid) - cpu0
						var res struct {
							Records int64   `json:"put_records"`
							PerSec  float64 `json:"put_records_per_s"`
							Failed  int64   `json:"put_failed_records"`
						}
						if err := json.Unmarshal(out, &res); err != nil || res.Failed > 0 {
							b.Fatalf("sluice bench: %v %s", err, out)
						}
						records[i] += float64(res.Records)
						mb[i] += float64(res.Records) * float64(size.record) / 1e6
						elapsed[i] += time.Duration(float64(res.Records) / res.PerSec * float64(time.Second))
					}
				}
			}
			for i, mode := range []string{"open", "auth"} {
				b.ReportMetric(records[i]/elapsed[i].Seconds(), mode+"-records/s")
				b.ReportMetric(float64(cpu[i].Microseconds())/mb[i], mode+"-server-cpu-µs/MB")
			}
			rate := func(i int) float64 { return records[i] / elapsed[i].Seconds() }
			b.ReportMetric(100*(rate(0)-rate(1))/rate(0), "throughput-cost-%")
			perMB := func(i int) float64 { return float64(cpu[i]) / mb[i] }
			b.ReportMetric(100*(perMB(1)-perMB(0))/perMB(0), "server-cpu-cost-%")
		})
	}
}

// procCPU is the CPU time (user and system) process pid has used, from
// /proc/PID/stat in clock ticks of 10 ms.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 14th and 15th fields of the line.
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest)
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
