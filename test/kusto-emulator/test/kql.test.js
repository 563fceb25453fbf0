'use strict';
// The emulator's KQL subset (lib/mini/kql.js), run directly on an Engine:
// operators, null semantics, result column names and types, and errors.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Engine } = require('../lib/mini/engine');

// T: a long, a string, a datetime and a real, with nulls, an empty string and a NaN
const T_CSV = [
  '1,hello world,2024-01-01T00:00:00Z,1.5',
  '2,Foo_bar,2024-01-02T10:00:00.5Z,',
  '3,,,-2',
  ',abc,2024-01-03,NaN',
  '5,HELLO there,2024-01-05,2.5',
].join('\n');

// G: groups for summarize
const G_CSV = [
  'x,1,2024-01-01,0.5,10',
  'x,3,2024-01-03,1.5,20',
  'y,2,2024-01-02,,30',
  'y,,2024-01-04,2,',
  'z,,2024-01-05,,',
].join('\n');

// U: the other scalar types
const U_CSV = [
  '8CF3CD6F-6B5B-4C7E-9B52-AE2B4D9F4E5B,true,01:00:00,1.25,7',
  ',false,1.00:00:00,,',
].join('\n');

function makeEngine() {
  const e = new Engine();
  e.mgmt('db', '.create table T (a:long, s:string, d:datetime, r:real)');
  e.ingest('db', 'T', Buffer.from(T_CSV), { format: 'csv' });
  e.mgmt('db', '.create table G (k:string, v:long, t:datetime, x:real, i:int)');
  e.ingest('db', 'G', Buffer.from(G_CSV), { format: 'csv' });
  e.mgmt('db', '.create table U (g:guid, b:bool, ts:timespan, dec:decimal, n:int)');
  e.ingest('db', 'U', Buffer.from(U_CSV), { format: 'csv' });
  return e;
}

const engine = makeEngine();
const query = (csl) => engine.query('db', csl);
const rows = (csl) => query(csl).rows;
const schema = (csl) => query(csl).columns.map((c) => `${c.name}:${c.type}`);
// the first column's values
const column = (csl) => rows(csl).map((r) => r[0]);

function rejects(csl, pattern) {
  assert.throws(() => query(csl), (err) => {
    assert.equal(err.name, 'KustoError');
    assert.equal(err.status, 400);
    assert.equal(err.code, 'General_BadRequest');
    assert.match(err.message, pattern);
    return true;
  }, csl);
}

// ---------------------------------------------------------------- where

test('where: comparisons on long, real and string', () => {
  assert.deepEqual(column('T | where a == 1 | project a'), [1]);
  assert.deepEqual(column('T | where a < 3 | project a'), [1, 2]);
  assert.deepEqual(column('T | where a <= 3 | project a'), [1, 2, 3]);
  assert.deepEqual(column('T | where a > 2 | project a'), [3, 5]);
  assert.deepEqual(column('T | where a >= 2 | project a'), [2, 3, 5]);
  assert.deepEqual(column('T | where r > 0 | project a'), [1, 5], 'null and NaN never compare');
  assert.deepEqual(column('T | where r == -2 | project a'), [3]);
  assert.deepEqual(column('T | where a == 1.0 | project a'), [1], 'long and real compare');
  assert.deepEqual(column('T | where s == "abc" | project a'), [null]);
  assert.deepEqual(column('T | where s == "ABC" | project a'), [], '== is case-sensitive');
  assert.deepEqual(column('T | where s =~ "ABC" | project a'), [null]);
  assert.deepEqual(column('T | where s !~ "ABC" | project a'), [1, 2, 3, 5]);
  assert.deepEqual(column("T | where s == '' | project a"), [3]);
});

test('where: != keeps nulls (null != value is true), == drops them', () => {
  assert.deepEqual(column('T | where a != 1 | project a'), [2, 3, null, 5]);
  assert.deepEqual(column('T | where s != "abc" | project a'), [1, 2, 3, 5]);
  assert.deepEqual(column('T | where d != datetime(2024-01-01) | project a'), [2, 3, null, 5]);
  assert.deepEqual(column('T | where a <> 1 | project a'), [2, 3, null, 5]);
});

test('where: datetimes compare as instants, fractions included', () => {
  assert.deepEqual(column('T | where d > datetime(2024-01-02) | project a'), [2, null, 5]);
  assert.deepEqual(column('T | where d > datetime(2024-01-02T10:00:00Z) | project a'), [2, null, 5]);
  assert.deepEqual(column('T | where d < datetime(2024-01-02T10:00:00.6Z) | project a'), [1, 2]);
  assert.deepEqual(column('T | where d == datetime(2024-01-02 10:00:00.5) | project a'), [2]);
  assert.deepEqual(column('T | where d == datetime("2024-01-05T01:00:00+01:00") | project a'), [5]);
  assert.deepEqual(column('T | where d > ago(1d) | project a'), []);
  assert.deepEqual(column('T | where d < now() | count'), [4]);
});

test('where: between and !between, inclusive, nulls match neither', () => {
  assert.deepEqual(column('T | where a between (2 .. 3) | project a'), [2, 3]);
  assert.deepEqual(column('T | where a between(2..3) | project a'), [2, 3]);
  assert.deepEqual(column('T | where a !between (2 .. 3) | project a'), [1, 5]);
  assert.deepEqual(column('T | where r between (-2 .. 1.5) | project a'), [1, 3]);
  assert.deepEqual(column('T | where d between (datetime(2024-01-01) .. datetime(2024-01-03)) | project a'),
    [1, 2, null]);
  assert.deepEqual(column('T | where d between (datetime(2024-01-02) .. 1d) | project a'), [2, null],
    'datetime .. timespan is a window from the start');
  assert.deepEqual(column('T | where d !between (datetime(2024-01-02) .. 1d) | project a'), [1, 5]);
});

test('where: has and !has match whole terms, case-insensitively', () => {
  assert.deepEqual(column('T | where s has "world" | project a'), [1]);
  assert.deepEqual(column('T | where s has "WORLD" | project a'), [1]);
  assert.deepEqual(column('T | where s has "hello" | project a'), [1, 5]);
  assert.deepEqual(column('T | where s has "hell" | project a'), [], 'a prefix is not a term');
  assert.deepEqual(column('T | where s has "bar" | project a'), [2], '_ separates terms');
  assert.deepEqual(column('T | where s has "o_b" | project a'), []);
  assert.deepEqual(column('T | where s has "hello world" | project a'), [1]);
  assert.deepEqual(column('T | where s !has "hello" | project a'), [2, 3, null]);
  assert.deepEqual(column('T | where s has_cs "hello" | project a'), [1]);
  assert.deepEqual(column('T | where s !has_cs "hello" | project a'), [2, 3, null, 5]);
});

test('where: contains, startswith, endswith and their _cs and ! forms', () => {
  assert.deepEqual(column('T | where s contains "ELL" | project a'), [1, 5]);
  assert.deepEqual(column('T | where s contains_cs "ELL" | project a'), [5]);
  assert.deepEqual(column('T | where s !contains "o" | project a'), [3, null]);
  assert.deepEqual(column('T | where s startswith "hel" | project a'), [1, 5]);
  assert.deepEqual(column('T | where s endswith "BAR" | project a'), [2]);
  assert.deepEqual(column('T | where s !startswith "h" | project a'), [2, 3, null]);
  assert.deepEqual(column('T | where s matches regex "^[a-z]+ " | project a'), [1]);
});

test('where: in, !in, in~ and !in~', () => {
  assert.deepEqual(column('T | where a in (1, 3, 7) | project a'), [1, 3]);
  assert.deepEqual(column('T | where a !in (1, 3) | project a'), [2, null, 5], 'null !in (...) is true');
  assert.deepEqual(column('T | where r in (1.5, -2) | project a'), [1, 3]);
  assert.deepEqual(column('T | where s in ("abc", "Foo_bar") | project a'), [2, null]);
  assert.deepEqual(column('T | where s in ("ABC") | project a'), []);
  assert.deepEqual(column('T | where s in~ ("ABC", "foo_bar") | project a'), [2, null]);
  assert.deepEqual(column('T | where s !in~ ("ABC", "foo_bar", "") | project a'), [1, 5]);
  assert.deepEqual(column('T | where d in (datetime(2024-01-05), datetime(1999-01-01)) | project a'), [5]);
});

test('where: isnull, isnotnull, isempty, isnotempty', () => {
  assert.deepEqual(column('T | where isnull(a) | project s'), ['abc']);
  assert.deepEqual(column('T | where isnotnull(r) | project a'), [1, 3, null, 5], 'NaN is not null');
  assert.deepEqual(column('T | where isnull(s) | project a'), [], 'strings are never null');
  assert.deepEqual(column('T | where isempty(s) | project a'), [3]);
  assert.deepEqual(column('T | where isnotempty(s) | project a'), [1, 2, null, 5]);
  assert.deepEqual(column('T | where isempty(d) | project a'), [3]);
  assert.deepEqual(column('T | where isempty(a) | project s'), ['abc']);
  assert.deepEqual(column('T | where isnotnull(a) and isnotnull(d) | project a'), [1, 2, 5]);
});

test('where: and binds tighter than or; not() and parentheses; three-valued logic', () => {
  assert.deepEqual(column('T | where a == 1 or a == 2 and s == "x" | project a'), [1]);
  assert.deepEqual(column('T | where (a == 1 or a == 2) and s has "foo" | project a'), [2]);
  assert.deepEqual(column('T | where a > 2 or isnull(a) | project a'), [3, null, 5]);
  assert.deepEqual(column('T | where not(a > 2) | project a'), [1, 2], 'not(null) is null');
  assert.deepEqual(column('T | where not(isempty(s)) and a < 3 | project a'), [1, 2]);
  assert.deepEqual(column('T | where not(a > 2 and r > 0) | project a'), [1, 2, 3, null],
    'null and false is false');
  assert.deepEqual(column('T | where a > 2 or r > 100 | project a'), [3, 5], 'null or false is null');
  assert.deepEqual(column('T | where ((a == 5)) | project a'), [5]);
  assert.deepEqual(column('T | where true | count'), [5]);
  assert.deepEqual(column('T | where a > 1 | where a < 5 | project a'), [2, 3]);
  assert.deepEqual(column('T | filter a == 3 | project a'), [3]);
});

test('where: guid, bool, timespan and decimal columns', () => {
  assert.deepEqual(column('U | where g == guid(8cf3cd6f-6b5b-4c7e-9b52-ae2b4d9f4e5b) | count'), [1]);
  assert.deepEqual(column('U | where isnull(g) | project b'), [false]);
  assert.deepEqual(column('U | where b | project n'), [7]);
  assert.deepEqual(column('U | where b == false | project ts'), ['1.00:00:00']);
  assert.deepEqual(column('U | where not(b) | project ts'), ['1.00:00:00']);
  assert.deepEqual(column('U | where ts > 2h | project ts'), ['1.00:00:00']);
  assert.deepEqual(column('U | where ts < 1d | project ts'), ['01:00:00']);
  assert.deepEqual(column('U | where ts == timespan(01:00:00) | project n'), [7]);
  assert.deepEqual(column('U | where ts == 60m | project n'), [7]);
  assert.deepEqual(column('U | where dec > 1 | project dec'), ['1.25']);
});

// ---------------------------------------------------------------- extend / project

test('extend: arithmetic and its result types', () => {
  const q = 'T | where a == 2 | extend x = a * 3, y = a / 4, z = a + 0.5, w = a % 2, v = -a, u = 7 / 2, f = 7.0 / 2';
  assert.deepEqual(schema(q).slice(4),
    ['x:long', 'y:long', 'z:real', 'w:long', 'v:long', 'u:long', 'f:real']);
  assert.deepEqual(rows(q)[0].slice(4), [6, 0, 2.5, 0, -2, 3, 3.5]);
  assert.deepEqual(rows('T | where a == 1 | extend z = a / 0 | project z'), [[null]], 'integer division by zero');
  assert.deepEqual(rows('T | where a == 1 | extend z = r / 0 | project z'), [['Infinity']]);
  assert.deepEqual(rows('T | where isnull(a) | extend x = a + 1, y = r * 2 | project x, y'), [[null, 'NaN']]);
  assert.deepEqual(rows('T | where a == 3 | extend x = (a + 1) * 2 - 10 / 5 | project x'), [[6]]);
  assert.deepEqual(rows('U | where b | extend m = n + 1, p = n * 2 | project m, p'), [[8, 14]]);
  assert.deepEqual(schema('U | extend m = n + 1, p = n * n | project m, p'), ['m:long', 'p:int']);
});

test('extend: conversions', () => {
  const q = 'T | where a == 1 | extend s1 = tostring(a), l = tolong("42"), i = toint(r), re = toreal(a), '
    + 'db = todouble("2.5"), bad = tolong("x"), ds = tostring(d), bs = tostring(a > 0), rs = tostring(r) '
    + '| project s1, l, i, re, db, bad, ds, bs, rs';
  assert.deepEqual(schema(q), ['s1:string', 'l:long', 'i:int', 're:real', 'db:real', 'bad:long', 'ds:string',
    'bs:string', 'rs:string']);
  assert.deepEqual(rows(q), [['1', 42, 1, 1, 2.5, null, '2024-01-01T00:00:00Z', 'true', '1.5']]);
  assert.deepEqual(rows('T | where isnull(a) | extend x = tostring(a), y = tolong(a), z = toreal(r) | project x, y, z'),
    [['', null, 'NaN']]);
  assert.deepEqual(rows('T | where a == 3 | extend x = tolong(r), y = toint("12"), z = todouble(a) | project x, y, z'),
    [[-2, 12, 3]]);
  assert.deepEqual(rows('T | where a == 1 | project x = strlen(s), y = toupper(s), z = todatetime("2024-02-01")'),
    [[11, 'HELLO WORLD', '2024-02-01T00:00:00Z']]);
});

test('extend: literals of each type', () => {
  const q = 'T | take 1 | extend b = true, g = guid(8CF3CD6F-6B5B-4C7E-9B52-AE2B4D9F4E5B), '
    + 'dt = datetime(2024-02-03 04:05:06), t = "x", n = 1.25, l = 10, ts = 90m, nl = long(null), q = \'it\\\'s\' '
    + '| project-away a, s, d, r';
  assert.deepEqual(schema(q), ['b:bool', 'g:guid', 'dt:datetime', 't:string', 'n:real', 'l:long', 'ts:timespan',
    'nl:long', 'q:string']);
  assert.deepEqual(rows(q), [[true, '8cf3cd6f-6b5b-4c7e-9b52-ae2b4d9f4e5b', '2024-02-03T04:05:06Z', 'x', 1.25, 10,
    '01:30:00', null, "it's"]]);
});

test('extend: datetime and timespan arithmetic, bin()', () => {
  const q = 'T | where a == 2 | extend t = d - datetime(2024-01-01), n = d + 1d, m = bin(d, 1h), w = t / 1h | '
    + 'project t, n, m, w';
  assert.deepEqual(schema(q), ['t:timespan', 'n:datetime', 'm:datetime', 'w:real']);
  assert.deepEqual(rows(q), [['1.10:00:00.5', '2024-01-03T10:00:00.5Z', '2024-01-02T10:00:00Z', 122400.5 / 3600]]);
  assert.deepEqual(rows('T | where a == 5 | project x = bin(a, 2), y = bin(r, 1)'), [[4, 2]]);
});

test('extend: names, replacing a column, using an earlier item', () => {
  assert.deepEqual(schema('T | extend a = a + 10'), ['s:string', 'd:datetime', 'r:real', 'a:long'],
    'an existing column moves to the end');
  assert.deepEqual(column('T | where a == 1 | extend a = a + 10 | project a'), [11]);
  assert.deepEqual(schema('T | extend a * 2, tostring(a)').slice(4), ['Column1:long', 'Column2:string']);
  assert.deepEqual(rows('T | where a == 1 | extend x = a + 1, y = x * 2 | project y'), [[4]]);
  assert.deepEqual(rows('T | where a == 1 | extend r = tostring(r) | project r'), [['1.5']]);
  assert.deepEqual(schema('T | where a == 1 | extend r = tostring(r) | project r'), ['r:string']);
});

test('project: columns, renames, expressions; project-away; take, limit and count', () => {
  assert.deepEqual(rows('T | where a == 1 | project b = a * 2, s'), [[2, 'hello world']]);
  assert.deepEqual(schema('T | project b = a * 2, s'), ['b:long', 's:string']);
  assert.deepEqual(schema('T | project-away d, r'), ['a:long', 's:string']);
  assert.deepEqual(schema('G | project-away t, x*'), ['k:string', 'v:long', 'i:int']);
  assert.deepEqual(schema('G | project-keep k, t'), ['k:string', 't:datetime']);
  assert.deepEqual(schema('G | project-rename key = k | project-away t, x, i'), ['key:string', 'v:long']);
  assert.deepEqual(rows('T | take 2 | count'), [[2]]);
  assert.deepEqual(rows('T | limit 0'), []);
  assert.deepEqual(query('T | where a > 1 | count'), { columns: [{ name: 'Count', type: 'long' }], rows: [[3]] });
  assert.deepEqual(rows('T | where a > 100 | count'), [[0]]);
});

// ---------------------------------------------------------------- summarize

test('summarize: count() with and without by', () => {
  assert.deepEqual(query('G | summarize count()'), { columns: [{ name: 'count_', type: 'long' }], rows: [[5]] });
  assert.deepEqual(rows('G | summarize count() by k | order by k asc'), [['x', 2], ['y', 2], ['z', 1]]);
  assert.deepEqual(schema('G | summarize n = count() by k'), ['k:string', 'n:long']);
  assert.deepEqual(rows('G | summarize count() by k, v | count'), [[5]], 'null is a group key');
  assert.deepEqual(rows('G | summarize n = count() by v | order by v asc'), [[null, 2], [1, 1], [2, 1], [3, 1]]);
  assert.deepEqual(rows('G | summarize by k | order by k asc'), [['x'], ['y'], ['z']]);
  assert.deepEqual(rows('G | summarize count() by key = toupper(k) | order by key asc'),
    [['X', 2], ['Y', 2], ['Z', 1]]);
});

test('summarize: sum, min, max, avg, dcount, countif: names, types, nulls ignored', () => {
  const q = 'G | summarize sum(v), min(t), max(x), avg(x), dcount(k), countif(v > 1), sum(i), sum(x), min(k), '
    + 'max(v)';
  assert.deepEqual(schema(q), ['sum_v:long', 'min_t:datetime', 'max_x:real', 'avg_x:real', 'dcount_k:long',
    'countif_:long', 'sum_i:long', 'sum_x:real', 'min_k:string', 'max_v:long']);
  assert.deepEqual(rows(q), [[6, '2024-01-01T00:00:00Z', 2, 4 / 3, 3, 2, 60, 4, 'x', 3]]);
  assert.deepEqual(schema('U | summarize sum(dec), max(ts), min(g), avg(n), max(b)'),
    ['sum_dec:decimal', 'max_ts:timespan', 'min_g:guid', 'avg_n:real', 'max_b:bool']);
  assert.deepEqual(rows('U | summarize sum(dec), max(ts), min(g), avg(n), max(b)'),
    [['1.25', '1.00:00:00', '8cf3cd6f-6b5b-4c7e-9b52-ae2b4d9f4e5b', 7, true]]);
  assert.deepEqual(rows('G | summarize sumif(v, k == "x"), dcount(v)'), [[4, 3]]);
});

test('summarize: aliases, several by columns, groups with only nulls', () => {
  const q = 'G | summarize n = count(), s = sum(v), lo = min(v), hi = max(v), m = avg(v), dc = dcount(v) by k '
    + '| order by k asc';
  assert.deepEqual(schema(q), ['k:string', 'n:long', 's:long', 'lo:long', 'hi:long', 'm:real', 'dc:long']);
  assert.deepEqual(rows(q), [
    ['x', 2, 4, 1, 3, 2, 2],
    ['y', 2, 2, 2, 2, 2, 1],
    ['z', 1, 0, null, null, 'NaN', 0],
  ]);
  assert.deepEqual(rows('G | summarize c = count() by k, big = v > 1 | order by k asc, big desc'),
    [['x', true, 1], ['x', false, 1], ['y', true, 1], ['y', null, 1], ['z', null, 1]]);
  assert.deepEqual(rows('G | summarize count() by bin(v, 2) | order by v asc'), [[null, 2], [0, 1], [2, 2]]);
  assert.deepEqual(schema('G | summarize count() by bin(v, 2)'), ['v:long', 'count_:long']);
  assert.deepEqual(rows('G | summarize count() by bin(t, 2d) | count'), [[3]]);
});

test('summarize: empty input gives one row of defaults, or no rows with by', () => {
  const q = 'G | where v > 100 | summarize count(), sum(v), avg(v), min(v), dcount(k), countif(v > 0), '
    + 'arg_max(v, k)';
  assert.deepEqual(rows(q), [[0, 0, 'NaN', null, 0, 0, null, null]]);
  assert.deepEqual(rows('G | where v > 100 | summarize count() by k'), []);
});

test('summarize: arg_max and arg_min, with * and with columns', () => {
  const q = 'G | summarize arg_max(v, *) by k | order by k asc';
  assert.deepEqual(schema(q), ['k:string', 'v:long', 't:datetime', 'x:real', 'i:int']);
  assert.deepEqual(rows(q), [
    ['x', 3, '2024-01-03T00:00:00Z', 1.5, 20],
    ['y', 2, '2024-01-02T00:00:00Z', null, 30],
    ['z', null, '2024-01-05T00:00:00Z', null, null],
  ], 'nulls lose to any value; a group of nulls still gives a row');
  const q2 = 'G | summarize arg_min(t, v, x) by k | order by k asc';
  assert.deepEqual(schema(q2), ['k:string', 't:datetime', 'v:long', 'x:real']);
  assert.deepEqual(rows(q2), [
    ['x', '2024-01-01T00:00:00Z', 1, 0.5],
    ['y', '2024-01-02T00:00:00Z', 2, null],
    ['z', '2024-01-05T00:00:00Z', null, null],
  ]);
  assert.deepEqual(query('G | summarize arg_max(t, k)'),
    { columns: [{ name: 't', type: 'datetime' }, { name: 'k', type: 'string' }],
      rows: [['2024-01-05T00:00:00Z', 'z']] });
  assert.deepEqual(schema('G | summarize last = arg_max(t, *)'),
    ['last:datetime', 'k:string', 'v:long', 'x:real', 'i:int']);
  assert.deepEqual(rows('G | summarize arg_min(x, *)'), [[0.5, 'x', 1, '2024-01-01T00:00:00Z', 10]], 'x comes first');
});

test('summarize: repeated default names get a number', () => {
  assert.deepEqual(schema('G | summarize count(), count(), max(v), max(v)'),
    ['count_:long', 'count_1:long', 'max_v:long', 'max_v1:long']);
  assert.deepEqual(schema('G | summarize arg_max(v, *), count() by k'),
    ['k:string', 'v:long', 't:datetime', 'x:real', 'i:int', 'count_:long']);
});

// ---------------------------------------------------------------- order, top, distinct

test('order by: desc by default, nulls last for desc and first for asc', () => {
  assert.deepEqual(column('T | order by a | project a'), [5, 3, 2, 1, null]);
  assert.deepEqual(column('T | order by a desc | project a'), [5, 3, 2, 1, null]);
  assert.deepEqual(column('T | order by a asc | project a'), [null, 1, 2, 3, 5]);
  assert.deepEqual(column('T | sort by a desc nulls first | project a'), [null, 5, 3, 2, 1]);
  assert.deepEqual(column('T | sort by a asc nulls last | project a'), [1, 2, 3, 5, null]);
  assert.deepEqual(column('T | order by r asc nulls last | project r'), [-2, 1.5, 2.5, null, 'NaN'],
    'NaN sorts with the nulls');
  assert.deepEqual(column('T | order by d | project a'), [5, null, 2, 1, 3]);
  assert.deepEqual(column('T | order by s asc | project s'), ['', 'Foo_bar', 'HELLO there', 'abc', 'hello world'],
    'strings sort ordinally');
});

test('order by: several keys, expressions, stable', () => {
  assert.deepEqual(rows('G | order by k asc, v desc | project k, v'),
    [['x', 3], ['x', 1], ['y', 2], ['y', null], ['z', null]]);
  assert.deepEqual(rows('G | order by k asc, t asc | project k, t | take 2'),
    [['x', '2024-01-01T00:00:00Z'], ['x', '2024-01-03T00:00:00Z']]);
  assert.deepEqual(column('G | order by strlen(k) asc | project k'), ['x', 'x', 'y', 'y', 'z'],
    'ties keep input order');
  assert.deepEqual(column('T | order by a % 2 asc, a desc | project a'), [null, 2, 5, 3, 1]);
});

test('top N by: order and nulls as order by', () => {
  assert.deepEqual(column('T | top 2 by a | project a'), [5, 3]);
  assert.deepEqual(column('T | top 2 by a asc | project a'), [null, 1]);
  assert.deepEqual(column('T | top 1 by d asc nulls last | project a'), [1]);
  assert.deepEqual(column('T | top 10 by r desc | project a'), [5, 1, 3, 2, null]);
  assert.deepEqual(schema('T | top 1 by a'), ['a:long', 's:string', 'd:datetime', 'r:real']);
});

test('distinct: one column, several, or *', () => {
  assert.deepEqual(rows('G | distinct k | order by k asc'), [['x'], ['y'], ['z']]);
  assert.deepEqual(schema('G | distinct k, v'), ['k:string', 'v:long']);
  assert.deepEqual(rows('G | distinct k, v | count'), [[5]]);
  assert.deepEqual(rows('G | project k | distinct * | count'), [[3]]);
  assert.deepEqual(rows('G | where isnull(v) | distinct v'), [[null]]);
});

// ---------------------------------------------------------------- syntax and errors

test('syntax: quoted table names, comments, whitespace, a trailing semicolon', () => {
  assert.deepEqual(rows("['T'] | count"), [[5]]);
  assert.deepEqual(rows('"T" | count'), [[5]]);
  assert.deepEqual(rows('T\n| where a > 1 // more than one\n| count;'), [[3]]);
  assert.deepEqual(rows("T | where s == 'a|b' | count"), [[0]], 'a pipe inside a string');
  assert.deepEqual(rows("T | where ['a'] == 1 | project ['s']"), [['hello world']]);
  assert.deepEqual(rows('T | where s == @"hello world" | project a'), [[1]]);
});

test('let: a tabular statement; lookup adds the right columns by key (leftouter, inner)', () => {
  const left = 'G | project k, v';
  const top = "let m = G | where k != 'z' | summarize top = max(v) by k;";
  assert.deepEqual(schema(`${top} ${left} | lookup m on k`), ['k:string', 'v:long', 'top:long']);
  assert.deepEqual(rows(`${top} ${left} | lookup m on k`),
    [['x', 1, 3], ['x', 3, 3], ['y', 2, 2], ['y', null, 2], ['z', null, null]]);
  assert.deepEqual(rows(`${top} ${left} | lookup kind=inner m on k | count`), [[4]]);
  assert.deepEqual(rows(`${left} | lookup (G | summarize n = count() by k) on k | where v == 1`), [['x', 1, 2]]);
  // a string column of an unmatched row is '' (strings are never null)
  assert.deepEqual(rows("let names = G | where k == 'x' | summarize by k | extend label = 'ex'; G | distinct k | lookup names on k | order by k asc"),
    [['x', 'ex'], ['y', ''], ['z', '']]);
  rejects(`${top} ${left} | lookup m on nosuch`, /Failed to resolve scalar expression named 'nosuch'/);
  rejects(`${left} | lookup (G | summarize v = max(v) by k) on k`, /column 'v' is on both sides/);
  rejects(`${left} | lookup (G | summarize n = count() by v) on k`, /the right table has no column 'k'/);
  rejects(`${top} ${left} | lookup kind=fullouter m on k`, /unsupported kind 'fullouter'/);
});

test('errors: unknown names, types that do not fit, bad syntax', () => {
  rejects('T | where nope == 1', /Failed to resolve scalar expression named 'nope'/);
  rejects('T | project a, nope', /nope/);
  rejects('T | join (U) on a', /Unsupported query operator/);
  rejects('T | where a == "1"', /Cannot compare values of types long and string/);
  rejects('T | where d > "2024-01-01"', /Cannot compare values of types datetime and string/);
  rejects('T | where s in (1, 2)', /Cannot compare/);
  rejects('T | where a', /bool/);
  rejects('T | where a ==', /Syntax error/);
  rejects('T | where (a == 1', /Syntax error: expected '\)'/);
  rejects('T | where a == 1 s', /Syntax error/);
  rejects('T | take x', /take/);
  rejects('T | extend x = frob(a)', /Unknown function: 'frob'/);
  rejects('T | extend x = s + 1', /Cannot apply operator '\+'/);
  rejects('T | where count() > 1', /only allowed in summarize/);
  rejects('T | summarize sum(s)', /sum\(\)/);
  rejects('T | summarize frob(a)', /expected an aggregation function/);
  rejects('T | summarize arg_max(a)', /arg_max/);
  rejects('T | project-away nope', /nope/);
  rejects('T | order by', /Syntax error/);
  rejects('T | where d == datetime(nonsense)', /Invalid literal/);
  rejects('T | where s == "unterminated', /unterminated/);
  assert.throws(() => query('Nope | count'), (err) => err.code === 'BadRequest_EntityNotFound');
});

test('queries do not change the table', () => {
  const e = makeEngine();
  const before = JSON.stringify(e.table('db', 'T').rows);
  e.query('db', 'T | extend a = a + 1 | order by a asc | project-away s');
  e.query('db', 'T | summarize arg_max(a, *) by s');
  assert.equal(JSON.stringify(e.table('db', 'T').rows), before);
});
