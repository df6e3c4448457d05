package main

import (
	"errors"
	"time"
)

// errNoDuckDB is what a plain build says when asked for a DuckDB sink.
var errNoDuckDB = errors.New("this sluice was built without DuckDB; " +
	"build or run it with -tags duckdb (go run -tags duckdb ./cmd/sluice …), which needs cgo and a C++ compiler")

// duckdbSinkConfig is a DuckDB sink as a pipeline file describes it.
type duckdbSinkConfig struct {
	// Path is the database file, created if missing.
	Path string `yaml:"path"`
	// Schema holds the tables (default main).
	Schema string `yaml:"schema"`
	// TablePrefix prefixes every table's name.
	TablePrefix string `yaml:"table_prefix"`
	// Exclusive keeps the file open from start to stop: faster writes, but
	// no other process can open the file meanwhile, not even to read it.
	Exclusive bool `yaml:"exclusive"`
	// LockTimeout bounds a write's wait for a file another process holds
	// (default 30s).
	LockTimeout time.Duration `yaml:"lock_timeout"`
}

func (c duckdbSinkConfig) schema() string {
	if c.Schema == "" {
		return "main"
	}
	return c.Schema
}
