'use strict';
// The certificate credential: a JWT client assertion signed with the key of
// the certificate registered with --client-certificate, PS256 (x5t#S256)
// or RS256 (x5t); wrong key, audience, expiry and thumbprint are refused.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startEmulator } = require('../testlib/helpers');

let proc;
let base;
let dir;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kusto-cert-'));
  execFileSync(path.join(__dirname, '..', 'scripts', 'make-certs.sh'), [dir]);
  execFileSync(path.join(__dirname, '..', 'scripts', 'make-certs.sh'), [path.join(dir, 'other')]);
  ({ base, proc } = await startEmulator(['--client-certificate', path.join(dir, 'client.pem')]));
});

after(() => {
  proc.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
});

function assertion({ alg = 'PS256', keyDir = dir, aud, exp, thumbDir = dir } = {}) {
  const der = new crypto.X509Certificate(fs.readFileSync(path.join(thumbDir, 'client.pem'))).raw;
  const header = alg === 'PS256'
    ? { alg, typ: 'JWT', 'x5t#S256': crypto.createHash('sha256').update(der).digest('base64url') }
    : { alg, typ: 'JWT', x5t: crypto.createHash('sha1').update(der).digest('base64url') };
  const now = Math.floor(Date.now() / 1000);
  const claims = { aud: aud || `${base}/emulator/oauth2/v2.0/token`, iss: 'kusto-sink-dev', sub: 'kusto-sink-dev',
    jti: crypto.randomUUID(), iat: now, nbf: now, exp: exp || now + 600 };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const key = fs.readFileSync(path.join(keyDir, 'client-key.pem'));
  const sig = crypto.sign('sha256', Buffer.from(input), alg === 'PS256'
    ? { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : { key });
  return `${input}.${sig.toString('base64url')}`;
}

async function token(jwt) {
  const res = await fetch(`${base}/emulator/oauth2/v2.0/token`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'kusto-sink-dev', scope: 'x',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt }),
  });
  return { status: res.status, body: await res.json() };
}

test('PS256 with x5t#S256 and RS256 with x5t get tokens', async () => {
  assert.equal((await token(assertion())).status, 200);
  assert.equal((await token(assertion({ alg: 'RS256' }))).status, 200);
});

test('a signature by another key, a wrong audience, an expired assertion, an unknown certificate: refused', async () => {
  const other = path.join(dir, 'other');
  let r = await token(assertion({ keyDir: other }));
  assert.equal(r.status, 401);
  assert.match(r.body.error_description, /failed signature validation/);
  r = await token(assertion({ aud: 'https://elsewhere/token' }));
  assert.match(r.body.error_description, /^AADSTS700021/);
  r = await token(assertion({ exp: Math.floor(Date.now() / 1000) - 10 }));
  assert.match(r.body.error_description, /^AADSTS700024/);
  r = await token(assertion({ keyDir: other, thumbDir: other }));
  assert.match(r.body.error_description, /not registered on application/);
});
