// Drives aws-kinesis-agg for the Go interop tests of producer and
// deaggregate (producer/interop_test.go). Reads one JSON document on stdin
// and writes one on stdout.
//
//   node kinesis-agg.js deaggregate
//     in:  [{"data": base64, "partitionKey": s, "sequenceNumber": s}, ...]  (Kinesis records)
//     out: [{"partitionKey", "explicitPartitionKey", "sequenceNumber", "subSequenceNumber", "data": base64}, ...]
//   node kinesis-agg.js aggregate
//     in:  [{"partitionKey": s, "explicitHashKey": s?, "data": base64}, ...]  (user records)
//     out: [{"partitionKey", "explicitHashKey", "data": base64}, ...]  (Kinesis records to put)
//   node kinesis-agg.js aggregate-groups
//     in:  [[user record, ...], ...]  (each group aggregated on its own, e.g. one per shard)
//     out: [[Kinesis record, ...], ...]
'use strict';
const agg = require('aws-kinesis-agg');

function main(mode, input) {
  if (mode === 'deaggregate') {
    const out = [];
    for (const r of input) {
      agg.deaggregateSync(r, true, (err, users) => {
        if (err) throw err;
        for (const u of users) out.push(u);
      });
    }
    finish(out);
  } else if (mode === 'aggregate') {
    aggregate(input, finish);
  } else if (mode === 'aggregate-groups') {
    const outs = [];
    const next = (i) => {
      if (i === input.length) {
        finish(outs);
        return;
      }
      aggregate(input[i], (out) => {
        outs.push(out);
        next(i + 1);
      });
    };
    next(0);
  } else {
    throw new Error('mode must be deaggregate, aggregate or aggregate-groups');
  }
}

function aggregate(input, done) {
  const out = [];
  const records = input.map((r) => ({
    partitionKey: r.partitionKey,
    explicitHashKey: r.explicitHashKey || undefined,
    data: Buffer.from(r.data, 'base64'),
  }));
  agg.aggregate(records, (enc, cb) => {
    out.push({ partitionKey: enc.partitionKey, explicitHashKey: enc.explicitHashKey, data: enc.data.toString('base64') });
    cb();
  }, () => done(out), (err) => { throw err; });
}

function finish(out) {
  process.stdout.write(JSON.stringify(out));
}

let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { buf += c; });
process.stdin.on('end', () => main(process.argv[2], JSON.parse(buf)));
