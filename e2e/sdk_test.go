package e2e

// What the other-language SDK suites (sdk_js_test.go, sdk_python_test.go)
// share: finding their tools, and running a suite against a server.

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// suiteTimeout bounds one run of an SDK suite on a slow, busy machine.
const suiteTimeout = 10 * time.Minute

// missingTool skips the test when a tool a suite needs is not installed,
// or fails it under CI=true, where .ci/run must have installed it.
func missingTool(t testing.TB, what, install string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing, and CI=true: %s", what, install)
	}
	t.Skipf("%s is missing; %s", what, install)
}

// freeAddr returns a 127.0.0.1 address nothing listens on at the moment.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runSuite runs an SDK suite's command with the CLI environment (dummy
// credentials, no user configuration) plus env, and fails the test with
// the suite's whole output when it fails. It returns the output.
func runSuite(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), suiteTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cliEnv(t), env...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: still running after %v; output:\n%s", name, strings.Join(args, " "), suiteTimeout, out)
	}
	if err != nil {
		t.Fatalf("%s %s: %v; output:\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
