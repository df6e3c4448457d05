// Package jetstream is Sluice's storage backend: kinesis.Log and
// kinesis.MetaStore over NATS JetStream, either embedded in the process
// (nats-server as a library, no listener, files under a data dir) or an
// external JetStream cluster shared by several Sluice servers.
//
// Mapping:
//
//	log "KDS-42"        stream KDS-42, subject sluice.log.KDS-42, file storage,
//	                    limits retention, discard old, max_age, allow_direct
//	Append              one message, acknowledged once stored (fsync before ack)
//	Read                batch direct get $JS.API.DIRECT.GET.KDS-42 {"seq","batch","max_bytes"}
//	SeekTime            direct get {"start_time"}
//	meta key "a/b.c"    KV bucket sluice_meta, key a/b=2Ec (bytes outside
//	                    [A-Za-z0-9_/-] become =XX), History 1
//
// Durability: the embedded server always runs with SyncAlways (an
// acknowledgement means the message is on disk). An external cluster must
// run every server with `sync_interval: always`; this package cannot check
// that.
//
// Consistency: direct gets may be answered by any replica, so in a cluster
// a Read or List right after an acknowledged write may not see it yet.
// Right after a stream is created no replica may serve direct gets at all;
// reads then ask again, with a short backoff, until their context ends.
// Metadata Get reads from the stream leader, so Get then Update (CAS) sees
// the caller's own writes.
package jetstream
