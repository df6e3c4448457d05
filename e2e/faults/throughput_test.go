//go:build linux

package faults

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// SLUICE_CLUSTER_BENCH=<rounds> runs TestClusterThroughput.
const envClusterBench = "SLUICE_CLUSTER_BENCH"

// TestClusterThroughput measures, side by side in one run, the write
// throughput of one embedded `sluice serve`, of one server over a 3-node
// cluster, and of two servers over it (the load split between them): the
// same load generator, the same producers, rounds taking turns. It is a
// measurement, not a test: it runs only when SLUICE_CLUSTER_BENCH gives a
// number of rounds (docs/benchmarks.md has the command and figures).
func TestClusterThroughput(t *testing.T) {
	v := os.Getenv(envClusterBench)
	if v == "" {
		t.Skipf("a measurement: set %s=<rounds> to run it", envClusterBench)
	}
	rounds, err := strconv.Atoi(v)
	if err != nil || rounds < 1 {
		t.Fatalf("%s=%q: want a number of rounds", envClusterBench, v)
	}
	const (
		producers = 8
		duration  = 10 * time.Second
	)
	embedded := startEmbedded(t)
	c := startCluster(t, 2, 0)
	setups := []struct {
		name      string
		endpoints []string
	}{
		{"embedded", []string{embedded}},
		{"cluster, 1 server", []string{c.sluices[0].endpoint}},
		{"cluster, 2 servers", []string{c.sluices[0].endpoint, c.sluices[1].endpoint}},
	}
	for i, s := range setups {
		createStream(t, newClient(s.endpoints[0]), fmt.Sprintf("tp%d", i))
	}
	results := make([][]float64, len(setups))
	for r := range rounds {
		for i, s := range setups {
			n, failed := putLoad(t.Context(), s.endpoints, fmt.Sprintf("tp%d", i), producers, duration)
			rate := float64(n) / duration.Seconds()
			results[i] = append(results[i], rate)
			t.Logf("round %d, %-20s %9.0f records/s (%d records failed)", r+1, s.name, rate, failed)
		}
	}
	t.Logf("%d rounds of %v, %d producers, PutRecords of 500 records of 100 B over 4 shards:", rounds, duration, producers)
	for i, s := range setups {
		var ratios []float64
		for r := range rounds {
			ratios = append(ratios, results[i][r]/results[0][r])
		}
		t.Logf("%-20s median %9.0f records/s, %.2f× embedded (median of same-round ratios)", s.name, median(results[i]), median(ratios))
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// putLoad runs producers (spread over endpoints) for d, each with one
// PutRecords call of 500 records of 100 bytes in flight, spread evenly
// over the stream's 4 shards; it returns the records acknowledged.
func putLoad(ctx context.Context, endpoints []string, stream string, producers int, d time.Duration) (acked, failed int64) {
	clients := make([]*kinesis.Client, len(endpoints))
	for i, e := range endpoints {
		clients[i] = newClient(e)
	}
	entries := make([]types.PutRecordsRequestEntry, 500)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{
			PartitionKey:    aws.String(strconv.Itoa(i)),
			ExplicitHashKey: aws.String(hashKey(0, i)), // shard i mod 4
			Data:            make([]byte, 100),
		}
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			c := clients[p%len(clients)]
			for ctx.Err() == nil {
				out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
				if ctx.Err() != nil {
					return // cut off by the end of the run: not counted
				}
				if err != nil {
					bad.Add(int64(len(entries)))
					continue
				}
				n := int64(aws.ToInt32(out.FailedRecordCount))
				ok.Add(int64(len(entries)) - n)
				bad.Add(n)
			}
		})
	}
	wg.Wait()
	return ok.Load(), bad.Load()
}

// startEmbedded starts `sluice serve` with its embedded store and returns
// its endpoint.
func startEmbedded(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(sluiceBin, "serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"))
	cmd.SysProcAttr = dieWithTest()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if readyLine.MatchString(sc.Text()) {
			go func() {
				for sc.Scan() {
				}
			}()
			return "http://" + addr
		}
	}
	t.Fatal("embedded server exited before it was ready")
	return ""
}
