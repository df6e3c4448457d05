// Package faults is Sluice's fault-injection harness: a 3-node NATS
// JetStream cluster of real nats-server processes (built from the
// nats-server module), with every client and route connection through a
// TCP proxy the harness can cut; two `sluice serve` processes over it;
// writers that log every acknowledgement; and a checker that reads
// everything back. Each scenario injects one fault (SIGKILL or SIGSTOP of
// a node, of the meta leader, of a sluice server; two nodes down; a full
// disk; a node cut off by the network) under load and reports lost
// records (must be 0), reordered ones (must be 0), duplicates (each
// explained by an attempt that got no answer) and the longest time
// without an acknowledged write.
//
// `go test ./e2e/faults` runs the short form (a few scenarios, once; it is
// part of `go test ./...`); docs/cluster.md gives the command of the long
// form (every scenario, 20 runs) and what it measured.
package faults
