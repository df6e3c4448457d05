package main

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/flow"
	"github.com/sluicehq/sluice/internal/flowfile"
)

// TestOpenDuckDBSink checks the wiring point of the DuckDB sink in both
// builds: go test ./cmd/sluice (without DuckDB) and
// go test -tags duckdb ./cmd/sluice (with it).
func TestOpenDuckDBSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.duckdb")
	s, err := openDuckDBSink(t.Context(), flowfile.DuckDBSink{Path: flowfile.Text{S: path}, TablePrefix: flowfile.Text{S: "x_"}})
	if !withDuckDB {
		if !errors.Is(err, errNoDuckDB) {
			t.Fatalf("openDuckDBSink: %v, want errNoDuckDB", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tb := flow.Table{Pipeline: "p", Name: "t", Values: []flow.Column{{Name: "n", Type: flow.Int}}}
	if err := s.Open(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(t.Context(), tb, []flow.Row{{Values: []any{int64(1)}, Final: true}}); err != nil {
		t.Fatal(err)
	}
}
