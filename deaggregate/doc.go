// Package deaggregate turns Kinesis records into the user records they
// carry, undoing the aggregation of the Kinesis Producer Library (KPL), of
// this module's producer package and of every library that writes the same
// format.
//
// An aggregated record is the concatenation of a magic number, a protobuf
// message and the MD5 digest of that message:
//
//	+-------------+--------------------------------+------------------+
//	| F3 89 9A C2 | protobuf AggregatedRecord      | MD5(protobuf)    |
//	|  4 bytes    |  partition_key_table     (1)   |  16 bytes        |
//	|             |  explicit_hash_key_table (2)   |                  |
//	|             |  records                 (3)   |                  |
//	|             |    partition_key_index     (1) |                  |
//	|             |    explicit_hash_key_index (2) |                  |
//	|             |    data                    (3) |                  |
//	|             |    tags                    (4) |                  |
//	+-------------+--------------------------------+------------------+
//
// Each user record keeps the sequence number of the Kinesis record that
// carried it and gets a sub-sequence number, its index in the aggregate.
// Plain records pass through with sub-sequence number 0 and Aggregated
// false.
//
// Like the Kinesis Client Library, the package is lenient: a record whose
// magic number, protobuf or digest does not check out, or whose key indexes
// point outside its tables, is passed through whole as a plain record rather
// than failing the batch, since a producer may legitimately write data that
// merely starts with the magic bytes.
//
// After a reshard, an aggregate written with an old shard map may land on
// a shard that does not own all its user records' hash keys: the producer
// predicted one shard for all of them. [RecordsInRange] drops such an
// aggregate whole when a user record's effective hash key (the explicit
// hash key, or else the MD5 of the partition key read as a 128-bit
// big-endian number) lies outside the shard's range, exactly as the KCL's
// AggregatorUtil does, so that a shard yields the same user records to
// this package and to the KCL. Producers that see an aggregate land so (the
// KPL, this module's producer) put all its records again, and each is then
// processed once.
package deaggregate
