// PutRecord, PutRecords, GetShardIterator of every type and GetRecords,
// with the timestamps checked for their values in both directions.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newClient, send, streamName, createStream, iterator, readToEnd, text, bytes, waitUntil } from './helpers.mjs';

test('PutRecord and PutRecords, then every iterator type', async () => {
  const c = newClient();
  const name = streamName('records');
  const [shard] = await createStream(c, name, 1);
  const shardId = shard.ShardId;
  assert.equal(shardId, 'shardId-000000000000');

  // Records with a binary payload, to see bytes (not text) round-trip.
  const binary = new Uint8Array([0, 1, 2, 0xfe, 0xff, 0x80]);
  const before = Date.now();
  const first = await send(c, 'PutRecord', { StreamName: name, PartitionKey: 'k0', Data: binary });
  assert.equal(first.ShardId, shardId);
  assert.match(first.SequenceNumber, /^\d+$/);

  const batch = await send(c, 'PutRecords', {
    StreamName: name,
    Records: Array.from({ length: 9 }, (_, i) => ({ PartitionKey: `k${i + 1}`, Data: bytes(`record ${i + 1}`) })),
  });
  const after = Date.now();
  assert.equal(batch.FailedRecordCount ?? 0, 0);
  assert.equal(batch.Records.length, 9);
  const seqs = [first.SequenceNumber, ...batch.Records.map((r) => r.SequenceNumber)];
  for (let i = 1; i < seqs.length; i++) {
    assert.ok(BigInt(seqs[i]) > BigInt(seqs[i - 1]), `sequence numbers do not increase: ${seqs[i - 1]} then ${seqs[i]}`);
  }
  for (const r of batch.Records) assert.equal(r.ShardId, shardId);

  // TRIM_HORIZON: all ten, in order, with their data, keys and arrival times.
  const { records: all, last } = await readToEnd(c, await iterator(c, name, shardId, 'TRIM_HORIZON'));
  assert.equal(all.length, 10);
  assert.equal(last.MillisBehindLatest, 0);
  assert.deepEqual(all.map((r) => r.SequenceNumber), seqs);
  assert.deepEqual([...all[0].Data], [...binary]);
  assert.equal(all[0].PartitionKey, 'k0');
  assert.equal(text(all[5].Data), 'record 5');
  for (const r of all) {
    // ApproximateArrivalTimestamp is a Date in the right epoch: within the
    // window of the puts (a second of slack for the server's rounding),
    // not read as milliseconds-as-seconds or the reverse.
    assert.ok(r.ApproximateArrivalTimestamp instanceof Date, 'ApproximateArrivalTimestamp is not a Date');
    const at = r.ApproximateArrivalTimestamp.getTime();
    assert.ok(at >= before - 1000 && at <= after + 1000,
      `ApproximateArrivalTimestamp ${r.ApproximateArrivalTimestamp.toISOString()} is outside the put window ${new Date(before).toISOString()}..${new Date(after).toISOString()}`);
  }

  // AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER.
  const at = await readToEnd(c, await iterator(c, name, shardId, 'AT_SEQUENCE_NUMBER', { StartingSequenceNumber: seqs[3] }));
  assert.deepEqual(at.records.map((r) => r.SequenceNumber), seqs.slice(3));
  const afterSeq = await readToEnd(c, await iterator(c, name, shardId, 'AFTER_SEQUENCE_NUMBER', { StartingSequenceNumber: seqs[3] }));
  assert.deepEqual(afterSeq.records.map((r) => r.SequenceNumber), seqs.slice(4));

  // LATEST: nothing until a record comes after the iterator was made.
  const latest = await iterator(c, name, shardId, 'LATEST');
  const empty = await send(c, 'GetRecords', { ShardIterator: latest });
  assert.equal(empty.Records.length, 0);
  assert.ok(empty.NextShardIterator);
  const late = await send(c, 'PutRecord', { StreamName: name, PartitionKey: 'late', Data: bytes('late') });
  const { records: fromLatest } = await readToEnd(c, empty.NextShardIterator);
  assert.deepEqual(fromLatest.map((r) => r.SequenceNumber), [late.SequenceNumber]);
  assert.equal(text(fromLatest[0].Data), 'late');

  // AT_TIMESTAMP, given as a Date: wait until the clock has passed the
  // last arrival, put a second group, and ask for the records at or after
  // the first arrival of that group. Wrong units on the way in would give
  // everything (a 1970 date) or nothing (a date far in the future).
  const lastArrival = (await readToEnd(c, await iterator(c, name, shardId, 'TRIM_HORIZON'))).records.at(-1).ApproximateArrivalTimestamp.getTime();
  await waitUntil(() => Date.now() > lastArrival + 5, 'the clock to pass the last arrival');
  const second = await send(c, 'PutRecords', {
    StreamName: name,
    Records: [1, 2, 3].map((i) => ({ PartitionKey: `t${i}`, Data: bytes(`second ${i}`) })),
  });
  const everything = (await readToEnd(c, await iterator(c, name, shardId, 'TRIM_HORIZON'))).records;
  const secondSeqs = second.Records.map((r) => r.SequenceNumber);
  const pivot = everything.find((r) => r.SequenceNumber === secondSeqs[0]).ApproximateArrivalTimestamp;
  assert.ok(pivot.getTime() > lastArrival, 'the second group arrived no later than the first');
  const atTime = await readToEnd(c, await iterator(c, name, shardId, 'AT_TIMESTAMP', { Timestamp: pivot }));
  assert.deepEqual(atTime.records.map((r) => r.SequenceNumber), secondSeqs);
  // A timestamp before the stream existed reads from the start; one in
  // the future is refused, as AWS does.
  const fromPast = await readToEnd(c, await iterator(c, name, shardId, 'AT_TIMESTAMP', { Timestamp: new Date(before - 3600_000) }));
  assert.equal(fromPast.records.length, everything.length);
  await assert.rejects(iterator(c, name, shardId, 'AT_TIMESTAMP', { Timestamp: new Date(Date.now() + 3600_000) }),
    (e) => e.name === 'InvalidArgumentException' && /cannot be greater than the currentTimestampInMillis/.test(e.message));

  // The Limit of GetRecords is honoured, and the iterator goes on from there.
  const page = await send(c, 'GetRecords', { ShardIterator: await iterator(c, name, shardId, 'TRIM_HORIZON'), Limit: 4 });
  assert.equal(page.Records.length, 4);
  assert.ok(page.MillisBehindLatest >= 0);
  const rest = await readToEnd(c, page.NextShardIterator);
  assert.equal(page.Records.length + rest.records.length, everything.length);
});

test('PutRecord routes by partition key and ExplicitHashKey', async () => {
  const c = newClient();
  const name = streamName('routing');
  const shards = await createStream(c, name, 2);
  // The upper half of the hash key space is the second shard.
  const top = (1n << 128n) - 1n;
  const high = await send(c, 'PutRecord', { StreamName: name, PartitionKey: 'any', ExplicitHashKey: top.toString(), Data: bytes('high') });
  assert.equal(high.ShardId, shards[1].ShardId);
  const low = await send(c, 'PutRecord', { StreamName: name, PartitionKey: 'any', ExplicitHashKey: '0', Data: bytes('low') });
  assert.equal(low.ShardId, shards[0].ShardId);
  // SequenceNumberForOrdering: a later put still gets a greater number.
  const ordered = await send(c, 'PutRecord', { StreamName: name, PartitionKey: 'any', ExplicitHashKey: '0', Data: bytes('next'), SequenceNumberForOrdering: low.SequenceNumber });
  assert.ok(BigInt(ordered.SequenceNumber) > BigInt(low.SequenceNumber));
  // PutRecords by StreamARN, across both shards, results in request order.
  const desc = await send(c, 'DescribeStreamSummary', { StreamName: name });
  const arn = desc.StreamDescriptionSummary.StreamARN;
  const out = await send(c, 'PutRecords', {
    StreamARN: arn,
    Records: [
      { PartitionKey: 'a', ExplicitHashKey: top.toString(), Data: bytes('1') },
      { PartitionKey: 'b', ExplicitHashKey: '1', Data: bytes('2') },
    ],
  });
  assert.deepEqual(out.Records.map((r) => r.ShardId), [shards[1].ShardId, shards[0].ShardId]);
  const { records } = await readToEnd(c, await iterator(c, name, shards[1].ShardId, 'TRIM_HORIZON'));
  assert.deepEqual(records.map((r) => text(r.Data)), ['high', '1']);
});
