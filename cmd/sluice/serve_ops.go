package main

// Operating `sluice serve`: log format and what /metrics exports.

import (
	"flag"
	"fmt"
	"log/slog"

	"github.com/sluicehq/sluice/internal/opsmetrics"
)

// serveOps are the serve flags for operators: logs and metrics.
type serveOps struct {
	logFormat    string
	shardMetrics string
}

func opsFlags(fs *flag.FlagSet, c *serveOps) {
	fs.StringVar(&c.logFormat, "log-format", "text", "log `format`: text (key=value, for people) or json (one object per line, for log collectors)")
	fs.StringVar(&c.shardMetrics, "shard-metrics", string(opsmetrics.ShardLevelEnhanced), "`streams` whose shards get series of their own on /metrics: "+
		"enhanced (those with enhanced monitoring on, only the metrics it turned on, as CloudWatch does), all, or none")
}

func (c serveOps) check() error {
	if _, err := opsmetrics.ParseShardLevel(c.shardMetrics); err != nil {
		return fmt.Errorf("--shard-metrics: %w", err)
	}
	return nil
}

// newLogger logs to stderr at level in format (text or json).
func newLogger(env *cmdEnv, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
