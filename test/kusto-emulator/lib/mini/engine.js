'use strict';
// The emulator's data engine: databases, typed tables, extents with tags,
// streaming ingestion policies, management commands and a small KQL subset.
// Values are stored already parsed by Kusto's rules (types.js); a value that
// does not parse is null, as in Kusto.

const { KustoError } = require('../errors');
const types = require('./types');
const { KINDS, parseMapping } = require('./mapping');

// an entity name in a command: ['...'] or ["..."] (KQL string escapes inside)
// or a bare identifier
const QUOTED_NAME = String.raw`\[\s*(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*\]`;
const NAME = String.raw`(${QUOTED_NAME}|[^\s\[\](){}]+)`;
const NAME_NODOT = String.raw`(${QUOTED_NAME}|[^\s\[\](){}.]+)`;

// IngestionBatching: Kusto's defaults, and a policy's JSON as the DM applies it
const BATCHING_DEFAULTS = { MaximumBatchingTimeSpan: '00:05:00', MaximumNumberOfItems: 500, MaximumRawDataSizeMB: 1024 };

function timespanMs(s) {
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(String(s));
  if (!m) return null;
  return ((Number(m[1] || 0) * 24 + Number(m[2])) * 3600 + Number(m[3]) * 60 + Number(m[4])) * 1000
    + (m[5] ? Math.round(Number(`0.${m[5]}`) * 1000) : 0);
}

function parseBatchingPolicy(text) {
  let j;
  try { j = JSON.parse(text); } catch {
    throw new KustoError(400, 'BadRequest_InvalidPolicy', `The ingestion batching policy is not valid JSON: ${text.slice(0, 200)}`);
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) {
    throw new KustoError(400, 'BadRequest_InvalidPolicy', 'The ingestion batching policy must be a JSON object.');
  }
  const json = { ...BATCHING_DEFAULTS, ...j };
  const timeMs = timespanMs(json.MaximumBatchingTimeSpan);
  const items = Number(json.MaximumNumberOfItems);
  const mb = Number(json.MaximumRawDataSizeMB);
  if (timeMs === null || !Number.isInteger(items) || items < 1 || !(mb > 0)) {
    throw new KustoError(400, 'BadRequest_InvalidPolicy',
      `Invalid ingestion batching policy: ${JSON.stringify(j).slice(0, 200)}`);
  }
  return { json, timeMs, items, rawBytes: mb * 1024 * 1024 };
}

class Table {
  constructor(name, columns) {
    this.name = name;
    this.columns = columns;          // [{ name, type }]
    this.rows = [];                  // arrays in column order
    this.extents = [];               // { id, rows, tags, createdOn }
    this.streaming = false;
    this.batching = null;            // its IngestionBatching policy ({ timeMs, items, rawBytes }), or null
    this.mappings = new Map();       // "Json:name" -> { name, kind, text, compiled }
  }
}

class Engine {
  constructor() {
    this.databases = new Map();
    this.failures = [];              // rows of .show ingestion failures
    this.operations = new Map();     // async commands: id -> { id, operation } (done at once)
    this.onChange = () => {};
  }

  /** Everything the engine holds, as JSON (the emulator's --state-dir). */
  toJSON() {
    return {
      failures: this.failures,
      databases: [...this.databases].map(([name, d]) => ({ name, streaming: d.streaming, batching: d.batching,
        views: [...d.views.values()],
        tables: [...d.tables.values()].map((t) => ({ name: t.name, columns: t.columns, rows: t.rows,
          extents: t.extents, streaming: t.streaming, batching: t.batching,
          mappings: [...t.mappings.values()].map((m) => ({ name: m.name, kind: m.kind, text: m.text })) })) })),
    };
  }

  static fromJSON(j) {
    const e = new Engine();
    e.failures = j.failures || [];
    for (const d of j.databases || []) {
      const db = e.db(d.name);
      db.streaming = d.streaming;
      db.batching = d.batching || null;
      for (const v of d.views || []) db.views.set(v.name, v);
      for (const tj of d.tables) {
        const t = new Table(tj.name, tj.columns);
        Object.assign(t, { rows: tj.rows, extents: tj.extents, streaming: tj.streaming, batching: tj.batching || null });
        for (const m of tj.mappings) {
          t.mappings.set(`${m.kind}:${m.name}`, { ...m, compiled: parseMapping(m.kind, m.text, t.columns) });
        }
        db.tables.set(t.name, t);
      }
    }
    return e;
  }

  db(name) {
    if (!this.databases.has(name)) this.databases.set(name, { tables: new Map(), views: new Map(), streaming: false });
    return this.databases.get(name);
  }

  table(dbName, name) {
    const t = this.db(dbName).tables.get(name);
    if (!t) {
      throw new KustoError(400, 'BadRequest_EntityNotFound',
        `Entity ID '${name}' of kind 'Table' was not found.`);
    }
    return t;
  }

  /** The IngestionBatching policy of a table, else of its database, else null. */
  batchingPolicy(dbName, name) {
    const d = this.db(dbName);
    const t = d.tables.get(name);
    return (t && t.batching) || d.batching || null;
  }

  streamingEnabled(dbName, name, { streaming = false } = {}) {
    const d = this.db(dbName);
    const t = this.table(dbName, name);
    const stale = streaming ? this.staleView(t) : null;
    return stale ? stale.dbStreaming || stale.streaming : d.streaming || t.streaming;
  }

  // ---------- the streaming nodes' copy of a table's schema ----------
  // After a schema, mapping or streaming policy change, streaming ingestion
  // keeps the old schema and mappings for a while (dataexplorer-docs,
  // ingest-data-streaming / streaming-ingestion-schema-changes.md: "can take
  // up to 5 minutes"; requests fail or land "incomplete and distorted") unless
  // `.clear table T cache streamingingestion schema` ends it. The emulator
  // keeps the table's state from before the first change for schemaDelayMs.
  staleBefore(dbName, t) {
    if (!(this.schemaDelayMs > 0) || this.staleView(t)) return;
    t.stale = { columns: t.columns.map((c) => ({ ...c })), mappings: new Map(t.mappings),
      streaming: t.streaming, dbStreaming: this.db(dbName).streaming, until: Date.now() + this.schemaDelayMs };
  }

  staleView(t) {
    if (t.stale && t.stale.until > Date.now()) return t.stale;
    t.stale = null;
    return null;
  }

  // ---------- management commands ----------
  mgmt(dbName, csl) {
    const r = this.command(dbName, csl);
    if (!/^\s*\.show/i.test(csl)) this.onChange();
    return r;
  }

  command(dbName, csl) {
    const text = csl.trim().replace(/^\s*\/\/.*$/gm, '').trim();
    let m;
    if ((m = new RegExp(String.raw`^\.(create|create-or-alter|alter)\s+table\s+${NAME}\s+ingestion\s+(json|csv)\s+mapping\s+(\S+)\s+([\s\S]+)$`, 'i').exec(text))) {
      const t = this.table(dbName, unbracket(m[2]));
      const kind = KINDS[m[3].toLowerCase()];
      const name = unquote(m[4]);
      const body = unquote(m[5].trim());
      const key = `${kind}:${name}`;
      if (m[1].toLowerCase() === 'create' && t.mappings.has(key)) {
        throw new KustoError(400, 'BadRequest_EntityAlreadyExists',
          `Ingestion mapping '${name}' of kind '${kind}' already exists for table '${t.name}'.`);
      }
      if (m[1].toLowerCase() === 'alter' && !t.mappings.has(key)) {
        throw new KustoError(400, 'BadRequest_EntityNotFound', `Ingestion mapping '${name}' was not found.`);
      }
      const compiled = parseMapping(kind, body, t.columns);
      this.staleBefore(dbName, t);
      t.mappings.set(key, { name, kind, text: body, compiled });
      return mappingsResult(t, kind, name);
    }
    if ((m = new RegExp(String.raw`^\.drop\s+table\s+${NAME}\s+ingestion\s+(json|csv)\s+mapping\s+(\S+)\s*$`, 'i').exec(text))) {
      const t = this.table(dbName, unbracket(m[1]));
      t.mappings.delete(`${KINDS[m[2].toLowerCase()]}:${unquote(m[3])}`);
      return mappingsResult(t);
    }
    if ((m = new RegExp(String.raw`^\.show\s+table\s+${NAME}\s+ingestion\s+(?:(json|csv)\s+)?mappings?\s*$`, 'i').exec(text))) {
      const t = this.table(dbName, unbracket(m[1]));
      return mappingsResult(t, m[2] && KINDS[m[2].toLowerCase()]);
    }
    if (/^\.show\s+ingestion\s+failures\b/i.test(text)) {
      return result(['OperationId:guid', 'Database:string', 'Table:string', 'FailedOn:datetime',
        'IngestionSourcePath:string', 'Details:string', 'FailureKind:string', 'RootActivityId:guid',
        'OperationKind:string', 'OriginatesFromUpdatePolicy:bool', 'ErrorCode:string', 'ShouldRetry:bool'],
      this.failures.filter((f) => f[1] === dbName));
    }
    if ((m = new RegExp(String.raw`^\.(create|create-merge|alter-merge)\s+table\s+${NAME}\s*\(([\s\S]*)\)\s*$`, 'i').exec(text))) {
      const name = checkName('Table', unbracket(m[2]));
      const cols = parseSchema(m[3]);
      for (const c of cols) checkName('Column', c.name);
      const d = this.db(dbName);
      let t = d.tables.get(name);
      if (!t) {
        t = new Table(name, cols);
        d.tables.set(name, t);
      } else if (m[1].toLowerCase() !== 'create') {
        // a merge adds columns; it cannot change a column's type (.alter column can)
        const clash = cols.find((c) => t.columns.find((x) => x.name === c.name && x.type !== c.type));
        if (clash) {
          const have = t.columns.find((x) => x.name === clash.name);
          throw new KustoError(400, 'BadRequest_BadColumnType',
            `${m[1]} table '${name}': column '${clash.name}' is of type '${have.type}', it cannot become '${clash.type}'. Use .alter column.`,
            { permanent: true });
        }
        let added = false;
        for (const c of cols) {
          if (!t.columns.find((x) => x.name === c.name)) {
            if (!added) this.staleBefore(dbName, t);
            t.columns.push(c);
            for (const r of t.rows) r.push(null);
            added = true;
          }
        }
        if (added) this.sourceSchemaChanged(dbName, name);
      }
      return schemaResult(t, dbName);
    }
    if ((m = new RegExp(String.raw`^\.alter\s+column\s+${NAME_NODOT}\.${NAME}\s+type\s*=\s*(\w+)\s*$`, 'i').exec(text))) {
      // a column's new type: its existing values read as null from now on (as in Kusto)
      const t = this.table(dbName, unbracket(m[1]));
      const i = t.columns.findIndex((c) => c.name === unbracket(m[2]));
      if (i < 0) throw new KustoError(400, 'BadRequest_EntityNotFound', `Column '${unbracket(m[2])}' was not found.`, { permanent: true });
      this.staleBefore(dbName, t);
      t.columns[i] = { name: t.columns[i].name, type: types.normalizeType(m[3]) };
      for (const r of t.rows) r[i] = null;
      this.sourceSchemaChanged(dbName, t.name);
      return schemaResult(t, dbName);
    }
    if ((m = new RegExp(String.raw`^\.drop\s+table\s+${NAME}(\s+ifexists)?\s*$`, 'i').exec(text))) {
      const name = unbracket(m[1]);
      const d = this.db(dbName);
      if (!d.tables.has(name) && !m[2]) this.table(dbName, name);
      d.tables.delete(name);
      return showTables(d, dbName);
    }
    if ((m = new RegExp(String.raw`^\.(create(?:\s+async)?(?:\s+ifnotexists)?|create-or-alter|alter)\s+materialized-view\s+(?:with\s*\(([^)]*)\)\s*)?${NAME}\s+on\s+table\s+${NAME}\s*\{([\s\S]*)\}\s*$`, 'i').exec(text))) {
      return this.materializedView(dbName, m);
    }
    if ((m = new RegExp(String.raw`^\.clear\s+table\s+${NAME}\s+cache\s+streamingingestion\s+schema\s*$`, 'i').exec(text))) {
      this.table(dbName, unbracket(m[1])).stale = null;
      return result(['TableName:string'], [[unbracket(m[1])]]);
    }
    if ((m = new RegExp(String.raw`^\.drop\s+materialized-view\s+${NAME}(\s+ifexists)?\s*$`, 'i').exec(text))) {
      const d = this.db(dbName);
      const name = unbracket(m[1]);
      if (!d.views.has(name) && !m[2]) throw new KustoError(400, 'BadRequest_EntityNotFound', `Materialized view '${name}' was not found.`, { permanent: true });
      d.views.delete(name);
      this.onChange();
      return viewsResult([...d.views.values()]);
    }
    if ((m = new RegExp(String.raw`^\.show\s+materialized-views?(?:\s+${NAME})?\s*$`, 'i').exec(text))) {
      const d = this.db(dbName);
      const names = m[1] ? [unbracket(m[1])] : [...d.views.keys()];
      for (const n of names) {
        if (!d.views.has(n)) throw new KustoError(400, 'BadRequest_EntityNotFound', `Materialized view '${n}' was not found.`, { permanent: true });
      }
      return viewsResult(names.map((n) => d.views.get(n)));
    }
    if ((m = new RegExp(String.raw`^\.alter\s+materialized-view\s+${NAME}\s+autoUpdateSchema\s+(true|false)\s*$`, 'i').exec(text))) {
      const v = this.db(dbName).views.get(unbracket(m[1]));
      if (!v) throw new KustoError(400, 'BadRequest_EntityNotFound', `Materialized view '${unbracket(m[1])}' was not found.`, { permanent: true });
      if (!/\b(arg_max|arg_min|take_any)\s*\(/i.test(v.query)) {
        throw new KustoError(400, 'General_BadRequest', `Materialized view '${v.name}': autoUpdateSchema is valid only for arg_max, arg_min and take_any views.`, { permanent: true });
      }
      v.autoUpdateSchema = m[2].toLowerCase() === 'true';
      this.onChange();
      return viewsResult([v]);
    }
    if ((m = new RegExp(String.raw`^\.(enable|disable)\s+materialized-view\s+${NAME}\s*$`, 'i').exec(text))) {
      const v = this.db(dbName).views.get(unbracket(m[2]));
      if (!v) throw new KustoError(400, 'BadRequest_EntityNotFound', `Materialized view '${unbracket(m[2])}' was not found.`, { permanent: true });
      v.enabled = m[1].toLowerCase() === 'enable';
      if (v.enabled) v.schema = this.viewColumns(dbName, v);   // enabling adopts the source's schema (after .alter)
      this.onChange();
      return viewsResult([v]);
    }
    if ((m = /^\.show\s+operations?\s+(\S+)\s*$/i.exec(text))) {
      const op = this.operations.get(unbracket(m[1]).replace(/^guid\((.*)\)$/, '$1'));
      return result(['OperationId:guid', 'Operation:string', 'State:string', 'Status:string'],
        op ? [[op.id, op.operation, 'Completed', '']] : []);
    }
    if (/^\.show\s+tables\s*$/i.test(text)) return showTables(this.db(dbName), dbName);
    if (/^\.show\s+version\s*$/i.test(text)) {
      return result(['BuildVersion:string', 'BuildTime:datetime', 'ServiceType:string', 'ProductVersion:string'],
        [['1.0.0.0', '2026-01-01T00:00:00Z', 'Engine', 'kusto-emulator']]);
    }
    if (/^\.show\s+databases\s*$/i.test(text)) {
      return result(['DatabaseName:string', 'PersistentStorage:string', 'Version:string', 'IsCurrent:bool'],
        [...this.databases.keys()].map((n) => [n, '', 'v1.0', n === dbName]));
    }
    if ((m = new RegExp(String.raw`^\.show\s+table\s+${NAME}\s+schema\s+as\s+json\s*$`, 'i').exec(text))) {
      return schemaResult(this.table(dbName, unbracket(m[1])), dbName);
    }
    if ((m = new RegExp(String.raw`^\.show\s+table\s+${NAME}\s+extents\s*$`, 'i').exec(text))) {
      const t = this.table(dbName, unbracket(m[1]));
      return result(['ExtentId:guid', 'DatabaseName:string', 'TableName:string', 'RowCount:long',
        'Tags:string', 'MaxCreatedOn:datetime'],
      t.extents.map((e) => [e.id, dbName, t.name, e.rows, e.tags.join('\r\n'), e.createdOn]));
    }
    if ((m = new RegExp(String.raw`^\.alter\s+(table|database)\s+${NAME}\s+policy\s+streamingingestion\s+(enable|disable)\s*$`, 'i').exec(text))) {
      const on = m[3].toLowerCase() === 'enable';
      if (on && this.clusterStreaming === false) {
        // the cluster's streaming ingestion is off (the default for a new cluster)
        throw new KustoError(400, 'BadRequest_StreamingIngestionDisabledForCluster',
          'Streaming ingestion is not enabled for the cluster: enable it in the cluster\'s configuration first.', { permanent: true });
      }
      if (m[1].toLowerCase() === 'table') {
        const t = this.table(dbName, unbracket(m[2]));
        this.staleBefore(dbName, t);
        t.streaming = on;
      } else {
        for (const t of this.db(unbracket(m[2])).tables.values()) this.staleBefore(unbracket(m[2]), t);
        this.db(unbracket(m[2])).streaming = on;
      }
      return result(['PolicyName:string', 'EntityName:string', 'Policy:string'],
        [['StreamingIngestionPolicy', unbracket(m[2]), JSON.stringify({ IsEnabled: on })]]);
    }
    if ((m = /^\.alter\s+(table|database)\s+(\S+)\s+policy\s+ingestionbatching\s+(?:```([\s\S]*)```|'((?:[^'\\]|\\.)*)')\s*$/i.exec(text))) {
      const raw = m[3] !== undefined ? m[3] : m[4].replace(/\\(.)/g, '$1');
      const policy = parseBatchingPolicy(raw);
      if (m[1].toLowerCase() === 'table') this.table(dbName, unbracket(m[2])).batching = policy;
      else this.db(unbracket(m[2])).batching = policy;
      this.onChange();
      return result(['PolicyName:string', 'EntityName:string', 'Policy:string'],
        [['IngestionBatchingPolicy', unbracket(m[2]), JSON.stringify(policy.json)]]);
    }
    throw new KustoError(400, 'General_BadRequest', `Unsupported or invalid management command: ${text.slice(0, 200)}`);
  }

  // ---------- materialized views ----------
  // Kusto's rules (dataexplorer-docs, materialized-views/): .create [async]
  // [ifnotexists], .create-or-alter, .alter; backfill only with .create async
  // ("When you're using this option, the create command must be async",
  // materialized-view-create.md) and never for a view that exists
  // (materialized-view-create-or-alter.md: "The backfill property isn't
  // supported if the materialized view already exists"); an existing view
  // takes only the properties .alter materialized-view lists; a view whose
  // query takes a source's columns with * (arg_max(x, *), arg_min, take_any)
  // is disabled by the system when the source's schema changes, unless
  // autoUpdateSchema = true, and keeps the schema it had ("When you're using
  // an arg_max(Timestamp, *) aggregation and when autoUpdateSchema is false,
  // changes to the source table can also lead to schema mismatches").
  materializedView(dbName, m) {
    const verb = m[1].toLowerCase().replace(/\s+/g, ' ');
    const d = this.db(dbName);
    const name = checkName('MaterializedView', unbracket(m[3]));
    const source = unbracket(m[4]);
    const query = m[5].trim();
    const props = parseViewProperties(m[2]);
    const exists = d.views.has(name);
    this.table(dbName, source);
    const badRequest = (msg) => new KustoError(400, 'General_BadRequest', msg, { permanent: true });
    if (verb.startsWith('create') && verb !== 'create-or-alter' && exists) {
      if (verb.includes('ifnotexists')) return viewsResult([d.views.get(name)]);   // ignored, as documented
      throw new KustoError(400, 'BadRequest_EntityAlreadyExists', `Materialized view '${name}' already exists.`, { permanent: true });
    }
    if (verb === 'alter' && !exists) {
      throw new KustoError(400, 'BadRequest_EntityNotFound', `Materialized view '${name}' was not found.`, { permanent: true });
    }
    const altering = verb === 'alter' || (verb === 'create-or-alter' && exists);
    if (altering) {
      const allowed = ['lookback', 'lookback_column', 'dimensiontables', 'docstring', 'folder'];
      const other = Object.keys(props).find((k) => !allowed.includes(k));
      if (other) {
        throw badRequest(`The property '${props[other].name}' isn't supported when altering the existing materialized view '${name}': `
          + 'only lookback, lookback_column, dimensionTables, docString and folder are (backfill, autoUpdateSchema and the others are set by .create).');
      }
    }
    if (props.backfill && /^true$/i.test(props.backfill.value) && !verb.includes('async')) {
      throw badRequest(`Materialized view '${name}': backfill = true needs the async form of the command: .create async materialized-view with (backfill=true) ...`);
    }
    if (!/\|\s*summarize\b[^|]*$/i.test(query)) {
      throw new KustoError(400, 'BadRequest_InvalidArgument',
        'A materialized view query must end with a summarize operator.', { permanent: true });
    }
    const star = /\b(arg_max|arg_min)\s*\([^,()]+,\s*\*\s*\)|\btake_any\s*\(\s*\*\s*\)/i.test(query);
    const auto = props.autoupdateschema ? /^true$/i.test(props.autoupdateschema.value) : false;
    if (auto && !/\b(arg_max|arg_min|take_any)\s*\(/i.test(query)) {
      throw badRequest(`Materialized view '${name}': autoUpdateSchema is valid only for arg_max, arg_min and take_any views.`);
    }
    const old = d.views.get(name);
    const view = altering
      ? { ...old, query, source }
      : { name, source, query, star, autoUpdateSchema: auto, enabled: true };
    view.star = star;
    view.schema = null;
    d.views.set(name, view);
    try {
      view.schema = this.viewColumns(dbName, view);   // it must run
    } catch (e) {
      if (old) d.views.set(name, old); else d.views.delete(name);
      throw e;
    }
    this.onChange();
    if (verb.includes('async')) {
      const id = require('crypto').randomUUID();
      this.operations.set(id, { id, operation: 'MaterializedViewCreate' });
      return result(['OperationId:guid'], [[id]]);
    }
    return viewsResult([view]);
  }

  /** The column names a view's query gives now. */
  viewColumns(dbName, view) {
    const saved = view.schema;
    view.schema = null;
    try {
      return this.query(dbName, view.name).columns.map((c) => c.name);
    } finally {
      view.schema = saved;
    }
  }

  /** A source table's columns changed: views taking them with * adapt (autoUpdateSchema) or are disabled. */
  sourceSchemaChanged(dbName, tableName) {
    for (const v of this.db(dbName).views.values()) {
      if (v.source !== tableName || !v.star) continue;
      if (v.autoUpdateSchema) v.schema = this.viewColumns(dbName, v);
      else v.enabled = false;
    }
  }

  // ---------- ingestion ----------
  ingest(dbName, tableName, data, opts = {}) {
    const t = this.table(dbName, tableName);
    const format = String(opts.format || 'csv').toLowerCase();
    // a stream while the streaming nodes still hold the old schema: read by it
    const seen = (opts.streaming && this.staleView(t)) || t;
    const mapping = this.resolveMapping(seen, format, opts);
    let records = types.readRecords(data.toString('utf8'), format, seen.columns, mapping);
    if (seen !== t) records = records.map((r) => [...r, ...new Array(t.columns.length - r.length).fill(null)]);
    if (opts.limitRows !== undefined) records = records.slice(0, opts.limitRows);
    const tags = opts.tags || [];
    if (opts.ingestIfNotExists && opts.ingestIfNotExists.length) {
      for (const e of t.extents) {
        if (opts.ingestIfNotExists.some((v) => e.tags.includes(`ingest-by:${v}`))) {
          throw new KustoError(400, 'Skipped_IngestByTagAlreadyExists',
            'The ingestion was skipped: an extent with the same ingest-by tag exists.', { permanent: true });
        }
      }
    }
    for (const r of records) t.rows.push(r);
    // creationTime (queued ingestion's property) dates the extent, as in Kusto
    // (retention and caching count from it); without it, the ingestion time
    const given = opts.creationTime ? new Date(opts.creationTime) : null;
    t.extents.push({ id: require('crypto').randomUUID(), rows: records.length, tags,
      createdOn: (given && !Number.isNaN(given.getTime()) ? given : new Date()).toISOString() });
    this.onChange();
    return { rowCount: records.length };
  }

  // a mapping by reference (mappingName / ingestionMappingReference) or inline
  resolveMapping(t, format, opts) {
    const kind = KINDS[format];
    if (opts.mapping) return parseMapping(kind, opts.mapping, t.columns);
    if (!opts.mappingName) return null;
    const m = t.mappings.get(`${kind}:${opts.mappingName}`);
    if (!m) {
      throw new KustoError(400, 'BadRequest_MappingReferenceWasNotFound',
        `Mapping reference '${opts.mappingName}' of type 'mappingReference' in database '' could not be found.`,
        { permanent: true });
    }
    return m.compiled;
  }

  recordFailure(f) {
    this.failures.push([f.operationId, f.database, f.table, new Date().toISOString(), f.path || '',
      f.details, f.permanent ? 'Permanent' : 'Transient', f.activityId || f.operationId, 'DataIngestPull',
      false, f.errorCode, !f.permanent]);
    this.onChange();
  }

  // ---------- queries ----------
  query(dbName, csl) {
    const { runQuery } = require('./kql');
    return runQuery(this, dbName, csl);
  }
}

// with (a=b, c="d"): { lowercased name: { name, value } }
function parseViewProperties(text) {
  const out = {};
  if (!text) return out;
  for (const part of text.split(',')) {
    const mm = /^\s*(\w+)\s*=\s*(.*?)\s*$/.exec(part);
    if (!mm) throw new KustoError(400, 'General_BadRequest', `Unexpected materialized view property: ${part.trim()}`, { permanent: true });
    out[mm[1].toLowerCase()] = { name: mm[1], value: mm[2].replace(/^(['"])(.*)\1$/, '$2') };
  }
  const known = ['backfill', 'effectivedatetime', 'updateextentscreationtime', 'autoupdateschema', 'dimensiontables',
    'lookback', 'lookback_column', 'folder', 'docstring', 'allowmaterializedviewswithoutrowlevelsecurity'];
  const unknown = Object.keys(out).find((k) => !known.includes(k));
  if (unknown) throw new KustoError(400, 'General_BadRequest', `Unknown materialized view property '${out[unknown].name}'.`, { permanent: true });
  return out;
}

function viewsResult(views) {
  return result(['Name:string', 'SourceTable:string', 'Query:string', 'IsEnabled:bool', 'AutoUpdateSchema:bool', 'Columns:long'],
    views.map((v) => [v.name, v.source, v.query, v.enabled !== false, !!v.autoUpdateSchema, (v.schema || []).length]));
}

// ['a\'b'] -> a'b: the name inside, with KQL's string escapes undone, as Kusto reads it
function unbracket(name) {
  const m = /^\[\s*(['"])([\s\S]*)\1\s*\]$/.exec(name);
  if (!m) return name.replace(/^\[|\]$/g, '');
  const ESC = { n: '\n', t: '\t', r: '\r', 0: '\0' };
  return m[2].replace(/\\(.)/g, (_, c) => (c in ESC ? ESC[c] : c));
}

// Kusto's rule for entity names (dataexplorer-docs, query/schema-entities/entity-names.md:
// letters, digits, underscores, spaces, dots and dashes, 1 to 1,024 characters; the
// same rule as src/common/kusto_name.c); Kusto refuses another name with
// BadRequest_EntityNameIsNotValid, permanent ("Entity name isn't valid", the
// ingestion error codes table; Kusto.Data.Exceptions.EntityNameIsNotValidException)
function checkName(kind, name) {
  const chars = [...name];
  const why = chars.length < 1 || chars.length > 1024 ? 'a name has 1 to 1,024 characters'
    : !/^[\p{L}\p{N}_ .-]+$/u.test(name) ? 'a name holds only letters, digits, underscores, spaces, dots and dashes'
      : /^__|__$/.test(name) ? 'a name must not start or end with two underscores' : null;
  if (why) {
    throw new KustoError(400, 'BadRequest_EntityNameIsNotValid',
      `Entity name '${name}' of kind '${kind}' isn't valid: ${why}.`, { permanent: true });
  }
  return name;
}

function unquote(s) {
  const m = /^@?(['"])([\s\S]*)\1$/.exec(s) || /^```([\s\S]*)```$/.exec(s);
  if (!m) return s;
  if (m.length === 2) return m[1];
  return s.startsWith('@') ? m[2] : m[2].replace(/\\(.)/g, '$1');
}

function mappingsResult(t, kind, name) {
  const list = [...t.mappings.values()].filter((m) => (!kind || m.kind === kind) && (!name || m.name === name));
  return result(['Name:string', 'Kind:string', 'Mapping:string', 'LastUpdatedOn:datetime', 'Database:string', 'Table:string'],
    list.map((m) => [m.name, m.kind, JSON.stringify(JSON.parse(m.text)), null, '', t.name]));
}

function parseSchema(text) {
  return text.split(',').map((c) => c.trim()).filter(Boolean).map((c) => {
    const i = c.lastIndexOf(':');
    if (i < 0) throw new KustoError(400, 'General_BadRequest', `Invalid column definition: ${c}`);
    const type = types.normalizeType(c.slice(i + 1).trim());
    return { name: unbracket(c.slice(0, i).trim()), type };
  });
}

function result(cols, rows) {
  return {
    columns: cols.map((c) => { const [name, type] = c.split(':'); return { name, type }; }),
    rows,
  };
}

function showTables(d, dbName) {
  return result(['TableName:string', 'DatabaseName:string', 'Folder:string', 'DocString:string'],
    [...d.tables.keys()].map((n) => [n, dbName, '', '']));
}

function schemaResult(t, dbName) {
  const schema = { Name: t.name, OrderedColumns: t.columns.map((c) => ({
    Name: c.name, Type: types.dotnetType(c.type), CslType: c.type })) };
  return result(['TableName:string', 'Schema:string', 'DatabaseName:string', 'Folder:string', 'DocString:string'],
    [[t.name, JSON.stringify(schema), dbName, '', '']]);
}

module.exports = { Engine, Table, result };
