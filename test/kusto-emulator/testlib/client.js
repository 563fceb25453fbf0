'use strict';
// A minimal Kusto client for the emulator's tests, written from the protocol
// (kusto-protocol.md) rather than from the emulator: tokens, management
// commands and queries, and every step of queued ingestion done by hand
// (blob PUT, status entity, queue message, status polling).

const crypto = require('node:crypto');

class TestClient {
  constructor(base, { tenant = 'emulator', clientId = 'kusto-sink-dev', secret = 'dev-secret' } = {}) {
    Object.assign(this, { base, tenant, clientId, secret });
  }

  async token() {
    const res = await fetch(`${this.base}/${this.tenant}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: this.clientId,
        client_secret: this.secret, scope: `${this.base}/.default` }),
    });
    const j = await res.json();
    if (!j.access_token) throw new Error(`no token: ${JSON.stringify(j)}`);
    this.bearer = j.access_token;
    return this.bearer;
  }

  /** { status, body } of a management command or query (v1). */
  async run(kind, db, csl) {
    if (!this.bearer) await this.token();
    const res = await fetch(`${this.base}/v1/rest/${kind}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.bearer}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ db, csl }),
    });
    return { status: res.status, body: await res.json() };
  }

  /** Rows of the first table as objects; throws with Kusto's error message otherwise. */
  async rows(kind, db, csl) {
    const r = await this.run(kind, db, csl);
    if (r.status !== 200) throw new Error(`${r.status} ${r.body.error && r.body.error['@message']}`);
    const t = r.body.Tables[0];
    return t.Rows.map((row) => Object.fromEntries(t.Columns.map((c, i) => [c.ColumnName, row[i]])));
  }

  mgmt(db, csl) { return this.rows('mgmt', db, csl); }

  async count(db, table) { return (await this.rows('query', db, `${table} | count`))[0].Count; }

  async resources() {
    const rows = await this.mgmt('NetDefaultDB', '.get ingestion resources');
    const out = {};
    for (const r of rows) (out[r.ResourceTypeName] ||= []).push(r.StorageRoot);
    out.context = (await this.mgmt('NetDefaultDB', '.get kusto identity token'))[0].AuthorizationContext;
    return out;
  }

  /**
   * Queued ingestion by hand. Returns { id, status() } where status() reads the
   * status table entity.
   */
  async ingestQueued(db, table, data, props = {}, { reportLevel = 2, reportMethod = 1, container = 0, flush = true } = {}) {
    const res = await this.resources();
    const id = crypto.randomUUID();
    const [cbase, csas] = res.TempStorage[container].split('?');
    const blob = `${cbase}/${db}__${table}__${id}.${props.format || 'csv'}?${csas}`;
    let r = await fetch(blob, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob', 'x-ms-version': '2021-08-06' }, body: data });
    if (r.status !== 201) throw new Error(`blob PUT: ${r.status}`);
    const [tbase, tsas] = res.IngestionsStatusTable[0].split('?');
    r = await fetch(`${tbase}?${tsas}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json;odata=nometadata' },
      body: JSON.stringify({ PartitionKey: id, RowKey: id, Status: 'Pending', IngestionSourceId: id,
        Database: db, Table: table }),
    });
    if (r.status !== 201) throw new Error(`status entity: ${r.status}`);
    const msg = { Id: id, BlobPath: blob, RawDataSize: data.length, DatabaseName: db, TableName: table,
      RetainBlobOnSuccess: true, FlushImmediately: flush, IgnoreSizeLimit: false, ReportLevel: reportLevel,
      ReportMethod: reportMethod, SourceMessageCreationTime: new Date().toISOString(),
      IngestionStatusInTable: { TableConnectionString: res.IngestionsStatusTable[0], PartitionKey: id, RowKey: id },
      AdditionalProperties: { authorizationContext: res.context, ...props } };
    const [qbase, qsas] = res.SecuredReadyForAggregationQueue[0].split('?');
    r = await fetch(`${qbase}/messages?${qsas}`, {
      method: 'POST',
      body: `<QueueMessage><MessageText>${Buffer.from(JSON.stringify(msg)).toString('base64')}</MessageText></QueueMessage>`,
    });
    if (r.status !== 201) throw new Error(`queue POST: ${r.status}`);
    return {
      id,
      resources: res,
      status: async () => (await fetch(`${tbase}(PartitionKey='${id}',RowKey='${id}')?${tsas}`,
        { headers: { Accept: 'application/json;odata=nometadata' } })).json(),
    };
  }

  /** Messages waiting in a status queue (FailedIngestionsQueue / SuccessfulIngestionsQueue), decoded. */
  async peek(res, queue) {
    const [qbase, qsas] = res[queue][0].split('?');
    const xml = await (await fetch(`${qbase}/messages?peekonly=true&numofmessages=32&${qsas}`)).text();
    return [...xml.matchAll(/<MessageText>([^<]*)<\/MessageText>/g)]
      .map((m) => JSON.parse(Buffer.from(m[1], 'base64').toString()));
  }
}

async function waitFor(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function admin(base, path, body) {
  const res = await fetch(`${base}/admin/${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
  return res.json();
}

module.exports = { TestClient, waitFor, admin };
