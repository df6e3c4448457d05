// Error shapes as the JavaScript SDK surfaces them: typed exceptions with
// the AWS name, HTTP status, fault and request id.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sdk, newClient, send, streamName, createStream, bytes, rejectsWith } from './helpers.mjs';

test('errors come back as typed exceptions', async () => {
  const c = newClient();
  const name = streamName('errors');
  const [shard] = await createStream(c, name, 1);

  // ResourceNotFoundException for a stream that is not there, as the
  // SDK's own class.
  const missing = streamName('missing');
  const rnf = await rejectsWith(send(c, 'DescribeStream', { StreamName: missing }), 'ResourceNotFoundException');
  assert.ok(rnf instanceof sdk.ResourceNotFoundException);
  assert.ok(rnf.message.includes(missing), `message does not name the stream: ${rnf.message}`);
  await rejectsWith(send(c, 'PutRecord', { StreamName: missing, PartitionKey: 'k', Data: bytes('x') }), 'ResourceNotFoundException');
  await rejectsWith(send(c, 'GetShardIterator', { StreamName: name, ShardId: 'shardId-000000000007', ShardIteratorType: 'TRIM_HORIZON' }), 'ResourceNotFoundException');

  // ResourceInUseException for a name that is taken.
  const inUse = await rejectsWith(send(c, 'CreateStream', { StreamName: name, ShardCount: 1 }), 'ResourceInUseException');
  assert.ok(inUse instanceof sdk.ResourceInUseException);

  // InvalidArgumentException: a sequence number iterator without a
  // sequence number, a partition key too long, a retention too high.
  const ia = await rejectsWith(send(c, 'GetShardIterator', { StreamName: name, ShardId: shard.ShardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER' }), 'InvalidArgumentException');
  assert.ok(ia instanceof sdk.InvalidArgumentException);
  await rejectsWith(send(c, 'IncreaseStreamRetentionPeriod', { StreamName: name, RetentionPeriodHours: 9000 }), 'InvalidArgumentException');
  await rejectsWith(send(c, 'GetShardIterator', { StreamName: name, ShardId: shard.ShardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: '1' + '0'.repeat(60) }), 'InvalidArgumentException');

  // ValidationException: what the model constrains (a partition key
  // longer than 256, an enum value that does not exist, too many records).
  const ve = await rejectsWith(send(c, 'PutRecord', { StreamName: name, PartitionKey: 'k'.repeat(257), Data: bytes('x') }), 'ValidationException');
  assert.ok(ve instanceof sdk.ValidationException);
  await rejectsWith(send(c, 'GetShardIterator', { StreamName: name, ShardId: shard.ShardId, ShardIteratorType: 'SIDEWAYS' }), 'ValidationException');
  await rejectsWith(send(c, 'PutRecords', { StreamName: name, Records: Array.from({ length: 501 }, () => ({ PartitionKey: 'k', Data: bytes('x') })) }), 'ValidationException');
  await rejectsWith(send(c, 'CreateStream', { StreamName: 'bad name!', ShardCount: 1 }), 'ValidationException');

  // ExpiredIteratorException is for old iterators; a malformed one is
  // InvalidArgumentException.
  await rejectsWith(send(c, 'GetRecords', { ShardIterator: 'not-an-iterator' }), 'InvalidArgumentException');

  // A record bigger than the stream's 1 MiB limit (within the model's
  // 10 MiB, so not a ValidationException).
  const big = await rejectsWith(send(c, 'PutRecord', { StreamName: name, PartitionKey: 'k', Data: new Uint8Array((1 << 20) + 1) }), 'InvalidArgumentException');
  assert.match(big.message, /exceeds the maximum record size/);
});
