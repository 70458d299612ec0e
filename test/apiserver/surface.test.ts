/**
 * The control plane's network surface with the real `kedge server` (docs/design/security.md §6 and Surfaces):
 * the hub listens on its own address (by default every interface) while the Kubernetes API stays on
 * --bind-address; anonymous clients (curl) get /version and the health endpoints and nothing else; slow
 * clients — a TCP connection that never starts TLS, headers one byte at a time, a body one byte at a time —
 * are dropped by read deadlines on the API and the hub ports while everyone else keeps being served.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Harness, type ManagedProcess } from '../harness/processes.js';

const h = new Harness('surface');
let dir = '';
let apiPort = 0;
let hubPort = 0;
let server: ManagedProcess;

before(async () => {
  dir = h.tempDir('data');
  apiPort = await h.freePort();
  hubPort = await h.freePort();
  // Defaults for both bind addresses: the API on 127.0.0.1, the hub on every interface.
  server = await h.startKedge('kedge-server', ['server', '--data-dir', dir, '--secure-port', String(apiPort), '--hub-port', String(hubPort), '--disable-controllers'], {
    ready: { logLine: /cloud hub listening/, timeoutMs: 90_000 },
  });
});
after(async () => { await h.cleanup(); });

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0, stdout, stderr }));
  });
}

function kubectl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('/usr/bin/kubectl', [`--kubeconfig=${path.join(dir, 'admin.kubeconfig')}`, ...args]);
}

/** curl, as a person would: no credentials, the cluster CA; prints the body then the status code. */
async function curl(url: string): Promise<{ status: number; body: string }> {
  const r = await run('/usr/bin/curl', ['-sS', '--max-time', '10', '--cacert', path.join(dir, 'pki', 'ca.crt'), '-w', '\n%{http_code}', url]);
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

test('the hub listens on every interface by default, the API only on --bind-address: exposing the hub does not expose the API', async () => {
  // 127.0.0.2 stands for "another interface of this machine".
  assert.equal(await connects('127.0.0.1', apiPort), true);
  assert.equal(await connects('127.0.0.2', apiPort), false, 'the API must not answer on other interfaces');
  const cacert = await run('/usr/bin/curl', ['-sS', '--max-time', '10', '-k', `https://127.0.0.2:${hubPort}/v1/cacert`]);
  assert.equal(cacert.code, 0, cacert.stderr);
  assert.equal(cacert.stdout.trim(), readFileSync(path.join(dir, 'pki', 'ca.crt'), 'utf8').trim());
  // The hub port serves the hub only: no Kubernetes API behind it.
  const api = await run('/usr/bin/curl', ['-sS', '--max-time', '10', '-k', '-w', '\n%{http_code}', `https://127.0.0.2:${hubPort}/api/v1/namespaces/kube-system/secrets`]);
  assert.match(api.stdout, /\n404$/);
});

test('--hub-bind-address puts the hub on that address alone; a bad address is refused with a clear message', async () => {
  const d = h.tempDir('data2');
  const [p, hp] = [await h.freePort(), await h.freePort()];
  const s = await h.startKedge('kedge-server-2', ['server', '--data-dir', d, '--secure-port', String(p), '--hub-port', String(hp), '--hub-bind-address', '127.0.0.3', '--disable-controllers', '--anonymous-auth=false'], {
    ready: { logLine: /cloud hub listening/, timeoutMs: 90_000 },
  });
  assert.equal(await connects('127.0.0.3', hp), true);
  assert.equal(await connects('127.0.0.1', hp), false);
  assert.equal(await connects('127.0.0.3', p), false);
  // --anonymous-auth=false: no credentials at all is 401, as kube-apiserver with the flag off.
  const r = await run('/usr/bin/curl', ['-sS', '--max-time', '10', '--cacert', path.join(d, 'pki', 'ca.crt'), '-w', '\n%{http_code}', `https://127.0.0.1:${p}/version`]);
  assert.match(r.stdout, /"reason":\s*"Unauthorized"[\s\S]*\n401$/);
  await s.stop();
  const bad = await run(process.execPath, [path.resolve('bin/kedge.js'), 'server', '--data-dir', d, '--hub-bind-address', 'everywhere']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid --hub-bind-address "everywhere": want an IP address/);
});

test('anonymous curl: /version, /healthz, /livez, /readyz answer; /api/v1/pods is 403 for system:anonymous', async () => {
  const version = await curl(`https://127.0.0.1:${apiPort}/version`);
  assert.equal(version.status, 200, version.body);
  assert.equal(JSON.parse(version.body).major, '1');
  for (const p of ['/healthz', '/livez', '/readyz']) {
    const r = await curl(`https://127.0.0.1:${apiPort}${p}`);
    assert.deepEqual([r.status, r.body], [200, 'ok'], p);
  }
  const pods = await curl(`https://127.0.0.1:${apiPort}/api/v1/pods`);
  assert.equal(pods.status, 403);
  const status = JSON.parse(pods.body);
  assert.deepEqual([status.reason, status.message], ['Forbidden', 'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" at the cluster scope']);
  // A wrong credential is not anonymous: 401.
  const bad = await run('/usr/bin/curl', ['-sS', '--max-time', '10', '--cacert', path.join(dir, 'pki', 'ca.crt'), '-H', 'Authorization: Bearer nope', '-w', '\n%{http_code}', `https://127.0.0.1:${apiPort}/version`]);
  assert.match(bad.stdout, /\n401$/);
});

/** Resolves with how long the server took to close the socket; the client keeps trickling until then. */
function closedAfter(socket: net.Socket, trickle?: () => void): Promise<number> {
  const started = Date.now();
  const timer = trickle ? setInterval(() => { if (!socket.destroyed && socket.writable) trickle(); }, 1000) : undefined;
  return new Promise((resolve) => {
    socket.on('error', () => {});
    socket.once('close', () => { if (timer) clearInterval(timer); resolve(Date.now() - started); });
  });
}

function slowTls(port: number, first: string, drip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      s.write(first);
      resolve(closedAfter(s, () => s.write(drip)));
    });
    s.once('error', reject);
  });
}

test('slow clients (no TLS handshake, slow-loris headers, a trickled body) are dropped on the API and hub ports; others are served meanwhile', async () => {
  const attacks: Promise<number>[] = [];
  for (const port of [apiPort, hubPort]) {
    // 1. TCP connected, TLS never started.
    attacks.push(new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(closedAfter(s)));
    }));
    // 2. Headers one line per second, never finished.
    attacks.push(slowTls(port, 'GET /version HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n'));
    // 3. Headers done, body one byte per second (the hub's join endpoint, the API's create).
    const target = port === hubPort ? '/v1/join' : '/api/v1/namespaces/default/configmaps';
    attacks.push(slowTls(port, `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`, ' '));
  }
  // While those sockets hang on, the API keeps answering.
  for (let i = 0; i < 3; i++) {
    const r = await kubectl(['get', 'namespaces', '-o', 'name']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /namespace\/default/);
  }
  const LIMIT_MS = 75_000; // kube-apiserver's 32 s header / 60 s request deadlines, plus the check interval and load
  const closed = await Promise.race([
    Promise.all(attacks),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`slow clients still connected after ${LIMIT_MS} ms`)), LIMIT_MS + 5_000)),
  ]);
  for (const [i, ms] of closed.entries()) assert.ok(ms <= LIMIT_MS, `attack ${i} held its socket ${ms} ms`);
  const after = await kubectl(['get', 'namespaces', '-o', 'name']);
  assert.equal(after.code, 0, after.stderr);
  assert.equal(server.running, true, 'the server is still running');
});
