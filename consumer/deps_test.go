package consumer_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestNoInternalImports guards the rule that public packages import no
// internal/ package of Sluice: the consumer works against AWS as well.
func TestNoInternalImports(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	pkgs := []string{".", "./prommetrics", "./leasetest"}
	out, err := exec.Command(goBin, append([]string{"list", "-deps"}, pkgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/sluicehq/sluice/internal/") {
			t.Errorf("a consumer package depends on %s", dep)
		}
	}
}
