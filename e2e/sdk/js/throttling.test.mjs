// Throttling on a server run with --shard-limits aws: the errors have the
// names the SDK's retry strategy treats as throttling, per entry inside
// PutRecords and as exceptions elsewhere, and a client with its default
// retries gets through.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { limitsEndpoint, retry, newClient, send, streamName, createStream } from './helpers.mjs';

// throttled calls fn four at a time, so that a slow machine cannot spread
// the calls below the rate, until one fails; it returns the error.
async function throttled(fn, rounds = 20) {
  for (let i = 0; i < rounds; i++) {
    const results = await Promise.allSettled([fn(), fn(), fn(), fn()]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) return failed.reason;
  }
  throw new Error(`not throttled in ${rounds * 4} calls`);
}

test('throttling errors as the SDK sees them', { skip: !limitsEndpoint && 'SLUICE_LIMITS_ENDPOINT is not set' }, async () => {
  const c = newClient({ endpoint: limitsEndpoint, maxAttempts: 1 });
  const name = streamName('throttle');
  const [shard] = await createStream(c, name, 1);

  // 1.8 MiB in one PutRecords to a shard that takes 1 MiB/s: the first
  // entry is stored, a later one fails with the quota's ErrorCode.
  const Data = new Uint8Array(600 * 1024);
  const out = await send(c, 'PutRecords', { StreamName: name, Records: [0, 1, 2].map((i) => ({ PartitionKey: `k${i}`, Data })) });
  assert.ok(out.FailedRecordCount >= 1, 'no entry of 1.8 MiB was throttled');
  assert.equal(out.Records[0].ShardId, shard.ShardId);
  assert.match(out.Records[0].SequenceNumber, /^\d+$/);
  const failed = out.Records.filter((r) => r.ErrorCode);
  assert.equal(failed.length, out.FailedRecordCount);
  for (const r of failed) {
    assert.equal(r.ErrorCode, 'ProvisionedThroughputExceededException');
    assert.match(r.ErrorMessage, /^Rate exceeded for shard shardId-000000000000 in stream /);
    assert.equal(r.SequenceNumber, undefined);
  }

  // PutRecord: the exception, which the SDK classes as throttling.
  const pte = await throttled(() => send(c, 'PutRecord', { StreamName: name, PartitionKey: 'k', Data: new Uint8Array(900 * 1024) }));
  assert.equal(pte.name, 'ProvisionedThroughputExceededException', pte.message);
  assert.equal(pte.$metadata.httpStatusCode, 400);
  assert.ok(retry.isThrottlingError(pte), 'the SDK does not take it for throttling');

  // The SDK's default retries, with back-off, get the record through.
  const patient = newClient({ endpoint: limitsEndpoint, maxAttempts: 10 });
  const ok = await send(patient, 'PutRecord', { StreamName: name, PartitionKey: 'k', Data: new Uint8Array(900 * 1024) });
  assert.match(ok.SequenceNumber, /^\d+$/);

  // The control plane: DescribeLimits is 1 call per second per account.
  const le = await throttled(() => send(c, 'DescribeLimits', {}));
  assert.equal(le.name, 'LimitExceededException', le.message);
  assert.equal(le.$metadata.httpStatusCode, 400);
  assert.match(le.message, /^Rate exceeded for account /);
  assert.ok(retry.isThrottlingError(le), 'the SDK does not take it for throttling');
});
