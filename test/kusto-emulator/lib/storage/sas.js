'use strict';
// Account SAS tokens for Azurite's well-known development account, signed with
// its published key the way Azure Storage checks them (service version 2019-12-12
// string-to-sign: account, permissions, services, resource types, start, expiry,
// IP, protocol, version).

const crypto = require('node:crypto');

const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const VERSION = '2019-12-12';

/** A query string (without '?') granting everything on blob, queue and table for `hours`. */
function accountSas(hours = 24 * 365) {
  const start = new Date(Date.now() - 5 * 60 * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  const expiry = new Date(Date.now() + hours * 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  const sp = 'rwdlacup';
  const ss = 'bqt';
  const srt = 'sco';
  const spr = 'https,http';
  const toSign = [ACCOUNT, sp, ss, srt, start, expiry, '', spr, VERSION, ''].join('\n');
  const sig = crypto.createHmac('sha256', Buffer.from(KEY, 'base64')).update(toSign, 'utf8').digest('base64');
  return new URLSearchParams({ sv: VERSION, ss, srt, sp, se: expiry, st: start, spr, sig }).toString();
}

module.exports = { ACCOUNT, accountSas };
