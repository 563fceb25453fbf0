'use strict';
// Queued ingestion's batching time as Kusto has it: a blob completes when its
// table's (else its database's) IngestionBatching policy seals its batch (by
// MaximumBatchingTimeSpan, MaximumNumberOfItems or MaximumRawDataSizeMB),
// FlushImmediately skips the batching, and --ingestion-delay-ms overrides
// every policy (see the other test files, which run with it).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const zlib = require('node:zlib');
const { startEmulator } = require('../testlib/helpers');
const { TestClient, waitFor } = require('../testlib/client');

let proc;
let k;

before(async () => {
  let base;
  ({ base, proc } = await startEmulator([]));   // no override: the policies decide
  k = new TestClient(base);
  for (const t of ['Slow', 'Counted', 'FromDb']) await k.mgmt('bdb', `.create table ${t} (id:long)`);
});

after(() => proc.kill('SIGTERM'));

const blob = (n) => zlib.gzipSync(`${n}\n`);

// the seconds until the blob's status is final (Succeeded)
async function settleTime(op, started) {
  const s = await waitFor('a final status', async () => {
    const st = await op.status();
    return st.Status !== 'Pending' && st;
  }, 30000);
  assert.equal(s.Status, 'Succeeded');
  return (Date.now() - started) / 1000;
}

test('.alter table policy ingestionbatching: a blob completes after MaximumBatchingTimeSpan', async () => {
  const r = await k.mgmt('bdb', `.alter table Slow policy ingestionbatching '{"MaximumBatchingTimeSpan": "00:00:03"}'`);
  assert.equal(r[0].PolicyName, 'IngestionBatchingPolicy');
  const policy = JSON.parse(r[0].Policy);
  assert.equal(policy.MaximumBatchingTimeSpan, '00:00:03');
  assert.equal(policy.MaximumNumberOfItems, 500, "Kusto's default count trigger");
  const started = Date.now();
  const op = await k.ingestQueued('bdb', 'Slow', blob(1), { format: 'csv' }, { flush: false });
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal((await op.status()).Status, 'Pending', 'still batching after 1.5 s');
  const s = await settleTime(op, started);
  assert.ok(s >= 2.9 && s < 8, `completed after ${s} s`);
  assert.equal(await k.count('bdb', 'Slow'), 1);
});

test('MaximumNumberOfItems seals a batch at once; its blobs complete together', async () => {
  await k.mgmt('bdb', '.alter table Counted policy ingestionbatching ```{"MaximumBatchingTimeSpan": "00:01:00", "MaximumNumberOfItems": 3}```');
  const started = Date.now();
  const ops = [];
  for (let i = 0; i < 3; i++) ops.push(await k.ingestQueued('bdb', 'Counted', blob(i), { format: 'csv' }, { flush: false }));
  for (const op of ops) {
    const s = await settleTime(op, started);
    assert.ok(s < 10, `the third blob sealed the batch: done after ${s} s, not 60`);
  }
  assert.equal(await k.count('bdb', 'Counted'), 3);
});

test('the database policy holds for a table without its own; FlushImmediately skips it', async () => {
  await k.mgmt('bdb', `.alter database bdb policy ingestionbatching '{"MaximumBatchingTimeSpan": "00:00:02"}'`);
  let started = Date.now();
  const op = await k.ingestQueued('bdb', 'FromDb', blob(1), { format: 'csv' }, { flush: false });
  const s = await settleTime(op, started);
  assert.ok(s >= 1.9, `the database's 2 s: done after ${s} s`);
  started = Date.now();
  const fast = await k.ingestQueued('bdb', 'Slow', blob(2), { format: 'csv' }, { flush: true });
  const f = await settleTime(fast, started);
  assert.ok(f < 2.5, `FlushImmediately: done after ${f} s, not the table's 3 s`);
});
