// Shared helpers of the JavaScript SDK v3 suite. e2e/sdk_js_test.go runs
// `node --test e2e/sdk/js/` against a real `sluice serve` and passes its
// address in SLUICE_ENDPOINT (http:// for h2c, https:// for TLS with
// NODE_EXTRA_CA_CERTS naming the server's certificate). Every *.test.mjs
// file runs in its own process; this module is not a test file.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The SDK lives in testdata/node (installed by `npm ci --prefix testdata/node`),
// not beside the tests, so resolve it from there.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const require = createRequire(path.join(root, 'testdata/node/package.json'));
export const sdk = require('@aws-sdk/client-kinesis');
export const sdkVersion = require('@aws-sdk/client-kinesis/package.json').version;

// The SDK's own classification of errors, which drives its retries.
export const retry = require('@smithy/core/retry');

export const endpoint = process.env.SLUICE_ENDPOINT;
// limitsEndpoint is a second server, run with --shard-limits aws.
export const limitsEndpoint = process.env.SLUICE_LIMITS_ENDPOINT;
if (!endpoint) {
  throw new Error('SLUICE_ENDPOINT is not set: run this suite through go test ./e2e/ -run TestSDK_JavaScript');
}

// sessions records every HTTP/2 session the SDK opens, so that a test can
// check the client really spoke HTTP/2 to the endpoint. The SDK's handler
// calls http2.connect on this very module object.
export const sessions = [];
const connect = http2.connect;
http2.connect = function (authority, ...rest) {
  const session = connect.call(this, authority, ...rest);
  const entry = { authority: String(authority), alpnProtocol: undefined, streams: 0 };
  session.once('connect', () => { entry.alpnProtocol = session.alpnProtocol; });
  const request = session.request;
  session.request = function (...args) {
    entry.streams++;
    return request.apply(this, args);
  };
  sessions.push(entry);
  return session;
};

// newClient returns a client for the server with dummy credentials.
export function newClient(opts = {}) {
  return new sdk.KinesisClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDSLUICEJS', secretAccessKey: 'secret' },
    maxAttempts: 2,
    ...opts,
  });
}

// send runs one command, by name: send(c, 'PutRecord', {...}).
export function send(client, name, input) {
  return client.send(new sdk[`${name}Command`](input));
}

let counter = 0;
// streamName is unique within the process and across the suite's files.
export function streamName(prefix) {
  counter++;
  return `js-${prefix}-${process.pid}-${counter}`;
}

// createStream creates a provisioned stream and waits, with the SDK's
// waiter, until it is ACTIVE; it returns its shards in id order.
export async function createStream(client, name, shardCount) {
  await send(client, 'CreateStream', { StreamName: name, ShardCount: shardCount });
  const res = await sdk.waitUntilStreamExists({ client, minDelay: 1, maxWaitTime: 60 }, { StreamName: name });
  assert.equal(res.state, 'SUCCESS', `stream ${name} did not become ACTIVE: ${JSON.stringify(res.reason)}`);
  const shards = await listAllShards(client, { StreamName: name });
  assert.equal(shards.length, shardCount);
  return shards;
}

// listAllShards pages through ListShards two shards at a time (the SDK has
// no paginator for it: a NextToken goes without the StreamName).
export async function listAllShards(client, input) {
  const shards = [];
  let page = await send(client, 'ListShards', { ...input, MaxResults: 2 });
  shards.push(...page.Shards);
  while (page.NextToken) {
    page = await send(client, 'ListShards', { NextToken: page.NextToken, MaxResults: 2 });
    shards.push(...page.Shards);
  }
  return shards;
}

// readToEnd follows an iterator until a call returns no records and is
// caught up (MillisBehindLatest 0), or until the shard's end; it returns
// the records, the last response and the number of calls.
export async function readToEnd(client, iterator, limit = 1000) {
  const records = [];
  let last;
  for (let i = 0; i < 1000; i++) {
    last = await send(client, 'GetRecords', { ShardIterator: iterator, Limit: limit });
    records.push(...last.Records);
    if (!last.NextShardIterator) return { records, last };
    if (last.Records.length === 0 && last.MillisBehindLatest === 0) return { records, last };
    iterator = last.NextShardIterator;
  }
  throw new Error('readToEnd: shard never caught up');
}

// iterator returns a shard iterator of the given type.
export async function iterator(client, StreamName, ShardId, ShardIteratorType, extra = {}) {
  const out = await send(client, 'GetShardIterator', { StreamName, ShardId, ShardIteratorType, ...extra });
  assert.equal(typeof out.ShardIterator, 'string');
  return out.ShardIterator;
}

export const text = (bytes) => Buffer.from(bytes).toString('utf8');
export const bytes = (s) => new TextEncoder().encode(s);

// rejectsWith asserts that promise fails with the named AWS error, as the
// SDK surfaces it: a typed exception of that name, a client fault, the
// given HTTP status and a request id. It returns the error.
export async function rejectsWith(promise, name, status = 400) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${name}, the call succeeded`);
  assert.equal(err.name, name, `expected ${name}, got ${err.name}: ${err.message}`);
  assert.ok(err instanceof sdk.KinesisServiceException, `${name} is not a KinesisServiceException`);
  assert.equal(err.$metadata?.httpStatusCode, status);
  assert.equal(err.$fault, status < 500 ? 'client' : 'server');
  assert.ok(err.$metadata?.requestId, 'no request id');
  assert.ok(typeof err.message === 'string' && err.message.length > 0, 'empty message');
  return err;
}

// waitUntil waits for a condition without assuming how fast the machine is.
export async function waitUntil(cond, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
