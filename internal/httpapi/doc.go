// Package httpapi serves the Amazon Kinesis Data Streams API over HTTP in
// the AWS JSON 1.1 protocol and its CBOR variant, so that unmodified AWS
// SDKs and the AWS CLI can talk to Sluice. Its Handler is an
// http.Handler; the server decides which HTTP versions carry it (HTTP/1.1,
// h2c, h2 over TLS).
//
// A request goes through these steps, and the first that fails answers:
//
//	POST /  X-Amz-Target: Kinesis_20131202.PutRecords
//	   │    Content-Type: application/x-amz-json-1.1
//	   ▼
//	method, size, target, content type, auth   (handler.go)
//	   ▼
//	decode body into a wire struct             (codec.go, json_decode.go)   → SerializationException
//	   ▼
//	model constraints                          (validate.go)                → ValidationException
//	   ▼
//	input checks                               (one file per operation)     → InvalidArgumentException
//	   ▼
//	kinesis.Service call                                                    → its *kinesis.Error, or 500
//	   ▼
//	encode response                            (codec.go, json_encode.go)
//
// SubscribeToShard instead answers with an event stream
// (subscribe_to_shard.go): errors found before the service's feed starts
// are ordinary error responses, later ones exception events.
//
// Errors are {"__type": "<Code>", "message": "…"} with the code also in
// X-Amzn-ErrorType and the HTTP status of the code; every response carries
// x-amzn-RequestId and x-amz-id-2. Failures that are not a *kinesis.Error
// are logged and answered 500 InternalFailureException without their text.
//
// # Which layer checks what
//
// This package checks everything that can be judged from the request
// alone, so the service can trust its input:
//   - every model constraint (required, length, pattern, range, enum) of
//     the members it passes on, in AWS's words;
//   - that a stream-scoped request names its stream by StreamName or
//     StreamARN (or both);
//   - PutRecord(s): ExplicitHashKey ≤ 2^128-1, and the total of data and
//     partition keys of a PutRecords request ≤ kinesis.MaxPutRecordsBytes;
//   - GetShardIterator and SubscribeToShard: the iterator type's companion members (a
//     StartingSequenceNumber exactly for AT_/AFTER_SEQUENCE_NUMBER, a
//     Timestamp for AT_TIMESTAMP); only the members the type uses are passed;
//   - ListShards: NextToken xor a stream, NextToken without
//     ExclusiveStartShardId or StreamCreationTimestamp, and a ShardFilter's
//     ShardId or Timestamp as its type needs;
//   - tag characters (letters, digits, spaces, _ . / = + - % @);
//   - page sizes: ListStreams' limit is capped at 100 and ListShards' at
//     1000 before the service sees them; DescribeStream and
//     ListTagsForStream page the full lists the service returns.
//
// The service checks everything that needs state or a clock: that streams,
// shards and resources exist; a StreamName and StreamARN that disagree;
// stream status (CREATING, ACTIVE, …); CreateStream's shard count for the
// mode, name clashes and limits; retention bounds (24..8760 h) and
// direction; the per-stream record size (data plus partition key within
// MaxRecordSizeInKiB); sequence numbers belonging to the shard
// (StartingSequenceNumber, SequenceNumberForOrdering); AT_TIMESTAMP in the
// future; iterator and NextToken validity and expiry; the 50-tags-per-stream
// limit; throttling.
//
// # Codecs
//
// Wire structs are plain Go structs with `json` tags naming the AWS members.
// JSON is decoded by encoding/json, except PutRecords bodies and
// GetRecords/PutRecords responses, which have hand-written, allocation-lean
// code paths checked against encoding/json by fuzzing. The CBOR variant
// (application/x-amz-cbor-1.1), the Java SDKs' default, decodes into the
// same wire structs by reflection and answers in CBOR: blobs are byte
// strings and timestamps tag 1 with epoch milliseconds (codec_cbor.go).
package httpapi
