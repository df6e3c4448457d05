//go:build !linux

package faults

import (
	"runtime"
	"testing"
)

// The harness kills, pauses and mounts as Linux does (SIGSTOP, a parent-
// death signal for its children, tmpfs mounts); elsewhere it only says so.
func TestFaults(t *testing.T) {
	t.Skipf("the fault harness runs on Linux only, not %s", runtime.GOOS)
}
