// UpdateShardCount, UpdateStreamMode and stream encryption, as the
// JavaScript SDK sends them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newClient, send, streamName, createStream, listAllShards, iterator, readToEnd, text, bytes, rejectsWith, waitUntil } from './helpers.mjs';

const status = async (c, name) => (await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary;

test('UpdateShardCount and UpdateStreamMode', async () => {
  const c = newClient();
  const name = streamName('scale');
  await createStream(c, name, 2);
  await send(c, 'PutRecords', { StreamName: name, Records: Array.from({ length: 20 }, (_, i) => ({ PartitionKey: `k${i}`, Data: bytes(`before ${i}`) })) });

  const out = await send(c, 'UpdateShardCount', { StreamName: name, TargetShardCount: 4, ScalingType: 'UNIFORM_SCALING' });
  assert.equal(out.CurrentShardCount, 2);
  assert.equal(out.TargetShardCount, 4);
  assert.equal(out.StreamName, name);
  await waitUntil(async () => (await status(c, name)).StreamStatus === 'ACTIVE', 'ACTIVE after UpdateShardCount', 120000);
  assert.equal((await status(c, name)).OpenShardCount, 4);
  await send(c, 'PutRecords', { StreamName: name, Records: Array.from({ length: 20 }, (_, i) => ({ PartitionKey: `k${i}`, Data: bytes(`after ${i}`) })) });

  // Every record is there, read shard by shard.
  const shards = await listAllShards(c, { StreamName: name });
  let total = 0;
  for (const s of shards) {
    total += (await readToEnd(c, await iterator(c, name, s.ShardId, 'TRIM_HORIZON'))).records.length;
  }
  assert.equal(total, 40);
  // More than double is refused.
  await rejectsWith(send(c, 'UpdateShardCount', { StreamName: name, TargetShardCount: 9, ScalingType: 'UNIFORM_SCALING' }), 'LimitExceededException');

  // ON_DEMAND and back, by StreamARN.
  const arn = (await status(c, name)).StreamARN;
  await send(c, 'UpdateStreamMode', { StreamARN: arn, StreamModeDetails: { StreamMode: 'ON_DEMAND' } });
  await waitUntil(async () => (await status(c, name)).StreamModeDetails?.StreamMode === 'ON_DEMAND', 'ON_DEMAND');
  await waitUntil(async () => (await status(c, name)).StreamStatus === 'ACTIVE', 'ACTIVE after UpdateStreamMode');
  await rejectsWith(send(c, 'UpdateStreamMode', { StreamARN: arn, StreamModeDetails: { StreamMode: 'ON_DEMAND' } }), 'InvalidArgumentException');
  await rejectsWith(send(c, 'UpdateShardCount', { StreamName: name, TargetShardCount: 2, ScalingType: 'UNIFORM_SCALING' }), 'ValidationException');
  await send(c, 'UpdateStreamMode', { StreamARN: arn, StreamModeDetails: { StreamMode: 'PROVISIONED' } });
  await waitUntil(async () => (await status(c, name)).StreamModeDetails?.StreamMode === 'PROVISIONED', 'PROVISIONED');
});

test('StartStreamEncryption and StopStreamEncryption', async () => {
  const c = newClient();
  const name = streamName('crypto');
  const [shard] = await createStream(c, name, 1);
  const plain = await send(c, 'PutRecord', { StreamName: name, PartitionKey: 'k', Data: bytes('plain') });
  assert.equal(plain.EncryptionType ?? 'NONE', 'NONE');

  await send(c, 'StartStreamEncryption', { StreamName: name, EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' });
  await waitUntil(async () => (await status(c, name)).StreamStatus === 'ACTIVE', 'ACTIVE after StartStreamEncryption');
  const d = await status(c, name);
  assert.equal(d.EncryptionType, 'KMS');
  assert.equal(d.KeyId, 'alias/aws/kinesis');
  const secret = await send(c, 'PutRecord', { StreamName: name, PartitionKey: 'k', Data: bytes('secret') });
  assert.equal(secret.EncryptionType, 'KMS');
  const batch = await send(c, 'PutRecords', { StreamName: name, Records: [{ PartitionKey: 'k', Data: bytes('batch') }] });
  assert.equal(batch.EncryptionType, 'KMS');

  await send(c, 'StopStreamEncryption', { StreamName: name, EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' });
  await waitUntil(async () => (await status(c, name)).StreamStatus === 'ACTIVE', 'ACTIVE after StopStreamEncryption');
  assert.equal((await status(c, name)).EncryptionType, 'NONE');
  await send(c, 'PutRecord', { StreamName: name, PartitionKey: 'k', Data: bytes('plain again') });

  const { records } = await readToEnd(c, await iterator(c, name, shard.ShardId, 'TRIM_HORIZON'));
  assert.deepEqual(records.map((r) => [text(r.Data), r.EncryptionType ?? 'NONE']),
    [['plain', 'NONE'], ['secret', 'KMS'], ['batch', 'KMS'], ['plain again', 'NONE']]);

  await rejectsWith(send(c, 'StartStreamEncryption', { StreamName: name, EncryptionType: 'KMS', KeyId: 'alias/no-such-key' }), 'KMSNotFoundException');
});
