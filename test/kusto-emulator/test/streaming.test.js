'use strict';
// Real Kusto's strict streaming behaviours (issue 19): a cluster whose
// streaming ingestion is off (--cluster-streaming off: the policy command
// fails, the streaming endpoint answers 404) and the streaming nodes' stale
// schema after a change (--streaming-schema-delay-ms: the old columns and
// mappings until the delay passes or `.clear table T cache streamingingestion
// schema`).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../testlib/helpers');
const { TestClient, admin } = require('../testlib/client');

let proc;
let base;
let k;

before(async () => {
  ({ base, proc } = await startEmulator(['--cluster-streaming', 'off', '--streaming-schema-delay-ms', '60000']));
  k = new TestClient(base);
  await k.token();
});

after(() => proc.kill('SIGTERM'));

async function stream(db, table, body, mapping) {
  const res = await fetch(`${base}/v1/rest/ingest/${db}/${table}?streamFormat=json${mapping ? `&mappingName=${mapping}` : ''}`,
    { method: 'POST', headers: { Authorization: `Bearer ${k.bearer}` }, body });
  return { status: res.status, body: await res.json() };
}

test('streaming off on the cluster: the policy command fails, the endpoint answers 404', async () => {
  await k.mgmt('sdb', '.create table T (id:long)');
  const r = await k.run('mgmt', 'sdb', '.alter table T policy streamingingestion enable');
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'BadRequest_StreamingIngestionDisabledForCluster');
  assert.equal(r.body.error['@permanent'], true);
  const s = await stream('sdb', 'T', '{"id":1}\n');
  assert.equal(s.status, 404);
  assert.equal(s.body.error.code, 'NotFound_StreamingIngestionDisabledForCluster');
  assert.equal(await k.count('sdb', 'T'), 0);
});

test('the streaming nodes keep the old schema and mappings after a change, until the cache is cleared', async () => {
  await admin(base, 'config', { clusterStreaming: true });
  await k.mgmt('sdb', '.create table S (id:long, a:string)');
  await k.mgmt('sdb', '.alter table S policy streamingingestion enable');
  // the policy change itself is stale at first: streaming looks off for the table
  let s = await stream('sdb', 'S', '{"id":1,"a":"x"}\n');
  assert.equal(s.body.error.code, 'BadRequest_StreamingIngestionPolicyNotEnabled');
  await k.mgmt('sdb', '.clear table S cache streamingingestion schema');
  s = await stream('sdb', 'S', '{"id":1,"a":"x"}\n');
  assert.equal(s.status, 200);

  // a new column and a new mapping: the stream still sees the old ones
  await k.mgmt('sdb', '.alter-merge table S (b:string)');
  await k.mgmt('sdb', ".create table S ingestion json mapping 'm2' '[{\"column\":\"id\",\"path\":\"$.id\"},{\"column\":\"b\",\"path\":\"$.b\"}]'");
  s = await stream('sdb', 'S', '{"id":2}\n', 'm2');
  assert.equal(s.status, 400);
  assert.equal(s.body.error.code, 'BadRequest_MappingReferenceWasNotFound');
  assert.equal(s.body.error['@permanent'], true);
  s = await stream('sdb', 'S', '{"id":3,"a":"y","b":"lost"}\n');
  assert.equal(s.status, 200);
  assert.deepEqual(await k.rows('query', 'sdb', 'S | where id == 3 | project id, a, b'), [{ id: 3, a: 'y', b: null }],
    'the new column\'s value is dropped: "incomplete and distorted"');
  // queued ingestion and queries see the new schema at once; the clear ends it for streams
  await k.mgmt('sdb', '.clear table S cache streamingingestion schema');
  s = await stream('sdb', 'S', '{"id":4,"b":"kept"}\n', 'm2');
  assert.equal(s.status, 200);
  assert.deepEqual(await k.rows('query', 'sdb', 'S | where id == 4 | project id, b'), [{ id: 4, b: 'kept' }]);
});
