// Package kinesis is the domain core of Sluice: streams, shards, records,
// hash keys, sequence numbers, limits and the errors the Kinesis API speaks
// of, plus the service and storage interfaces the rest of the server is built
// around.
//
// It imports nothing but the standard library, so that every other package
// (the protocol layer, the broker, the storage backends) can depend on it
// without depending on each other.
package kinesis
