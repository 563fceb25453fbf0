'use strict';
// Materialized views by Kusto's rules (lib/mini/engine.js), run directly on an
// Engine: backfill only with .create async, never for a view that exists;
// .create-or-alter and .alter of an existing view take only the properties
// .alter lists; .create ifnotexists ignores an existing view; an arg_max(x, *)
// view is disabled by a change of its source's schema and keeps its columns,
// unless autoUpdateSchema = true.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Engine } = require('../lib/mini/engine');

const Q = 'T | summarize arg_max(lsn, *) by id';

function engine() {
  const e = new Engine();
  e.mgmt('db', '.create table T (id:long, lsn:long, v:string)');
  e.ingest('db', 'T', Buffer.from('1,1,a\n1,2,b\n2,3,c\n'), { format: 'csv' });
  return e;
}

const refused = (fn, re) => assert.throws(fn, (err) => {
  assert.match(`${err.code}: ${err.message}`, re);
  assert.equal(err.permanent, true);
  return true;
});

test('backfill needs .create async; async answers an OperationId, .show operations says Completed', () => {
  const e = engine();
  refused(() => e.mgmt('db', `.create materialized-view with (backfill=true) V on table T { ${Q} }`),
    /^General_BadRequest: .*backfill = true needs the async form/);
  refused(() => e.mgmt('db', `.create-or-alter materialized-view with (backfill=true) V on table T { ${Q} }`),
    /backfill = true needs the async form/);
  const r = e.mgmt('db', `.create async ifnotexists materialized-view with (backfill=true, autoUpdateSchema=true) V on table T { ${Q} }`);
  assert.deepEqual(r.columns.map((c) => c.name), ['OperationId']);
  const op = e.mgmt('db', `.show operations ${r.rows[0][0]}`);
  assert.equal(op.rows[0][2], 'Completed');
  assert.deepEqual(e.query('db', 'V | order by id asc | project id, v').rows, [[1, 'b'], [2, 'c']]);
});

test('an existing view: .create fails, .create ifnotexists is ignored, .create-or-alter takes only alter properties', () => {
  const e = engine();
  e.mgmt('db', `.create materialized-view V on table T { ${Q} }`);
  refused(() => e.mgmt('db', `.create materialized-view V on table T { ${Q} }`), /^BadRequest_EntityAlreadyExists/);
  const again = e.mgmt('db', `.create async ifnotexists materialized-view with (backfill=true) V on table T { T | summarize arg_max(lsn, *) by v }`);
  assert.equal(again.rows[0][2], Q, 'ignored: the definition stays');
  refused(() => e.mgmt('db', `.create-or-alter materialized-view with (backfill=true) V on table T { ${Q} }`),
    /isn't supported when altering the existing materialized view 'V'/);
  refused(() => e.mgmt('db', `.create-or-alter materialized-view with (autoUpdateSchema=true) V on table T { ${Q} }`),
    /'autoUpdateSchema' isn't supported when altering/);
  const ok = e.mgmt('db', `.create-or-alter materialized-view with (docString="latest") V on table T { ${Q} }`);
  assert.equal(ok.rows[0][0], 'V');
  refused(() => e.mgmt('db', `.alter materialized-view W on table T { ${Q} }`), /^BadRequest_EntityNotFound/);
  refused(() => e.mgmt('db', `.create materialized-view with (bogus=1) X on table T { ${Q} }`), /Unknown materialized view property 'bogus'/);
});

test('a source schema change disables an arg_max(x, *) view that keeps its columns, unless autoUpdateSchema', () => {
  const e = engine();
  e.mgmt('db', `.create materialized-view Fixed on table T { ${Q} }`);
  e.mgmt('db', `.create materialized-view with (autoUpdateSchema=true) Auto on table T { ${Q} }`);
  e.mgmt('db', '.alter-merge table T (extra:string)');
  e.ingest('db', 'T', Buffer.from('3,4,d,x\n'), { format: 'csv' });
  const show = e.mgmt('db', '.show materialized-views');
  const state = Object.fromEntries(show.rows.map((r) => [r[0], r[3]]));
  assert.deepEqual(state, { Fixed: false, Auto: true });
  assert.deepEqual(e.query('db', 'Fixed | take 1').columns.map((c) => c.name), ['id', 'lsn', 'v']);
  assert.deepEqual(e.query('db', 'Auto | where id == 3 | project id, extra').rows, [[3, 'x']]);
  // .alter with the same query and .enable adopt the new schema, as the docs describe
  e.mgmt('db', `.alter materialized-view Fixed on table T { ${Q} }`);
  e.mgmt('db', '.enable materialized-view Fixed');
  assert.deepEqual(e.query('db', 'Fixed | where id == 3 | project id, extra').rows, [[3, 'x']]);
  // .alter ... autoUpdateSchema: the view follows the next change
  e.mgmt('db', '.alter materialized-view Fixed autoUpdateSchema true');
  e.mgmt('db', '.alter-merge table T (more:long)');
  assert.ok(e.query('db', 'Fixed | take 1').columns.some((c) => c.name === 'more'));
  assert.equal(e.mgmt('db', '.show materialized-view Fixed').rows[0][3], true);
  refused(() => e.mgmt('db', '.create materialized-view with (autoUpdateSchema=true) C on table T { T | summarize count() by id }'),
    /autoUpdateSchema is valid only for arg_max, arg_min and take_any/);
});
