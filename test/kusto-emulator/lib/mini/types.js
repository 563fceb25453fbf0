'use strict';
// Kusto's scalar types: names, .NET names, and how ingestion parses a value
// into each (a value that does not parse becomes null, as in Kusto), plus the
// record readers for csv, json (JSON lines) and multijson.

const TYPES = {
  bool: 'System.Boolean', boolean: 'System.Boolean', int: 'System.Int32', long: 'System.Int64',
  real: 'System.Double', double: 'System.Double', decimal: 'System.Data.SqlTypes.SqlDecimal',
  string: 'System.String', datetime: 'System.DateTime', date: 'System.DateTime',
  timespan: 'System.TimeSpan', time: 'System.TimeSpan', guid: 'System.Guid',
  uniqueid: 'System.Guid', dynamic: 'System.Object',
};
const ALIASES = { boolean: 'bool', double: 'real', date: 'datetime', time: 'timespan', uniqueid: 'guid' };
const DOTNET_SHORT = { bool: 'Boolean', int: 'Int32', long: 'Int64', real: 'Double', decimal: 'Decimal',
  string: 'String', datetime: 'DateTime', timespan: 'TimeSpan', guid: 'Guid', dynamic: 'Object' };

function normalizeType(t) {
  const lower = t.toLowerCase();
  if (!TYPES[lower]) throw new Error(`unknown Kusto type ${t}`);
  return ALIASES[lower] || lower;
}

function dotnetType(t) { return TYPES[t]; }
function dotnetShort(t) { return DOTNET_SHORT[t]; }

const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
const TIMESPAN_RE = /^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?$/;
const GUID_RE = /^[{(]?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})[)}]?$/i;

const CANONICAL_UTC_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?Z$/;
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

// datetime: kept as ISO 8601 UTC text with 7 fraction digits trimmed, as Kusto returns it
function parseDatetime(s) {
  // fast path: already UTC with Z, as kusto_sink writes it
  const c = CANONICAL_UTC_RE.exec(s);
  if (c) {
    const year = Number(c[1]);
    const mon = Number(c[2]);
    const day = Number(c[3]);
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > (mon === 2 && !leap ? 28 : DAYS_IN_MONTH[mon - 1])
        || Number(c[4]) > 23 || Number(c[5]) > 59 || Number(c[6]) > 59) return null;
    const f = c[7] ? c[7].replace(/0+$/, '') : '';
    return `${s.slice(0, 19)}${f ? `.${f}` : ''}Z`;
  }
  const m = DATETIME_RE.exec(s.trim());
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', tz = 'Z'] = m;
  const year = Number(y);
  if (year < 1 || year > 9999) return null;
  let ms = Date.UTC(year, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec));
  if (Number.isNaN(ms)) return null;
  if (tz.toUpperCase() !== 'Z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60000;
  }
  const base = new Date(ms);
  if (base.getUTCFullYear() < 1 || base.getUTCFullYear() > 9999) return null;
  const iso = base.toISOString().slice(0, 19);
  const f = frac.padEnd(7, '0').replace(/0+$/, '');
  return `${iso}${f ? `.${f}` : ''}Z`;
}

function parseTimespan(s) {
  const m = TIMESPAN_RE.exec(s.trim());
  if (!m) return null;
  const [, neg, days, h, mi, sec = '00', frac = ''] = m;
  const f = frac.padEnd(7, '0').replace(/0+$/, '');
  const d = days && Number(days) > 0 ? `${Number(days)}.` : '';
  return `${neg || ''}${d}${h.padStart(2, '0')}:${mi}:${sec}${f ? `.${f}` : ''}`;
}

function parseValue(v, type) {
  if (v === null || v === undefined) return type === 'string' ? '' : null;
  if (type === 'dynamic') {
    if (typeof v === 'string') {
      try { return JSON.parse(v); } catch { return v; }
    }
    return v;
  }
  if (type === 'string') return typeof v === 'string' ? v : JSON.stringify(v);
  if (typeof v === 'object') return null;
  const s = String(v);
  if (s === '' ) return null;
  switch (type) {
    case 'bool': {
      const l = s.toLowerCase();
      if (l === 'true' || l === '1') return true;
      if (l === 'false' || l === '0') return false;
      return null;
    }
    case 'int':
    case 'long': {
      if (!/^[+-]?\d+(\.0*)?$/.test(s.trim())) return null;
      const n = Number(s);
      if (!Number.isSafeInteger(n) && type === 'int') return null;
      if (type === 'int' && (n < -2147483648 || n > 2147483647)) return null;
      return n;
    }
    case 'real': {
      const t = s.trim();
      if (/^nan$/i.test(t)) return 'NaN';
      if (/^(\+)?(infinity|inf)$/i.test(t)) return 'Infinity';
      if (/^-(infinity|inf)$/i.test(t)) return '-Infinity';
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return null;
      return Number(t);
    }
    case 'decimal': {
      const t = s.trim();
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return null;
      return t.replace(/^\+/, '');
    }
    case 'datetime': return parseDatetime(s);
    case 'timespan': return parseTimespan(s);
    case 'guid': {
      const m = GUID_RE.exec(s.trim());
      return m ? `${m[1]}-${m[2]}-${m[3]}-${m[4]}-${m[5]}`.toLowerCase() : null;
    }
    default: return null;
  }
}

// RFC 4180 records
function parseCsv(text) {
  const records = [];
  const n = text.length;
  let fields = [];
  let i = 0;
  if (n === 0) return records;
  for (;;) {
    let value;
    if (text.charCodeAt(i) === 34) {           // quoted field
      let j = i + 1;
      let parts = '';
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) { parts += text.slice(j); i = n; break; }
        parts += text.slice(j, q);
        if (text.charCodeAt(q + 1) === 34) { parts += '"'; j = q + 2; continue; }
        i = q + 1;
        break;
      }
      value = parts;
    } else {
      let j = i;
      while (j < n) {
        const ch = text.charCodeAt(j);
        if (ch === 44 || ch === 10 || ch === 13) break;
        j++;
      }
      value = text.slice(i, j);
      i = j;
    }
    fields.push(value);
    if (i >= n) { records.push(fields); break; }
    const ch = text.charCodeAt(i);
    if (ch === 44) { i++; continue; }
    if (ch === 13 && text.charCodeAt(i + 1) === 10) i++;
    i++;                                       // end of record
    records.push(fields);
    fields = [];
    if (i >= n) break;
  }
  return records;
}

function readRecords(text, format, columns, mapping) {
  const rows = [];
  if (format === 'csv') {
    for (const rec of parseCsv(text)) {
      if (mapping) {
        rows.push(require('./mapping').applyMapping(mapping, rec, columns, parseValue));
        continue;
      }
      if (rec.length > columns.length) {
        const { KustoError } = require('../errors');
        throw new KustoError(400, 'BadRequest_InvalidCsvFormat',
          `A CSV record has ${rec.length} fields, the table ${columns.length} columns.`);
      }
      rows.push(columns.map((c, i) => parseValue(i < rec.length ? rec[i] : null, c.type)));
    }
    return rows;
  }
  if (format === 'json' || format === 'multijson') {
    const objects = [];
    if (format === 'json') {
      for (const line of text.split(/\r?\n/)) {
        if (line.trim()) objects.push(JSON.parse(line));
      }
    } else {
      const t = text.trim();
      if (t.startsWith('[')) objects.push(...JSON.parse(t));
      else for (const o of splitJsonStream(t)) objects.push(o);
    }
    const { applyMapping } = require('./mapping');
    for (const o of objects) {
      rows.push(mapping ? applyMapping(mapping, o, columns, parseValue)
        : columns.map((c) => parseValue(o[c.name], c.type)));
    }
    return rows;
  }
  const { KustoError } = require('../errors');
  throw new KustoError(400, 'BadRequest_FormatNotSupported', `The format '${format}' is not supported by the emulator.`);
}

function splitJsonStream(text) {
  const out = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') { if (depth++ === 0) start = i; }
    else if (c === '}') { if (--depth === 0) out.push(JSON.parse(text.slice(start, i + 1))); }
  }
  return out;
}

module.exports = { normalizeType, dotnetType, dotnetShort, parseValue, parseCsv, readRecords };
