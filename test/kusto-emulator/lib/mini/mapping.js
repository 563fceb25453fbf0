'use strict';
// Ingestion mappings: parsing a mapping's JSON (as in `.create table T ingestion
// json|csv mapping "m" '[...]'` or an inline `ingestionMapping`) and applying it
// to a parsed record. JSON mappings take `column` plus `path` / `Properties.Path`
// (`$`, `$.a.b`, `$['a b']`, `$.a[0]`) or `ConstValue`; CSV mappings take `column`
// plus `Ordinal` / `Properties.Ordinal` or `ConstValue`.

const { KustoError } = require('../errors');

const KINDS = { json: 'Json', csv: 'Csv', multijson: 'Json' };

function bad(msg) { return new KustoError(400, 'BadRequest_InvalidMapping', msg, { permanent: true }); }

/** Parse and check a mapping for a table: [{ column, path?, ordinal?, constValue? }]. */
function parseMapping(kind, text, columns) {
  let list;
  try { list = typeof text === 'string' ? JSON.parse(text) : text; } catch (e) {
    throw bad(`The ingestion mapping is not valid JSON: ${e.message}`);
  }
  if (!Array.isArray(list) || list.length === 0) throw bad('An ingestion mapping must be a non-empty JSON array.');
  return list.map((m) => {
    const column = m.column || m.Column || m.ColumnName;
    const props = m.Properties || m.properties || {};
    if (!column) throw bad('Every ingestion mapping entry needs a "column".');
    if (!columns.find((c) => c.name === column)) {
      throw bad(`The ingestion mapping refers to column '${column}', which the table does not have.`);
    }
    const out = { column };
    const constValue = m.ConstValue ?? props.ConstValue;
    if (constValue !== undefined) out.constValue = constValue;
    if (kind === 'Json') {
      const path = m.path || m.Path || props.Path;
      if (path === undefined && constValue === undefined) throw bad(`The mapping of column '${column}' needs a path.`);
      if (path !== undefined) out.path = compilePath(path);
    } else {
      const ord = m.Ordinal ?? m.ordinal ?? props.Ordinal;
      if (ord === undefined && constValue === undefined) throw bad(`The mapping of column '${column}' needs an ordinal.`);
      if (ord !== undefined) out.ordinal = Number(ord);
    }
    return out;
  });
}

function compilePath(path) {
  if (typeof path !== 'string' || !path.startsWith('$')) throw bad(`Invalid JSON path '${path}'.`);
  const steps = [];
  const re = /\.([A-Za-z_$][\w$-]*)|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[\s*(\d+)\s*\]/y;
  re.lastIndex = 1;
  while (re.lastIndex < path.length) {
    const m = re.exec(path);
    if (!m) throw bad(`Invalid JSON path '${path}'.`);
    steps.push(m[1] ?? m[2] ?? m[3] ?? Number(m[4]));
  }
  return steps;
}

function follow(obj, steps) {
  let v = obj;
  for (const s of steps) {
    if (v === null || typeof v !== 'object') return undefined;
    v = v[s];
  }
  return v;
}

/** The row (column order of the table) for one record through a mapping. */
function applyMapping(mapping, record, columns, parseValue) {
  const row = new Array(columns.length).fill(undefined);
  for (const m of mapping) {
    const i = columns.findIndex((c) => c.name === m.column);
    let v;
    if (m.path) v = follow(record, m.path);
    else if (m.ordinal !== undefined) v = Array.isArray(record) ? record[m.ordinal] : undefined;
    if (v === undefined && m.constValue !== undefined) v = m.constValue;
    row[i] = v;
  }
  return row.map((v, i) => parseValue(v === undefined ? null : v, columns[i].type));
}

module.exports = { KINDS, parseMapping, applyMapping };
