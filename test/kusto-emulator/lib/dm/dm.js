'use strict';
// The data management (DM) service of queued ingestion: it reads ingestion
// messages from the ready-for-aggregation queue, waits the batching delay,
// downloads the blob, ingests it into the engine (format, mapping reference or
// inline mapping, tags, ingestIfNotExists) and reports the outcome the way the
// message asks: the status table entity (IngestionStatusInTable) and/or the
// success and failure queues, per ReportLevel and ReportMethod.

const crypto = require('node:crypto');
const zlib = require('node:zlib');
const { KustoError } = require('../errors');

const DEFAULT_DELAY_MS = 1000;     // a table without a batching policy (and no override)

const REPORT_LEVEL = { FailuresOnly: 0, None: 1, FailuresAndSuccesses: 2 };
const REPORT_METHOD = { Queue: 0, Table: 1, QueueAndTable: 2 };

class DataManagement {
  /**
   * @param {object} o { engine: () => Engine, storage: StorageRest (direct to Azurite),
   *   names: { ready, failed, succeeded, status }, toAzurite: (url) => url,
   *   checkAuthContext: (s) => subject | null, authorize: (subject, db) => throws, delayMs }
   */
  constructor(o) {
    Object.assign(this, o);
    this.faults = [];                // { count, kind: 'transient'|'permanent'|'partial' }
    this.inFlight = new Set();
    this.stopped = false;
    this.processed = 0;
    this.withCreationTime = 0;       // messages that carried creationTime (GET /admin/stats)
    this.batchBlobs = new Map();     // blob (without SAS) -> the processing of its first message
  }

  start() { this.loop = this.run(); }

  async stop() {
    this.stopped = true;
    for (const b of (this.batches || new Map()).values()) b.seal();
    clearTimeout(this.timer);
    if (this.wake) this.wake();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  async run() {
    while (!this.stopped) {
      let msgs = [];
      // (hidden from the next read for longer than any batch is held)
      try { msgs = await this.storage.getMessages(this.names.ready, this.visibilitySeconds()); } catch (e) {
        if (!this.stopped) process.stderr.write(`kusto-emulator: DM cannot read its queue: ${e.message}\n`);
      }
      for (const m of msgs) {
        const p = this.later(m).finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      }
      if (msgs.length < 32) {
        await new Promise((r) => { this.wake = r; this.timer = setTimeout(r, 50); });
      }
    }
  }

  // the batching time, which FlushImmediately skips as in Kusto
  async later(msg) {
    let flush = false;
    let parsed = null;
    try { parsed = JSON.parse(Buffer.from(msg.text, 'base64').toString('utf8')); flush = !!parsed.FlushImmediately; } catch { /* process() says why */ }
    // a message for a blob whose first message is still in its batch: Kusto
    // answers BlobAlreadyReceived_BlobAlreadyFoundInBatch (permanent, the
    // ingestion error codes table); its report lands after the first's, on
    // the same status entity when the messages share their id
    // (the same blob: the same blob name under the same ingestion id, whichever
    // container of the ingestion resources the re-send picked)
    const blob = parsed && parsed.BlobPath ? `${parsed.Id}/${stripSas(parsed.BlobPath).split('/').pop()}` : null;
    if (blob && this.batchBlobs.has(blob)) {
      await this.batchBlobs.get(blob);
      if (this.stopped) return;
      try {
        await this.report(parsed, { status: 'Failed', errorCode: 'BlobAlreadyReceived_BlobAlreadyFoundInBatch',
          failureStatus: 'Permanent', details: 'The blob was already received in this ingestion batch.' }, crypto.randomUUID(), 0);
        await this.storage.deleteMessage(this.names.ready, msg);
        this.processed++;
      } catch (e) {
        process.stderr.write(`kusto-emulator: DM: ${e.stack || e.message}\n`);
      }
      return;
    }
    let done;
    if (blob) this.batchBlobs.set(blob, new Promise((r) => { done = r; }));
    try {
      if (parsed && !flush) await this.batched(parsed);
      if (this.stopped) return;
      await this.process(msg);
      await this.storage.deleteMessage(this.names.ready, msg);
      this.processed++;
    } catch (e) {
      process.stderr.write(`kusto-emulator: DM: ${e.stack || e.message}\n`);
    } finally {
      if (blob) { this.batchBlobs.delete(blob); done(); }
    }
  }

  /*
   * Waits until the blob's batch is sealed: with an override of the delay
   * (--ingestion-delay-ms, admin config ingestionDelayMs), that long; else by
   * its table's (or database's) IngestionBatching policy: the blobs of a table
   * queued since its batch opened complete together when the batch is
   * MaximumBatchingTimeSpan old, holds MaximumNumberOfItems blobs or
   * MaximumRawDataSizeMB of raw data; without a policy, after DEFAULT_DELAY_MS
   * (the emulator's stand-in for Kusto's 5-minute default).
   */
  batched(m) {
    let policy = null;
    if (this.delayMs === undefined || this.delayMs === null || Number.isNaN(this.delayMs)) {
      try { policy = this.engine().batchingPolicy(m.DatabaseName, m.TableName); } catch { /* process() says why */ }
    }
    if (!policy) {
      const ms = this.delayMs ?? DEFAULT_DELAY_MS;
      return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
    }
    const key = `${m.DatabaseName}\u0000${m.TableName}`;
    this.batches = this.batches || new Map();
    let b = this.batches.get(key);
    if (!b) {
      b = { items: 0, bytes: 0, waiters: [] };
      b.seal = () => { clearTimeout(b.timer); if (this.batches.get(key) === b) this.batches.delete(key); b.waiters.forEach((r) => r()); };
      b.timer = setTimeout(b.seal, policy.timeMs);
      this.batches.set(key, b);
    }
    const done = new Promise((r) => b.waiters.push(r));
    b.items++;
    b.bytes += Number((m.AdditionalProperties || {}).rawSizeBytes || m.RawDataSize || 0);
    if (b.items >= policy.items || b.bytes >= policy.rawBytes) b.seal();
    return done;
  }

  /*
   * Downloads a message's blob as Kusto's DM does: a blob that is not there
   * (404) fails permanently, Download_SourceNotFound; a failure of storage
   * itself (no connection, a reset, a 5xx: Azurite under load) is tried again
   * a few times and then fails transiently, Download_UnknownError, so that a
   * client sends the blob again rather than taking it for a permanent
   * rejection (it was: under load that cost an exactly-once sink a batching
   * window and a sink with on_error = stop its pause).
   */
  async download(blobPath) {
    const url = this.toAzurite(blobPath);
    let last = null;
    for (const pause of [0, 200, 1000, 3000]) {
      if (pause) await new Promise((r) => setTimeout(r, pause));
      if (this.stopped) break;
      try { return await this.storage.getBlob(url); } catch (e) {
        last = e;
        const status = Number((/: (\d{3}) /.exec(e.message) || [])[1] || 0);
        if (status && status < 500) break;      // the service answered: not a passing fault
      }
    }
    const status = Number((/: (\d{3}) /.exec(last ? last.message : '') || [])[1] || 0);
    if (status === 0 || status >= 500) {
      throw new KustoError(500, 'Download_UnknownError', `The blob could not be downloaded: ${last ? last.message.split(':')[0] : 'stopped'}`, { permanent: false });
    }
    throw new KustoError(400, 'Download_SourceNotFound', `The blob could not be downloaded: ${last.message.split(':')[0]}`, { permanent: true });
  }

  visibilitySeconds() {
    let ms = this.delayMs ?? DEFAULT_DELAY_MS;
    if (this.delayMs === undefined || this.delayMs === null) {
      for (const d of this.engine().databases.values()) {
        if (d.batching) ms = Math.max(ms, d.batching.timeMs);
        for (const t of d.tables.values()) if (t.batching) ms = Math.max(ms, t.batching.timeMs);
      }
    }
    return Math.max(120, Math.ceil(ms / 1000) + 60);
  }

  takeFault() {
    const f = this.faults.find((x) => x.count > 0);
    if (!f) return null;
    f.count--;
    return f.kind;
  }

  async process(qmsg) {
    let m;
    try { m = JSON.parse(Buffer.from(qmsg.text, 'base64').toString('utf8')); } catch {
      return;                        // not an ingestion message: dropped, as the service does
    }
    if (process.env.KUSTO_EMULATOR_TRACE) process.stderr.write(`kusto-emulator: DM message ${JSON.stringify(m)}\n`);
    const props = m.AdditionalProperties || {};
    const outcome = { status: 'Succeeded', errorCode: '', failureStatus: '', details: '' };
    const operationId = crypto.randomUUID();
    let rows = 0;
    try {
      if (!m.Id || !m.BlobPath || !m.DatabaseName || !m.TableName) {
        throw new KustoError(400, 'BadRequest_InvalidMessage', 'The ingestion message misses Id, BlobPath, DatabaseName or TableName.');
      }
      const subject = this.checkAuthContext(props.authorizationContext);
      if (!subject) {
        throw new KustoError(403, 'Forbidden_InvalidAuthorizationContext',
          'The ingestion message has no valid authorizationContext (from .get kusto identity token).');
      }
      this.authorize(subject, m.DatabaseName);
      const fault = this.takeFault();
      if (fault === 'transient') {
        throw new KustoError(500, 'General_TransientFailure', 'Injected transient ingestion failure.', { permanent: false });
      }
      if (fault === 'permanent') {
        throw new KustoError(400, 'BadRequest_InvalidBlob', 'Injected permanent ingestion failure.', { permanent: true });
      }
      let data = await this.download(m.BlobPath);
      if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) data = zlib.gunzipSync(data);
      const opts = {
        format: String(props.format || 'csv').toLowerCase(),
        mappingName: props.ingestionMappingReference,
        mapping: props.ingestionMapping,
        tags: jsonList(props.tags),
        ingestIfNotExists: jsonList(props.ingestIfNotExists),
        creationTime: props.creationTime,
      };
      if (props.creationTime !== undefined) this.withCreationTime++;
      if (fault === 'partial') {
        const all = require('../mini/types').readRecords(data.toString('utf8'), opts.format,
          this.engine().table(m.DatabaseName, m.TableName).columns,
          this.engine().resolveMapping(this.engine().table(m.DatabaseName, m.TableName), opts.format, opts));
        opts.limitRows = Math.floor(all.length / 2);
      }
      rows = this.engine().ingest(m.DatabaseName, m.TableName, data, opts).rowCount;
      if (fault === 'partial') {
        Object.assign(outcome, { status: 'PartiallySucceeded', errorCode: 'BadRequest_PartialIngestion',
          failureStatus: 'Permanent', details: `Injected partial ingestion: ${rows} records ingested, the rest rejected.` });
      }
    } catch (e) {
      const err = e instanceof KustoError ? e : new KustoError(400, 'BadRequest_InvalidBlob', String(e.message), { permanent: true });
      const skipped = err.code === 'Skipped_IngestByTagAlreadyExists';
      Object.assign(outcome, { status: skipped ? 'Skipped' : 'Failed', errorCode: err.code,
        failureStatus: err.permanent ? 'Permanent' : 'Transient', details: err.message });
      if (!skipped) {
        this.engine().recordFailure({ operationId, database: m.DatabaseName, table: m.TableName,
          path: stripSas(m.BlobPath), details: err.message, permanent: err.permanent, errorCode: err.code });
      }
    }
    await this.report(m, outcome, operationId, rows);
  }

  async report(m, o, operationId, rows) {
    const level = m.ReportLevel ?? REPORT_LEVEL.FailuresOnly;
    const method = m.ReportMethod ?? REPORT_METHOD.Queue;
    const success = o.status === 'Succeeded';
    if (level === REPORT_LEVEL.None || (success && level !== REPORT_LEVEL.FailuresAndSuccesses)) return;
    const now = new Date().toISOString();
    // the Node SDK writes the keys in camel case, the others in Pascal case
    const st = m.IngestionStatusInTable || {};
    const pk = st.PartitionKey || st.partitionKey;
    const rk = st.RowKey || st.rowKey;
    if (method !== REPORT_METHOD.Queue && pk && rk) {
      await this.storage.mergeEntity(this.statusTableOf(st), pk, rk, {
        Status: o.status, ErrorCode: o.errorCode, FailureStatus: o.failureStatus, Details: o.details,
        OperationId: operationId, ActivityId: operationId, UpdatedOn: now, IngestionSourceId: m.Id,
        IngestionSourcePath: stripSas(m.BlobPath), Database: m.DatabaseName, Table: m.TableName,
        RowCount: rows,
      });
    }
    if (method !== REPORT_METHOD.Table) {
      const body = { OperationId: operationId, Database: m.DatabaseName, Table: m.TableName,
        IngestionSourceId: m.Id, IngestionSourcePath: stripSas(m.BlobPath), RootActivityId: operationId };
      if (success) body.SucceededOn = now;
      else Object.assign(body, { FailedOn: now, Details: o.details, ErrorCode: o.errorCode,
        FailureStatus: o.failureStatus, OriginatesFromUpdatePolicy: false, ShouldRetry: o.failureStatus === 'Transient' });
      await this.storage.putMessage(success ? this.names.succeeded : this.names.failed,
        Buffer.from(JSON.stringify(body)).toString('base64'));
    }
  }
}

// The status table the message names (TableConnectionString: a table URL with
// its SAS), where Kusto's DM writes the status: one of the tables the emulator
// handed out (they rotate), else its first.
DataManagement.prototype.statusTableOf = function statusTableOf(st) {
  const known = this.statusTables ? this.statusTables() : [this.names.status];
  let name = null;
  try {
    name = decodeURIComponent(new URL(st.TableConnectionString || st.tableConnectionString).pathname.split('/').pop());
  } catch { /* no URL: the first table */ }
  return known.includes(name) ? name : known[0];
};

function jsonList(v) {
  if (!v) return [];
  if (Array.isArray(v)) return v.map(String);
  try { const a = JSON.parse(v); return Array.isArray(a) ? a.map(String) : []; } catch { return []; }
}

function stripSas(url) { return String(url || '').split('?')[0]; }

module.exports = { DataManagement, REPORT_LEVEL, REPORT_METHOD };
