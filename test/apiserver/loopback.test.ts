/**
 * `kedge server`'s loopback socket (src/apiserver/loopback.ts), end to end on the real binary: the in-process
 * hub and controllers reach the API over the data dir's Unix socket; to anyone else the socket is just
 * another way to present credentials — no token or a wrong one is 401, a valid token gets exactly its RBAC.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Harness } from '../harness/processes.js';

const h = new Harness('apiserver-loopback');
after(() => h.cleanup());

const SOCKET = 'apiserver-loopback.sock';

async function startServer(extra: string[]) {
  const dataDir = h.tempDir('data');
  const apiPort = await h.freePort();
  const hubPort = await h.freePort();
  const tokenFile = path.join(h.tempDir('tokens'), 'tokens.csv');
  writeFileSync(tokenFile, 'alice-token,alice,alice-uid,"team-a"\n', { mode: 0o600 });
  const server = await h.startKedge('server', [
    'server', '--data-dir', dataDir, '--bind-address', '127.0.0.1', '--secure-port', String(apiPort), '--hub-port', String(hubPort),
    '--token-auth-file', tokenFile, ...extra,
  ], { ready: { url: `https://127.0.0.1:${apiPort}/readyz`, ok: (s) => s === 200 || s === 401 || s === 403, timeoutMs: 60_000 }, env: { KEDGE_LOG_LEVEL: 'info' } });
  await server.waitForLog(/cloud hub listening/, 60_000);
  // the last components start after the controller manager; SIGTERM is handled once all have started
  await server.waitForLog(/controllers started/, 60_000);
  await sleep(1000);
  return { server, dataDir, socketPath: path.join(dataDir, SOCKET) };
}

function overSocket(socketPath: string, urlPath: string, token?: string): Promise<{ code: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: urlPath, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ code: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Accepted (server-side) connections on the Unix socket at `socketPath`, from /proc/net/unix (state 03 = connected). */
function acceptedConnections(socketPath: string): number {
  return readFileSync('/proc/net/unix', 'utf8').split('\n').filter((l) => {
    const f = l.trim().split(/\s+/);
    return f[7] === socketPath && f[5] === '03';
  }).length;
}

test('kedge server: a 0600 socket in the data dir that the in-process hub and controllers use; no token is system:anonymous (403), a wrong one 401, a valid token its own RBAC; removed on stop', async () => {
  const { server, socketPath } = await startServer([]);
  const st = statSync(socketPath);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);

  // The hub thread's watches and the controllers' clients connect here; nobody else knows the token.
  let conns = 0;
  for (let i = 0; i < 100 && (conns = acceptedConnections(socketPath)) < 2; i++) await sleep(100);
  assert.ok(conns >= 2, `${conns} in-process connections on the loopback socket`);

  const wrong = await overSocket(socketPath, '/api/v1/namespaces/kube-system/secrets', 'not-the-token');
  assert.equal(wrong.code, 401);
  assert.equal(wrong.body.kind, 'Status');
  assert.equal(wrong.body.reason, 'Unauthorized');
  const anonymous = await overSocket(socketPath, '/api/v1/namespaces/kube-system/secrets', undefined);
  assert.equal(anonymous.code, 403);
  assert.match(anonymous.body.message, /User "system:anonymous" cannot list resource "secrets"/);
  // Same authenticators as the HTTPS port, same authorizer: alice has no roles.
  const alice = await overSocket(socketPath, '/api/v1/namespaces/kube-system/secrets', 'alice-token');
  assert.equal(alice.code, 403);
  assert.equal(alice.body.reason, 'Forbidden');
  assert.match(alice.body.message, /User "alice" cannot list resource "secrets"/);

  await server.stop(15_000);
  assert.equal(existsSync(socketPath), false, 'socket removed on shutdown');
});

test('kedge server --no-loopback: no socket; in-process clients keep HTTPS', async () => {
  const { server, socketPath, dataDir } = await startServer(['--no-loopback']);
  assert.equal(existsSync(socketPath), false);
  assert.ok(existsSync(path.join(dataDir, 'admin.kubeconfig')));
  assert.match(server.currentOutput, /cloud hub listening/);
  assert.doesNotMatch(server.currentOutput, /loopback socket/);
});
