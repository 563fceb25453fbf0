'use strict';
// --principals (rights per database, 403s, declared databases, managed
// identities) and --state-dir (tables, rows, mappings and queued-ingestion
// storage survive a restart).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startEmulator } = require('../testlib/helpers');
const { TestClient, waitFor } = require('../testlib/client');

const stop = (proc) => new Promise((r) => { proc.on('exit', r); proc.kill('SIGTERM'); });

test('--principals: roles per database, 403 with Kusto\'s error, unknown database, identities', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'principals-'));
  const file = path.join(dir, 'principals.json');
  fs.writeFileSync(file, JSON.stringify({
    databases: ['sales', 'ops'],
    principals: [
      { tenant: 't1', clientId: 'admin-app', secret: 's1', databases: { '*': 'admin' } },
      { tenant: 't1', clientId: 'reader', secret: 's2', databases: { sales: 'viewer' } },
      { tenant: 't1', clientId: 'loader', secret: 's3', databases: { sales: 'ingestor' } },
      { managedIdentity: 'mi-1', databases: { ops: 'viewer' } },
    ],
  }));
  const { base, proc } = await startEmulator(['--principals', file, '--ingestion-delay-ms', '0']);
  try {
    const adminApp = new TestClient(base, { tenant: 't1', clientId: 'admin-app', secret: 's1' });
    await adminApp.mgmt('sales', '.create table T (id:long)');
    await adminApp.mgmt('sales', '.alter table T policy streamingingestion enable');

    const reader = new TestClient(base, { tenant: 't1', clientId: 'reader', secret: 's2' });
    assert.equal(await reader.count('sales', 'T'), 0);
    const denied = await reader.run('mgmt', 'sales', '.drop table T');
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'Forbidden');
    assert.match(denied.body.error['@message'], /Principal 'aadapp=reader;t1' is not authorized to perform operation '\.drop table' on database 'sales'/);
    assert.equal((await reader.run('query', 'ops', 'T | count')).status, 403);
    const noDb = await adminApp.run('query', 'nosuchdb', 'T | count');
    assert.equal(noDb.status, 400);
    assert.match(noDb.body.error['@message'], /'nosuchdb' of kind 'Database' was not found/);

    // the dev principal does not exist here
    const dev = await fetch(`${base}/emulator/oauth2/v2.0/token`, { method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'kusto-sink-dev', client_secret: 'dev-secret' }) });
    assert.equal((await dev.json()).error, 'unauthorized_client');

    // ingestion rights: the reader's streaming ingest is refused, the loader's accepted
    await reader.token();
    const streamAs = async (c) => fetch(`${base}/v1/rest/ingest/sales/T?streamFormat=csv`,
      { method: 'POST', headers: { Authorization: `Bearer ${c.bearer}` }, body: '1\n' });
    assert.equal((await streamAs(reader)).status, 403);
    const loader = new TestClient(base, { tenant: 't1', clientId: 'loader', secret: 's3' });
    await loader.token();
    assert.equal((await streamAs(loader)).status, 200);
    // queued: the DM checks the rights carried by the authorization context
    const op = await loader.ingestQueued('sales', 'T', Buffer.from('2\n'));
    const s = await waitFor('Succeeded', async () => { const x = await op.status(); return x.Status !== 'Pending' && x; });
    assert.equal(s.Status, 'Succeeded');
    assert.equal(await adminApp.count('sales', 'T'), 2);

    // managed identity: a registered one gets a token, an unknown one does not
    const mi = (id) => fetch(`${base}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${base}&client_id=${id}`,
      { headers: { Metadata: 'true' } });
    assert.equal((await mi('mi-1')).status, 200);
    const unknown = await mi('mi-2');
    assert.equal(unknown.status, 400);
    assert.match((await unknown.json()).error_description, /Identity not found/);
  } finally {
    await stop(proc);
  }
});

test('--state-dir: tables, rows, extents and mappings survive a restart', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'state-'));
  let { base, proc } = await startEmulator(['--state-dir', dir, '--ingestion-delay-ms', '0']);
  let k = new TestClient(base);
  await k.mgmt('db', '.create table P (id:long, s:string)');
  await k.mgmt('db', `.create table P ingestion csv mapping "m" '[{"column":"id","Ordinal":0}]'`);
  const op = await k.ingestQueued('db', 'P', Buffer.from('1,x\n2,y\n'), { format: 'csv', tags: '["ingest-by:z"]' });
  await waitFor('Succeeded', async () => (await op.status()).Status === 'Succeeded');
  await stop(proc);

  ({ base, proc } = await startEmulator(['--state-dir', dir, '--ingestion-delay-ms', '0']));
  try {
    k = new TestClient(base);
    assert.equal(await k.count('db', 'P'), 2);
    assert.deepEqual((await k.mgmt('db', '.show table P ingestion mappings')).map((m) => m.Name), ['m']);
    assert.ok((await k.mgmt('db', '.show table P extents')).some((e) => e.Tags === 'ingest-by:z'));
    // the status entity written before the restart is still in Azurite (new URLs: fetch them again)
    const [tbase, tsas] = (await k.resources()).IngestionsStatusTable[0].split('?');
    const entity = await (await fetch(`${tbase}(PartitionKey='${op.id}',RowKey='${op.id}')?${tsas}`,
      { headers: { Accept: 'application/json;odata=nometadata' } })).json();
    assert.equal(entity.Status, 'Succeeded');
  } finally {
    await stop(proc);
  }
});
