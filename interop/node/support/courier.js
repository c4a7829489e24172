// Starts and stops a real `courier dev` process (name server + broker in one process) for the
// ali-ons interop tests. The binary comes from COURIER_BIN; every port is a free loopback port
// and the data directory is a fresh temporary directory removed on stop, so tests never share
// state with each other or with a developer's `./courier-data`.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

// Ports are taken from the kernel (bind :0) and released just before the child binds them; a
// reservation table keeps two servers in this process from being handed the same number.
const handedOut = new Set();

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => {
        if (handedOut.has(port)) {
          freePort().then(resolve, reject);
        } else {
          handedOut.add(port);
          resolve(port);
        }
      });
    });
  });
}

function canConnect(port) {
  return new Promise(resolve => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

function courierBin() {
  const bin = process.env.COURIER_BIN;
  if (!bin) {
    throw new Error('COURIER_BIN is not set: build the binary (cargo build -p courier) and set ' +
      'COURIER_BIN=$CARGO_TARGET_DIR/debug/courier (or run ./interop/run-mq.sh)');
  }
  if (!fs.existsSync(bin)) {
    throw new Error(`COURIER_BIN=${bin} does not exist: build it with cargo build -p courier`);
  }
  return bin;
}

class CourierDev {
  static async start() {
    const bin = courierBin();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'courier-ali-ons-'));
    const namesrvPort = await freePort();
    const brokerPort = await freePort();
    const keeperPort = await freePort();
    const args = [
      'dev',
      '--data-dir', dataDir,
      '--namesrv-port', String(namesrvPort),
      '--broker-port', String(brokerPort),
      '--keeper-port', String(keeperPort),
      '--log-level', process.env.COURIER_LOG || 'warn',
    ];
    const child = spawn(bin, args, {
      stdio: [ 'ignore', 'pipe', 'pipe' ],
      env: process.env,
    });
    const dev = new CourierDev(child, dataDir, namesrvPort, brokerPort);
    await dev._waitReady();
    return dev;
  }

  constructor(child, dataDir, namesrvPort, brokerPort) {
    this.child = child;
    this.dataDir = dataDir;
    this.namesrvAddr = `127.0.0.1:${namesrvPort}`;
    this.brokerAddr = `127.0.0.1:${brokerPort}`;
    this._ports = [ namesrvPort, brokerPort ];
    this.output = '';
    this.exit = null;
    const keep = chunk => {
      // Only the tail matters for a failure message; keep memory bounded on chatty logs.
      this.output = (this.output + chunk.toString()).slice(-20000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.exited = new Promise(resolve => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  async _waitReady() {
    const deadline = Date.now() + 30000;
    for (;;) {
      if (this.exit) {
        throw new Error(`courier dev exited early (${JSON.stringify(this.exit)}):\n${this.output}`);
      }
      const open = await Promise.all(this._ports.map(canConnect));
      if (open.every(Boolean)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`courier dev did not open ports ${this._ports} within 30 s:\n${this.output}`);
      }
      await sleep(50);
    }
  }

  // SIGTERM is the graceful path (drain, flush, checkpoint); SIGKILL only if it hangs.
  async stop() {
    if (!this.exit) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15000);
      await this.exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    return this.exit;
  }
}

module.exports = { CourierDev, sleep };
