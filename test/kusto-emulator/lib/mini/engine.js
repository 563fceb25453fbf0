'use strict';
// The emulator's data engine: databases, typed tables, extents with tags,
// streaming ingestion policies, management commands and a small KQL subset.
// Values are stored already parsed by Kusto's rules (types.js); a value that
// does not parse is null, as in Kusto.

const { KustoError } = require('../errors');
const types = require('./types');
const { KINDS, parseMapping } = require('./mapping');

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

  streamingEnabled(dbName, name) {
    const d = this.db(dbName);
    return d.streaming || this.table(dbName, name).streaming;
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
    if ((m = /^\.(create|create-or-alter|alter)\s+table\s+(\S+)\s+ingestion\s+(json|csv)\s+mapping\s+(\S+)\s+([\s\S]+)$/i.exec(text))) {
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
      t.mappings.set(key, { name, kind, text: body, compiled: parseMapping(kind, body, t.columns) });
      return mappingsResult(t, kind, name);
    }
    if ((m = /^\.drop\s+table\s+(\S+)\s+ingestion\s+(json|csv)\s+mapping\s+(\S+)\s*$/i.exec(text))) {
      const t = this.table(dbName, unbracket(m[1]));
      t.mappings.delete(`${KINDS[m[2].toLowerCase()]}:${unquote(m[3])}`);
      return mappingsResult(t);
    }
    if ((m = /^\.show\s+table\s+(\S+)\s+ingestion\s+(?:(json|csv)\s+)?mappings?\s*$/i.exec(text))) {
      const t = this.table(dbName, unbracket(m[1]));
      return mappingsResult(t, m[2] && KINDS[m[2].toLowerCase()]);
    }
    if (/^\.show\s+ingestion\s+failures\b/i.test(text)) {
      return result(['OperationId:guid', 'Database:string', 'Table:string', 'FailedOn:datetime',
        'IngestionSourcePath:string', 'Details:string', 'FailureKind:string', 'RootActivityId:guid',
        'OperationKind:string', 'OriginatesFromUpdatePolicy:bool', 'ErrorCode:string', 'ShouldRetry:bool'],
      this.failures.filter((f) => f[1] === dbName));
    }
    if ((m = /^\.(create|create-merge|alter-merge)\s+table\s+(\S+)\s*\(([\s\S]*)\)\s*$/i.exec(text))) {
      const name = unbracket(m[2]);
      const cols = parseSchema(m[3]);
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
        for (const c of cols) {
          if (!t.columns.find((x) => x.name === c.name)) {
            t.columns.push(c);
            for (const r of t.rows) r.push(null);
          }
        }
      }
      return schemaResult(t, dbName);
    }
    if ((m = /^\.alter\s+column\s+(\[[^\]]*\]|[^.\s]+)\.(\[[^\]]*\]|\S+)\s+type\s*=\s*(\w+)\s*$/i.exec(text))) {
      // a column's new type: its existing values read as null from now on (as in Kusto)
      const t = this.table(dbName, unbracket(m[1]));
      const i = t.columns.findIndex((c) => c.name === unbracket(m[2]));
      if (i < 0) throw new KustoError(400, 'BadRequest_EntityNotFound', `Column '${unbracket(m[2])}' was not found.`, { permanent: true });
      t.columns[i] = { name: t.columns[i].name, type: types.normalizeType(m[3]) };
      for (const r of t.rows) r[i] = null;
      return schemaResult(t, dbName);
    }
    if ((m = /^\.drop\s+table\s+(\S+)(\s+ifexists)?\s*$/i.exec(text))) {
      const name = unbracket(m[1]);
      const d = this.db(dbName);
      if (!d.tables.has(name) && !m[2]) this.table(dbName, name);
      d.tables.delete(name);
      return showTables(d, dbName);
    }
    if ((m = /^\.(create|create-or-alter)\s+materialized-view\s+(?:with\s*\([^)]*\)\s*)?(\S+)\s+on\s+table\s+(\S+)\s*\{([\s\S]*)\}\s*$/i.exec(text))) {
      // a materialized view: evaluated at query time (always "materialized")
      const d = this.db(dbName);
      const name = unbracket(m[2]);
      const source = unbracket(m[3]);
      this.table(dbName, source);
      if (m[1].toLowerCase() === 'create' && d.views.has(name)) {
        throw new KustoError(400, 'BadRequest_EntityAlreadyExists', `Materialized view '${name}' already exists.`);
      }
      if (!/\|\s*summarize\b[^|]*$/i.test(m[4].trim())) {
        throw new KustoError(400, 'BadRequest_InvalidArgument',
          'A materialized view query must end with a summarize operator.', { permanent: true });
      }
      const view = { name, source, query: m[4].trim() };
      d.views.set(name, view);
      const r = this.query(dbName, view.query);   // it must run
      return result(['Name:string', 'SourceTable:string', 'Query:string', 'Columns:long'],
        [[name, source, view.query, r.columns.length]]);
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
    if ((m = /^\.show\s+table\s+(\S+)\s+schema\s+as\s+json\s*$/i.exec(text))) {
      return schemaResult(this.table(dbName, unbracket(m[1])), dbName);
    }
    if ((m = /^\.show\s+table\s+(\S+)\s+extents\s*$/i.exec(text))) {
      const t = this.table(dbName, unbracket(m[1]));
      return result(['ExtentId:guid', 'DatabaseName:string', 'TableName:string', 'RowCount:long',
        'Tags:string', 'MaxCreatedOn:datetime'],
      t.extents.map((e) => [e.id, dbName, t.name, e.rows, e.tags.join('\r\n'), e.createdOn]));
    }
    if ((m = /^\.alter\s+(table|database)\s+(\S+)\s+policy\s+streamingingestion\s+(enable|disable)\s*$/i.exec(text))) {
      const on = m[3].toLowerCase() === 'enable';
      if (m[1].toLowerCase() === 'table') this.table(dbName, unbracket(m[2])).streaming = on;
      else this.db(unbracket(m[2])).streaming = on;
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

  // ---------- ingestion ----------
  ingest(dbName, tableName, data, opts = {}) {
    const t = this.table(dbName, tableName);
    const format = String(opts.format || 'csv').toLowerCase();
    const mapping = this.resolveMapping(t, format, opts);
    let records = types.readRecords(data.toString('utf8'), format, t.columns, mapping);
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
    t.extents.push({ id: require('crypto').randomUUID(), rows: records.length, tags,
      createdOn: new Date().toISOString() });
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

function unbracket(name) {
  const m = /^\[\s*(['"])(.*)\1\s*\]$/.exec(name);
  return m ? m[2] : name.replace(/^\[|\]$/g, '');
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
