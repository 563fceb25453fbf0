'use strict';
// A loopback reverse proxy in front of one Azurite service (blob, queue or
// table). The storage URLs the emulator hands out point here, so that the
// admin API can inject faults (status, delay, dropped connection, hang) into
// storage traffic and count it, exactly as for the Kusto endpoints.

const http = require('node:http');
const https = require('node:https');
const { randomUUID } = require('node:crypto');
const { xmlProblem } = require('./xml');

// The requests whose body Azure Storage parses as XML: Put Block List and a
// queue message (Put Message); a body that is not well-formed gets 400
// InvalidXmlDocument there (./xml.js), whatever Azurite would take.
function xmlBody(kind, req) {
  const q = new URL(req.url, 'http://x').searchParams;
  if (kind === 'blob') return req.method === 'PUT' && q.get('comp') === 'blocklist';
  if (kind === 'queue') return req.method === 'POST' && /\/messages$/.test(req.url.split('?')[0]);
  return false;
}

function readAll(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

class StorageProxy {
  /**
   * @param {string} kind     'blob' | 'queue' | 'table' (the fault kind)
   * @param {string} target   Azurite's base URL for the service
   * @param {function} takeFault (kind, path) => action | null
   * @param {object} [tls]    { cert, key } to serve HTTPS
   */
  constructor(kind, target, takeFault, tls) {
    this.kind = kind;
    this.target = new URL(target);
    this.takeFault = takeFault;
    this.tls = tls;
    this.sockets = new Set();
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  }

  async handle(req, res) {
    const fault = this.takeFault(this.kind, req.url.split('?')[0]);
    if (fault) {
      if (fault.delay) await new Promise((r) => setTimeout(r, fault.delay));
      else if (fault.drop) { req.socket.destroy(); return; }
      else if (fault.hang) return;
      else if (fault.status) {
        req.resume();
        const code = fault.code || (fault.status === 503 ? 'ServerBusy' : 'InternalError');
        res.writeHead(fault.status, { 'Content-Type': 'application/xml', 'x-ms-request-id': randomUUID(),
          'x-ms-error-code': code, ...(fault.retryAfter ? { 'Retry-After': String(fault.retryAfter) } : {}) });
        res.end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${fault.message || 'Injected fault.'}</Message></Error>`);
        return;
      }
    }
    let body = null;
    if (xmlBody(this.kind, req)) {
      body = await readAll(req);
      const why = xmlProblem(body);
      if (why) {
        res.writeHead(400, { 'Content-Type': 'application/xml', 'x-ms-request-id': randomUUID(),
          'x-ms-error-code': 'InvalidXmlDocument' });
        res.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>InvalidXmlDocument</Code>'
          + `<Message>XML specified is not syntactically valid.</Message><Reason>${why.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</Reason></Error>`);
        return;
      }
    }
    const headers = { ...req.headers, host: this.target.host };
    const up = http.request({ host: this.target.hostname, port: this.target.port, method: req.method,
      path: req.url, headers, agent: this.agent }, (ur) => {
      if (fault && fault.lost) {
        // carried out by storage, then the connection breaks before the answer
        ur.resume();
        ur.on('end', () => req.socket.destroy());
        return;
      }
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`storage proxy: ${e.message}`);
    });
    if (body) up.end(body);
    else req.pipe(up);
  }

  listen(host, port = 0) {
    const handler = (req, res) => { this.handle(req, res); };
    this.server = this.tls ? https.createServer(this.tls, handler) : http.createServer(handler);
    this.server.keepAliveTimeout = 30000;
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const { address, port } = this.server.address();
        const h = address.includes(':') ? `[${address}]` : address;
        this.url = `${this.tls ? 'https' : 'http'}://${h}:${port}`;
        resolve(this.url);
      });
    });
  }

  close() {
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

module.exports = { StorageProxy };
