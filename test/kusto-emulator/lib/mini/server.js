'use strict';
// The emulator's HTTP(S) front: Entra ID token endpoint for the development
// principal, /v1/rest/auth/metadata, management and query (v1 and v2 bodies,
// Kusto's error JSON), streaming ingestion, and the /admin/ fault API.

const http = require('node:http');
const https = require('node:https');
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const { KustoError } = require('../errors');
const { Engine } = require('./engine');
const { dotnetShort } = require('./types');
const { Azurite } = require('../storage/azurite');
const { StorageProxy } = require('../storage/proxy');
const { StorageRest } = require('../storage/rest');
const { accountSas, ACCOUNT } = require('../storage/sas');
const { DataManagement } = require('../dm/dm');
const { Principals } = require('./principals');
const fs = require('node:fs');
const nodePath = require('node:path');

// the storage the DM hands out in .get ingestion resources
const STORAGE = {
  containers: ['tempstorage0', 'tempstorage1'],
  ready: 'readyforaggregation',
  failed: 'failedingestions',
  succeeded: 'successfulingestions',
  status: 'ingestionsstatus',
};

const DEV = { tenant: 'emulator', clientId: 'kusto-sink-dev', secret: 'dev-secret' };
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const IDENTITY_HEADER = 'emulator-identity-header';
const STREAMING_LIMIT = 4 * 1024 * 1024;

class Emulator {
  constructor(opts = {}) {
    this.opts = opts;
    this.stateFile = opts.stateDir ? nodePath.join(opts.stateDir, 'engine.json') : null;
    this.engine = this.stateFile && fs.existsSync(this.stateFile)
      ? Engine.fromJSON(JSON.parse(fs.readFileSync(this.stateFile, 'utf8'))) : new Engine();
    this.engine.onChange = () => this.scheduleSave();
    this.applyEngineOptions(opts);
    // an override of every table's batching time, or undefined: the tables' policies (dm.js)
    this.ingestionDelayMs = opts.ingestionDelayMs === undefined ? undefined : Number(opts.ingestionDelayMs);
    // Kusto rotates its ingestion status tables: .get ingestion resources names a
    // new one from time to time, and an entity stays in the table it was written to
    this.statusRotationS = Number(opts.statusTableRotationS || 0);
    this.statusTables = [STORAGE.status];
    // the token signing key survives a restart with --state-dir, as tokens do in Kusto
    const keyFile = opts.stateDir ? nodePath.join(opts.stateDir, 'token-key') : null;
    if (keyFile && fs.existsSync(keyFile)) this.key = fs.readFileSync(keyFile);
    else {
      this.key = crypto.randomBytes(32);
      if (keyFile) { fs.mkdirSync(opts.stateDir, { recursive: true }); fs.writeFileSync(keyFile, this.key); }
    }
    this.tokenLifetime = Number(opts.tokenLifetime || 3600);
    this.federatedToken = opts.federatedToken || 'dev-federated-token';
    this.clientCert = opts.clientCertificate
      ? new crypto.X509Certificate(require('fs').readFileSync(opts.clientCertificate)) : null;
    this.principals = new Principals(opts.principals, { ...DEV, cert: this.clientCert, federatedToken: this.federatedToken });
    this.faults = [];
    this.stats = {};
    this.consistency = {};           // queryconsistency values seen: { value: n }
    this.sockets = new Set();
  }

  // the cluster's streaming switch and the streaming nodes' schema delay live on the engine
  applyEngineOptions(o) {
    if (o.clusterStreaming !== undefined) this.clusterStreaming = !!o.clusterStreaming;
    if (o.streamingSchemaDelayMs !== undefined) this.streamingSchemaDelayMs = Number(o.streamingSchemaDelayMs);
    this.engine.clusterStreaming = this.clusterStreaming !== false;
    this.engine.schemaDelayMs = this.streamingSchemaDelayMs || 0;
  }

  // ---------- tokens ----------
  issueToken(subject) {
    const exp = Math.floor(Date.now() / 1000) + this.tokenLifetime;
    const body = Buffer.from(JSON.stringify({ sub: subject, exp })).toString('base64url');
    const sig = crypto.createHmac('sha256', this.key).update(body).digest('base64url');
    return { token: `${body}.${sig}`, exp };
  }

  checkToken(req) {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
    if (!m) throw new KustoError(401, 'Unauthorized', 'The request has no bearer token.');
    const [body, sig] = m[1].split('.');
    const expected = body ? Buffer.from(crypto.createHmac('sha256', this.key).update(body).digest('base64url')) : null;
    const given = Buffer.from(sig || '');
    const good = expected && given.length === expected.length && crypto.timingSafeEqual(given, expected);
    if (!good) throw new KustoError(401, 'Unauthorized', 'The bearer token is not valid.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    if (claims.exp * 1000 < Date.now()) throw new KustoError(401, 'Unauthorized', 'The bearer token has expired.');
    return claims;
  }

  // ---------- state ----------
  scheduleSave() {
    if (!this.stateFile || this.saveTimer) return;
    this.saveTimer = setTimeout(() => this.saveNow(), 200);
  }

  saveNow() {
    clearTimeout(this.saveTimer);
    this.saveTimer = null;
    if (!this.stateFile) return;
    fs.writeFileSync(`${this.stateFile}.tmp`, JSON.stringify(this.engine.toJSON()));
    fs.renameSync(`${this.stateFile}.tmp`, this.stateFile);
  }

  // ---------- queued ingestion: Azurite behind fault proxies, and the DM ----------
  async startStorage(host) {
    this.azurite = new Azurite(this.opts.stateDir ? nodePath.join(this.opts.stateDir, 'azurite') : undefined);
    const urls = await this.azurite.start();
    this.sas = accountSas();
    const direct = new StorageRest(urls, this.sas);
    await Promise.all([...STORAGE.containers.map((c) => direct.createContainer(c)),
      direct.createQueue(STORAGE.ready), direct.createQueue(STORAGE.failed),
      direct.createQueue(STORAGE.succeeded), direct.createTable(STORAGE.status)]);
    const tls = this.tlsOptions();
    // with --state-dir the storage endpoints keep their ports across restarts,
    // as a real cluster's storage accounts keep their URLs
    const portsFile = this.opts.stateDir ? nodePath.join(this.opts.stateDir, 'storage-ports.json') : null;
    const ports = portsFile && fs.existsSync(portsFile) ? JSON.parse(fs.readFileSync(portsFile, 'utf8')) : {};
    this.proxies = {};
    for (const kind of ['blob', 'queue', 'table']) {
      this.proxies[kind] = new StorageProxy(kind, urls[kind], (k, p) => this.takeFault(k, p), tls);
      await this.proxies[kind].listen(host, ports[kind] || 0);
      ports[kind] = Number(new URL(this.proxies[kind].url).port);
    }
    if (portsFile) fs.writeFileSync(portsFile, JSON.stringify(ports));
    const toAzurite = (u) => {
      for (const kind of ['blob', 'queue', 'table']) {
        if (u.startsWith(this.proxies[kind].url)) return urls[kind] + u.slice(this.proxies[kind].url.length);
      }
      return u;
    };
    this.direct = direct;
    if (this.statusRotationS > 0) {
      this.rotationTimer = setInterval(() => { this.rotateStatusTable().catch(() => {}); }, this.statusRotationS * 1000);
      this.rotationTimer.unref();
    }
    this.dm = new DataManagement({ engine: () => this.engine, storage: direct, names: STORAGE, toAzurite,
      statusTables: () => this.statusTables,
      checkAuthContext: (c) => this.checkAuthContext(c),
      authorize: (sub, db) => this.principals.check(sub, db, 'ingestor', 'ingest'), delayMs: this.ingestionDelayMs });
    this.dm.start();
  }

  ingestionResources() {
    const u = (kind, name) => `${this.proxies[kind].url}/${ACCOUNT}/${name}?${this.sas}`;
    return { columns: [{ name: 'ResourceTypeName', type: 'string' }, { name: 'StorageRoot', type: 'string' }],
      rows: [['SecuredReadyForAggregationQueue', u('queue', STORAGE.ready)],
        ['FailedIngestionsQueue', u('queue', STORAGE.failed)],
        ['SuccessfulIngestionsQueue', u('queue', STORAGE.succeeded)],
        ...STORAGE.containers.map((c) => ['TempStorage', u('blob', c)]),
        ['IngestionsStatusTable', u('table', this.statusTables[this.statusTables.length - 1])]] };
  }

  /** A new status table becomes the one .get ingestion resources names; the old ones stay readable. */
  async rotateStatusTable() {
    const name = `${STORAGE.status}${this.statusTables.length}`;
    await this.direct.createTable(name);
    this.statusTables.push(name);
    return name;
  }

  authContext(subject) {
    const body = Buffer.from(JSON.stringify({ sub: subject, iat: Date.now(), n: crypto.randomUUID() })).toString('base64url');
    return `${body}.${crypto.createHmac('sha256', this.key).update(`ctx.${body}`).digest('base64url')}`;
  }

  /** The subject of a valid authorization context, or null. */
  checkAuthContext(c) {
    const [body, sig] = String(c || '').split('.');
    if (!body || !sig) return null;
    const want = crypto.createHmac('sha256', this.key).update(`ctx.${body}`).digest('base64url');
    return want === sig ? JSON.parse(Buffer.from(body, 'base64url').toString()).sub : null;
  }

  tlsOptions() {
    return this.opts.tlsCert ? { cert: fs.readFileSync(this.opts.tlsCert), key: fs.readFileSync(this.opts.tlsKey) } : undefined;
  }

  // ---------- faults ----------
  takeFault(kind, path) {
    this.stats[kind] = (this.stats[kind] || 0) + 1;
    for (const f of this.faults) {
      if (f.count > 0 && (f.kind === kind || f.kind === 'any') && (!f.path || new RegExp(f.path).test(path))) {
        f.count--;
        return f.action;
      }
    }
    return null;
  }

  // ---------- HTTP ----------
  async handle(req, res) {
    const url = new URL(req.url, 'http://x');
    const path = url.pathname;
    const body = await readBody(req);
    const requestId = req.headers['x-ms-client-request-id'] || '';
    let send = (status, obj, headers = {}) => {
      const text = typeof obj === 'string' ? obj : JSON.stringify(obj);
      res.writeHead(status, { 'Content-Type': typeof obj === 'string' ? 'text/plain' : 'application/json; charset=utf-8',
        'x-ms-client-request-id': requestId, 'x-ms-activity-id': crypto.randomUUID(), ...headers });
      res.end(text);
    };
    try {
      if (path.startsWith('/admin/')) return this.admin(req, path, body, send);
      const kind = kindOf(path);
      const fault = this.takeFault(kind, path);
      if (fault) {
        if (fault.delay) await new Promise((r) => setTimeout(r, fault.delay));
        else if (fault.drop) {
          // the connection breaks while the answer is on its way
          req.socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"Tab');
          req.socket.destroy();
          return undefined;
        }
        else if (fault.hang) { return undefined; }
        else if (fault.lost) {
          // the request is carried out, then the connection breaks before the answer
          send = () => { req.socket.destroy(); };
        }
        else if (fault.status) {
          const err = new KustoError(fault.status, fault.code || (fault.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable'),
            fault.message || 'Injected fault.', { permanent: fault.permanent, retryAfter: fault.retryAfter });
          return send(err.status, err.toJSON({ clientRequestId: requestId }),
            err.retryAfter ? { 'Retry-After': String(err.retryAfter) } : {});
        }
      }
      switch (kind) {
        case 'token': return this.token(url, path, body, send);
        case 'identity': return this.identity(req, url, path, send);
        case 'metadata': return send(200, { AzureAD: { LoginEndpoint: this.loginEndpoint || this.baseUrl, LoginMfaRequired: 'False',
          KustoClientAppId: 'db662dc1-0cfe-4e1c-a843-19a68e65be58', KustoClientRedirectUri: 'https://microsoft/kustoclient',
          KustoServiceResourceId: this.baseUrl, FirstPartyAuthorityUrl: `${this.baseUrl}/f8cdef31-a31e-4b4a-93e4-5f571e91255a` }, dSTS: {} });
        case 'mgmt':
        case 'query': {
          const claims = this.checkToken(req);
          const { db, csl, properties } = parseRequest(body);
          // client request properties the emulator notes (GET /admin/stats): queryconsistency
          const options = (typeof properties === 'string' ? safeJson(properties) : properties || {}).Options || {};
          if (options.queryconsistency) {
            const c = String(options.queryconsistency);
            this.consistency[c] = (this.consistency[c] || 0) + 1;
          }
          const v2 = path.startsWith('/v2/');
          const command = kind === 'mgmt' || csl.trim().startsWith('.');
          const dmCommand = /^\s*\.get\s+(ingestion\s+resources|kusto\s+identity\s+token)\s*$/i.test(csl);
          let need = 'admin';
          if (!command || /^\s*\.show\b/i.test(csl)) need = 'viewer';
          else if (dmCommand) need = 'ingestor';
          this.principals.check(claims.sub, db, need, command ? csl.trim().split(/\s+/).slice(0, 2).join(' ') : 'query');
          if (kind === 'mgmt' || csl.trim().startsWith('.')) {
            if (v2) return send(400, 'Bad request: control commands are not supported with api_version=v2');
            if (/^\s*\.get\s+ingestion\s+resources\s*$/i.test(csl)) return send(200, v1Body([this.ingestionResources()], false));
            if (/^\s*\.get\s+kusto\s+identity\s+token\s*$/i.test(csl)) {
              return send(200, v1Body([{ columns: [{ name: 'AuthorizationContext', type: 'string' }],
                rows: [[this.authContext(claims.sub)]] }], false));
            }
            return send(200, v1Body([this.engine.mgmt(db, csl)], false));
          }
          const r = this.engine.query(db, csl);
          return send(200, v2 ? v2Body(r) : v1Body([r], true));
        }
        case 'streaming': return this.streaming(req, url, path, body, send);
        default: return send(404, new KustoError(404, 'NotFound', `No such endpoint: ${path}`).toJSON());
      }
    } catch (e) {
      if (e instanceof KustoError) {
        return send(e.status, e.toJSON({ clientRequestId: requestId }),
          e.retryAfter ? { 'Retry-After': String(e.retryAfter) } : {});
      }
      return send(500, new KustoError(500, 'InternalServiceError', String(e && e.message)).toJSON());
    }
  }

  token(url, path, body, send) {
    const form = new URLSearchParams(body.toString());
    const tenant = path.split('/')[1];
    if (form.get('grant_type') !== 'client_credentials') {
      return send(400, { error: 'unsupported_grant_type', error_description: 'AADSTS70003: Only client_credentials is supported.', error_codes: [70003] });
    }
    const app = this.principals.app(tenant, form.get('client_id'));
    if (!app) {
      return send(400, { error: 'unauthorized_client', error_description: `AADSTS700016: Application with identifier '${form.get('client_id')}' was not found in the directory '${tenant}'.`, error_codes: [700016] });
    }
    const assertion = form.get('client_assertion');
    if (form.get('client_assertion_type') === JWT_BEARER) {
      if (app.federatedToken && assertion === app.federatedToken) {
        // workload identity: the assertion is the federated token the emulator trusts
      } else if (app.cert && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(assertion || '')) {
        // certificate credential: a JWT signed with the registered certificate's key
        const why = this.checkAssertion(assertion, `${this.baseUrl}${path}`, app.clientId, app.cert);
        if (why) return send(401, { error: 'invalid_client', error_description: why, error_codes: [700027] });
      } else {
        return send(401, { error: 'invalid_client', error_description: 'AADSTS700213: No matching federated identity record found for presented assertion.', error_codes: [700213] });
      }
    } else if (!app.secret || form.get('client_secret') !== app.secret) {
      return send(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.', error_codes: [7000215] });
    }
    const { token, exp } = this.issueToken(Principals.appSubject(app));
    return send(200, { token_type: 'Bearer', expires_in: exp - Math.floor(Date.now() / 1000), ext_expires_in: this.tokenLifetime, access_token: token });
  }

  // A certificate credential's JWT: header, signature (PS256 or RS256) and claims.
  checkAssertion(jwt, audience, clientId, cert) {
    const [h, p, sig] = jwt.split('.');
    let header;
    let claims;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString());
      claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    } catch {
      return 'AADSTS50027: JWT token is invalid or malformed.';
    }
    const der = cert.raw;
    const s256 = crypto.createHash('sha256').update(der).digest('base64url');
    const s1 = crypto.createHash('sha1').update(der).digest('base64url');
    if (header.alg === 'PS256' ? header['x5t#S256'] !== s256 : header.alg === 'RS256' ? header.x5t !== s1 : true) {
      return 'AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.';
    }
    const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), {
      key: cert.publicKey,
      padding: header.alg === 'PS256' ? crypto.constants.RSA_PKCS1_PSS_PADDING : crypto.constants.RSA_PKCS1_PADDING,
      saltLength: 32,
    }, Buffer.from(sig, 'base64url'));
    if (!ok) return 'AADSTS700027: Client assertion failed signature validation.';
    const now = Math.floor(Date.now() / 1000);
    if (!(claims.exp > now) || (claims.nbf && claims.nbf > now + 300)) {
      return 'AADSTS700024: Client assertion is not within its valid time range.';
    }
    if (claims.aud !== audience) return `AADSTS700021: Client assertion audience claim does not match Realm issuer. Expected ${audience}.`;
    if (claims.iss !== clientId || claims.sub !== clientId) return 'AADSTS700023: Client assertion issuer and subject must be the client id.';
    return null;
  }

  // managed identity: Azure IMDS (Metadata: true) and App Service (X-IDENTITY-HEADER)
  identity(req, url, path, send) {
    const appService = path === '/msi/token';
    if (appService ? req.headers['x-identity-header'] !== IDENTITY_HEADER : req.headers.metadata !== 'true') {
      return send(400, { error: 'invalid_request', error_description: appService
        ? 'The X-IDENTITY-HEADER header is missing or wrong.' : 'Required metadata header not specified' });
    }
    if (!url.searchParams.get('api-version') || !url.searchParams.get('resource')) {
      return send(400, { error: 'invalid_request', error_description: 'api-version and resource are required' });
    }
    const who = url.searchParams.get('client_id') || url.searchParams.get('msi_res_id')
      || url.searchParams.get('mi_res_id') || url.searchParams.get('object_id') || 'system-assigned';
    if (!this.principals.identity(who)) {
      return send(400, { error: 'invalid_request', error_description: 'Identity not found' });
    }
    const { token, exp } = this.issueToken(`mi:${who}`);
    return send(200, { access_token: token, expires_in: String(exp - Math.floor(Date.now() / 1000)),
      expires_on: String(exp), not_before: String(Math.floor(Date.now() / 1000)),
      resource: url.searchParams.get('resource'), token_type: 'Bearer', client_id: who });
  }

  streaming(req, url, path, body, send) {
    const claims = this.checkToken(req);
    const [, , , , db, table] = path.split('/').map(decodeURIComponent);
    if (this.clusterStreaming === false) {
      // a cluster without streaming ingestion has no streaming endpoint: 404, which
      // the SDKs read as "streaming is off on the cluster" (azure-kusto-python's
      // "Please enable streaming ingestion on your cluster"; the managed clients
      // fall back on StreamingIngestionDisabledForCluster, azure-kusto-java)
      throw new KustoError(404, 'NotFound_StreamingIngestionDisabledForCluster',
        'Streaming ingestion is disabled for the cluster.', { permanent: true });
    }
    this.principals.check(claims.sub, db, 'ingestor', 'ingest');
    let data = body;
    if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) data = zlib.gunzipSync(data);
    if (data.length > STREAMING_LIMIT) {
      throw new KustoError(413, 'Stream_InputStreamTooLarge', `The stream is larger than ${STREAMING_LIMIT} bytes.`, { permanent: true });
    }
    if (!this.engine.streamingEnabled(db, table, { streaming: true })) {
      throw new KustoError(400, 'BadRequest_StreamingIngestionPolicyNotEnabled',
        `Streaming ingestion policy is not enabled for table '${table}' in database '${db}'.`, { permanent: true });
    }
    const format = url.searchParams.get('streamFormat') || 'csv';
    const r = this.engine.ingest(db, table, data, { format, mappingName: url.searchParams.get('mappingName') || undefined, streaming: true });
    return send(200, v1Body([{ columns: [{ name: 'ConsumedRecordsCount', type: 'long' },
      { name: 'UpdatePolicyStatus', type: 'string' }, { name: 'UpdatePolicyFailureCode', type: 'string' },
      { name: 'UpdatePolicyFailureReason', type: 'string' }], rows: [[r.rowCount, 'Inactive', 'Unknown', '']] }], false));
  }

  admin(req, path, body, send) {
    const json = body.length ? JSON.parse(body.toString()) : {};
    if (path === '/admin/faults' && req.method === 'POST') {
      this.faults.push({ kind: json.kind || 'any', path: json.path, count: json.count || 1, action: json.action || {} });
      return send(200, { ok: true });
    }
    if (path === '/admin/stats') {
      return send(200, { requests: this.stats, queryconsistency: this.consistency, dm: { processed: this.dm.processed, inFlight: this.dm.inFlight.size,
        withCreationTime: this.dm.withCreationTime } });
    }
    if (path === '/admin/ingestion-faults' && req.method === 'POST') {
      if (!['transient', 'permanent', 'partial'].includes(json.kind)) {
        return send(400, { error: 'kind must be transient, permanent or partial' });
      }
      this.dm.faults.push({ kind: json.kind, count: json.count || 1 });
      return send(200, { ok: true });
    }
    if (path === '/admin/reset' && req.method === 'POST') {
      this.faults = [];
      this.stats = {};
      this.consistency = {};
      this.dm.faults = [];
      if (json.data) {
        this.engine = new Engine();
        this.engine.onChange = () => this.scheduleSave();
        this.applyEngineOptions({});
        this.scheduleSave();
      }
      return send(200, { ok: true });
    }
    if (path === '/admin/rotate-status-table' && req.method === 'POST') {
      return this.rotateStatusTable().then((table) => send(200, { table }));
    }
    if (path === '/admin/config' && req.method === 'POST') {
      if (json.statusTableRotationS !== undefined) {
        clearInterval(this.rotationTimer);
        this.statusRotationS = Number(json.statusTableRotationS);
        if (this.statusRotationS > 0) {
          this.rotationTimer = setInterval(() => { this.rotateStatusTable().catch(() => {}); }, this.statusRotationS * 1000);
          this.rotationTimer.unref();
        }
      }
      if (json.tokenLifetimeSeconds) this.tokenLifetime = Number(json.tokenLifetimeSeconds);
      if (json.ingestionDelayMs !== undefined) this.dm.delayMs = json.ingestionDelayMs === null ? undefined : Number(json.ingestionDelayMs);
      if (json.loginEndpoint !== undefined) this.loginEndpoint = json.loginEndpoint || null;
      this.applyEngineOptions(json);
      return send(200, { ok: true });
    }
    return send(404, { error: 'no such admin endpoint' });
  }

  async listen(host, port) {
    if (this.opts.stateDir) fs.mkdirSync(this.opts.stateDir, { recursive: true });
    await this.startStorage(host);
    const handler = (req, res) => { this.handle(req, res); };
    this.server = this.opts.tlsCert ? https.createServer(this.tlsOptions(), handler) : http.createServer(handler);
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    return new Promise((resolve) => {
      this.server.listen(port, host, () => {
        const addr = this.server.address();
        const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
        this.baseUrl = `${this.opts.tlsCert ? 'https' : 'http'}://${h}:${addr.port}`;
        resolve(this.baseUrl);
      });
    });
  }

  async close() {
    clearInterval(this.rotationTimer);
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(() => r()));
    await this.dm.stop();
    await Promise.all(Object.values(this.proxies).map((p) => p.close()));
    await this.azurite.stop();
    this.saveNow();
  }
}

function kindOf(path) {
  if (/^\/[^/]+\/oauth2\/v2\.0\/token$/.test(path)) return 'token';
  if (path === '/v1/rest/auth/metadata') return 'metadata';
  if (path === '/metadata/identity/oauth2/token' || path === '/msi/token') return 'identity';
  if (path === '/v1/rest/mgmt') return 'mgmt';
  if (path === '/v1/rest/query' || path === '/v2/rest/query') return 'query';
  if (path.startsWith('/v1/rest/ingest/')) return 'streaming';
  return 'other';
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let b = Buffer.concat(chunks);
      const enc = (req.headers['content-encoding'] || '').toLowerCase();
      try {
        if (enc === 'gzip' && !req.url.startsWith('/v1/rest/ingest/')) b = zlib.gunzipSync(b);
        else if (enc === 'deflate') b = zlib.inflateSync(b);
      } catch (e) { return reject(e); }
      return resolve(b);
    });
    req.on('error', reject);
  });
}

function parseRequest(body) {
  let j;
  try { j = JSON.parse(body.toString()); } catch {
    throw new KustoError(400, 'General_BadRequest', 'The request body is not JSON.');
  }
  if (!j.db || typeof j.csl !== 'string') throw new KustoError(400, 'General_BadRequest', 'The request needs "db" and "csl".');
  return j;
}

function safeJson(text) {
  try { return JSON.parse(text); } catch { return {}; }
}

function wire(v, type, v1) {
  if (type === 'dynamic' && v1) return v === null ? null : JSON.stringify(v);
  return v;
}

function v1Body(results, isQuery) {
  const tables = results.map((r, i) => ({
    TableName: `Table_${i}`,
    Columns: r.columns.map((c) => ({ ColumnName: c.name, DataType: dotnetShort(c.type), ColumnType: c.type })),
    Rows: r.rows.map((row) => row.map((v, j) => wire(v, r.columns[j].type, true))),
  }));
  if (isQuery) {
    tables.push({ TableName: 'Table_1', Columns: [{ ColumnName: 'Value', DataType: 'String', ColumnType: 'string' }], Rows: [] });
    tables.push({ TableName: 'Table_2', Columns: [{ ColumnName: 'Ordinal', DataType: 'Int64', ColumnType: 'long' },
      { ColumnName: 'Kind', DataType: 'String', ColumnType: 'string' }, { ColumnName: 'Name', DataType: 'String', ColumnType: 'string' },
      { ColumnName: 'Id', DataType: 'String', ColumnType: 'string' }, { ColumnName: 'PrettyName', DataType: 'String', ColumnType: 'string' }],
    Rows: [[0, 'QueryResult', 'PrimaryResult', crypto.randomUUID(), ''], [1, 'QueryProperties', '@ExtendedProperties', crypto.randomUUID(), '']] });
  }
  return { Tables: tables };
}

function v2Body(r) {
  const frames = [
    { FrameType: 'DataSetHeader', IsProgressive: false, Version: 'v2.0', IsFragmented: false, ErrorReportingPlacement: 'EndOfTable' },
    { FrameType: 'DataTable', TableId: 0, TableKind: 'QueryProperties', TableName: '@ExtendedProperties',
      Columns: [{ ColumnName: 'TableId', ColumnType: 'int' }, { ColumnName: 'Key', ColumnType: 'string' }, { ColumnName: 'Value', ColumnType: 'dynamic' }], Rows: [] },
    { FrameType: 'DataTable', TableId: 1, TableKind: 'PrimaryResult', TableName: 'PrimaryResult',
      Columns: r.columns.map((c) => ({ ColumnName: c.name, ColumnType: c.type })), Rows: r.rows },
    { FrameType: 'DataTable', TableId: 2, TableKind: 'QueryCompletionInformation', TableName: 'QueryCompletionInformation',
      Columns: [{ ColumnName: 'Timestamp', ColumnType: 'datetime' }], Rows: [] },
    { FrameType: 'DataSetCompletion', HasErrors: false, Cancelled: false },
  ];
  return `[${frames.map((f) => JSON.stringify(f)).join('\n,')}\n]`;
}

module.exports = { Emulator, DEV };
