package main

import (
	"errors"
)

// errNoDuckDB is what a plain build says when asked for a DuckDB sink.
var errNoDuckDB = errors.New("this sluice was built without DuckDB; " +
	"build or run it with -tags duckdb (go run -tags duckdb ./cmd/sluice …), which needs cgo and a C++ compiler")
