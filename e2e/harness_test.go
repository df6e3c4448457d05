package e2e

// The harness: build `sluice` once, start `sluice serve` processes, stop,
// kill and restart them, and build clients for them.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/sluicetest"
)

// sluiceBin is the binary TestMain builds.
var sluiceBin string

const (
	// startTimeout bounds how long a server may take to print its ready
	// line; generous because a 2-core machine runs several at once, and a
	// server restarted after SIGKILL first recovers its JetStream files.
	startTimeout = 60 * time.Second
	// stopTimeout is how long a server may take to exit after SIGTERM
	// before it is killed (and the test fails).
	stopTimeout = 20 * time.Second
	// requestTimeout bounds every HTTP request a test client makes.
	requestTimeout = 60 * time.Second

	testRegion = "us-east-1"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The servers are separate processes and the tests mostly wait on
	// them, so run more tests at once than the default of GOMAXPROCS
	// unless -parallel was given.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", fmt.Sprint(max(4, runtime.GOMAXPROCS(0))))
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	sluiceBin = filepath.Join(dir, "sluice")
	// -buildvcs=false: CI may run as a user that does not own the checkout,
	// where git refuses to report VCS status.
	args := []string{"build", "-buildvcs=false", "-o", sluiceBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/sluicehq/sluice/cmd/sluice")
	build := exec.Command(goTool(), args...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go %s: %v\n%s", strings.Join(args, " "), err, out)
		return 1
	}
	return m.Run()
}

// goTool finds the go command that runs the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// readyRe matches the line `sluice serve` prints once it accepts requests.
var readyRe = regexp.MustCompile(`Sluice is serving the Kinesis API .*at (http://\S+)`)

// server is one `sluice serve` process, restartable on the same data
// directory and port.
type server struct {
	t       testing.TB
	dataDir string
	args    []string // flags after --addr and --data-dir

	// Endpoint is the server's base URL, http://127.0.0.1:PORT. It stays
	// the same across restarts.
	Endpoint string
	addr     string // 127.0.0.1:PORT once known

	http *http.Client

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of the server binary.
type process struct {
	cmd    *exec.Cmd
	stdout *tailBuffer
	stderr *tailBuffer
	ready  chan string   // receives the endpoint
	exited chan struct{} // closed once the process has exited
	err    error         // Wait's result, set before exited closes
}

// startServer starts `sluice serve --addr 127.0.0.1:0 --data-dir DIR args...`
// and stops it when the test ends.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	s := &server{
		t:       t,
		dataDir: t.TempDir(),
		args:    args,
		http: &http.Client{
			Timeout:   requestTimeout,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		},
	}
	t.Cleanup(s.cleanup)
	s.Start()
	return s
}

// Start starts the process, on the same port as before if it ran already,
// and waits until it is ready.
func (s *server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.t.Fatal("server already running")
	}
	addr := "127.0.0.1:0"
	if s.addr != "" {
		addr = s.addr
	}
	// A restarted server binds its old port; the kernel may briefly refuse
	// it, so retry a few times.
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		p, endpoint, err := s.spawn(addr)
		if err == nil {
			s.proc = p
			if s.Endpoint == "" {
				s.Endpoint = endpoint
				s.addr = strings.TrimPrefix(endpoint, "http://")
			} else if endpoint != s.Endpoint {
				s.t.Fatalf("restarted server serves at %s, want %s", endpoint, s.Endpoint)
			}
			return
		}
		lastErr = err
		if s.addr == "" || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("start sluice serve: %v", lastErr)
}

func (s *server) spawn(addr string) (*process, string, error) {
	args := append([]string{"serve", "--addr", addr, "--data-dir", s.dataDir}, s.args...)
	p := &process{
		stdout: &tailBuffer{max: 1 << 20},
		stderr: &tailBuffer{max: 1 << 20},
		ready:  make(chan string, 1),
		exited: make(chan struct{}),
	}
	p.stdout.onLine = func(line string) {
		if m := readyRe.FindStringSubmatch(line); m != nil {
			select {
			case p.ready <- m[1]:
			default:
			}
		}
	}
	p.cmd = exec.Command(sluiceBin, args...)
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	p.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	if err := p.cmd.Start(); err != nil {
		return nil, "", err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case endpoint := <-p.ready:
		return p, strings.TrimRight(endpoint, "/"), nil
	case <-p.exited:
		return nil, "", fmt.Errorf("sluice %s exited before it was ready: %v\nstderr:\n%s\nstdout:\n%s",
			strings.Join(args, " "), p.err, p.stderr.String(), p.stdout.String())
	case <-time.After(startTimeout):
		p.cmd.Process.Kill()
		<-p.exited
		return nil, "", fmt.Errorf("sluice %s not ready after %v\nstderr:\n%s\nstdout:\n%s",
			strings.Join(args, " "), startTimeout, p.stderr.String(), p.stdout.String())
	}
}

// Kill stops the server with SIGKILL: no shutdown code runs.
func (s *server) Kill() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.takeProc()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	s.http.CloseIdleConnections()
}

// Stop stops the server with SIGTERM and fails the test unless it exits
// cleanly within stopTimeout.
func (s *server) Stop() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *server) stopLocked() {
	s.t.Helper()
	p := s.takeProc()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			s.t.Errorf("sluice serve exited with %v after SIGTERM; stderr:\n%s", p.err, p.stderr.Tail(8<<10))
		}
	case <-time.After(stopTimeout):
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		s.t.Errorf("sluice serve still running %v after SIGTERM; killed it. stderr:\n%s", stopTimeout, p.stderr.Tail(8<<10))
	}
	s.http.CloseIdleConnections()
}

// takeProc returns the running process, failing the test if it died on
// its own, and marks the server stopped.
func (s *server) takeProc() *process {
	s.t.Helper()
	p := s.proc
	if p == nil {
		s.t.Fatal("server is not running")
	}
	s.proc = nil
	select {
	case <-p.exited:
		s.t.Fatalf("sluice serve died unexpectedly: %v\nstderr:\n%s", p.err, p.stderr.Tail(16<<10))
	default:
	}
	return p
}

// Restart stops the server gracefully and starts it again on the same data
// directory and port.
func (s *server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

func (s *server) cleanup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	if s.t.Failed() {
		s.t.Logf("sluice serve stderr (tail):\n%s", s.proc.stderr.Tail(16<<10))
	}
	s.stopLocked()
}

// Client returns an aws-sdk-go-v2 Kinesis client for the server: static
// dummy credentials, region us-east-1, and retries only of connection
// errors, so that every error the server answers reaches the test. (Go's
// HTTP client can close a pooled connection under a response it is still
// reading; the SDK retries that by default, aws/aws-sdk-go-v2#2737.)
func (s *server) Client(optFns ...func(*kinesis.Options)) *kinesis.Client {
	return newClient(s.Endpoint, s.http, optFns...)
}

func newClient(endpoint string, hc kinesis.HTTPClient, optFns ...func(*kinesis.Options)) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSLUICEE2E", "secret", ""),
		HTTPClient:   sluicetest.OwnBodies(hc), // every client may subscribe to a shard
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.Retryables = []retry.IsErrorRetryable{retry.NoRetryCanceledError{}, retry.RetryableConnectionError{}}
			o.RateLimiter = ratelimit.None
		}),
	}, optFns...)
}

// tailBuffer is an io.Writer that keeps the last max bytes written and
// calls onLine for every complete line.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	partial []byte
	onLine  func(string)
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	if b.onLine != nil {
		b.partial = append(b.partial, p...)
		for {
			i := bytes.IndexByte(b.partial, '\n')
			if i < 0 {
				break
			}
			b.onLine(string(b.partial[:i]))
			b.partial = b.partial[i+1:]
		}
		if len(b.partial) > 64<<10 {
			b.partial = nil
		}
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// Tail returns at most the last n bytes.
func (b *tailBuffer) Tail(n int) string {
	s := b.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// ctxFor returns the test's context bounded by d.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
