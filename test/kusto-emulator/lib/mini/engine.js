'use strict';
// The emulator's data engine: databases, typed tables, extents with tags,
// streaming ingestion policies, management commands and a small KQL subset.
// Values are stored already parsed by Kusto's rules (types.js); a value that
// does not parse is null, as in Kusto.

const { KustoError } = require('../errors');
const types = require('./types');

class Table {
  constructor(name, columns) {
    this.name = name;
    this.columns = columns;          // [{ name, type }]
    this.rows = [];                  // arrays in column order
    this.extents = [];               // { id, rows, tags, createdOn }
    this.streaming = false;
  }
}

class Engine {
  constructor() { this.databases = new Map(); }

  db(name) {
    if (!this.databases.has(name)) this.databases.set(name, { tables: new Map(), streaming: false });
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

  streamingEnabled(dbName, name) {
    const d = this.db(dbName);
    return d.streaming || this.table(dbName, name).streaming;
  }

  // ---------- management commands ----------
  mgmt(dbName, csl) {
    const text = csl.trim().replace(/^\s*\/\/.*$/gm, '').trim();
    let m;
    if ((m = /^\.(create|create-merge|alter-merge)\s+table\s+(\S+)\s*\(([\s\S]*)\)\s*$/i.exec(text))) {
      const name = unbracket(m[2]);
      const cols = parseSchema(m[3]);
      const d = this.db(dbName);
      let t = d.tables.get(name);
      if (!t) {
        t = new Table(name, cols);
        d.tables.set(name, t);
      } else if (m[1].toLowerCase() !== 'create') {
        for (const c of cols) {
          if (!t.columns.find((x) => x.name === c.name)) {
            t.columns.push(c);
            for (const r of t.rows) r.push(null);
          }
        }
      }
      return schemaResult(t, dbName);
    }
    if ((m = /^\.drop\s+table\s+(\S+)(\s+ifexists)?\s*$/i.exec(text))) {
      const name = unbracket(m[1]);
      const d = this.db(dbName);
      if (!d.tables.has(name) && !m[2]) this.table(dbName, name);
      d.tables.delete(name);
      return showTables(d, dbName);
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
    throw new KustoError(400, 'General_BadRequest', `Unsupported or invalid management command: ${text.slice(0, 200)}`);
  }

  // ---------- ingestion ----------
  ingest(dbName, tableName, data, opts = {}) {
    const t = this.table(dbName, tableName);
    const format = String(opts.format || 'csv').toLowerCase();
    const records = types.readRecords(data.toString('utf8'), format, t.columns);
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
    return { rowCount: records.length };
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
