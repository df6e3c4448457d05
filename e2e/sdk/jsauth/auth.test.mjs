// The JavaScript SDK v3 against a server with --credentials: its own SigV4
// signer, over HTTP/2 (h2c on the plain port, h2 on the TLS one). Run by
// TestAuth_JavaScript, which passes the server's keys: SLUICE_ROOT_KEY and
// SLUICE_WRITER_KEY as "id:secret".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sdk, newClient, send, streamName, createStream, bytes, rejectsWith, sessions } from '../js/helpers.mjs';

const creds = (v) => {
  const [accessKeyId, secretAccessKey] = v.split(':');
  return { accessKeyId, secretAccessKey };
};
const root = creds(process.env.SLUICE_ROOT_KEY);
const writer = creds(process.env.SLUICE_WRITER_KEY);

test('signatures are verified and calls authorized', async () => {
  const admin = newClient({ credentials: root });
  const name = streamName('orders');
  const [shard] = await createStream(admin, name, 1);
  const put = await send(newClient({ credentials: writer }), 'PutRecord', { StreamName: name, PartitionKey: 'k', Data: bytes('signed') });
  assert.equal(put.ShardId, shard.ShardId);

  const wrong = await rejectsWith(send(newClient({ credentials: { ...root, secretAccessKey: 'guess' } }), 'ListStreams', {}), 'InvalidSignatureException');
  assert.match(wrong.message, /^The request signature we calculated does not match the signature you provided\./);
  await rejectsWith(send(newClient({ credentials: { accessKeyId: 'AKIDNOBODY', secretAccessKey: 'x' } }), 'ListStreams', {}), 'UnrecognizedClientException');
  // Signed an hour ahead: refused in AWS's words; the SDK then takes its
  // clock offset from the answer's Date header, and the next call passes.
  const skewed = newClient({ credentials: root, systemClockOffset: 3600 * 1000 });
  const ahead = await rejectsWith(send(skewed, 'DescribeStreamSummary', { StreamName: name }), 'InvalidSignatureException');
  assert.match(ahead.message, /^Signature not yet current: \d{8}T\d{6}Z is still later than \d{8}T\d{6}Z \(\d{8}T\d{6}Z \+ 5 min\.\)$/);
  await send(skewed, 'DescribeStreamSummary', { StreamName: name });

  const denied = await rejectsWith(send(newClient({ credentials: writer }), 'DeleteStream', { StreamName: name }), 'AccessDeniedException');
  assert.ok(denied instanceof sdk.AccessDeniedException);
  assert.equal(denied.message, `User: arn:aws:iam::000000000000:user/writer is not authorized to perform: kinesis:DeleteStream on resource: arn:aws:kinesis:us-east-1:000000000000:stream/${name} because no identity-based policy allows the kinesis:DeleteStream action`);

  await send(admin, 'DeleteStream', { StreamName: name });
  assert.ok(sessions.length > 0 && sessions.every((s) => s.streams > 0), 'no HTTP/2 session');
});
