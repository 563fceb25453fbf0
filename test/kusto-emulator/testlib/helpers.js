'use strict';
// Starts the emulator's real executable on a free port for a test file and
// resolves with { base, proc }; the caller stops it with proc.kill('SIGTERM').

const { spawn } = require('node:child_process');
const path = require('node:path');

function startEmulator(args = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(path.join(__dirname, '..', 'kusto-emulator'), ['--port', '0', ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error('the emulator did not start')), 20000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /kusto-emulator listening on (\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ base: m[1], proc }); }
    });
  });
}

module.exports = { startEmulator };
