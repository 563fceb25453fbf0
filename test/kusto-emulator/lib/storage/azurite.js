'use strict';
// Runs Azurite (blob, queue and table services) as a child process on free
// loopback ports, with telemetry off and the API version check skipped; in
// memory, or persisted under a state directory. stop() ends it and waits.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const BIN = path.join(__dirname, '..', '..', 'node_modules', 'azurite', 'dist', 'src', 'azurite.js');

class Azurite {
  /** @param {string|undefined} location  directory for persistent state, or undefined for memory */
  constructor(location) { this.location = location; }

  start() {
    const args = [BIN, '--silent', '--disableTelemetry', '--skipApiVersionCheck', '--loose',
      '--blobHost', '127.0.0.1', '--blobPort', '0', '--queueHost', '127.0.0.1', '--queuePort', '0',
      '--tableHost', '127.0.0.1', '--tablePort', '0'];
    if (this.location) {
      fs.mkdirSync(this.location, { recursive: true });
      args.push('--location', this.location);
    } else {
      args.push('--inMemoryPersistence', '--extentMemoryLimit', '1024');
    }
    this.proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.location || require('node:os').tmpdir() });
    this.exited = new Promise((r) => this.proc.on('exit', r));
    // Azurite goes with the emulator, however the emulator ends
    process.on('exit', () => { if (this.proc.exitCode === null) this.proc.kill('SIGKILL'); });
    return new Promise((resolve, reject) => {
      let out = '';
      const ports = {};
      const timer = setTimeout(() => reject(new Error(`Azurite did not start: ${out}`)), 30000);
      const onData = (d) => {
        out += d;
        for (const m of out.matchAll(/Azurite (Blob|Queue|Table) service is successfully listening at (\S+)/g)) {
          ports[m[1].toLowerCase()] = m[2].replace(/\/$/, '');
        }
        if (ports.blob && ports.queue && ports.table) {
          clearTimeout(timer);
          this.urls = ports;
          resolve(ports);
        }
      };
      this.proc.stdout.on('data', onData);
      this.proc.stderr.on('data', onData);
      this.proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`Azurite exited (${code}): ${out}`)); });
    });
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

module.exports = { Azurite };
