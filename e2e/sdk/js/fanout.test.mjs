// Enhanced fan-out: SubscribeToShard through the JavaScript SDK v3, whose
// event stream arrives over HTTP/2 as an async iterable of events.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sdk, newClient, send, streamName, createStream, rejectsWith, waitUntil, text, bytes } from './helpers.mjs';

// registerConsumer registers a consumer and waits until it is ACTIVE.
async function registerConsumer(c, stream, name) {
  const arn = (await send(c, 'DescribeStreamSummary', { StreamName: stream })).StreamDescriptionSummary.StreamARN;
  const reg = (await send(c, 'RegisterStreamConsumer', { StreamARN: arn, ConsumerName: name })).Consumer;
  await waitUntil(async () => (await send(c, 'DescribeStreamConsumer', { ConsumerARN: reg.ConsumerARN })).ConsumerDescription.ConsumerStatus === 'ACTIVE', 'the consumer ACTIVE');
  return reg.ConsumerARN;
}

// subscribe opens a feed; close() aborts it.
async function subscribe(c, ConsumerARN, ShardId, StartingPosition) {
  const abort = new AbortController();
  const res = await c.send(new sdk.SubscribeToShardCommand({ ConsumerARN, ShardId, StartingPosition }), { abortSignal: abort.signal });
  const it = res.EventStream[Symbol.asyncIterator]();
  return { it, close: () => abort.abort() };
}

// nextEvent returns the next SubscribeToShardEvent, or undefined at the end.
async function nextEvent(feed) {
  for (;;) {
    const { value, done } = await feed.it.next();
    if (done) return undefined;
    if (value.SubscribeToShardEvent) return value.SubscribeToShardEvent;
  }
}

// readRecords reads events until n records have come; it returns them and
// the last event.
async function readRecords(feed, n) {
  const records = [];
  let last;
  while (records.length < n) {
    last = await nextEvent(feed);
    assert.ok(last, `the feed ended after ${records.length} of ${n} records`);
    records.push(...last.Records);
  }
  return { records, last };
}

test('subscribeToShard: every starting position, pushed records, one feed per consumer and shard', { timeout: 120000 }, async () => {
  const c = newClient();
  const name = streamName('efo');
  const [shard] = await createStream(c, name, 1);
  const arn = await registerConsumer(c, name, 'js-reader');
  const put = async (d) => (await send(c, 'PutRecord', { StreamName: name, PartitionKey: 'k', Data: bytes(d) })).SequenceNumber;
  const seqs = [await put('a'), await put('b'), await put('c')];

  const feed = await subscribe(c, arn, shard.ShardId, { Type: 'TRIM_HORIZON' });
  let { records, last } = await readRecords(feed, 3);
  assert.deepEqual(records.map((r) => text(r.Data)), ['a', 'b', 'c']);
  assert.deepEqual(records.map((r) => r.SequenceNumber), seqs);
  for (const r of records) {
    assert.ok(r.ApproximateArrivalTimestamp instanceof Date);
    assert.ok(Math.abs(r.ApproximateArrivalTimestamp.getTime() - Date.now()) < 60000, `arrival ${r.ApproximateArrivalTimestamp.toISOString()} is not now`);
    assert.equal(r.PartitionKey, 'k');
  }
  assert.equal(last.ContinuationSequenceNumber, seqs[2]);
  assert.equal(typeof last.MillisBehindLatest, 'number');

  // The open feed gets a new record pushed.
  const d = await put('d');
  ({ records } = await readRecords(feed, 1));
  assert.deepEqual(records.map((r) => text(r.Data)), ['d']);

  // A second feed of the same consumer and shard is refused while the
  // first is open.
  await rejectsWith(subscribe(c, arn, shard.ShardId, { Type: 'LATEST' }), 'ResourceInUseException');
  feed.close();

  // Once the first feed is gone, the consumer subscribes again: from
  // AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER and AT_TIMESTAMP.
  const time = new Date(Date.now() + 50);
  await new Promise((r) => setTimeout(r, 100));
  await put('e');
  for (const [pos, want] of [
    [{ Type: 'AT_SEQUENCE_NUMBER', SequenceNumber: seqs[1] }, ['b', 'c', 'd', 'e']],
    [{ Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: d }, ['e']],
    [{ Type: 'AT_TIMESTAMP', Timestamp: time }, ['e']],
  ]) {
    let f;
    await waitUntil(async () => {
      try {
        f = await subscribe(c, arn, shard.ShardId, pos);
        return true;
      } catch (e) {
        if (e.name !== 'ResourceInUseException') throw e;
        return false;
      }
    }, 'the previous feed to end');
    ({ records } = await readRecords(f, want.length));
    assert.deepEqual(records.map((r) => text(r.Data)), want, `from ${pos.Type}`);
    f.close();
  }
});

test('subscribeToShard: a split ends the parent feed with its children; a deregistered consumer gets an exception event', { timeout: 120000 }, async () => {
  const c = newClient();
  const name = streamName('efo-split');
  const [shard] = await createStream(c, name, 1);
  const arn = await registerConsumer(c, name, 'js-split');
  await send(c, 'PutRecord', { StreamName: name, PartitionKey: 'k', Data: bytes('before') });
  const feed = await subscribe(c, arn, shard.ShardId, { Type: 'TRIM_HORIZON' });
  await readRecords(feed, 1);
  await send(c, 'SplitShard', { StreamName: name, ShardToSplit: shard.ShardId, NewStartingHashKey: '170141183460469231731687303715884105728' });
  let ev;
  let children;
  while ((ev = await nextEvent(feed))) {
    if (ev.ChildShards?.length) {
      children = ev.ChildShards;
      assert.equal(ev.ContinuationSequenceNumber, undefined);
    }
  }
  assert.deepEqual(children.map((s) => s.ShardId), ['shardId-000000000001', 'shardId-000000000002']);
  assert.deepEqual(children[0].ParentShards, [shard.ShardId]);

  const child = await subscribe(c, arn, children[0].ShardId, { Type: 'LATEST' });
  await send(c, 'DeregisterStreamConsumer', { ConsumerARN: arn });
  let err;
  try {
    while (await nextEvent(child));
  } catch (e) {
    err = e;
  }
  assert.equal(err?.name, 'ResourceNotFoundException', `feed ended with ${err}`);
});
