package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSluiceCLI_TailReconnects restarts the server under a running
// `sluice tail`: tail rides out the restart and prints the records written
// after it, none twice.
func TestSluiceCLI_TailReconnects(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	env := cliEnv(t)
	sluice := func(stdin string, args ...string) string {
		t.Helper()
		return runCmd(t, env, stdin, sluiceBin, append(args, "--endpoint", s.Endpoint)...)
	}
	batch := func(prefix string) string {
		var b strings.Builder
		for i := range 50 {
			fmt.Fprintf(&b, "%s-%02d\n", prefix, i)
		}
		return b.String()
	}
	sluice("", "stream", "create", "r", "--shards", "2", "--wait")
	sluice(batch("before"), "put", "r")

	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	tail := exec.CommandContext(ctx, sluiceBin, "tail", "r", "--from", "trim-horizon", "--format", `%s\n`, "--endpoint", s.Endpoint)
	tail.Env = env
	var tailErr bytes.Buffer
	tail.Stderr = &tailErr
	stdout, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	printed := make(chan string)
	go func() {
		defer close(printed)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			printed <- sc.Text()
		}
	}()
	seen := map[string]int{}
	read := func(n int) {
		t.Helper()
		for range n {
			line, ok := <-printed
			if !ok {
				t.Fatalf("tail ended after %d records\nstderr:\n%s", len(seen), tailErr.String())
			}
			seen[line]++
		}
	}
	read(50)
	s.Restart()
	sluice(batch("after"), "put", "r")
	read(50)

	tail.Process.Signal(syscall.SIGINT)
	go func() {
		for range printed {
		}
	}()
	if err := tail.Wait(); err != nil {
		t.Errorf("tail after SIGINT: %v\nstderr:\n%s", err, tailErr.String())
	}
	for _, prefix := range []string{"before", "after"} {
		for i := range 50 {
			if r := fmt.Sprintf("%s-%02d", prefix, i); seen[r] != 1 {
				t.Errorf("tail printed %s %d times, want once", r, seen[r])
			}
		}
	}
}

// TestSluiceCLI_Walkthrough is the README's CLI walkthrough: it ends with
// the stream deleted, without --force, after a fan-out tail.
func TestSluiceCLI_Walkthrough(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	env := cliEnv(t)
	sluice := func(stdin string, args ...string) string {
		t.Helper()
		return runCmd(t, env, stdin, sluiceBin, append(args, "--endpoint", s.Endpoint)...)
	}
	sluice("", "stream", "create", "orders", "--shards", "4", "--wait")
	sluice(strings.Repeat("order\n", 100), "put", "orders")
	for _, args := range [][]string{
		{"tail", "orders", "--from", "trim-horizon", "--until-latest"},
		{"tail", "orders", "--from", "trim-horizon", "--max-records", "100"},
		{"tail", "orders", "--fan-out", "--from", "trim-horizon", "--until-latest"},
	} {
		if n := strings.Count(sluice("", args...), "\n"); n != 100 {
			t.Errorf("sluice %s printed %d records, want 100", strings.Join(args, " "), n)
		}
	}
	sluice("", "stream", "delete", "orders")
	out, stderr, err := tryCmd(t, env, "", sluiceBin, "stream", "describe", "nosuch", "--endpoint", s.Endpoint)
	if err == nil || out != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Errorf("describe of a missing stream: %v, stdout %q, stderr %q; want one line naming ResourceNotFoundException", err, out, stderr)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("describe of a missing stream: %v, want exit status 1", err)
	}
	_, _, err = tryCmd(t, env, "", sluiceBin)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("sluice with no arguments: %v, want exit status 2", err)
	}
}

// TestSluiceCLI_Completion loads `sluice completion SHELL` into bash, zsh
// and fish and completes a few command lines with it. .ci/run installs zsh
// and fish; run by hand without them, those shells are skipped.
func TestSluiceCLI_Completion(t *testing.T) {
	t.Parallel()
	// The scripts run the sluice on PATH.
	dir := t.TempDir()
	if err := os.Symlink(sluiceBin, filepath.Join(dir, "sluice")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+dir, "XDG_CONFIG_HOME="+dir)
	tests := []struct {
		shell, script, want string
	}{
		{"bash", `source <(sluice completion bash)
COMP_WORDS=(sluice stream s); COMP_CWORD=2; _sluice; printf '%s\n' "${COMPREPLY[@]}"
COMP_WORDS=(sluice tail orders --unt); COMP_CWORD=3; _sluice; printf '%s\n' "${COMPREPLY[@]}"`,
			"split\nscale\n--until-latest\n"},
		// compadd and _files exist only inside zsh's completion system;
		// stand-ins print what the script offers.
		{"zsh", `compadd() { print -l -- "${@[2,-1]}" }; _files() { print FILES }; compdef() { : }
source <(sluice completion zsh)
words=(sluice stream s); CURRENT=3; _sluice
words=(sluice serve --data-dir ""); CURRENT=4; _sluice`,
			"split\nscale\nFILES\n"},
		{"fish", `sluice completion fish | source
complete -C"sluice stream s"
complete -C"sluice tail orders --unt"`,
			"scale\nsplit\n--until-latest\n"}, // fish sorts
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			sh, err := exec.LookPath(tt.shell)
			if err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s not installed, and CI=true: .ci/run must install it", tt.shell)
				}
				t.Skipf("%s not installed; .ci/run installs it", tt.shell)
			}
			out, stderr, err := tryCmd(t, env, "", sh, "-c", tt.script)
			if err != nil || out != tt.want {
				t.Errorf("%s: %v\nstdout %q, want %q\nstderr:\n%s", tt.shell, err, out, tt.want, stderr)
			}
		})
	}
}
