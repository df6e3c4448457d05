// SplitShard and MergeShards, read parents before children through
// ChildShards, and ListShards with every ShardFilter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newClient, send, streamName, createStream, listAllShards, iterator, readToEnd, text, bytes, rejectsWith, waitUntil } from './helpers.mjs';

const id = (n) => `shardId-${String(n).padStart(12, '0')}`;

// readClosed reads a closed shard to its end: the last response has
// ChildShards and no NextShardIterator.
async function readClosed(c, name, shardId) {
  const { records, last } = await readToEnd(c, await iterator(c, name, shardId, 'TRIM_HORIZON'));
  assert.equal(last.NextShardIterator, undefined, `closed ${shardId} still gives a NextShardIterator`);
  assert.ok(Array.isArray(last.ChildShards) && last.ChildShards.length > 0, `closed ${shardId} read to its end gives no ChildShards`);
  return { records, children: last.ChildShards };
}

test('split and merge, parents read before children', async () => {
  const c = newClient();
  const name = streamName('reshard');
  await createStream(c, name, 1);
  const created = (await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary.StreamCreationTimestamp;

  // Ten keys, numbered per key, in each round.
  const next = {};
  const put = async (round) => {
    const Records = [];
    for (let k = 0; k < 10; k++) {
      const key = `key-${k}`;
      next[key] = (next[key] ?? -1) + 1;
      Records.push({ PartitionKey: key, Data: bytes(`${key}/${next[key]}/${round}`) });
    }
    const out = await send(c, 'PutRecords', { StreamName: name, Records });
    assert.equal(out.FailedRecordCount ?? 0, 0);
  };
  await put('a');

  const mid = 1n << 127n;
  await send(c, 'SplitShard', { StreamName: name, ShardToSplit: id(0), NewStartingHashKey: mid.toString() });
  await waitUntil(async () => (await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary.StreamStatus === 'ACTIVE', 'ACTIVE after the split');
  const afterSplit = new Date();
  await put('b');

  // A closed shard cannot be split again.
  await rejectsWith(send(c, 'SplitShard', { StreamName: name, ShardToSplit: id(0), NewStartingHashKey: mid.toString() }), 'InvalidArgumentException');

  // Merge the two children back, in a later millisecond than afterSplit.
  await waitUntil(() => Date.now() > afterSplit.getTime() + 1, 'the clock to pass afterSplit');
  await send(c, 'MergeShards', { StreamName: name, ShardToMerge: id(1), AdjacentShardToMerge: id(2) });
  await waitUntil(async () => (await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary.StreamStatus === 'ACTIVE', 'ACTIVE after the merge');
  await put('c');

  // The lineage, as ListShards shows it.
  const shards = await listAllShards(c, { StreamName: name });
  assert.deepEqual(shards.map((s) => s.ShardId), [id(0), id(1), id(2), id(3)]);
  const [parent, low, high, merged] = shards;
  assert.equal(parent.ParentShardId, undefined);
  assert.equal(low.ParentShardId, id(0));
  assert.equal(high.ParentShardId, id(0));
  assert.equal(merged.ParentShardId, id(1));
  assert.equal(merged.AdjacentParentShardId, id(2));
  for (const s of [parent, low, high]) assert.match(s.SequenceNumberRange.EndingSequenceNumber ?? '', /^\d+$/, `${s.ShardId} is not closed`);
  assert.equal(merged.SequenceNumberRange.EndingSequenceNumber, undefined);
  assert.equal(low.HashKeyRange.StartingHashKey, '0');
  assert.equal(low.HashKeyRange.EndingHashKey, (mid - 1n).toString());
  assert.equal(high.HashKeyRange.StartingHashKey, mid.toString());
  assert.equal(merged.HashKeyRange.StartingHashKey, '0');
  assert.equal(merged.HashKeyRange.EndingHashKey, ((1n << 128n) - 1n).toString());

  // Read parents, then children, following ChildShards: every record once,
  // each key in order.
  const p = await readClosed(c, name, id(0));
  assert.deepEqual(p.children.map((ch) => ch.ShardId).sort(), [id(1), id(2)]);
  for (const ch of p.children) {
    assert.deepEqual(ch.ParentShards, [id(0)]);
    assert.ok(ch.HashKeyRange?.StartingHashKey !== undefined);
  }
  const lo = await readClosed(c, name, id(1));
  const hi = await readClosed(c, name, id(2));
  for (const r of [lo, hi]) {
    assert.deepEqual(r.children.map((ch) => ch.ShardId), [id(3)]);
    assert.deepEqual([...r.children[0].ParentShards].sort(), [id(1), id(2)]);
  }
  const { records: tail, last } = await readToEnd(c, await iterator(c, name, id(3), 'TRIM_HORIZON'));
  assert.ok(last.NextShardIterator, 'the open child has no NextShardIterator');
  const seen = {};
  let total = 0;
  for (const r of [...p.records, ...lo.records, ...hi.records, ...tail]) {
    const [key, n] = text(r.Data).split('/');
    assert.equal(Number(n), (seen[key] ?? -1) + 1, `key ${key}: record ${n} read after ${seen[key]}`);
    seen[key] = Number(n);
    total++;
  }
  assert.equal(total, 30);
  assert.deepEqual(p.records.map((r) => text(r.Data).split('/')[2]), Array(10).fill('a'));

  // ListShards with every ShardFilter.
  const ids = async (ShardFilter) => (await listAllShards(c, { StreamName: name, ShardFilter })).map((s) => s.ShardId);
  assert.deepEqual(await ids({ Type: 'FROM_TRIM_HORIZON' }), [id(0), id(1), id(2), id(3)]);
  assert.deepEqual(await ids({ Type: 'AT_TRIM_HORIZON' }), [id(0)]);
  assert.deepEqual(await ids({ Type: 'AT_LATEST' }), [id(3)]);
  assert.deepEqual(await ids({ Type: 'AFTER_SHARD_ID', ShardId: id(1) }), [id(2), id(3)]);
  // Timestamps go out as Dates; wrong units would land in 1970 or far in
  // the future and pick other shards.
  assert.deepEqual(await ids({ Type: 'AT_TIMESTAMP', Timestamp: created }), [id(0)]);
  assert.deepEqual(await ids({ Type: 'AT_TIMESTAMP', Timestamp: new Date() }), [id(3)]);
  assert.deepEqual(await ids({ Type: 'FROM_TIMESTAMP', Timestamp: created }), [id(0), id(1), id(2), id(3)]);
  assert.deepEqual(await ids({ Type: 'FROM_TIMESTAMP', Timestamp: new Date() }), [id(3)]);
  assert.deepEqual(await ids({ Type: 'FROM_TIMESTAMP', Timestamp: afterSplit }), [id(1), id(2), id(3)]);
  // ExclusiveStartShardId and StreamCreationTimestamp.
  const page = await send(c, 'ListShards', { StreamName: name, ExclusiveStartShardId: id(2), StreamCreationTimestamp: created });
  assert.deepEqual(page.Shards.map((s) => s.ShardId), [id(3)]);
  // A filter that needs a ShardId or a Timestamp without one.
  await rejectsWith(send(c, 'ListShards', { StreamName: name, ShardFilter: { Type: 'AFTER_SHARD_ID' } }), 'InvalidArgumentException');
  await rejectsWith(send(c, 'ListShards', { StreamName: name, ShardFilter: { Type: 'AT_TIMESTAMP' } }), 'InvalidArgumentException');

  // DescribeStream shows the same lineage.
  const desc = (await send(c, 'DescribeStream', { StreamName: name })).StreamDescription;
  assert.deepEqual(desc.Shards.map((s) => s.ShardId), [id(0), id(1), id(2), id(3)]);
  assert.equal(desc.HasMoreShards, false);
  const summary = (await send(c, 'DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary;
  assert.equal(summary.OpenShardCount, 1);
});

test('resharding errors', async () => {
  const c = newClient();
  const name = streamName('reshard-errors');
  await createStream(c, name, 3);
  // Not adjacent.
  await rejectsWith(send(c, 'MergeShards', { StreamName: name, ShardToMerge: id(0), AdjacentShardToMerge: id(2) }), 'InvalidArgumentException');
  // No such shard.
  await rejectsWith(send(c, 'MergeShards', { StreamName: name, ShardToMerge: id(0), AdjacentShardToMerge: id(9) }), 'ResourceNotFoundException');
  await rejectsWith(send(c, 'SplitShard', { StreamName: name, ShardToSplit: id(9), NewStartingHashKey: '5' }), 'ResourceNotFoundException');
  // A hash key outside the shard, and one that is not a number.
  await rejectsWith(send(c, 'SplitShard', { StreamName: name, ShardToSplit: id(1), NewStartingHashKey: '0' }), 'InvalidArgumentException');
  await rejectsWith(send(c, 'SplitShard', { StreamName: name, ShardToSplit: id(1), NewStartingHashKey: 'x' }), 'ValidationException');
  // ON_DEMAND streams are not resharded by hand.
  const od = streamName('on-demand');
  await send(c, 'CreateStream', { StreamName: od, StreamModeDetails: { StreamMode: 'ON_DEMAND' } });
  await waitUntil(async () => (await send(c, 'DescribeStreamSummary', { StreamName: od })).StreamDescriptionSummary.StreamStatus === 'ACTIVE', 'on-demand stream ACTIVE');
  await rejectsWith(send(c, 'SplitShard', { StreamName: od, ShardToSplit: id(0), NewStartingHashKey: '5' }), 'ValidationException');
});
