package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/broker"
)

// autoscaleFlags adds the flags of the ON_DEMAND autoscaler.
func autoscaleFlags(fs *flag.FlagSet, c *broker.AutoscaleConfig) {
	fs.Float64Var(&c.HotShare, "autoscale-hot-share", 0.8, "ON_DEMAND streams: split a shard whose writes stay above this `share` of 1 MiB/s or 1,000 records/s for --autoscale-window")
	fs.Float64Var(&c.ColdShare, "autoscale-cold-share", 0.2, "ON_DEMAND streams: merge two adjacent shards whose writes both stay below this `share` of a shard's capacity for --autoscale-window")
	fs.DurationVar(&c.Window, "autoscale-window", time.Minute, "ON_DEMAND streams: how long a shard must stay hot or cold before it is split or merged")
	fs.DurationVar(&c.Cooldown, "autoscale-cooldown", 5*time.Minute, "ON_DEMAND streams: least time between two splits or merges of one stream")
}

// checkAutoscale refuses settings under which the autoscaler would
// oscillate or never act.
func checkAutoscale(c broker.AutoscaleConfig) error {
	switch {
	case c.HotShare <= 0:
		return fmt.Errorf("--autoscale-hot-share %v: want more than 0", c.HotShare)
	case c.ColdShare <= 0 || c.ColdShare*2 > c.HotShare:
		return fmt.Errorf("--autoscale-cold-share %v: want more than 0 and at most half of --autoscale-hot-share, so that a merged shard is not hot at once", c.ColdShare)
	case c.Window <= 0:
		return fmt.Errorf("--autoscale-window %v: want more than 0", c.Window)
	case c.Cooldown <= 0:
		return fmt.Errorf("--autoscale-cooldown %v: want more than 0", c.Cooldown)
	}
	return nil
}
