'use strict';
// The DM's blob download (lib/dm/dm.js, download): a blob that is not there
// fails permanently (Download_SourceNotFound), a passing failure of storage
// (no connection, a 5xx) is tried again and, if it lasts, fails transiently
// (Download_UnknownError), as Kusto's DM does.  (Under load, Azurite's
// "fetch failed" was reported as a permanent Download_SourceNotFound: the
// sink took it for a rejection, sent the batch again after its pause, and an
// exactly-once sink waited a batching window more: issue 20, row (a).)

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { DataManagement } = require('../lib/dm/dm');

// a storage whose getBlob fails with the given errors first, then answers
function dmWith(failures) {
  const calls = { n: 0 };
  const storage = {
    async getBlob() {
      calls.n++;
      const f = failures.shift();
      if (f) throw f;
      return Buffer.from('1\n');
    },
  };
  return { dm: new DataManagement({ storage, toAzurite: (u) => u }), calls };
}

const fetchFailed = () => new TypeError('fetch failed');
const http = (status) => new Error(`GET http://127.0.0.1:1/c/b.csv.gz: ${status} <Error/>`);

test('a passing storage failure is tried again: the blob is downloaded', async () => {
  const { dm, calls } = dmWith([fetchFailed(), http(503)]);
  assert.equal((await dm.download('http://127.0.0.1:1/c/b.csv.gz')).toString(), '1\n');
  assert.equal(calls.n, 3);
});

test('a storage failure that lasts fails transiently, Download_UnknownError', async () => {
  const { dm, calls } = dmWith([fetchFailed(), fetchFailed(), fetchFailed(), fetchFailed()]);
  await assert.rejects(dm.download('http://127.0.0.1:1/c/b.csv.gz'), (e) => {
    assert.equal(e.code, 'Download_UnknownError');
    assert.equal(e.permanent, false);
    return true;
  });
  assert.equal(calls.n, 4);
});

test('a blob that is not there fails permanently at once, Download_SourceNotFound', async () => {
  const { dm, calls } = dmWith([http(404)]);
  await assert.rejects(dm.download('http://127.0.0.1:1/c/b.csv.gz'), (e) => {
    assert.equal(e.code, 'Download_SourceNotFound');
    assert.equal(e.permanent, true);
    return true;
  });
  assert.equal(calls.n, 1);
});
