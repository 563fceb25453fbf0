'use strict';
// The emulator's own behaviour, through its real executable on a free port:
// tokens, management commands, queries (v1 and v2), streaming ingestion with
// Kusto's parsing rules, error bodies, and injected faults.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const zlib = require('node:zlib');
const { startEmulator } = require('../testlib/helpers');

let proc;
let base;
let token;

async function getToken(secret = 'dev-secret', tenant = 'emulator') {
  const res = await fetch(`${base}/${tenant}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'kusto-sink-dev',
      client_secret: secret, scope: `${base}/.default` }),
  });
  return { status: res.status, body: await res.json() };
}

async function rest(pathname, csl, { auth = true, db = 'db1' } = {}) {
  const res = await fetch(`${base}${pathname}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(auth ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ db, csl, properties: '{"Options":{}}' }),
  });
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: res.status, body };
}

const mgmt = (csl, o) => rest('/v1/rest/mgmt', csl, o);
const query = async (csl) => (await rest('/v1/rest/query', csl)).body.Tables[0].Rows;

async function ingest(table, data, { format = 'json', gzip = true, db = 'db1' } = {}) {
  const body = gzip ? zlib.gzipSync(Buffer.from(data)) : Buffer.from(data);
  const res = await fetch(`${base}/v1/rest/ingest/${db}/${table}?streamFormat=${format}`, {
    method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Encoding': 'gzip' }, body,
  });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  ({ base, proc } = await startEmulator());
  token = (await getToken()).body.access_token;
});

after(() => { proc.kill('SIGTERM'); });

test('the development principal gets a token; a wrong secret gets the Entra ID error', async () => {
  const good = await getToken();
  assert.equal(good.status, 200);
  assert.ok(good.body.access_token);
  assert.ok(good.body.expires_in > 3000);
  const bad = await getToken('nope');
  assert.equal(bad.status, 401);
  assert.equal(bad.body.error, 'invalid_client');
  assert.match(bad.body.error_description, /^AADSTS7000215: Invalid client secret/);
  const unknown = await getToken('dev-secret', 'other-tenant');
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error, 'unauthorized_client');
});

test('auth metadata names the emulator as login endpoint and resource', async () => {
  const res = await (await fetch(`${base}/v1/rest/auth/metadata`)).json();
  assert.equal(res.AzureAD.LoginEndpoint, base);
  assert.equal(res.AzureAD.KustoServiceResourceId, base);
});

test('no token or a bad token: 401 with Kusto error JSON', async () => {
  const none = await mgmt('.show tables', { auth: false });
  assert.equal(none.status, 401);
  assert.equal(none.body.error.code, 'Unauthorized');
  assert.equal(none.body.error['@permanent'], true);
  const saved = token;
  token = 'abc.def';
  const bad = await mgmt('.show tables');
  token = saved;
  assert.equal(bad.status, 401);
});

test('tables: create, create-merge, show, schema; unknown commands and tables are errors', async () => {
  const created = await mgmt('.create table T (id:long, name:string, at:datetime, d:dynamic, amount:decimal, ok:bool, r:real, g:guid, span:timespan)');
  assert.equal(created.status, 200);
  assert.equal(created.body.Tables[0].Columns[0].ColumnType, 'string');
  await mgmt('.create-merge table T (extra:int)');
  const schema = JSON.parse((await mgmt('.show table T schema as json')).body.Tables[0].Rows[0][1]);
  assert.deepEqual(schema.OrderedColumns.map((c) => c.CslType),
    ['long', 'string', 'datetime', 'dynamic', 'decimal', 'bool', 'real', 'guid', 'timespan', 'int']);
  const clash = await mgmt('.alter-merge table T (extra:string)');
  assert.equal(clash.status, 400, 'a merge cannot change a column type');
  assert.equal(clash.body.error.code, 'BadRequest_BadColumnType');
  await mgmt('.create table AltCol (a:int)');
  await mgmt('.alter column AltCol.a type=string');
  assert.equal(JSON.parse((await mgmt('.show table AltCol schema as json')).body.Tables[0].Rows[0][1]).OrderedColumns[0].CslType,
    'string', '.alter column changes it');
  const tables = (await mgmt('.show tables')).body.Tables[0].Rows.map((r) => r[0]);
  assert.ok(tables.includes('T'));
  const unknown = await mgmt('.frobnicate');
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error.code, 'General_BadRequest');
  const missing = await rest('/v1/rest/query', 'Nope | count');
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error.code, 'BadRequest_EntityNotFound');
});

test('streaming ingestion needs the policy, parses by Kusto rules, and answers a v1 table', async () => {
  const off = await ingest('T', '{"id":1}\n');
  assert.equal(off.status, 400);
  assert.equal(off.body.error.code, 'BadRequest_StreamingIngestionPolicyNotEnabled');
  await mgmt('.alter table T policy streamingingestion enable');
  const lines = [
    { id: 1, name: 'a', at: '2024-01-02T03:04:05.1234567Z', d: { x: [1, 2] }, amount: '12.50', ok: true, r: 'NaN', g: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', span: '1.02:03:04.5' },
    { id: 2, name: 'b', at: 'not a date', d: null, amount: 'x', ok: 'maybe', r: 1.5, g: 'nope', span: 'x' },
    { id: 3, at: '2024-01-02T05:00:00+02:00' },
  ].map((o) => JSON.stringify(o)).join('\n');
  const res = await ingest('T', lines);
  assert.equal(res.status, 200);
  assert.equal(res.body.Tables[0].Rows[0][0], 3);
  const rows = await query('T | where id == 1 | project at, d, amount, ok, r, g, span');
  assert.deepEqual(rows, [['2024-01-02T03:04:05.1234567Z', '{"x":[1,2]}', '12.50', true, 'NaN',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1.02:03:04.5']]);
  const nulls = await query('T | where id == 2 | project at, amount, ok, g, span');
  assert.deepEqual(nulls, [[null, null, null, null, null]], 'values that do not parse become null');
  assert.deepEqual(await query('T | where id == 3 | project at, name'), [['2024-01-02T03:00:00Z', '']]);
});

test('csv ingestion: RFC 4180 quoting, plain (not gzip) bodies, too many fields is an error', async () => {
  await mgmt('.create table C (a:long, b:string)');
  await mgmt('.alter table C policy streamingingestion enable');
  const ok = await ingest('C', '1,"x, ""quoted""\nand a newline"\n2,plain\n', { format: 'csv', gzip: false });
  assert.equal(ok.status, 200);
  assert.deepEqual(await query('C | where a == 1 | project b'), [['x, "quoted"\nand a newline']]);
  const bad = await ingest('C', '1,2,3\n', { format: 'csv' });
  assert.equal(bad.status, 400);
  assert.equal(await query('C | count').then((r) => r[0][0]), 2, 'a failed request adds nothing');
});

test('too large a stream is refused', async () => {
  const big = `${JSON.stringify({ id: 1, name: 'x'.repeat(5 * 1024 * 1024) })}\n`;
  const res = await ingest('T', big);
  assert.equal(res.status, 413);
  assert.equal(res.body.error.code, 'Stream_InputStreamTooLarge');
});

test('queries: count, where with and/or, summarize by, order, distinct, take; v2 frames', async () => {
  assert.deepEqual(await query('T | count'), [[3]]);
  assert.deepEqual(await query('T | where id > 1 and id < 3 or id == 1 | summarize n = count()'), [[2]]);
  assert.deepEqual(await query('C | summarize count() by a | order by a asc'), [[1, 1], [2, 1]]);
  assert.deepEqual(await query('T | distinct name | order by name asc'), [[''], ['a'], ['b']]);
  assert.equal((await query('T | take 1')).length, 1);
  const v2 = await rest('/v2/rest/query', 'T | where id == 1 | project d');
  assert.ok(Array.isArray(v2.body));
  const primary = v2.body.find((f) => f.TableKind === 'PrimaryResult');
  assert.deepEqual(primary.Rows, [[{ x: [1, 2] }]], 'dynamic is raw JSON in v2');
  assert.equal(v2.body[v2.body.length - 1].FrameType, 'DataSetCompletion');
  const ctl = await rest('/v2/rest/query', '.show tables');
  assert.equal(ctl.status, 400);
});

test('faults: status with Retry-After, dropped connections, delays; stats count requests', async () => {
  const admin = (p, body) => fetch(`${base}${p}`, { method: 'POST', body: JSON.stringify(body) });
  await admin('/admin/faults', { kind: 'query', count: 1, action: { status: 429, retryAfter: 3 } });
  const throttled = await fetch(`${base}/v1/rest/query`, { method: 'POST',
    headers: { Authorization: `Bearer ${token}` }, body: JSON.stringify({ db: 'db1', csl: 'T | count' }) });
  assert.equal(throttled.status, 429);
  assert.equal(throttled.headers.get('retry-after'), '3');
  assert.equal((await throttled.json()).error['@permanent'], false);
  assert.deepEqual(await query('T | count'), [[3]], 'only the next request is affected');

  await admin('/admin/faults', { kind: 'streaming', count: 1, action: { drop: true } });
  await assert.rejects(ingest('T', '{"id":9}\n'));
  await admin('/admin/faults', { kind: 'mgmt', count: 1, action: { delay: 300 } });
  const t0 = Date.now();
  await mgmt('.show tables');
  assert.ok(Date.now() - t0 >= 290);
  const stats = await (await fetch(`${base}/admin/stats`)).json();
  assert.ok(stats.requests.query >= 2 && stats.requests.streaming >= 1 && stats.requests.token >= 1);
});

test('managed identity: IMDS needs Metadata: true; App Service needs its header', async () => {
  const imds = (headers, q = 'api-version=2018-02-01&resource=x') => fetch(`${base}/metadata/identity/oauth2/token?${q}`, { headers });
  const ok = await imds({ Metadata: 'true' });
  assert.equal(ok.status, 200);
  const body = await ok.json();
  assert.equal(typeof body.expires_in, 'string', 'IMDS answers numbers as strings');
  token = body.access_token;
  assert.equal((await mgmt('.show version')).status, 200, 'the token works on the engine');
  assert.equal((await imds({})).status, 400);
  const user = await (await imds({ Metadata: 'true' }, 'api-version=2018-02-01&resource=x&client_id=abc')).json();
  assert.equal(user.client_id, 'abc');
  const app = await fetch(`${base}/msi/token?api-version=2019-08-01&resource=x`, { headers: { 'X-IDENTITY-HEADER': 'emulator-identity-header' } });
  assert.equal(app.status, 200);
  const wrong = await fetch(`${base}/msi/token?api-version=2019-08-01&resource=x`, { headers: { 'X-IDENTITY-HEADER': 'no' } });
  assert.equal(wrong.status, 400);
});

test('workload identity: the federated token as client assertion', async () => {
  const post = (assertion) => fetch(`${base}/emulator/oauth2/v2.0/token`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'kusto-sink-dev', scope: 'x',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
  });
  assert.equal((await post('dev-federated-token')).status, 200);
  const bad = await post('forged');
  assert.equal(bad.status, 401);
  assert.match((await bad.json()).error_description, /^AADSTS700213/);
});
