'use strict';
// Who may do what: the principals the token endpoints recognise and their
// role per database. Without a --principals file there is one development
// application (tenant `emulator`, app id `kusto-sink-dev`, secret
// `dev-secret`) and any managed identity, all admins of every database, and
// databases exist on first use. A --principals file (JSON) replaces that:
//
//   { "databases": ["db1"],                  optional: only these exist
//     "principals": [
//       { "tenant": "t", "clientId": "app", "secret": "s",
//         "certificate": "client.pem", "federatedToken": "tok",
//         "databases": { "db1": "admin", "*": "viewer" } },
//       { "managedIdentity": "system-assigned" | "<client/object/resource id>",
//         "databases": { "db1": "ingestor" } } ] }
//
// Roles: viewer (queries, .show), ingestor (viewer + ingestion), admin (all).

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { KustoError } = require('../errors');

const RANK = { viewer: 1, ingestor: 2, admin: 3 };

class Principals {
  constructor(file, dev) {
    if (!file) {
      this.apps = [{ ...dev, databases: { '*': 'admin' } }];
      this.anyIdentity = true;
      this.databases = null;
      return;
    }
    const j = JSON.parse(fs.readFileSync(file, 'utf8'));
    const dir = path.dirname(file);
    this.databases = Array.isArray(j.databases) ? new Set(j.databases) : null;
    this.apps = [];
    this.identities = [];
    for (const p of j.principals || []) {
      for (const role of Object.values(p.databases || {})) {
        if (!RANK[role]) throw new Error(`${file}: unknown role "${role}" (viewer, ingestor or admin)`);
      }
      if (p.managedIdentity) {
        this.identities.push({ id: p.managedIdentity, databases: p.databases || {} });
      } else {
        const cert = p.certificate
          ? new crypto.X509Certificate(fs.readFileSync(path.resolve(dir, p.certificate))) : null;
        this.apps.push({ tenant: p.tenant, clientId: p.clientId, secret: p.secret, cert,
          federatedToken: p.federatedToken, databases: p.databases || {} });
      }
    }
    this.anyIdentity = false;
  }

  app(tenant, clientId) { return this.apps.find((a) => a.tenant === tenant && a.clientId === clientId); }

  identity(id) { return this.anyIdentity || this.identities.some((i) => i.id === id); }

  /** The subject a token carries for an application or a managed identity. */
  static appSubject(a) { return `aadapp=${a.clientId};${a.tenant}`; }

  role(subject, db) {
    let grants;
    if (subject.startsWith('mi:')) {
      if (this.anyIdentity) return 'admin';
      const i = this.identities.find((x) => `mi:${x.id}` === subject);
      grants = i && i.databases;
    } else {
      const a = this.apps.find((x) => Principals.appSubject(x) === subject);
      grants = a && a.databases;
    }
    if (!grants) return null;
    if (db === 'NetDefaultDB') {      // the DM's commands: the best role anywhere
      return Object.values(grants).sort((a, b) => RANK[b] - RANK[a])[0] || null;
    }
    return grants[db] || grants['*'] || null;
  }

  /** Throws Kusto's 403 (or the missing-database 400) unless `subject` has `need` on `db`. */
  check(subject, db, need, operation) {
    if (this.databases && db !== 'NetDefaultDB' && !this.databases.has(db)) {
      throw new KustoError(400, 'BadRequest_EntityNotFound', `Entity ID '${db}' of kind 'Database' was not found.`);
    }
    const role = this.role(subject, db);
    if (!role || RANK[role] < RANK[need]) {
      throw new KustoError(403, 'Forbidden',
        `Principal '${subject.replace(/^mi:/, 'aadapp=')}' is not authorized to perform operation '${operation}' on database '${db}'.`,
        { permanent: true });
    }
  }
}

module.exports = { Principals };
