package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestAutoscaleFlags(t *testing.T) {
	parse := func(args ...string) (serveConfig, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var c serveConfig
		serveFlags(fs, &c)
		if err := fs.Parse(args); err != nil {
			return c, err
		}
		return c, checkAutoscale(c.autoscale)
	}
	c, err := parse()
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if a := c.autoscale; a.HotShare != 0.8 || a.ColdShare != 0.2 || a.Window != time.Minute || a.Cooldown != 5*time.Minute {
		t.Fatalf("defaults %+v", a)
	}
	c, err = parse("--autoscale-hot-share=0.05", "--autoscale-cold-share=0.01", "--autoscale-window=2s", "--autoscale-cooldown=1s")
	if err != nil || c.autoscale.HotShare != 0.05 || c.autoscale.Window != 2*time.Second {
		t.Fatalf("set: %+v, %v", c.autoscale, err)
	}
	for _, bad := range [][]string{
		{"--autoscale-hot-share=0"},
		{"--autoscale-cold-share=0.5"}, // more than half of 0.8
		{"--autoscale-window=0s"},
		{"--autoscale-cooldown=-1s"},
	} {
		if _, err := parse(bad...); err == nil || !strings.Contains(err.Error(), strings.SplitN(bad[0], "=", 2)[0]) {
			t.Errorf("%v: err = %v, want it named", bad, err)
		}
	}
}
