package main

// `sluice version` and `sluice --version`: what this binary was built from,
// as the Go toolchain recorded it (runtime/debug.ReadBuildInfo).

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// linkVersion, when set at link time (-ldflags "-X main.linkVersion=v1.2.3",
// as the Dockerfile does), names the module version the build info lacks
// in a build without VCS information.
var linkVersion string

// buildVersion is what the build info says of this binary.
type buildVersion struct {
	Module    string // module version: v1.2.3 from `go install ...@v1.2.3`, "(devel)" from a checkout
	Revision  string // VCS commit, "" when the build recorded none (-buildvcs=false, go run)
	Time      string // commit time, RFC 3339
	Modified  bool   // the work tree had uncommitted changes
	GoVersion string
	Platform  string
}

func readBuildVersion() buildVersion {
	v := buildVersion{Module: "(unknown)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if linkVersion != "" {
			v.Module = linkVersion
		}
		return v
	}
	if info.Main.Version != "" {
		v.Module = info.Main.Version
	}
	if linkVersion != "" && (v.Module == "(devel)" || v.Module == "(unknown)") {
		v.Module = linkVersion
	}
	v.GoVersion = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is one line: "sluice v1.2.3 (commit 4be117d0c1a2, 2026-05-01T10:00:00Z) go1.26.8 linux/amd64".
func (v buildVersion) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sluice %s", v.Module)
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		fmt.Fprintf(&b, " (commit %s", rev)
		if v.Time != "" {
			fmt.Fprintf(&b, ", %s", v.Time)
		}
		if v.Modified {
			b.WriteString(", modified")
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " %s %s", v.GoVersion, v.Platform)
	return b.String()
}

func runVersion(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "version", "sluice version [flags]\n\n"+
		"Prints the module version, the commit and time it was built from, and the Go version.")
	asJSON := fs.Bool("json", false, "print JSON instead of one line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	v := readBuildVersion()
	if *asJSON {
		return writeJSON(env.stdout, v)
	}
	_, err := fmt.Fprintln(env.stdout, v)
	return err
}
