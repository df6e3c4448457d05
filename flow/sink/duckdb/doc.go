// Package duckdb is a flow sink that upserts window results into tables of a
// DuckDB database file, the embedded warehouse: no server to run, and the
// file is queried with the duckdb CLI or any DuckDB client.
//
// Each result table (flow.Table) is one SQL table laid out by sqltable: the
// pipeline, window_start and window_end (TIMESTAMP, in UTC), the keys, the
// values, final and updated_at, with the primary key (pipeline,
// window_start, window_end, keys…). Write upserts a batch in one transaction
// with INSERT … ON CONFLICT DO UPDATE, so a replayed batch leaves the same
// rows.
//
// # One file, many processes
//
// DuckDB lets one process at a time open a file read-write (or any number
// read-only), with a lock on the file. A pipeline scales out by running in
// several processes, and users query the file while it runs, so by default
// the sink holds the file only while it writes: each Write attaches the file
// to an in-memory DuckDB, upserts, commits and detaches it (a checkpoint),
// waiting with a bounded, jittered back-off while another process holds it
// (WithLockTimeout). Between writes the file is free: other workers of the
// pipeline write their batches, and a reader opens it read-only, runs its
// queries and lets go:
//
//	duckdb -readonly results.duckdb -c 'SELECT * FROM views ORDER BY window_start DESC LIMIT 10'
//
// A reader that keeps the file open (an interactive session) holds every
// writer back until it closes it; from a session that lasts, attach the
// file for each query (ATTACH 'results.duckdb' AS r (READ_ONLY); … DETACH r).
// WithExclusive keeps the file attached from New to Close instead: fastest,
// but no other process can open the file, not even to read it.
//
// # Durability
//
// DuckDB writes a commit to its write-ahead log and fdatasyncs it before the
// commit returns; detaching checkpoints the log into the file (fdatasync
// again) and removes it. DuckDB does not sync the directory when it creates
// the log or the file, so the sink does, after every write: when Write
// returns nil the rows survive a crash of the process or of the machine.
//
// Within one process, DuckDB does not keep two instances that open the same
// file apart (its lock is per process), so the Sinks of one process on one
// file take turns by themselves; do not open a file a Sink writes to with
// another DuckDB instance in the same process.
//
// # Building
//
// DuckDB is a C++ library linked through cgo: building this package needs a
// C and C++ compiler, and adds DuckDB's static library (about 90 MB) to the
// binary. Without cgo (CGO_ENABLED=0) the package is empty.
package duckdb
