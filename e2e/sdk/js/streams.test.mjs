// The stream control plane: create, describe, list, retention, tags and
// delete, as the JavaScript SDK sends and reads them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sdk, newClient, send, streamName, createStream, rejectsWith, waitUntil } from './helpers.mjs';

test('create, describe, list and delete a stream', async () => {
  const c = newClient();
  const name = streamName('streams');
  const before = Date.now();
  await send(c, 'CreateStream', { StreamName: name, ShardCount: 3, Tags: { team: 'js' } });
  const waited = await sdk.waitUntilStreamExists({ client: c, minDelay: 1, maxWaitTime: 60 }, { StreamName: name });
  assert.equal(waited.state, 'SUCCESS');
  const after = Date.now();

  const d = (await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary;
  assert.equal(d.StreamName, name);
  assert.equal(d.StreamStatus, 'ACTIVE');
  assert.equal(d.OpenShardCount, 3);
  assert.equal(d.RetentionPeriodHours, 24);
  assert.equal(d.StreamModeDetails?.StreamMode, 'PROVISIONED');
  assert.match(d.StreamARN, new RegExp(`^arn:aws:kinesis:us-east-1:\\d{12}:stream/${name}$`));
  // StreamCreationTimestamp is a Date of this very moment, in whole
  // seconds as AWS gives it.
  assert.ok(d.StreamCreationTimestamp instanceof Date);
  const created = d.StreamCreationTimestamp.getTime();
  assert.equal(created % 1000, 0, `StreamCreationTimestamp ${d.StreamCreationTimestamp.toISOString()} is not whole seconds`);
  assert.ok(created >= before - 1000 && created <= after + 1000, `StreamCreationTimestamp ${d.StreamCreationTimestamp.toISOString()} is not now`);

  const full = (await send(c, 'DescribeStream', { StreamName: name, Limit: 2 })).StreamDescription;
  assert.equal(full.Shards.length, 2);
  assert.equal(full.HasMoreShards, true);
  assert.equal(full.StreamCreationTimestamp.getTime(), created);
  const rest = (await send(c, 'DescribeStream', { StreamName: name, ExclusiveStartShardId: full.Shards[1].ShardId })).StreamDescription;
  assert.deepEqual(rest.Shards.map((s) => s.ShardId), ['shardId-000000000002']);
  assert.equal(rest.HasMoreShards, false);

  // ListStreams with the SDK's paginator finds it, with a summary.
  const names = [];
  const summaries = [];
  for await (const page of sdk.paginateListStreams({ client: c, pageSize: 1 }, {})) {
    names.push(...page.StreamNames);
    summaries.push(...(page.StreamSummaries ?? []));
  }
  assert.ok(names.includes(name), `ListStreams does not list ${name}`);
  const summary = summaries.find((s) => s.StreamName === name);
  assert.equal(summary?.StreamARN, d.StreamARN);
  assert.equal(summary?.StreamCreationTimestamp?.getTime(), created);

  // Retention up and down.
  await send(c, 'IncreaseStreamRetentionPeriod', { StreamName: name, RetentionPeriodHours: 48 });
  assert.equal((await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary.RetentionPeriodHours, 48);
  await send(c, 'DecreaseStreamRetentionPeriod', { StreamName: name, RetentionPeriodHours: 24 });
  await rejectsWith(send(c, 'DecreaseStreamRetentionPeriod', { StreamName: name, RetentionPeriodHours: 12 }), 'InvalidArgumentException');

  // DescribeLimits answers numbers.
  const limits = await send(c, 'DescribeLimits', {});
  assert.ok(limits.ShardLimit > 0 && limits.OpenShardCount >= 3);

  // Delete; the SDK's waiter sees it go.
  await send(c, 'DeleteStream', { StreamName: name });
  const gone = await sdk.waitUntilStreamNotExists({ client: c, minDelay: 1, maxWaitTime: 60 }, { StreamName: name });
  assert.equal(gone.state, 'SUCCESS');
  await rejectsWith(send(c, 'DescribeStreamSummary', { StreamName: name }), 'ResourceNotFoundException');
});

test('tags by stream name and by ARN', async () => {
  const c = newClient();
  const name = streamName('tags');
  await createStream(c, name, 1);
  const arn = (await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary.StreamARN;

  await send(c, 'AddTagsToStream', { StreamName: name, Tags: { a: '1', b: '2', c: '3' } });
  const first = await send(c, 'ListTagsForStream', { StreamName: name, Limit: 2 });
  assert.deepEqual(first.Tags, [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }]);
  assert.equal(first.HasMoreTags, true);
  const second = await send(c, 'ListTagsForStream', { StreamName: name, ExclusiveStartTagKey: 'b' });
  assert.deepEqual(second.Tags, [{ Key: 'c', Value: '3' }]);
  assert.equal(second.HasMoreTags, false);

  await send(c, 'RemoveTagsFromStream', { StreamName: name, TagKeys: ['b'] });
  await send(c, 'TagResource', { ResourceARN: arn, Tags: { d: '4' } });
  await send(c, 'UntagResource', { ResourceARN: arn, TagKeys: ['a'] });
  const byArn = await send(c, 'ListTagsForResource', { ResourceARN: arn });
  assert.deepEqual(byArn.Tags, [{ Key: 'c', Value: '3' }, { Key: 'd', Value: '4' }]);
  const byStreamArn = await send(c, 'ListTagsForStream', { StreamARN: arn });
  assert.deepEqual(byStreamArn.Tags.map((t) => t.Key), ['c', 'd']);

  // More than 50 tags on a stream is refused.
  const many = Object.fromEntries(Array.from({ length: 49 }, (_, i) => [`k${i}`, 'v']));
  await rejectsWith(send(c, 'AddTagsToStream', { StreamName: name, Tags: many }), 'InvalidArgumentException');

  await send(c, 'DeleteStream', { StreamName: name });
  await waitUntil(async () => {
    try {
      await send(c, 'DescribeStreamSummary', { StreamName: name });
      return false;
    } catch (e) {
      return e.name === 'ResourceNotFoundException';
    }
  }, 'the stream to be gone');
});
