package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// boto3Python returns a Python interpreter that can import boto3, or "".
// Debian's python3-boto3 installs for /usr/bin/python3, which a python3
// earlier on PATH (a pyenv shim, say) may not see.
func boto3Python(t testing.TB) (python, versions string) {
	t.Helper()
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		out, err := exec.Command(p, "-c", "import sys, boto3, botocore; print(f'Python {sys.version.split()[0]}, boto3 {boto3.__version__}, botocore {botocore.__version__}')").Output()
		if err == nil {
			return p, strings.TrimSpace(string(out))
		}
	}
	return "", ""
}

// TestSDK_Python runs the boto3 suite (e2e/sdk/python/test_*.py, stdlib
// unittest) against a real server, twice: over plain HTTP, and over TLS
// trusting the self-signed certificate the server wrote. boto3 speaks
// HTTP/1.1 only, so SubscribeToShard's event stream comes chunked.
func TestSDK_Python(t *testing.T) {
	python, versions := boto3Python(t)
	if python == "" {
		missingTool(t, "a python3 that can import boto3", ".ci/run installs Debian's python3-boto3 for /usr/bin/python3")
	}
	t.Parallel()
	t.Logf("%s (%s)", versions, python)
	tlsAddr := freeAddr(t)
	s := startServer(t, "--tls-self-signed", "--tls-addr", tlsAddr)
	// A second server throttles as AWS does, for the throttling tests.
	limits := startServer(t, "--shard-limits", "aws")
	// A third keeps new consumers CREATING, for SubscribeToShard's error.
	creating := startServer(t, "--consumer-create-delay", "1h")
	suite := filepath.Join("sdk", "python")
	for _, run := range []struct {
		name string
		env  []string
	}{
		{"http", []string{"SLUICE_ENDPOINT=" + s.Endpoint}},
		{"tls", []string{"SLUICE_ENDPOINT=https://" + tlsAddr, "AWS_CA_BUNDLE=" + filepath.Join(s.dataDir, "tls-cert.pem")}},
	} {
		t.Run(run.name, func(t *testing.T) {
			env := append(run.env, "SLUICE_LIMITS_ENDPOINT="+limits.Endpoint, "SLUICE_CREATING_ENDPOINT="+creating.Endpoint, "PYTHONDONTWRITEBYTECODE=1", "PYTHONWARNINGS=ignore::ResourceWarning")
			out := runSuite(t, env, python, "-m", "unittest", "discover", "-v", "-s", suite, "-t", suite)
			// unittest exits 0 when it found no test at all.
			if m := regexp.MustCompile(`(?m)^Ran (\d+) tests?`).FindStringSubmatch(out); m == nil || m[1] == "0" {
				t.Fatalf("unittest ran no test; output:\n%s", out)
			}
			t.Logf("python -m unittest discover %s:\n%s", suite, out)
		})
	}
}
