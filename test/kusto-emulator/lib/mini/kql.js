'use strict';
// A small KQL subset, enough to verify data: a table followed by pipes of
// where (==, !=, <, <=, >, >=, and, or, isnull(), isnotnull()), project,
// take/limit, count, summarize count() [by cols], order/sort by, distinct.

const { KustoError } = require('../errors');
const { result } = require('./engine');

function bad(msg) { return new KustoError(400, 'General_BadRequest', msg); }

function splitPipes(csl) {
  const parts = [];
  let cur = '';
  let q = null;
  for (const c of csl) {
    if (q) { cur += c; if (c === q) q = null; continue; }
    if (c === '"' || c === "'") { q = c; cur += c; continue; }
    if (c === '|') { parts.push(cur.trim()); cur = ''; continue; }
    cur += c;
  }
  parts.push(cur.trim());
  return parts;
}

function tableName(s) {
  const m = /^\[\s*(['"])(.*)\1\s*\]$/.exec(s) || /^(['"]?)([A-Za-z_][\w]*)\1$/.exec(s);
  if (!m) throw bad(`Failed to resolve table or column expression named '${s}'`);
  return m[2];
}

function literal(s) {
  s = s.trim();
  let m;
  if ((m = /^(['"])(.*)\1$/.exec(s))) return m[2];
  if (/^(true|false)$/i.test(s)) return s.toLowerCase() === 'true';
  if ((m = /^datetime\((.*)\)$/i.exec(s))) return require('./types').parseValue(m[1].replace(/^['"]|['"]$/g, ''), 'datetime');
  if ((m = /^guid\((.*)\)$/i.exec(s))) return m[1].replace(/^['"]|['"]$/g, '').toLowerCase();
  if (/^[+-]?\d+(\.\d+)?$/.test(s)) return Number(s);
  return undefined;
}

function compileCondition(expr, cols) {
  const orParts = expr.split(/\s+or\s+/i);
  const ors = orParts.map((p) => p.split(/\s+and\s+/i).map((c) => compileComparison(c.trim(), cols)));
  return (row) => ors.some((ands) => ands.every((f) => f(row)));
}

function compileComparison(c, cols) {
  let m;
  const idx = (name) => {
    const i = cols.findIndex((x) => x.name === name);
    if (i < 0) throw bad(`Failed to resolve scalar expression named '${name}'`);
    return i;
  };
  if ((m = /^(isnull|isnotnull)\(\s*(\w+)\s*\)$/i.exec(c))) {
    const i = idx(m[2]);
    const wantNull = m[1].toLowerCase() === 'isnull';
    return (r) => (r[i] === null) === wantNull;
  }
  if ((m = /^(\w+)\s*(==|!=|<=|>=|<|>)\s*(.+)$/.exec(c))) {
    const i = idx(m[1]);
    const v = literal(m[3]);
    if (v === undefined) throw bad(`Unsupported expression: ${m[3]}`);
    const op = m[2];
    return (r) => {
      const x = r[i];
      if (x === null) return false;
      switch (op) {
        case '==': return x === v || String(x) === String(v);
        case '!=': return !(x === v || String(x) === String(v));
        case '<': return x < v;
        case '<=': return x <= v;
        case '>': return x > v;
        default: return x >= v;
      }
    };
  }
  throw bad(`Unsupported condition: ${c}`);
}

function runQuery(engine, dbName, csl) {
  const parts = splitPipes(csl.trim().replace(/;\s*$/, ''));
  const t = engine.table(dbName, tableName(parts[0]));
  let cols = t.columns.slice();
  let rows = t.rows;
  for (const op of parts.slice(1)) {
    let m;
    if ((m = /^where\s+(.+)$/i.exec(op))) {
      const f = compileCondition(m[1], cols);
      rows = rows.filter(f);
    } else if ((m = /^(take|limit)\s+(\d+)$/i.exec(op))) {
      rows = rows.slice(0, Number(m[2]));
    } else if (/^count$/i.test(op)) {
      cols = [{ name: 'Count', type: 'long' }];
      rows = [[rows.length]];
    } else if ((m = /^project\s+(.+)$/i.exec(op))) {
      const names = m[1].split(',').map((s) => s.trim());
      const idx = names.map((n) => {
        const i = cols.findIndex((c) => c.name === n);
        if (i < 0) throw bad(`Failed to resolve scalar expression named '${n}'`);
        return i;
      });
      const src = rows;
      cols = idx.map((i) => cols[i]);
      rows = src.map((r) => idx.map((i) => r[i]));
    } else if ((m = /^summarize\s+(\w+\s*=\s*)?count\(\)(?:\s+by\s+(.+))?$/i.exec(op))) {
      const name = m[1] ? m[1].replace(/\s*=\s*$/, '') : 'count_';
      const by = m[2] ? m[2].split(',').map((s) => s.trim()) : [];
      const idx = by.map((n) => cols.findIndex((c) => c.name === n));
      if (idx.some((i) => i < 0)) throw bad(`Failed to resolve scalar expression in: ${op}`);
      const groups = new Map();
      for (const r of rows) {
        const key = JSON.stringify(idx.map((i) => r[i]));
        groups.set(key, (groups.get(key) || 0) + 1);
      }
      const byCols = idx.map((i) => cols[i]);
      cols = [...byCols, { name, type: 'long' }];
      rows = [...groups.entries()].map(([k, n]) => [...JSON.parse(k), n]);
      if (by.length === 0 && rows.length === 0) rows = [[0]];
    } else if ((m = /^(order|sort)\s+by\s+(\w+)(\s+(asc|desc))?$/i.exec(op))) {
      const i = cols.findIndex((c) => c.name === m[2]);
      if (i < 0) throw bad(`Failed to resolve scalar expression named '${m[2]}'`);
      const dir = (m[4] || 'desc').toLowerCase() === 'asc' ? 1 : -1;
      rows = rows.slice().sort((a, b) => (a[i] < b[i] ? -dir : a[i] > b[i] ? dir : 0));
    } else if ((m = /^distinct\s+(.+)$/i.exec(op))) {
      const names = m[1].split(',').map((s) => s.trim());
      const idx = names.map((n) => cols.findIndex((c) => c.name === n));
      const seen = new Map();
      for (const r of rows) {
        const v = idx.map((i) => r[i]);
        seen.set(JSON.stringify(v), v);
      }
      cols = idx.map((i) => cols[i]);
      rows = [...seen.values()];
    } else {
      throw bad(`Unsupported query operator: ${op}`);
    }
  }
  return result(cols.map((c) => `${c.name}:${c.type}`), rows);
}

module.exports = { runQuery };
