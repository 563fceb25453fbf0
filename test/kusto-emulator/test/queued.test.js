'use strict';
// Queued ingestion through the emulator's DM, done by hand from the protocol:
// resources, blob + status entity + queue message, status reporting to the
// table and the queues, mappings, dedup by tag, ingestion and storage faults,
// .show ingestion failures.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const zlib = require('node:zlib');
const { startEmulator } = require('../testlib/helpers');
const { TestClient, waitFor, admin } = require('../testlib/client');

let proc;
let base;
let k;

const settled = async (op) => waitFor('a final status', async () => {
  const s = await op.status();
  return s.Status !== 'Pending' && s;
});

before(async () => {
  ({ base, proc } = await startEmulator(['--ingestion-delay-ms', '50']));
  k = new TestClient(base);
  await k.mgmt('qdb', '.create table T (id:long, name:string, at:datetime)');
});

after(() => proc.kill('SIGTERM'));

test('.get ingestion resources: SAS URLs for queues, containers and the status table', async () => {
  const res = await k.resources();
  for (const kind of ['SecuredReadyForAggregationQueue', 'FailedIngestionsQueue', 'SuccessfulIngestionsQueue', 'IngestionsStatusTable']) {
    assert.equal(res[kind].length, 1, kind);
    assert.match(res[kind][0], /^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/\w+\?.*sig=/);
  }
  assert.equal(res.TempStorage.length, 2);
  assert.ok(res.context.length > 20);
  // the engine refuses a principal without rights, the DM command needs a token
  const anon = await fetch(`${base}/v1/rest/mgmt`, { method: 'POST', body: JSON.stringify({ db: 'NetDefaultDB', csl: '.get ingestion resources' }) });
  assert.equal(anon.status, 401);
});

test('queued ingestion: gzip csv, status Succeeded in the table, extent tags, then Skipped by ingest-by tag', async () => {
  const data = zlib.gzipSync('1,a,2026-01-01T00:00:00Z\n2,b,2026-01-02\n');
  const op = await k.ingestQueued('qdb', 'T', data, { format: 'csv', tags: '["ingest-by:b1","drop-by:x"]', ingestIfNotExists: '["b1"]' });
  const s = await settled(op);
  assert.equal(s.Status, 'Succeeded');
  assert.equal(s.IngestionSourceId, op.id);
  assert.equal(await k.count('qdb', 'T'), 2);
  const ext = await k.mgmt('qdb', '.show table T extents');
  assert.ok(ext.some((e) => e.Tags.split('\r\n').includes('ingest-by:b1')));

  const again = await k.ingestQueued('qdb', 'T', data, { format: 'csv', tags: '["ingest-by:b1"]', ingestIfNotExists: '["b1"]' });
  const s2 = await settled(again);
  assert.equal(s2.Status, 'Skipped');
  assert.equal(s2.ErrorCode, 'Skipped_IngestByTagAlreadyExists');
  assert.equal(await k.count('qdb', 'T'), 2);
});

test('report to the queues: success and failure messages', async () => {
  const ok = await k.ingestQueued('qdb', 'T', Buffer.from('3,c,\n'), { format: 'csv' }, { reportMethod: 0, reportLevel: 2 });
  const bad = await k.ingestQueued('qdb', 'NoSuchTable', Buffer.from('3,c,\n'), { format: 'csv' }, { reportMethod: 0 });
  const good = await waitFor('the success message', async () => (await k.peek(ok.resources, 'SuccessfulIngestionsQueue'))
    .find((m) => m.IngestionSourceId === ok.id));
  assert.equal(good.Table, 'T');
  const failed = await waitFor('the failure message', async () => (await k.peek(bad.resources, 'FailedIngestionsQueue'))
    .find((m) => m.IngestionSourceId === bad.id));
  assert.equal(failed.ErrorCode, 'BadRequest_EntityNotFound');
  assert.equal(failed.FailureStatus, 'Permanent');
  assert.equal(failed.ShouldRetry, false);
  assert.doesNotMatch(failed.IngestionSourcePath, /sig=/);
  const failures = await k.mgmt('qdb', '.show ingestion failures');
  assert.ok(failures.some((f) => f.Table === 'NoSuchTable' && f.ErrorCode === 'BadRequest_EntityNotFound'));
});

test('mappings: create, show, use by reference and inline; a missing reference fails the ingestion', async () => {
  await k.mgmt('qdb', '.create table M (id:long, name:string, payload:dynamic)');
  await k.mgmt('qdb', `.create table M ingestion json mapping "jm" '[{"column":"id","Properties":{"Path":"$.k"}},{"column":"name","path":"$.v[\\'n\\']"},{"column":"payload","path":"$"}]'`);
  await k.mgmt('qdb', `.create-or-alter table M ingestion csv mapping "cm" '[{"column":"id","Properties":{"Ordinal":"1"}},{"column":"name","Ordinal":0}]'`);
  const shown = await k.mgmt('qdb', '.show table M ingestion mappings');
  assert.deepEqual(shown.map((m) => [m.Name, m.Kind]).sort(), [['cm', 'Csv'], ['jm', 'Json']]);
  await assert.rejects(k.mgmt('qdb', `.create table M ingestion json mapping "jm" '[{"column":"id","path":"$.k"}]'`), /already exists/);
  await assert.rejects(k.mgmt('qdb', `.create table M ingestion json mapping "x" '[{"column":"nope","path":"$.k"}]'`), /column 'nope'/);

  const j = await k.ingestQueued('qdb', 'M', Buffer.from('{"k":1,"v":{"n":"one"}}\n'), { format: 'json', ingestionMappingReference: 'jm' });
  assert.equal((await settled(j)).Status, 'Succeeded');
  const c = await k.ingestQueued('qdb', 'M', Buffer.from('two,2\n'), { format: 'csv', ingestionMappingReference: 'cm' });
  assert.equal((await settled(c)).Status, 'Succeeded');
  const inline = await k.ingestQueued('qdb', 'M', Buffer.from('{"a":3}\n'), { format: 'json',
    ingestionMapping: '[{"column":"id","path":"$.a"}]', ingestionMappingType: 'Json' });
  assert.equal((await settled(inline)).Status, 'Succeeded');
  const rows = await k.rows('query', 'qdb', 'M | order by id asc');
  assert.deepEqual(rows.map((r) => [r.id, r.name]), [[1, 'one'], [2, 'two'], [3, '']]);
  assert.deepEqual(JSON.parse(rows[0].payload), { k: 1, v: { n: 'one' } });

  const missing = await k.ingestQueued('qdb', 'M', Buffer.from('{"k":9}\n'), { format: 'json', ingestionMappingReference: 'nope' });
  const s = await settled(missing);
  assert.equal(s.Status, 'Failed');
  assert.equal(s.ErrorCode, 'BadRequest_MappingReferenceWasNotFound');
});

test('ingestion faults: transient, permanent and partial', async () => {
  await k.mgmt('qdb', '.create table F (id:long)');
  await admin(base, 'ingestion-faults', { kind: 'transient', count: 1 });
  const t = await settled(await k.ingestQueued('qdb', 'F', Buffer.from('1\n2\n')));
  assert.deepEqual([t.Status, t.FailureStatus], ['Failed', 'Transient']);
  await admin(base, 'ingestion-faults', { kind: 'permanent', count: 1 });
  const p = await settled(await k.ingestQueued('qdb', 'F', Buffer.from('1\n2\n')));
  assert.deepEqual([p.Status, p.FailureStatus], ['Failed', 'Permanent']);
  assert.equal(await k.count('qdb', 'F'), 0);
  await admin(base, 'ingestion-faults', { kind: 'partial', count: 1 });
  const h = await settled(await k.ingestQueued('qdb', 'F', Buffer.from('1\n2\n3\n4\n')));
  assert.equal(h.Status, 'PartiallySucceeded');
  assert.equal(await k.count('qdb', 'F'), 2);
  const ok = await settled(await k.ingestQueued('qdb', 'F', Buffer.from('5\n')));
  assert.equal(ok.Status, 'Succeeded');
});

test('storage faults through the proxies: a blob PUT gets 503, a queue POST is dropped; counters by kind', async () => {
  await admin(base, 'reset', {});
  const res = await k.resources();
  await admin(base, 'faults', { kind: 'blob', count: 1, action: { status: 503 } });
  const [cbase, csas] = res.TempStorage[0].split('?');
  const put = () => fetch(`${cbase}/f.csv?${csas}`, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: '1\n' });
  let r = await put();
  assert.equal(r.status, 503);
  assert.equal(r.headers.get('x-ms-error-code'), 'ServerBusy');
  r = await put();
  assert.equal(r.status, 201);
  await admin(base, 'faults', { kind: 'queue', count: 1, action: { drop: true } });
  const [qbase, qsas] = res.SecuredReadyForAggregationQueue[0].split('?');
  await assert.rejects(fetch(`${qbase}/messages?${qsas}`, { method: 'POST', body: '<QueueMessage><MessageText>e30=</MessageText></QueueMessage>' }));
  const stats = await admin(base, 'stats');
  assert.equal(stats.requests.blob, 2);
  assert.equal(stats.requests.queue, 1);
});

test('a Put Block List or a queue message that is not well-formed XML gets InvalidXmlDocument, as from Azure Storage', async () => {
  const res = await k.resources();
  const [cbase, csas] = res.TempStorage[0].split('?');
  const id = Buffer.from('block-000000').toString('base64');
  let r = await fetch(`${cbase}/x.csv?comp=block&blockid=${encodeURIComponent(id)}&${csas}`,
    { method: 'PUT', headers: { 'x-ms-version': '2021-08-06' }, body: '1\n' });
  assert.equal(r.status, 201);
  const list = `<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>${id}</Latest></BlockList>`;
  r = await fetch(`${cbase}/x.csv?comp=blocklist&${csas}`,
    { method: 'PUT', headers: { 'x-ms-version': '2021-08-06' }, body: `${list}\0` });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('x-ms-error-code'), 'InvalidXmlDocument');
  assert.match(await r.text(), /XML specified is not syntactically valid\..*U\+0000/);
  r = await fetch(`${cbase}/x.csv?comp=blocklist&${csas}`,
    { method: 'PUT', headers: { 'x-ms-version': '2021-08-06' }, body: list });
  assert.equal(r.status, 201);
  const [qbase, qsas] = res.SecuredReadyForAggregationQueue[0].split('?');
  r = await fetch(`${qbase}/messages?${qsas}`, { method: 'POST', body: '<QueueMessage><MessageText>e30=</MessageText>' });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('x-ms-error-code'), 'InvalidXmlDocument');
});

test('status tables rotate (admin rotate-status-table, --status-table-rotation-s): each status is written to the table its message names', async () => {
  await k.mgmt('qdb', '.create table R (id:long)');
  const first = await k.ingestQueued('qdb', 'R', Buffer.from('1\n'));
  assert.equal((await settled(first)).Status, 'Succeeded');
  const { table } = await admin(base, 'rotate-status-table', {});
  const res = await k.resources();
  assert.equal(res.IngestionsStatusTable.length, 1);
  assert.match(res.IngestionsStatusTable[0], new RegExp(`/${table}\\?`));
  assert.notEqual(res.IngestionsStatusTable[0], first.resources.IngestionsStatusTable[0]);
  const second = await k.ingestQueued('qdb', 'R', Buffer.from('2\n'));
  assert.equal((await settled(second)).Status, 'Succeeded');
  // the first status is still in its own table, and only there
  assert.equal((await first.status()).Status, 'Succeeded');
  const [tbase, tsas] = res.IngestionsStatusTable[0].split('?');
  const miss = await fetch(`${tbase}(PartitionKey='${first.id}',RowKey='${first.id}')?${tsas}`,
    { headers: { Accept: 'application/json;odata=nometadata' } });
  assert.equal(miss.status, 404);
  assert.equal(await k.count('qdb', 'R'), 2);
});
