'use strict';
// A KQL subset for verifying data, with Kusto's semantics (null handling,
// result column types and default names). A query is a table, ['table'] or
// 'table', then pipes of:
//   where|filter <predicate>
//   extend [Name =] expr, ...           project [Name =] expr, ...
//   project-away cols|wildcards         project-keep cols|wildcards
//   project-rename New = Old, ...
//   summarize [Name =] agg(...), ... [by [Name =] expr, ...]
//     aggs: count() countif() sum() sumif() min() max() avg() dcount()
//           arg_max(x, *|cols) arg_min(x, *|cols)
//   order|sort by expr [asc|desc] [nulls first|last], ...   (default desc)
//   top N by expr [asc|desc] [nulls first|last]
//   distinct cols|*      take|limit N      count
//   lookup [kind=leftouter|inner] (query)|Name on col, ...
// A query may start with `let Name = toscalar(query);` (a scalar) and
// `let Name = query;` (a table) statements.
// Expressions: literals (long, real, string, bool, datetime(), guid(),
// timespan 1d/2h/30m/10s/5ms or timespan(), T(null)), columns, + - * / %,
// == != < <= > >= =~ !~, has/contains/startswith/endswith (with _cs and !
// forms), matches regex, in/!in/in~/!in~, between/!between, and, or, and the
// functions in FUNCTIONS.
//
// Values are held as the engine stores them (types.js): long/int as numbers,
// real as a number or 'NaN'/'Infinity'/'-Infinity', decimal as text, datetime
// as ISO 8601 UTC text, timespan as [-][d.]hh:mm:ss[.fffffff], guid as
// lowercase text, string never null.

const { KustoError } = require('../errors');
const types = require('./types');

function bad(msg) { return new KustoError(400, 'General_BadRequest', msg); }

// ---------------------------------------------------------------- values

const NUMERIC = new Set(['int', 'long', 'real', 'decimal']);
const isNum = (t) => NUMERIC.has(t);
const family = (t) => (isNum(t) ? 'number' : t);

const TICKS_PER_SECOND = 10000000n;
const EPOCH_TICKS = 621355968000000000n;   // 0001-01-01 to 1970-01-01

function num(v) { return typeof v === 'number' ? v : Number(v); }

function realOut(n) {
  if (Number.isFinite(n)) return n;
  if (Number.isNaN(n)) return 'NaN';
  return n > 0 ? 'Infinity' : '-Infinity';
}

// a JS number back to the stored form of a numeric type
function numOut(n, type) {
  if (n === null) return null;
  if (type === 'real') return realOut(n);
  if (!Number.isFinite(n)) return null;
  if (type === 'decimal') return String(n);
  return Math.trunc(n) || 0;
}

function floorDiv(a, b) {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

// datetime <-> ticks since 0001-01-01 (BigInt)
function dtTicks(s) {
  const ms = BigInt(Date.parse(`${s.slice(0, 19)}Z`));
  const m = /\.(\d+)Z$/.exec(s);
  return ms * 10000n + BigInt(m ? m[1].padEnd(7, '0').slice(0, 7) : 0) + EPOCH_TICKS;
}

function dtFromTicks(t) {
  const u = t - EPOCH_TICKS;
  const secs = floorDiv(u, TICKS_PER_SECOND);
  const d = new Date(Number(secs) * 1000);
  const y = d.getUTCFullYear();
  if (!(y >= 1 && y <= 9999)) return null;
  const f = String(u - secs * TICKS_PER_SECOND).padStart(7, '0').replace(/0+$/, '');
  return `${d.toISOString().slice(0, 19)}${f ? `.${f}` : ''}Z`;
}

// datetime text that sorts as text: seconds, then 7 fraction digits
function dtKey(s) {
  const m = /\.(\d+)Z$/.exec(s);
  return s.slice(0, 19) + (m ? m[1].padEnd(7, '0') : '0000000');
}

// timespan <-> ticks (BigInt)
function tsTicks(s) {
  const m = /^(-)?(?:(\d+)\.)?(\d+):(\d+)(?::(\d+)(?:\.(\d+))?)?$/.exec(s);
  if (!m) return null;
  const secs = ((BigInt(m[2] || 0) * 24n + BigInt(m[3])) * 60n + BigInt(m[4])) * 60n + BigInt(m[5] || 0);
  const t = secs * TICKS_PER_SECOND + BigInt((m[6] || '').padEnd(7, '0').slice(0, 7));
  return m[1] ? -t : t;
}

function tsFromTicks(t) {
  const neg = t < 0n;
  if (neg) t = -t;
  let s = t / TICKS_PER_SECOND;
  const f = String(t % TICKS_PER_SECOND).padStart(7, '0').replace(/0+$/, '');
  const days = s / 86400n;
  s %= 86400n;
  const p2 = (x) => String(x).padStart(2, '0');
  return `${neg ? '-' : ''}${days > 0n ? `${days}.` : ''}${p2(s / 3600n)}:${p2((s % 3600n) / 60n)}:${p2(s % 60n)}`
    + (f ? `.${f}` : '');
}

// null, or a real NaN: both sort and aggregate as missing
function missing(v, type) {
  return v === null || (type === 'real' && Number.isNaN(num(v)));
}

function cmpPlain(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

// an ordering of two non-null values of one type family: -1, 0, 1 (NaN if unordered)
function comparer(type) {
  switch (family(type)) {
    case 'number': return (a, b) => {
      const x = num(a);
      const y = num(b);
      return x < y ? -1 : x > y ? 1 : x === y ? 0 : NaN;
    };
    case 'datetime': return (a, b) => cmpPlain(dtKey(a), dtKey(b));
    case 'timespan': return (a, b) => cmpPlain(tsTicks(a), tsTicks(b));
    case 'bool': return (a, b) => Number(a) - Number(b);
    case 'dynamic': return (a, b) => cmpPlain(JSON.stringify(a), JSON.stringify(b));
    default: return cmpPlain;
  }
}

function comparable(ta, tb, op) {
  if (family(ta) !== family(tb)) {
    throw bad(`Cannot compare values of types ${ta} and ${tb} (operator '${op}'). Try adding explicit casts`);
  }
}

function toStr(v, type) {
  if (v === null) return '';
  if (type === 'bool') return v ? 'true' : 'false';
  if (type === 'dynamic') return typeof v === 'string' ? v : JSON.stringify(v);
  return String(v);
}

function toLong(v, type) {
  if (v === null) return null;
  switch (family(type)) {
    case 'number': { const n = num(v); return Number.isFinite(n) ? Math.trunc(n) || 0 : null; }
    case 'bool': return v ? 1 : 0;
    case 'string': return types.parseValue(v.trim(), 'long');
    case 'datetime': return Number(dtTicks(v));
    case 'timespan': return Number(tsTicks(v));
    case 'dynamic': return typeof v === 'number' ? Math.trunc(v) || 0 : toLong(toStr(v, type), 'string');
    default: return null;
  }
}

function toInt(v, type) {
  const n = toLong(v, type);
  return n === null || n < -2147483648 || n > 2147483647 ? null : n;
}

function toReal(v, type) {
  if (v === null) return null;
  switch (family(type)) {
    case 'number': return realOut(num(v));
    case 'bool': return v ? 1 : 0;
    case 'string': return types.parseValue(v.trim(), 'real');
    case 'dynamic': return typeof v === 'number' ? v : toReal(toStr(v, type), 'string');
    default: return null;
  }
}

function toBool(v, type) {
  if (v === null) return null;
  if (type === 'bool') return v;
  if (isNum(type)) return num(v) !== 0;
  if (type === 'string' || type === 'dynamic') return types.parseValue(toStr(v, type).trim(), 'bool');
  return null;
}

function toDatetime(v, type) {
  if (v === null) return null;
  if (type === 'datetime') return v;
  if (type === 'string' || type === 'dynamic') return types.parseValue(toStr(v, type), 'datetime');
  return null;
}

// ---------------------------------------------------------------- tokens

const TYPED_LITERALS = new Set(['datetime', 'date', 'guid', 'uniqueid', 'timespan', 'time', 'long', 'int',
  'real', 'double', 'bool', 'boolean', 'decimal']);

const UNIT_TICKS = { d: 864e9, day: 864e9, days: 864e9, h: 36e9, hr: 36e9, hrs: 36e9, hour: 36e9, hours: 36e9,
  m: 6e8, min: 6e8, minute: 6e8, minutes: 6e8, s: 1e7, sec: 1e7, second: 1e7, seconds: 1e7,
  ms: 1e4, milli: 1e4, millis: 1e4, millisecond: 1e4, milliseconds: 1e4,
  microsecond: 10, microseconds: 10, tick: 1, ticks: 1 };

const SPACE_RE = /(?:\s+|\/\/[^\n]*)+/y;
const IDENT_RE = /[A-Za-z_$][\w$]*/y;
const NUMBER_RE = /(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)([A-Za-z]+)?/y;
const OP_RE = /==|!=|=~|!~|<=|>=|<>|\.\.|[-+*/%<>=(),|[\];.{}:~]/y;

function sticky(re, text, i) {
  re.lastIndex = i;
  return re.exec(text);
}

function timespanLiteral(value, unit) {
  const per = UNIT_TICKS[unit.toLowerCase()];
  if (per === undefined) throw bad(`Syntax error: unknown timespan unit '${unit}'`);
  return tsFromTicks(BigInt(Math.round(Number(value) * per)));
}

// T(raw): a typed literal such as datetime(2024-01-01), long(null), timespan(1d)
function typedLiteral(name, raw) {
  const type = types.normalizeType(name);
  let s = raw.trim();
  if (/^null$/i.test(s)) return { k: 'lit', type, v: null };
  const q = /^(['"])([\s\S]*)\1$/.exec(s);
  if (q) s = q[2];
  let v;
  const span = /^([+-]?\d+(?:\.\d+)?)\s*([A-Za-z]+)$/.exec(s);
  if (type === 'timespan' && span) v = timespanLiteral(span[1], span[2]);
  else v = types.parseValue(s, type);
  if (v === null) throw bad(`Invalid literal: ${name}(${raw})`);
  return { k: 'lit', type, v };
}

function readString(text, i) {
  let verbatim = false;
  if (text[i] === '@') { verbatim = true; i++; } else if (text[i] === 'h' || text[i] === 'H') i++;
  const q = text[i++];
  let s = '';
  const ESC = { n: '\n', t: '\t', r: '\r', 0: '\0' };
  while (i < text.length) {
    const c = text[i];
    if (c === q) {
      if (verbatim && text[i + 1] === q) { s += q; i += 2; continue; }
      return { v: s, end: i + 1 };
    }
    if (c === '\\' && !verbatim) {
      const e = text[i + 1];
      s += ESC[e] !== undefined ? ESC[e] : e;
      i += 2;
      continue;
    }
    s += c;
    i++;
  }
  throw bad('Syntax error: unterminated string literal');
}

// the text inside the parentheses that start at text[i]
function readParens(text, i) {
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (c === '"' || c === "'") { j = readString(text, j).end - 1; continue; }
    if (c === '(') depth++;
    if (c === ')' && --depth === 0) return { raw: text.slice(i + 1, j), end: j + 1 };
  }
  throw bad('Syntax error: missing )');
}

function tokenize(text) {
  const toks = [];
  let i = 0;
  while (i < text.length) {
    let m;
    if ((m = sticky(SPACE_RE, text, i))) { i += m[0].length; continue; }
    const c = text[i];
    const c1 = text[i + 1];
    if (c === '"' || c === "'" || ('@hH'.includes(c) && (c1 === '"' || c1 === "'"))) {
      const s = readString(text, i);
      toks.push({ k: 'lit', type: 'string', v: s.v });
      i = s.end;
      continue;
    }
    if (c === '[' && (m = /^\[\s*(['"])/.exec(text.slice(i, i + 64)))) {   // ['name']
      const s = readString(text, i + m[0].length - 1);
      const close = /\s*\]/y;
      close.lastIndex = s.end;
      if (!close.exec(text)) throw bad('Syntax error: missing ] after a quoted name');
      toks.push({ k: 'id', v: s.v, quoted: true });
      i = close.lastIndex;
      continue;
    }
    if (c === '!' && /[A-Za-z]/.test(c1 || '')) {                            // !has, !in~, !between
      m = sticky(IDENT_RE, text, i + 1);
      const tilde = text[i + 1 + m[0].length] === '~' ? '~' : '';
      toks.push({ k: 'op', v: `!${m[0].toLowerCase()}${tilde}` });
      i += 1 + m[0].length + tilde.length;
      continue;
    }
    if ((m = sticky(IDENT_RE, text, i))) {
      let v = m[0];
      i += v.length;
      const dash = /^-(away|keep|rename|reorder)\b/.exec(text.slice(i, i + 8));
      if (v.toLowerCase() === 'project' && dash) { v += dash[0]; i += dash[0].length; }
      if (v === 'in' && text[i] === '~') { v = 'in~'; i++; }
      const paren = sticky(/\s*\(/y, text, i);
      if (paren && TYPED_LITERALS.has(v.toLowerCase())) {
        const p = readParens(text, i + paren[0].length - 1);
        toks.push(typedLiteral(v, p.raw));
        i = p.end;
        continue;
      }
      toks.push({ k: 'id', v });
      continue;
    }
    if ((m = sticky(NUMBER_RE, text, i))) {
      i += m[0].length;
      if (m[2]) toks.push({ k: 'lit', type: 'timespan', v: timespanLiteral(m[1], m[2]) });
      else toks.push({ k: 'lit', type: /[.eE]/.test(m[1]) ? 'real' : 'long', v: Number(m[1]) });
      continue;
    }
    if ((m = sticky(OP_RE, text, i))) {
      toks.push({ k: 'op', v: m[0] });
      i += m[0].length;
      continue;
    }
    throw bad(`Syntax error: unexpected character '${c}'`);
  }
  return toks;
}

function tokText(t) {
  if (!t) return 'end of query';
  if (t.k === 'lit') return t.type === 'string' ? JSON.stringify(t.v) : `${t.v}`;
  return t.v;
}

// the pipeline's operators: token lists split on top-level pipes
function splitPipes(toks) {
  const parts = [[]];
  let depth = 0;
  for (const t of toks) {
    if (t.k === 'op' && (t.v === '(' || t.v === '[')) depth++;
    if (t.k === 'op' && (t.v === ')' || t.v === ']')) depth--;
    if (t.k === 'op' && t.v === '|' && depth === 0) parts.push([]);
    else parts[parts.length - 1].push(t);
  }
  return parts;
}

// ---------------------------------------------------------------- parser state

class Parser {
  constructor(toks, cols, ctx) {
    this.toks = toks;
    this.i = 0;
    this.cols = cols;
    this.ctx = ctx;
  }

  peek(k = 0) { return this.toks[this.i + k]; }
  next() { return this.toks[this.i++]; }
  atEnd() { return this.i >= this.toks.length; }
  isOp(v, k = 0) { const t = this.peek(k); return !!t && t.k === 'op' && t.v === v; }
  isWord(w, k = 0) { const t = this.peek(k); return !!t && t.k === 'id' && !t.quoted && t.v.toLowerCase() === w; }

  acceptOp(v) { if (this.isOp(v)) { this.i++; return true; } return false; }
  acceptWord(w) { if (this.isWord(w)) { this.i++; return true; } return false; }
  expectOp(v) { if (!this.acceptOp(v)) throw this.unexpected(`'${v}'`); }
  expectWord(w) { if (!this.acceptWord(w)) throw this.unexpected(`'${w}'`); }

  unexpected(wanted) {
    return bad(`Syntax error: ${wanted ? `expected ${wanted}, found` : 'unexpected'} ${tokText(this.peek())}`);
  }

  end() { if (!this.atEnd()) throw this.unexpected(); }

  name() {
    const t = this.next();
    if (!t || t.k !== 'id') { this.i--; throw this.unexpected('a name'); }
    return t.v;
  }

  // `Name =` ahead?
  assignment() {
    if (this.peek() && this.peek().k === 'id' && this.isOp('=', 1)) { const n = this.name(); this.i++; return n; }
    return null;
  }

  list(item) {
    const out = [item()];
    while (this.acceptOp(',')) out.push(item());
    return out;
  }

  column(name) {
    const i = this.cols.findIndex((c) => c.name === name);
    if (i < 0) throw bad(`Failed to resolve scalar expression named '${name}'`);
    return i;
  }
}

// ---------------------------------------------------------------- expressions
// A compiled expression: { type, ev(row) -> value, col? (a plain column's name) }

const constant = (type, v) => ({ type, ev: () => v, constant: true });
const unary = (type, a, f) => ({ type, ev: (r) => f(a.ev(r)) });

function requireBool(e, what) {
  if (e.type !== 'bool') throw bad(`${what} expects a bool expression, got ${e.type}`);
}

function requireType(e, ok, what) {
  if (!ok(e.type)) throw bad(`${what}: an argument of type ${e.type} is not supported`);
}

function parseExpr(p) {
  let left = parseAnd(p);
  while (p.acceptWord('or')) left = logical('or', left, parseAnd(p));
  return left;
}

function parseAnd(p) {
  let left = parseComparison(p);
  while (p.acceptWord('and')) left = logical('and', left, parseComparison(p));
  return left;
}

function logical(op, l, r) {
  requireBool(l, `'${op}'`);
  requireBool(r, `'${op}'`);
  if (op === 'and') {
    return { type: 'bool', ev: (row) => {
      const a = l.ev(row);
      if (a === false) return false;
      const b = r.ev(row);
      if (b === false) return false;
      return a === null || b === null ? null : true;
    } };
  }
  return { type: 'bool', ev: (row) => {
    const a = l.ev(row);
    if (a === true) return true;
    const b = r.ev(row);
    if (b === true) return true;
    return a === null || b === null ? null : false;
  } };
}

const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=', '=~', '!~', '<>']);
const STRING_TESTS = {
  has: (h, n) => hasTerm(h.toLowerCase(), n.toLowerCase()),
  has_cs: (h, n) => hasTerm(h, n),
  contains: (h, n) => h.toLowerCase().includes(n.toLowerCase()),
  contains_cs: (h, n) => h.includes(n),
  startswith: (h, n) => h.toLowerCase().startsWith(n.toLowerCase()),
  startswith_cs: (h, n) => h.startsWith(n),
  endswith: (h, n) => h.toLowerCase().endsWith(n.toLowerCase()),
  endswith_cs: (h, n) => h.endsWith(n),
};
const IN_OPS = new Set(['in', '!in', 'in~', '!in~']);

// the comparison-level operator the token names, if any
function comparisonOp(t) {
  if (!t) return null;
  if (t.k === 'op' && COMPARISONS.has(t.v)) return t.v;
  if ((t.k === 'op' && t.v[0] === '!') || (t.k === 'id' && !t.quoted)) {
    const v = t.v.toLowerCase();
    const base = v.replace(/^!/, '');
    if (STRING_TESTS[base] || IN_OPS.has(v) || base === 'between' || v === 'matches') return v;
  }
  return null;
}

function parseComparison(p) {
  const left = parseAdditive(p);
  const op = comparisonOp(p.peek());
  if (!op) return left;
  p.i++;
  if (op === 'between' || op === '!between') {
    p.expectOp('(');
    const lo = parseAdditive(p);
    p.expectOp('..');
    const hi = parseAdditive(p);
    p.expectOp(')');
    return between(op, left, lo, hi);
  }
  if (IN_OPS.has(op)) {
    p.expectOp('(');
    const items = p.list(() => parseAdditive(p));
    p.expectOp(')');
    return inList(op, left, items);
  }
  if (op === 'matches') {
    p.expectWord('regex');
    return matchesRegex(left, parseAdditive(p));
  }
  const right = parseAdditive(p);
  if (COMPARISONS.has(op)) return compare(op === '<>' ? '!=' : op, left, right);
  return stringTest(op, left, right);
}

function compare(op, l, r) {
  if (op === '=~' || op === '!~') {
    if (l.type !== 'string' || r.type !== 'string') {
      throw bad(`'${op}' expects string operands, got ${l.type} and ${r.type}`);
    }
    const want = op === '=~';
    return { type: 'bool', ev: (row) => (l.ev(row).toLowerCase() === r.ev(row).toLowerCase()) === want };
  }
  comparable(l.type, r.type, op);
  const cmp = comparer(l.type);
  const test = { '<': (c) => c < 0, '<=': (c) => c <= 0, '>': (c) => c > 0, '>=': (c) => c >= 0 }[op];
  return { type: 'bool', ev: (row) => {
    const a = l.ev(row);
    const b = r.ev(row);
    if (a === null || b === null) {
      if (op === '==' || op === '!=') return a === null && b === null ? null : op === '!=';
      return null;
    }
    const c = cmp(a, b);
    if (op === '==') return c === 0;
    if (op === '!=') return c !== 0;
    return test(c);
  } };
}

function isAlnum(ch) { return /[A-Za-z0-9]/.test(ch); }

// `has`: the needle is a whole term (maximal run of ASCII letters and digits) of the haystack
function hasTerm(hay, needle) {
  if (needle === '') return true;
  const checkStart = isAlnum(needle[0]);
  const checkEnd = isAlnum(needle[needle.length - 1]);
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) {
    const before = hay[i - 1];
    const after = hay[i + needle.length];
    if ((!checkStart || !before || !isAlnum(before)) && (!checkEnd || !after || !isAlnum(after))) return true;
  }
  return false;
}

function stringTest(op, l, r) {
  const neg = op[0] === '!';
  const f = STRING_TESTS[op.replace(/^!/, '')];
  return { type: 'bool', ev: (row) => f(toStr(l.ev(row), l.type), toStr(r.ev(row), r.type)) !== neg };
}

function matchesRegex(l, r) {
  const cache = new Map();
  const regex = (src) => {
    if (!cache.has(src)) {
      const inline = /^\(\?([a-z]+)\)/.exec(src);
      try {
        cache.set(src, inline ? new RegExp(src.slice(inline[0].length), inline[1].replace(/[^ims]/g, ''))
          : new RegExp(src));
      } catch (e) { throw bad(`Invalid regular expression '${src}': ${e.message}`); }
    }
    return cache.get(src);
  };
  return { type: 'bool', ev: (row) => regex(toStr(r.ev(row), r.type)).test(toStr(l.ev(row), l.type)) };
}

function inList(op, l, items) {
  const ci = op.endsWith('~');
  const neg = op[0] === '!';
  for (const e of items) {
    if (ci && (l.type !== 'string' || e.type !== 'string')) throw bad(`'${op}' expects string operands`);
    comparable(l.type, e.type, op);
  }
  const cmp = comparer(l.type);
  const equal = ci ? (a, b) => a.toLowerCase() === b.toLowerCase() : (a, b) => cmp(a, b) === 0;
  return { type: 'bool', ev: (row) => {
    const a = l.ev(row);
    let found = false;
    if (a !== null) {
      for (const e of items) {
        const b = e.ev(row);
        if (b !== null && equal(a, b)) { found = true; break; }
      }
    }
    return found !== neg;
  } };
}

function between(op, l, lo, hi) {
  if (l.type === 'datetime' && lo.type === 'datetime' && hi.type === 'timespan') hi = arithmetic('+', lo, hi);
  comparable(l.type, lo.type, op);
  comparable(l.type, hi.type, op);
  const cmp = comparer(l.type);
  const neg = op[0] === '!';
  return { type: 'bool', ev: (row) => {
    const a = l.ev(row);
    const x = lo.ev(row);
    const y = hi.ev(row);
    if (a === null || x === null || y === null) return null;
    const c1 = cmp(a, x);
    const c2 = cmp(a, y);
    if (Number.isNaN(c1) || Number.isNaN(c2)) return null;
    return (c1 >= 0 && c2 <= 0) !== neg;
  } };
}

function parseAdditive(p) {
  let left = parseMultiplicative(p);
  while (p.isOp('+') || p.isOp('-')) left = arithmetic(p.next().v, left, parseMultiplicative(p));
  return left;
}

function parseMultiplicative(p) {
  let left = parseUnary(p);
  while (p.isOp('*') || p.isOp('/') || p.isOp('%')) left = arithmetic(p.next().v, left, parseUnary(p));
  return left;
}

function parseUnary(p) {
  if (p.acceptOp('+')) return parseUnary(p);
  if (!p.acceptOp('-')) return parsePrimary(p);
  const e = parseUnary(p);
  if (e.type === 'timespan') return arithmetic('*', constant('long', -1), e);
  if (!isNum(e.type)) throw bad(`Cannot apply unary '-' to an argument of type ${e.type}`);
  return unary(e.type, e, (x) => (x === null ? null : numOut(-num(x), e.type)));
}

function numericType(ta, tb) {
  if (ta === 'real' || tb === 'real') return 'real';
  if (ta === 'decimal' || tb === 'decimal') return 'decimal';
  if (ta === 'long' || tb === 'long') return 'long';
  return 'int';
}

function numberOp(op, type) {
  const integral = type === 'int' || type === 'long';
  switch (op) {
    case '+': return (a, b) => a + b;
    case '-': return (a, b) => a - b;
    case '*': return (a, b) => a * b;
    case '/': return integral ? (a, b) => (b === 0 ? null : Math.trunc(a / b)) : (a, b) => a / b;
    default: return integral ? (a, b) => (b === 0 ? null : a % b) : (a, b) => a % b;
  }
}

// which ticks arithmetic applies to (datetime|timespan|number) op (datetime|timespan|number)
const TICKS_OPS = {
  'datetime-datetime': { '-': ['timespan', (a, b) => a - b] },
  'datetime-timespan': { '+': ['datetime', (a, b) => a + b], '-': ['datetime', (a, b) => a - b] },
  'timespan-datetime': { '+': ['datetime', (a, b) => a + b] },
  'timespan-timespan': { '+': ['timespan', (a, b) => a + b], '-': ['timespan', (a, b) => a - b],
    '/': ['real', (a, b) => (b === 0n ? null : Number(a) / Number(b))] },
  'timespan-number': { '*': ['timespan', (a, b) => BigInt(Math.round(Number(a) * b))],
    '/': ['timespan', (a, b) => (b === 0 ? null : BigInt(Math.round(Number(a) / b)))] },
  'number-timespan': { '*': ['timespan', (a, b) => BigInt(Math.round(a * Number(b)))] },
};

const toTicks = { datetime: dtTicks, timespan: tsTicks, number: num };
const fromTicks = { datetime: dtFromTicks, timespan: tsFromTicks, real: (v) => realOut(v) };

function arithmetic(op, l, r) {
  const unsupported = () => bad(`Cannot apply operator '${op}' to arguments of types ${l.type} and ${r.type}`);
  if (isNum(l.type) && isNum(r.type)) {
    const type = numericType(l.type, r.type);
    const f = numberOp(op, type);
    return { type, ev: (row) => {
      const a = l.ev(row);
      const b = r.ev(row);
      if (a === null || b === null) return null;
      return numOut(f(num(a), num(b)), type);
    } };
  }
  const rule = (TICKS_OPS[`${family(l.type)}-${family(r.type)}`] || {})[op];
  if (!rule) throw unsupported();
  const [type, f] = rule;
  const fa = toTicks[family(l.type)];
  const fb = toTicks[family(r.type)];
  return { type, ev: (row) => {
    const a = l.ev(row);
    const b = r.ev(row);
    if (a === null || b === null) return null;
    const v = f(fa(a), fb(b));
    return v === null ? null : fromTicks[type](v);
  } };
}

function parsePrimary(p) {
  const t = p.next();
  if (!t) { p.i--; throw p.unexpected('an expression'); }
  if (t.k === 'lit') return constant(t.type, t.v);
  if (t.k === 'op' && t.v === '(') {
    const e = parseExpr(p);
    p.expectOp(')');
    return e;
  }
  if (t.k !== 'id') { p.i--; throw p.unexpected('an expression'); }
  if (!t.quoted && /^(true|false)$/i.test(t.v)) return constant('bool', t.v.toLowerCase() === 'true');
  if (!t.quoted && p.isOp('(')) {
    p.i++;
    const args = p.isOp(')') ? [] : p.list(() => parseExpr(p));
    p.expectOp(')');
    return call(t.v, args, p);
  }
  if (p.ctx && p.ctx.lets && p.ctx.lets.has(t.v) && !p.cols.some((c) => c.name === t.v)) {
    const l = p.ctx.lets.get(t.v);
    return constant(l.type, l.v);
  }
  const i = p.column(t.v);
  const type = p.cols[i].type;
  return { type, ev: (r) => r[i], col: t.v };
}

// ---------------------------------------------------------------- scalar functions

function binOf(v, size) {
  if (isNum(v.type) && isNum(size.type)) {
    const type = numericType(v.type, size.type);
    return { type, ev: (r) => {
      const a = v.ev(r);
      const b = size.ev(r);
      if (a === null || b === null || num(b) <= 0) return null;
      return numOut(Math.floor(num(a) / num(b)) * num(b), type);
    } };
  }
  if ((v.type === 'datetime' || v.type === 'timespan') && size.type === 'timespan') {
    const [to, from] = v.type === 'datetime' ? [dtTicks, dtFromTicks] : [tsTicks, tsFromTicks];
    return { type: v.type, ev: (r) => {
      const a = v.ev(r);
      const b = size.ev(r);
      if (a === null || b === null || tsTicks(b) <= 0n) return null;
      const s = tsTicks(b);
      return from(floorDiv(to(a), s) * s);
    } };
  }
  throw bad(`bin(): arguments of types ${v.type} and ${size.type} are not supported`);
}

function iff(c, a, b) {
  requireBool(c, 'iff()');
  if (family(a.type) !== family(b.type)) throw bad(`iff(): the branches have different types: ${a.type} and ${b.type}`);
  const type = isNum(a.type) ? numericType(a.type, b.type) : a.type;
  return { type, ev: (r) => (c.ev(r) === true ? a.ev(r) : b.ev(r)) };
}

const stringArg = (a, what) => requireType(a, (t) => t === 'string', what);

// name: [argument count, (args, ctx) => compiled expression]
const FUNCTIONS = {
  isnull: [1, ([a]) => unary('bool', a, (x) => x === null)],
  isnotnull: [1, ([a]) => unary('bool', a, (x) => x !== null)],
  isempty: [1, ([a]) => unary('bool', a, (x) => x === null || x === '')],
  isnotempty: [1, ([a]) => unary('bool', a, (x) => x !== null && x !== '')],
  not: [1, ([a]) => { requireBool(a, 'not()'); return unary('bool', a, (x) => (x === null ? null : !x)); }],
  tostring: [1, ([a]) => unary('string', a, (x) => toStr(x, a.type))],
  tolong: [1, ([a]) => unary('long', a, (x) => toLong(x, a.type))],
  toint: [1, ([a]) => unary('int', a, (x) => toInt(x, a.type))],
  toreal: [1, ([a]) => unary('real', a, (x) => toReal(x, a.type))],
  todouble: [1, ([a]) => unary('real', a, (x) => toReal(x, a.type))],
  tobool: [1, ([a]) => unary('bool', a, (x) => toBool(x, a.type))],
  toboolean: [1, ([a]) => unary('bool', a, (x) => toBool(x, a.type))],
  todatetime: [1, ([a]) => unary('datetime', a, (x) => toDatetime(x, a.type))],
  strlen: [1, ([a]) => unary('long', a, (x) => [...toStr(x, a.type)].length)],
  tolower: [1, ([a]) => { stringArg(a, 'tolower()'); return unary('string', a, (x) => x.toLowerCase()); }],
  toupper: [1, ([a]) => { stringArg(a, 'toupper()'); return unary('string', a, (x) => x.toUpperCase()); }],
  iff: [3, ([c, a, b]) => iff(c, a, b)],
  iif: [3, ([c, a, b]) => iff(c, a, b)],
  bin: [2, ([v, size]) => binOf(v, size)],
  floor: [2, ([v, size]) => binOf(v, size)],
  now: [0, (args, ctx) => constant('datetime', ctx.now)],
  ago: [1, ([a], ctx) => {
    requireType(a, (t) => t === 'timespan', 'ago()');
    return arithmetic('-', constant('datetime', ctx.now), a);
  }],
};

function call(name, args, p) {
  const f = FUNCTIONS[name.toLowerCase()];
  if (!f) {
    if (AGGREGATES[name.toLowerCase()]) throw bad(`The aggregate function '${name}()' is only allowed in summarize`);
    throw bad(`Unknown function: '${name}'`);
  }
  if (args.length !== f[0]) throw bad(`${name}(): expected ${f[0]} argument(s), got ${args.length}`);
  return f[1](args, p.ctx);
}

// ---------------------------------------------------------------- aggregates
// An aggregate: { cols: [{ name, type }], create() -> { add(row), values() -> [...] } }.
// Over no (non-null) values, count/sum/dcount give 0, avg NaN and the rest null.

const argName = (prefix, e) => `${prefix}_${e && e.col ? e.col : ''}`;

function aggCount(args) {
  if (args.length > 1) throw bad('count(): expected at most 1 argument');
  return { cols: [{ name: argName('count', args[0]), type: 'long' }], create: () => {
    let n = 0;
    return { add: () => { n++; }, values: () => [n] };
  } };
}

function aggCountif([pred]) {
  requireBool(pred, 'countif()');
  return { cols: [{ name: 'countif_', type: 'long' }], create: () => {
    let n = 0;
    return { add: (r) => { if (pred.ev(r) === true) n++; }, values: () => [n] };
  } };
}

function aggSum(prefix, x, pred) {
  requireType(x, isNum, `${prefix}()`);
  if (pred) requireBool(pred, `${prefix}()`);
  const type = x.type === 'int' ? 'long' : x.type;
  return { cols: [{ name: argName(prefix, x), type }], create: () => {
    let s = 0;
    return {
      add: (r) => {
        if (pred && pred.ev(r) !== true) return;
        const v = x.ev(r);
        if (v !== null) s += num(v);
      },
      values: () => [numOut(s, type)],
    };
  } };
}

function aggAvg([x]) {
  requireType(x, isNum, 'avg()');
  return { cols: [{ name: argName('avg', x), type: 'real' }], create: () => {
    let s = 0;
    let n = 0;
    return {
      add: (r) => { const v = x.ev(r); if (v !== null) { s += num(v); n++; } },
      values: () => [realOut(n ? s / n : NaN)],
    };
  } };
}

function orderable(x, what) {
  requireType(x, (t) => t !== 'dynamic', what);
  return comparer(x.type);
}

function aggMinMax(prefix, [x]) {
  const cmp = orderable(x, `${prefix}()`);
  const sign = prefix === 'max' ? 1 : -1;
  return { cols: [{ name: argName(prefix, x), type: x.type }], create: () => {
    let best = null;
    return {
      add: (r) => {
        const v = x.ev(r);
        if (!missing(v, x.type) && (best === null || cmp(v, best) * sign > 0)) best = v;
      },
      values: () => [best],
    };
  } };
}

function aggDcount(args) {
  if (args.length < 1 || args.length > 2) throw bad('dcount(): expected 1 or 2 arguments');
  const x = args[0];
  return { cols: [{ name: argName('dcount', x), type: 'long' }], create: () => {
    const seen = new Set();
    return {
      add: (r) => { const v = x.ev(r); if (v !== null) seen.add(JSON.stringify(v)); },
      values: () => [seen.size],
    };
  } };
}

// arg_max(x, * | col, ...): x then the columns of the row where x is largest;
// `*` stands for every input column but x and the by columns
function aggArg(prefix, args, p, byNames) {
  const [x, ...ret] = args;
  if (!x || x.star) throw bad(`${prefix}(): the first argument must be an expression`);
  if (!ret.length) throw bad(`${prefix}(): expected columns to return, or *`);
  const cmp = orderable(x, `${prefix}()`);
  const sign = prefix === 'arg_max' ? 1 : -1;
  const out = [];
  for (const e of ret) {
    if (e.star) {
      p.cols.forEach((c, i) => {
        if (c.name !== x.col && !byNames.includes(c.name)) out.push({ type: c.type, ev: (r) => r[i], col: c.name });
      });
    } else if (e.col) {
      out.push(e);
    } else {
      throw bad(`${prefix}(): only column names or * can be returned`);
    }
  }
  const cols = [{ name: x.col || `${prefix}_`, type: x.type }, ...out.map((e) => ({ name: e.col, type: e.type }))];
  return { cols, create: () => {
    let row = null;
    let best = null;
    return {
      add: (r) => {
        const v = x.ev(r);
        const skip = missing(v, x.type);
        if (row === null || (!skip && (best === null || cmp(v, best) * sign > 0))) {
          row = r;
          best = skip ? null : v;
        }
      },
      values: () => (row === null ? cols.map(() => null) : [x.ev(row), ...out.map((e) => e.ev(row))]),
    };
  } };
}

const AGGREGATES = {
  count: (args) => aggCount(args),
  countif: (args) => { if (args.length !== 1) throw bad('countif(): expected 1 argument'); return aggCountif(args); },
  sum: (args) => { if (args.length !== 1) throw bad('sum(): expected 1 argument'); return aggSum('sum', args[0]); },
  sumif: (args) => {
    if (args.length !== 2) throw bad('sumif(): expected 2 arguments');
    return aggSum('sumif', ...args);
  },
  avg: (args) => { if (args.length !== 1) throw bad('avg(): expected 1 argument'); return aggAvg(args); },
  min: (args) => { if (args.length !== 1) throw bad('min(): expected 1 argument'); return aggMinMax('min', args); },
  max: (args) => { if (args.length !== 1) throw bad('max(): expected 1 argument'); return aggMinMax('max', args); },
  dcount: (args) => aggDcount(args),
  arg_max: (args, p, byNames) => aggArg('arg_max', args, p, byNames),
  arg_min: (args, p, byNames) => aggArg('arg_min', args, p, byNames),
};

function parseAggregate(p, byNames) {
  const t = p.next();
  const make = t && t.k === 'id' && !t.quoted && AGGREGATES[t.v.toLowerCase()];
  if (!make || !p.isOp('(')) {
    p.i--;
    throw bad(`Syntax error: expected an aggregation function, found ${tokText(t)}`);
  }
  p.i++;
  const arg = () => (p.acceptOp('*') ? { star: true } : parseExpr(p));
  const args = p.isOp(')') ? [] : p.list(arg);
  p.expectOp(')');
  if (!/^arg_m(ax|in)$/i.test(t.v) && args.some((a) => a.star)) throw bad(`${t.v}(): * is not allowed here`);
  return make(args, p, byNames);
}

// ---------------------------------------------------------------- naming

function uniqueName(name, used) {
  let n = name;
  for (let k = 1; used.has(n); k++) n = `${name}${k}`;
  used.add(n);
  return n;
}

function autoName(used) {
  let k = 1;
  while (used.has(`Column${k}`)) k++;
  used.add(`Column${k}`);
  return `Column${k}`;
}

// [Name =] expr, named as the column it is, else Column1, Column2, ...
function namedItems(p) {
  return p.list(() => {
    const name = p.assignment();
    return { name, expr: parseExpr(p) };
  });
}

function wildcard(pattern) {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

// the column indices a list of names and wildcards (a*, *_x) selects
function selectColumns(p, what) {
  const picked = new Set();
  const names = p.list(() => {
    let n = p.name();
    while (p.acceptOp('*')) {
      n += '*';
      if (p.peek() && p.peek().k === 'id' && !p.peek().quoted) n += p.next().v;
    }
    return n;
  });
  for (const n of names) {
    if (n.includes('*')) {
      const re = wildcard(n);
      p.cols.forEach((c, i) => { if (re.test(c.name)) picked.add(i); });
    } else {
      const i = p.cols.findIndex((c) => c.name === n);
      if (i < 0) throw bad(`${what}: failed to resolve column named '${n}'`);
      picked.add(i);
    }
  }
  return picked;
}

// ---------------------------------------------------------------- tabular operators
// Each takes the parser (positioned after its name) and { cols, rows }, returns a new { cols, rows }.

function opWhere(p, t) {
  const pred = parseExpr(p);
  requireBool(pred, 'where');
  return { cols: t.cols, rows: t.rows.filter((r) => pred.ev(r) === true) };
}

function opTake(p, t) {
  const n = p.next();
  if (!n || n.k !== 'lit' || n.type !== 'long' || n.v < 0) throw bad('take: expected a row count');
  return { cols: t.cols, rows: t.rows.slice(0, n.v) };
}

function opCount(p, t) {
  return { cols: [{ name: 'Count', type: 'long' }], rows: [[t.rows.length]] };
}

function opProject(p, t) {
  const items = namedItems(p);
  const used = new Set();
  const named = items.map((it) => (it.name || it.expr.col ? uniqueName(it.name || it.expr.col, used) : null));
  const cols = items.map((it, k) => ({ name: named[k] || autoName(used), type: it.expr.type }));
  return { cols, rows: t.rows.map((r) => items.map((it) => it.expr.ev(r))) };
}

function opExtend(p, t) {
  let { cols, rows } = t;
  do {
    p.cols = cols;
    const name = p.assignment();
    const expr = parseExpr(p);
    const used = new Set(cols.map((c) => c.name));
    const n = name || expr.col || autoName(used);
    const old = cols.findIndex((c) => c.name === n);
    // an existing column is removed and appended with its new values
    cols = [...cols.filter((c, i) => i !== old), { name: n, type: expr.type }];
    rows = rows.map((r) => [...(old < 0 ? r : r.filter((v, i) => i !== old)), expr.ev(r)]);
  } while (p.acceptOp(','));
  return { cols, rows };
}

function opProjectAway(p, t) {
  const away = selectColumns(p, 'project-away');
  const keep = t.cols.map((c, i) => i).filter((i) => !away.has(i));
  return { cols: keep.map((i) => t.cols[i]), rows: t.rows.map((r) => keep.map((i) => r[i])) };
}

function opProjectKeep(p, t) {
  const picked = selectColumns(p, 'project-keep');
  const keep = t.cols.map((c, i) => i).filter((i) => picked.has(i));
  return { cols: keep.map((i) => t.cols[i]), rows: t.rows.map((r) => keep.map((i) => r[i])) };
}

function opProjectRename(p, t) {
  const cols = t.cols.slice();
  p.list(() => {
    const to = p.name();
    p.expectOp('=');
    const i = p.column(p.name());
    cols[i] = { name: to, type: cols[i].type };
  });
  if (new Set(cols.map((c) => c.name)).size !== cols.length) throw bad('project-rename: duplicate column names');
  return { cols, rows: t.rows };
}

function opDistinct(p, t) {
  let idx;
  if (p.acceptOp('*')) idx = t.cols.map((c, i) => i);
  else idx = p.list(() => p.column(p.name()));
  const seen = new Map();
  for (const r of t.rows) {
    const v = idx.map((i) => r[i]);
    const key = JSON.stringify(v);
    if (!seen.has(key)) seen.set(key, v);
  }
  return { cols: idx.map((i) => t.cols[i]), rows: [...seen.values()] };
}

function parseSortKey(p) {
  const expr = parseExpr(p);
  orderable(expr, 'sort');
  let asc = false;
  if (p.acceptWord('asc')) asc = true;
  else p.acceptWord('desc');
  let nullsFirst = asc;
  if (p.acceptWord('nulls')) {
    if (p.acceptWord('first')) nullsFirst = true;
    else { p.expectWord('last'); nullsFirst = false; }
  }
  return { expr, asc, nullsFirst, cmp: comparer(expr.type) };
}

// a stable sort; nulls and NaNs together, first or last as asked
function sortRows(rows, keys) {
  const decorated = rows.map((r) => ({ r, k: keys.map((key) => key.expr.ev(r)) }));
  decorated.sort((a, b) => {
    for (let j = 0; j < keys.length; j++) {
      const key = keys[j];
      const ma = missing(a.k[j], key.expr.type);
      const mb = missing(b.k[j], key.expr.type);
      if (ma || mb) {
        if (ma && mb) continue;
        return (ma ? -1 : 1) * (key.nullsFirst ? 1 : -1);
      }
      const c = key.cmp(a.k[j], b.k[j]);
      if (c) return key.asc ? c : -c;
    }
    return 0;
  });
  return decorated.map((d) => d.r);
}

function opSort(p, t) {
  p.expectWord('by');
  const keys = p.list(() => parseSortKey(p));
  return { cols: t.cols, rows: sortRows(t.rows, keys) };
}

function opTop(p, t) {
  const n = p.next();
  if (!n || n.k !== 'lit' || n.type !== 'long' || n.v < 0) throw bad('top: expected a row count');
  p.expectWord('by');
  const key = parseSortKey(p);
  return { cols: t.cols, rows: sortRows(t.rows, [key]).slice(0, n.v) };
}

// a group-by expression's default name: its column, or the first column it uses (bin(d, 1h) -> d)
function groupName(p, start, expr) {
  if (expr.col) return expr.col;
  for (let i = start; i < p.i; i++) {
    const t = p.toks[i];
    if (t.k === 'id' && p.cols.some((c) => c.name === t.v) && !p.isOp('(', i - p.i + 1)) return t.v;
  }
  return null;
}

function opSummarize(p, t) {
  // the by clause first: arg_max(x, *) leaves out the by columns
  let depth = 0;
  let byAt = -1;
  for (let i = p.i; i < p.toks.length && byAt < 0; i++) {
    const tok = p.toks[i];
    if (tok.k === 'op' && tok.v === '(') depth++;
    else if (tok.k === 'op' && tok.v === ')') depth--;
    else if (depth === 0 && tok.k === 'id' && !tok.quoted && tok.v.toLowerCase() === 'by') byAt = i;
  }
  const aggStart = p.i;
  const used = new Set();
  const by = [];
  if (byAt >= 0) {
    p.i = byAt + 1;
    for (const it of p.list(() => {
      const name = p.assignment();
      const start = p.i;
      const expr = parseExpr(p);
      return { name: name || groupName(p, start, expr), expr };
    })) by.push(it);
    p.end();
    for (const b of by) b.name = b.name ? uniqueName(b.name, used) : autoName(used);
    p.toks = p.toks.slice(0, byAt);
  }
  p.i = aggStart;
  const aggs = [];
  if (!p.atEnd()) {
    p.list(() => {
      const alias = p.assignment();
      const agg = parseAggregate(p, by.map((b) => b.name));
      agg.cols = agg.cols.map((c, k) => ({ name: uniqueName(k === 0 && alias ? alias : c.name, used), type: c.type }));
      aggs.push(agg);
    });
  }
  if (!by.length && !aggs.length) throw bad('summarize: expected aggregates or a by clause');
  p.end();
  return summarizeRows(t.rows, by, aggs);
}

function summarizeRows(rows, by, aggs) {
  const groups = new Map();
  const group = (keys) => {
    const k = JSON.stringify(keys);
    let g = groups.get(k);
    if (!g) { g = { keys, states: aggs.map((a) => a.create()) }; groups.set(k, g); }
    return g;
  };
  for (const r of rows) {
    const g = group(by.map((b) => b.expr.ev(r)));
    for (const s of g.states) s.add(r);
  }
  if (!by.length && groups.size === 0) group([]);   // no by: one row, even over no input
  const cols = [...by.map((b) => ({ name: b.name, type: b.expr.type })), ...aggs.flatMap((a) => a.cols)];
  const out = [...groups.values()].map((g) => [...g.keys, ...g.states.flatMap((s) => s.values())]);
  return { cols, rows: out };
}

// lookup: each left row with the right table's other columns, from the right
// row of equal key columns (null, or '' for a string, where none matches:
// kind=leftouter, the default; left out: kind=inner); a left row matching
// several right rows comes once per match, as in Kusto
function opLookup(p, t) {
  let kind = 'leftouter';
  if (p.acceptWord('kind')) {
    p.expectOp('=');
    kind = p.name().toLowerCase();
    if (kind !== 'leftouter' && kind !== 'inner') throw bad(`lookup: unsupported kind '${kind}'`);
  }
  let right;
  if (p.isOp('(')) {
    let depth = 0;
    let j = p.i;
    for (; j < p.toks.length; j++) {
      const tok = p.toks[j];
      if (tok.k === 'op' && tok.v === '(') depth++;
      else if (tok.k === 'op' && tok.v === ')' && --depth === 0) break;
    }
    if (j >= p.toks.length) throw bad("Syntax error: expected ')'");
    right = p.ctx.run(p.toks.slice(p.i + 1, j));
    p.i = j + 1;
  } else {
    right = p.ctx.run([p.next()]);
  }
  p.expectWord('on');
  const keys = p.list(() => p.name());
  const li = keys.map((k) => p.column(k));
  const ri = keys.map((k, j) => {
    const i = right.cols.findIndex((c) => c.name === k);
    if (i < 0) throw bad(`lookup: the right table has no column '${k}'`);
    const left = t.cols[li[j]].type;
    if (family(right.cols[i].type) !== family(left)) {
      throw bad(`lookup: column '${k}' is ${left} on the left and ${right.cols[i].type} on the right`);
    }
    return i;
  });
  const extra = right.cols.map((c, i) => ({ c, i })).filter(({ i }) => !ri.includes(i));
  for (const { c } of extra) {
    if (t.cols.some((l) => l.name === c.name)) throw bad(`lookup: column '${c.name}' is on both sides`);
  }
  const index = new Map();
  for (const r of right.rows) {
    const k = JSON.stringify(ri.map((i) => r[i]));
    if (!index.has(k)) index.set(k, []);
    index.get(k).push(r);
  }
  const none = extra.map(({ c }) => (c.type === 'string' ? '' : null));
  const rows = [];
  for (const r of t.rows) {
    const matches = index.get(JSON.stringify(li.map((i) => r[i])));
    if (matches) for (const m of matches) rows.push([...r, ...extra.map(({ i }) => m[i])]);
    else if (kind === 'leftouter') rows.push([...r, ...none]);
  }
  return { cols: [...t.cols, ...extra.map(({ c }) => c)], rows };
}

const OPERATORS = {
  where: opWhere,
  filter: opWhere,
  take: opTake,
  limit: opTake,
  count: opCount,
  project: opProject,
  extend: opExtend,
  'project-away': opProjectAway,
  'project-keep': opProjectKeep,
  'project-rename': opProjectRename,
  distinct: opDistinct,
  order: opSort,
  sort: opSort,
  top: opTop,
  summarize: opSummarize,
  lookup: opLookup,
};

// ---------------------------------------------------------------- query

function sourceTable(toks) {
  const t = toks[0];
  if (toks.length !== 1 || !t || !(t.k === 'id' || (t.k === 'lit' && t.type === 'string'))) {
    throw bad(`Failed to resolve table or column expression named '${toks.map(tokText).join(' ')}'`);
  }
  return t.v;
}

// statements separated by top-level ';'
function splitStatements(toks) {
  const out = [[]];
  let depth = 0;
  for (const t of toks) {
    if (t.k === 'op' && (t.v === '(' || t.v === '[' || t.v === '{')) depth++;
    if (t.k === 'op' && (t.v === ')' || t.v === ']' || t.v === '}')) depth--;
    if (depth === 0 && t.k === 'op' && t.v === ';') out.push([]);
    else out[out.length - 1].push(t);
  }
  return out.filter((s) => s.length);
}

// `let Name = toscalar(query)` and `let Name = query` statements, then one
// tabular expression
function runQuery(engine, dbName, csl) {
  const statements = splitStatements(tokenize(csl));
  const ctx = { now: types.parseValue(new Date().toISOString(), 'datetime'), lets: new Map(), tables: new Map() };
  ctx.run = (toks) => runTabular(engine, dbName, toks, ctx);
  if (!statements.length) throw bad('Syntax error: an empty query');
  for (const st of statements.slice(0, -1)) {
    const p = new Parser(st, [], ctx);
    p.expectWord('let');
    const name = p.name();
    p.expectOp('=');
    if (!p.isWord('toscalar')) {
      ctx.tables.set(name, runTabular(engine, dbName, st.slice(p.i), ctx));
      continue;
    }
    p.expectWord('toscalar');
    p.expectOp('(');
    const inner = st.slice(p.i, st.length - 1);
    if (!(st[st.length - 1].k === 'op' && st[st.length - 1].v === ')')) throw bad('Syntax error: expected \')\'');
    const r = runTabular(engine, dbName, inner, ctx);
    const col = r.cols[0];
    ctx.lets.set(name, { type: col ? col.type : 'string', v: r.rows.length && col ? r.rows[0][0] : null });
  }
  const t = runTabular(engine, dbName, statements[statements.length - 1], ctx);
  return { columns: t.cols.map((c) => ({ name: c.name, type: c.type })), rows: t.rows };
}

function runTabular(engine, dbName, toks, ctx) {
  const [source, ...ops] = splitPipes(toks);
  const name = sourceTable(source);
  const view = engine.db(dbName).views && engine.db(dbName).views.get(name);
  let t;
  if (ctx.tables && ctx.tables.has(name)) {
    const local = ctx.tables.get(name);
    t = { cols: local.cols.slice(), rows: local.rows };
  } else if (view) {
    const r = runTabular(engine, dbName, tokenize(view.query), ctx);
    t = { cols: r.cols.slice(), rows: r.rows };
    if (view.schema && !view.autoUpdateSchema) {
      // the view keeps the columns it was created with (engine.js, materialized views)
      const idx = view.schema.map((n) => t.cols.findIndex((c) => c.name === n)).filter((i) => i >= 0);
      t = { cols: idx.map((i) => t.cols[i]), rows: t.rows.map((row) => idx.map((i) => row[i])) };
    }
  } else {
    const table = engine.table(dbName, name);
    t = { cols: table.columns.slice(), rows: table.rows };
  }
  for (const opToks of ops) {
    const p = new Parser(opToks, t.cols, ctx);
    const name = p.peek() && p.peek().k === 'id' ? p.next().v.toLowerCase() : '';
    const op = OPERATORS[name];
    if (!op) throw bad(`Unsupported query operator: ${opToks.map(tokText).join(' ') || '(empty)'}`);
    t = op(p, t);
    p.end();
  }
  return t;
}

module.exports = { runQuery };
