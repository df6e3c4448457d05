//go:build linux

package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Binaries TestMain builds: sluice, and nats-server from the module Sluice
// already depends on (so its version is go.mod's).
var sluiceBin, natsBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sluice-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	sluiceBin = filepath.Join(dir, "sluice")
	natsBin = filepath.Join(dir, "nats-server")
	for _, b := range []struct{ out, pkg string }{
		{sluiceBin, "github.com/sluicehq/sluice/cmd/sluice"},
		{natsBin, "github.com/nats-io/nats-server/v2"},
	} {
		// -buildvcs=false: CI may run as a user that does not own the
		// checkout, where git refuses to report VCS status.
		args := []string{"build", "-buildvcs=false", "-o", b.out, b.pkg}
		if out, err := exec.Command(goTool(), args...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "faults: go %s: %v\n%s", strings.Join(args, " "), err, out)
			return 1
		}
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
