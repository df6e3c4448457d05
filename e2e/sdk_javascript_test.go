package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSDK_JavaScript runs the JavaScript SDK v3 suite (e2e/sdk/js/*.test.mjs, run
// by `node --test`) against a real server, twice: over h2c on the plain
// port, and over h2 on the TLS port, trusting the self-signed certificate
// the server wrote. The SDK's Kinesis client speaks HTTP/2 for every
// operation; the suite checks that it did.
func TestSDK_JavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node", ".ci/run installs Debian's nodejs")
	}
	// The SDK's package.json asks for node 20 or later (Debian 12's own
	// nodejs is 18).
	if v, err := exec.Command(node, "--version").Output(); err != nil {
		missingTool(t, "a working node", ".ci/run installs Node.js")
	} else if m := regexp.MustCompile(`^v(\d+)\.`).FindSubmatch(v); m == nil || atoi(string(m[1])) < 20 {
		missingTool(t, fmt.Sprintf("node 20 or later (found %s)", strings.TrimSpace(string(v))), "the JavaScript SDK v3 needs it")
	}
	sdkDir := filepath.Join("..", "testdata", "node", "node_modules", "@aws-sdk", "client-kinesis")
	if _, err := os.Stat(sdkDir); err != nil {
		missingTool(t, "the JavaScript SDK in testdata/node", "run `npm ci --prefix testdata/node` (.ci/run does)")
	}
	t.Parallel()
	tlsAddr := freeAddr(t)
	s := startServer(t, "--tls-self-signed", "--tls-addr", tlsAddr)
	// A second server throttles as AWS does, for the throttling tests.
	limits := startServer(t, "--shard-limits", "aws")
	suite := filepath.Join("sdk", "js") + string(filepath.Separator)
	for _, run := range []struct {
		name string
		env  []string
	}{
		{"h2c", []string{"SLUICE_ENDPOINT=" + s.Endpoint}},
		{"tls", []string{"SLUICE_ENDPOINT=https://" + tlsAddr, "NODE_EXTRA_CA_CERTS=" + filepath.Join(s.dataDir, "tls-cert.pem")}},
	} {
		t.Run(run.name, func(t *testing.T) {
			// The SDK warns, in every test process, that its releases from
			// 2027 need node 22; the suite's titles name both versions.
			env := append(run.env, "SLUICE_LIMITS_ENDPOINT="+limits.Endpoint, "NO_COLOR=1", "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true")
			out := runSuite(t, env, node, "--test", "--test-reporter=spec", suite)
			// node exits 0 when it found no test file at all.
			if m := regexp.MustCompile(`(?m)^\S*\s*pass (\d+)`).FindStringSubmatch(out); m == nil || m[1] == "0" {
				t.Fatalf("node ran no passing test; output:\n%s", out)
			}
			t.Logf("node --test %s:\n%s", suite, out)
		})
	}
}

// atoi is strconv.Atoi without the error: 0 for what is not a number.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
