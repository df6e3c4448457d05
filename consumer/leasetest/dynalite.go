package leasetest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// StartDynalite starts dynalite, an in-memory DynamoDB implementation, from
// the repository's testdata/node (installed by `npm ci --prefix testdata/node`)
// on 127.0.0.1 and returns its endpoint; it stops when the test ends. Without
// node or dynalite the test is skipped, or fails when CI=true.
func StartDynalite(t testing.TB) string {
	t.Helper()
	bin, err := findDynalite()
	if err == nil {
		_, err = exec.LookPath("node")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dynalite unavailable and CI=true (.ci/run must run npm ci --prefix testdata/node): %v", err)
		}
		t.Skipf("dynalite unavailable (run npm ci --prefix testdata/node): %v", err)
	}
	for attempt := 0; ; attempt++ {
		endpoint, err := startDynalite(t, bin)
		if err == nil {
			return endpoint
		}
		if attempt == 4 {
			t.Fatalf("start dynalite: %v", err)
		}
	}
}

func startDynalite(t testing.TB, bin string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("node", bin, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening at") {
				ready <- true
			}
		}
		ready <- false
	}()
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	select {
	case ok := <-ready:
		if !ok {
			stop()
			return "", fmt.Errorf("dynalite exited before listening on port %d", port)
		}
	case <-time.After(60 * time.Second):
		stop()
		return "", fmt.Errorf("dynalite did not start within a minute")
	}
	t.Cleanup(stop)
	return fmt.Sprintf("http://127.0.0.1:%d", port), nil
}

// findDynalite looks for testdata/node/node_modules/dynalite/cli.js in the
// working directory and its parents.
func findDynalite() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "testdata", "node", "node_modules", "dynalite", "cli.js")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no testdata/node/node_modules/dynalite above the working directory")
		}
		dir = parent
	}
}

// DynamoDBClient returns a DynamoDB client for a local endpoint (dynalite
// or Sluice) with static credentials.
func DynamoDBClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("sluice", "sluice", ""),
	})
}

// TableName returns a table name unique to the test.
func TableName(t testing.TB) string {
	r := strings.NewReplacer("/", "-", " ", "-", "#", "-")
	return fmt.Sprintf("leases-%s-%d", r.Replace(t.Name()), time.Now().UnixNano()%1e9)
}

// DeleteTableOnCleanup deletes table when the test ends (best effort).
func DeleteTableOnCleanup(t testing.TB, c *dynamodb.Client, table string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
}
