'use strict';
// Kusto's rule for entity names in commands (lib/mini/engine.js, as
// src/common/kusto_name.c): BadRequest_EntityNameIsNotValid for a table,
// column or materialized view name Kusto cannot hold, and ['...'] / ["..."]
// names read with KQL's escapes undone.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Engine } = require('../lib/mini/engine');

const refused = (fn, name, kind) => assert.throws(fn, (err) => {
  assert.equal(err.code, 'BadRequest_EntityNameIsNotValid');
  assert.equal(err.status, 400);
  assert.equal(err.permanent, true);
  assert.ok(err.message.startsWith(`Entity name '${name}' of kind '${kind}' isn't valid`), err.message);
  return true;
});

test('names Kusto cannot hold are refused in commands', () => {
  const e = new Engine();
  refused(() => e.mgmt('db', ".create table ['a;b'] (x:long)"), 'a;b', 'Table');
  refused(() => e.mgmt('db', ".create table T (x:long, ['say \"hi\"']:string)"), 'say "hi"', 'Column');
  refused(() => e.mgmt('db', ".create table ['__reserved'] (x:long)"), '__reserved', 'Table');
  refused(() => e.mgmt('db', `.create table ['${'x'.repeat(1025)}'] (x:long)`), 'x'.repeat(1025), 'Table');
  e.mgmt('db', '.create table T (x:long)');
  refused(() => e.mgmt('db', ".alter-merge table T (['a$']:long)"), 'a$', 'Column');
  refused(() => e.mgmt('db', ".create materialized-view ['v/1'] on table T { T | summarize count() by x }"), 'v/1', 'MaterializedView');
  assert.deepEqual(e.mgmt('db', '.show tables').rows.map((r) => r[0]), ['T']);
});

test("['...'] names: spaces, dots, dashes, letters of any script, escapes undone", () => {
  const e = new Engine();
  e.mgmt('db', ".create table ['Sales 2026.q1-eu'] (['naïve col']:long, [\"Straße\"]:string)");
  const [row] = e.mgmt('db', ".show table ['Sales 2026.q1-eu'] schema as json").rows;
  assert.deepEqual(JSON.parse(row[1]).OrderedColumns.map((c) => c.Name), ['naïve col', 'Straße']);
  // the escape is undone first: the name is it's, which Kusto then refuses
  refused(() => e.mgmt('db', ".create table ['it\\'s'] (x:long)"), "it's", 'Table');
});
