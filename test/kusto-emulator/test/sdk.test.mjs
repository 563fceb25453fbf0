// Conformance with the official Kusto SDKs for Node (azure-kusto-data,
// azure-kusto-ingest): the SDKs create a table and a mapping, query with v1
// and v2, and ingest with the queued, streaming and managed-streaming clients
// against the emulator; rows are checked by query and the queued ingestion's
// status is read from the status table through the SDK. The SDKs get their
// token through their token-provider option (their authority cannot be a
// loopback URL); the token endpoint itself is tested in emulator.test.js.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Client, KustoConnectionStringBuilder } from 'azure-kusto-data';
import {
  IngestClient, StreamingIngestClient, ManagedStreamingIngestClient, IngestionProperties,
  DataFormat, ReportLevel, ReportMethod, StreamDescriptor,
} from 'azure-kusto-ingest';
import { Readable } from 'node:stream';

const require = createRequire(import.meta.url);
const { startEmulator } = require('../testlib/helpers.js');
const { waitFor } = require('../testlib/client.js');

let proc;
let base;
let kcsb;

async function token() {
  const res = await fetch(`${base}/emulator/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'kusto-sink-dev',
      client_secret: 'dev-secret', scope: `${base}/.default` }),
  });
  return (await res.json()).access_token;
}

async function count(client, table) {
  const r = await client.execute('sdkdb', `${table} | count`);
  return Number(r.primaryResults[0].toJSON().data[0].Count);
}

before(async () => {
  const certs = process.env.KUSTO_EMULATOR_CERTS;
  if (!certs || !process.env.NODE_EXTRA_CA_CERTS) {
    throw new Error('run the SDK tests through scripts/run-tests.sh (it makes and trusts a test CA)');
  }
  ({ base, proc } = await startEmulator(['--ingestion-delay-ms', '200',
    '--tls-cert', `${certs}/server.pem`, '--tls-key', `${certs}/server-key.pem`]));
  kcsb = () => KustoConnectionStringBuilder.withTokenProvider(base, token);
});

after(() => proc.kill('SIGTERM'));

test('azure-kusto-data: management (v1) and queries (v1 and v2)', async () => {
  const client = new Client(kcsb());
  await client.executeMgmt('sdkdb', '.create table Q (id:long, name:string, at:datetime)');
  await client.executeMgmt('sdkdb', '.alter table Q policy streamingingestion enable');
  const tables = await client.executeMgmt('sdkdb', '.show tables');
  assert.ok(tables.primaryResults[0].toJSON().data.some((r) => r.TableName === 'Q'));
  const v2 = await client.execute('sdkdb', 'Q | count');
  assert.equal(Number(v2.primaryResults[0].toJSON().data[0].Count), 0);
  const v1 = await client.executeQueryV1('sdkdb', 'Q | count');
  assert.equal(Number(v1.primaryResults[0].toJSON().data[0].Count), 0);
  await assert.rejects(client.execute('sdkdb', 'NoSuchTable | count'),
    (e) => e.response.status === 400 && /NoSuchTable/.test(JSON.stringify(e.response.data)));
  client.close();
});

test('azure-kusto-ingest: queued ingestion with a mapping, status from the status table, dedup by tag', async () => {
  const data = new Client(kcsb());
  await data.executeMgmt('sdkdb', '.create table Queued (id:long, name:string)');
  await data.executeMgmt('sdkdb', `.create table Queued ingestion json mapping "m" '[{"column":"id","path":"$.k"},{"column":"name","path":"$.v.name"}]'`);
  const ingest = new IngestClient(kcsb());
  const props = new IngestionProperties({ database: 'sdkdb', table: 'Queued', format: DataFormat.JSON,
    ingestionMappingReference: 'm', reportLevel: ReportLevel.FailuresAndSuccesses,
    reportMethod: ReportMethod.Table, ingestByTags: ['batch-1'], ingestIfNotExists: ['batch-1'] });
  const lines = '{"k":1,"v":{"name":"a"}}\n{"k":2,"v":{"name":"b"}}\n';
  const result = await ingest.ingestFromStream(new StreamDescriptor(Readable.from([Buffer.from(lines)])), props);
  const status = await waitFor('Succeeded', async () => {
    const s = await result.getIngestionStatusCollection();
    return s.Status !== 'Pending' && s;
  });
  assert.equal(status.Status, 'Succeeded');
  assert.equal(await count(data, 'Queued'), 2);
  const rows = (await data.execute('sdkdb', 'Queued | order by id asc')).primaryResults[0].toJSON().data;
  assert.deepEqual(rows.map((r) => [Number(r.id), r.name]), [[1, 'a'], [2, 'b']]);

  // the same batch again: skipped because an extent carries ingest-by:batch-1
  const again = await ingest.ingestFromStream(new StreamDescriptor(Readable.from([Buffer.from(lines)])), props);
  const s2 = await waitFor('Skipped', async () => {
    const s = await again.getIngestionStatusCollection();
    return s.Status !== 'Pending' && s;
  });
  assert.equal(s2.ErrorCode, 'Skipped_IngestByTagAlreadyExists');
  assert.equal(await count(data, 'Queued'), 2);
  ingest.close();
  data.close();
});

test('azure-kusto-ingest: streaming and managed-streaming clients', async () => {
  const data = new Client(kcsb());
  await data.executeMgmt('sdkdb', '.create table S (id:long, name:string)');
  await data.executeMgmt('sdkdb', '.alter table S policy streamingingestion enable');
  const props = new IngestionProperties({ database: 'sdkdb', table: 'S', format: DataFormat.CSV });
  const streaming = new StreamingIngestClient(kcsb());
  await streaming.ingestFromStream(new StreamDescriptor(Readable.from([Buffer.from('1,a\n2,b\n')])), props);
  assert.equal(await count(data, 'S'), 2);
  const managed = new ManagedStreamingIngestClient(kcsb(), kcsb());
  await managed.ingestFromStream(new StreamDescriptor(Readable.from([Buffer.from('3,c\n')])), props);
  assert.equal(await count(data, 'S'), 3);

  // streaming disabled: the managed client falls back to queued ingestion
  await data.executeMgmt('sdkdb', '.create table M (id:long)');
  const mprops = new IngestionProperties({ database: 'sdkdb', table: 'M', format: DataFormat.CSV });
  await managed.ingestFromStream(new StreamDescriptor(Readable.from([Buffer.from('1\n2\n3\n')])), mprops);
  await waitFor('3 rows in M', async () => (await count(data, 'M')) === 3);
  streaming.close();
  managed.close();
  data.close();
});
