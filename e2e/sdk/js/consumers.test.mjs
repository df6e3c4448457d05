// Enhanced fan-out consumers' control plane (registration, not
// SubscribeToShard), and the other stream settings the JavaScript SDK
// sends by StreamARN.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newClient, send, streamName, createStream, rejectsWith, waitUntil } from './helpers.mjs';

test('register, describe, list and deregister consumers', async () => {
  const c = newClient();
  const name = streamName('consumers');
  await createStream(c, name, 1);
  const arn = (await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary.StreamARN;

  const before = Date.now();
  const reg = (await send(c, 'RegisterStreamConsumer', { StreamARN: arn, ConsumerName: 'reader' })).Consumer;
  const after = Date.now();
  assert.equal(reg.ConsumerName, 'reader');
  assert.match(reg.ConsumerARN, new RegExp(`^${arn}/consumer/reader:\\d+$`));
  // The ARN's suffix is the creation time in epoch seconds, and
  // ConsumerCreationTimestamp the same moment as a Date.
  const created = reg.ConsumerCreationTimestamp;
  assert.ok(created instanceof Date);
  assert.ok(created.getTime() >= before - 1000 && created.getTime() <= after + 1000, `ConsumerCreationTimestamp ${created.toISOString()} is not now`);
  assert.equal(Number(reg.ConsumerARN.split(':').at(-1)), Math.floor(created.getTime() / 1000));

  await waitUntil(async () => (await send(c, 'DescribeStreamConsumer', { ConsumerARN: reg.ConsumerARN })).ConsumerDescription.ConsumerStatus === 'ACTIVE', 'the consumer ACTIVE');
  const byName = (await send(c, 'DescribeStreamConsumer', { StreamARN: arn, ConsumerName: 'reader' })).ConsumerDescription;
  assert.equal(byName.ConsumerARN, reg.ConsumerARN);
  assert.equal(byName.StreamARN, arn);
  assert.equal(byName.ConsumerCreationTimestamp.getTime(), created.getTime());

  await send(c, 'RegisterStreamConsumer', { StreamARN: arn, ConsumerName: 'another' });
  const listed = await send(c, 'ListStreamConsumers', { StreamARN: arn, MaxResults: 1 });
  assert.equal(listed.Consumers.length, 1);
  assert.ok(listed.NextToken);
  const rest = await send(c, 'ListStreamConsumers', { StreamARN: arn, NextToken: listed.NextToken });
  assert.deepEqual([...listed.Consumers, ...rest.Consumers].map((x) => x.ConsumerName).sort(), ['another', 'reader']);
  // StreamCreationTimestamp, as the SDK got it, picks this stream.
  const streamCreated = (await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary.StreamCreationTimestamp;
  assert.equal((await send(c, 'ListStreamConsumers', { StreamARN: arn, StreamCreationTimestamp: streamCreated })).Consumers.length, 2);
  await rejectsWith(send(c, 'ListStreamConsumers', { StreamARN: arn, StreamCreationTimestamp: new Date(streamCreated.getTime() - 1000) }), 'ResourceNotFoundException');

  await rejectsWith(send(c, 'RegisterStreamConsumer', { StreamARN: arn, ConsumerName: 'reader' }), 'ResourceInUseException');
  // A stream with consumers is deleted only with EnforceConsumerDeletion.
  await rejectsWith(send(c, 'DeleteStream', { StreamName: name }), 'ResourceInUseException');

  await send(c, 'DeregisterStreamConsumer', { ConsumerARN: reg.ConsumerARN });
  await waitUntil(async () => {
    try {
      await send(c, 'DescribeStreamConsumer', { ConsumerARN: reg.ConsumerARN });
      return false;
    } catch (e) {
      return e.name === 'ResourceNotFoundException';
    }
  }, 'the consumer to be gone');
  await send(c, 'DeleteStream', { StreamName: name, EnforceConsumerDeletion: true });
});

test('monitoring, resource policy, record size and account settings', async () => {
  const c = newClient();
  const name = streamName('settings');
  await createStream(c, name, 1);
  const arn = (await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary.StreamARN;

  const mon = await send(c, 'EnableEnhancedMonitoring', { StreamARN: arn, ShardLevelMetrics: ['IncomingBytes'] });
  assert.deepEqual(mon.DesiredShardLevelMetrics, ['IncomingBytes']);
  const off = await send(c, 'DisableEnhancedMonitoring', { StreamName: name, ShardLevelMetrics: ['ALL'] });
  assert.deepEqual(off.DesiredShardLevelMetrics, []);

  const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:root' }, Action: 'kinesis:GetRecords', Resource: arn }] });
  await send(c, 'PutResourcePolicy', { ResourceARN: arn, Policy: policy });
  assert.deepEqual(JSON.parse((await send(c, 'GetResourcePolicy', { ResourceARN: arn })).Policy), JSON.parse(policy));
  await rejectsWith(send(c, 'PutResourcePolicy', { ResourceARN: arn, Policy: 'not json' }), 'InvalidArgumentException');
  await send(c, 'DeleteResourcePolicy', { ResourceARN: arn });

  // Records up to 2 MiB once the stream allows them.
  const big = new Uint8Array((1 << 20) + 10).fill(7);
  await rejectsWith(send(c, 'PutRecord', { StreamName: name, PartitionKey: 'k', Data: big }), 'InvalidArgumentException');
  await send(c, 'UpdateMaxRecordSize', { StreamARN: arn, MaxRecordSizeInKiB: 2048 });
  assert.equal((await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary.MaxRecordSizeInKiB, 2048);
  const put = await send(c, 'PutRecord', { StreamName: name, PartitionKey: 'k', Data: big });
  assert.match(put.SequenceNumber, /^\d+$/);
  await rejectsWith(send(c, 'UpdateMaxRecordSize', { StreamARN: arn, MaxRecordSizeInKiB: 100 }), 'ValidationException');

  const settings = await send(c, 'DescribeAccountSettings', {});
  assert.equal(typeof settings.MinimumThroughputBillingCommitment?.Status, 'string');
});
