// The SDK's transport: its Kinesis client sends every operation over
// HTTP/2 (h2c with prior knowledge on http://, h2 by ALPN on https://).
// Check that it really does, with bodies large enough to need HTTP/2 flow
// control both ways.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpoint, sdkVersion, sessions, newClient, send, streamName, createStream, iterator, readToEnd } from './helpers.mjs';

test(`@aws-sdk/client-kinesis ${sdkVersion} on node ${process.version} talks HTTP/2 to ${endpoint}`, async () => {
  const c = newClient();
  const name = streamName('transport');
  const [shard] = await createStream(c, name, 1);

  // About 4.5 MiB of records up (6 MiB of base64 JSON) and down again.
  const payload = (i) => new Uint8Array(900 * 1024).fill(i + 1);
  const out = await send(c, 'PutRecords', {
    StreamName: name,
    Records: Array.from({ length: 5 }, (_, i) => ({ PartitionKey: `p${i}`, Data: payload(i) })),
  });
  assert.equal(out.FailedRecordCount ?? 0, 0);
  const { records } = await readToEnd(c, await iterator(c, name, shard.ShardId, 'TRIM_HORIZON'));
  assert.equal(records.length, 5);
  records.forEach((r, i) => {
    assert.equal(r.Data.length, 900 * 1024);
    assert.ok(r.Data.every((b) => b === i + 1), `record ${i} came back altered`);
  });

  const origin = new URL(endpoint).origin;
  const want = new URL(endpoint).protocol === 'https:' ? 'h2' : 'h2c';
  assert.ok(sessions.length > 0, 'the SDK opened no HTTP/2 session');
  for (const s of sessions) {
    assert.equal(new URL(s.authority).origin, origin);
    assert.equal(s.alpnProtocol, want, `session to ${s.authority} speaks ${s.alpnProtocol}, want ${want}`);
  }
  // At least the calls above (create, describe, list, put, iterator, get).
  const streams = sessions.reduce((n, s) => n + s.streams, 0);
  assert.ok(streams >= 6, `only ${streams} HTTP/2 streams for the calls made`);
  c.destroy();
});
