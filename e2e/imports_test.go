package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sluicehq/sluice"

// TestPublicPackagesImportNoInternal guards the rule that the public
// packages (producer, deaggregate, consumer, ...) build on aws-sdk-go-v2
// alone and never import the server's internal packages, directly or
// through another package. sluicetest is the exception: its job is to
// start a server in-process.
func TestPublicPackagesImportNoInternal(t *testing.T) {
	out, err := exec.Command(goTool(), "list", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, pkg := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		if rel == "" || strings.HasPrefix(rel, "internal/") || strings.Contains(rel, "/internal/") ||
			strings.HasPrefix(rel, "cmd/") || rel == "e2e" || rel == "sluicetest" {
			continue
		}
		deps, err := exec.Command(goTool(), "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, d := range strings.Fields(string(deps)) {
			if strings.HasPrefix(d, module+"/") && (strings.Contains(d, "/internal/") || d == module+"/sluicetest") {
				t.Errorf("public package %s imports %s", rel, d)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no public packages found")
	}
	t.Logf("%d public packages import no internal package", checked)
}
