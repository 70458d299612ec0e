import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { openSqliteStore } from '../storage/sqlite.js';
import { ensureServerPki, issueClientCertificate, ensureCertificateAuthority, pkiDir, buildKubeconfig, writeKubeconfig, writeAdminKubeconfig } from '../pki/index.js';
import { createLogger } from '../common/logger.js';
import { createApiServer, type ApiServer } from './server.js';
import { ApiLoopback, LOOPBACK_SOCKET_NAME, LoopbackTokenAuthenticator, kubeconfigCertificateIdentity } from './loopback.js';

let dir: string;
let api: ApiServer;
let closeStore: () => Promise<void>;
let loopback: ApiLoopback;
let kubeconfig: string;

/** One request over the Unix socket; the parsed JSON answer. */
function overSocket(socketPath: string, method: string, urlPath: string, o: { token?: string; body?: unknown } = {}): Promise<{ code: number; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = http.request({
      socketPath, method, path: urlPath,
      headers: { ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}), ...(payload ? { 'content-type': 'application/json' } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ code: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-loopback-'));
  const store = await openSqliteStore(path.join(dir, 'state.db'));
  closeStore = () => store.close();
  const pki = await ensureServerPki(dir, { hosts: ['127.0.0.1'] });
  loopback = new ApiLoopback(path.join(dir, LOOPBACK_SOCKET_NAME));
  api = await createApiServer({
    store, tls: { cert: pki.serverCertPem, key: pki.serverKeyPem, ca: pki.caCertPem }, port: 0,
    tokenAuthenticators: [loopback.authenticator], logger: createLogger('test', 'warn'),
  });
  kubeconfig = await writeAdminKubeconfig(dir, api.url);
  await loopback.start(api, kubeconfig);
});

after(async () => {
  await loopback?.close();
  await api?.close();
  await closeStore?.();
  rmSync(dir, { recursive: true, force: true });
});

test('loopback socket: mode 0600, the token authenticates as the admin kubeconfig certificate (kubernetes-admin, system:masters)', async () => {
  const st = statSync(loopback.socketPath);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  const { token } = loopback.transport;
  const review = await overSocket(loopback.socketPath, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    token, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  assert.equal(review.code, 201, JSON.stringify(review.body));
  assert.equal(review.body.status.userInfo.username, 'kubernetes-admin');
  assert.deepEqual([...review.body.status.userInfo.groups].sort(), ['system:authenticated', 'system:masters']);
  // and it is the whole API: a write and a read
  const created = await overSocket(loopback.socketPath, 'POST', '/api/v1/namespaces/default/configmaps', {
    token, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'via-loopback' }, data: { a: '1' } },
  });
  assert.equal(created.code, 201, JSON.stringify(created.body));
  const got = await overSocket(loopback.socketPath, 'GET', '/api/v1/namespaces/default/configmaps/via-loopback', { token });
  assert.deepEqual(got.body.data, { a: '1' });
});

test('loopback socket: a wrong token is 401 Unauthorized, no token is system:anonymous (403); neither changes anything', async () => {
  const good = loopback.transport.token;
  const wrongSameLength = (good[0] === 'A' ? 'B' : 'A') + good.slice(1);
  for (const token of [undefined, wrongSameLength, 'short']) {
    const r = await overSocket(loopback.socketPath, 'POST', '/api/v1/namespaces/default/configmaps', {
      token, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `anon-${token?.length ?? 0}` } },
    });
    assert.equal(r.code, token === undefined ? 403 : 401, `token ${String(token)}`);
    assert.equal(r.body.kind, 'Status');
    assert.equal(r.body.reason, token === undefined ? 'Forbidden' : 'Unauthorized');
  }
  const list = await overSocket(loopback.socketPath, 'GET', '/api/v1/namespaces/default/configmaps', { token: good });
  assert.deepEqual(list.body.items.map((c: { metadata: { name: string } }) => c.metadata.name).filter((n: string) => n.startsWith('anon-')), []);
});

test('loopback token grants nothing until an identity is granted, then exactly that identity', async () => {
  const a = new LoopbackTokenAuthenticator('t0ken');
  assert.equal(await a.authenticateToken('t0ken'), null);
  a.grant({ username: 'system:kedge-hub', groups: ['g1'] });
  assert.deepEqual(await a.authenticateToken('t0ken'), { username: 'system:kedge-hub', groups: ['g1'] });
  assert.equal(await a.authenticateToken('t0kem'), null);
  assert.equal(await a.authenticateToken(''), null);
});

test('loopback identity is the kubeconfig certificate\'s (CN, every O), not a fixed admin; the socket goes on close', async () => {
  const ca = await ensureCertificateAuthority(pkiDir(dir));
  const cert = await issueClientCertificate(ca, 'jane', ['dev', 'qa']);
  const file = path.join(dir, 'jane.kubeconfig');
  await writeKubeconfig(file, buildKubeconfig({ server: api.url, caCertPem: ca.certPem, userName: 'jane', clientCertPem: cert.certPem, clientKeyPem: cert.keyPem }));
  assert.deepEqual(await kubeconfigCertificateIdentity(file), { username: 'jane', groups: ['dev', 'qa'] });
  const other = new ApiLoopback(path.join(dir, 'other.sock'));
  await other.start(api, file);
  assert.deepEqual(await other.authenticator.authenticateToken(other.transport.token), { username: 'jane', groups: ['dev', 'qa'] });
  assert.ok(existsSync(other.socketPath));
  await other.close();
  assert.equal(existsSync(other.socketPath), false, 'socket removed on close');
});

test('socket file: a stale one is replaced, a live one or a non-socket file is refused', async () => {
  const stalePath = path.join(dir, 'stale.sock');
  // a socket file nobody listens on any more (a killed server)
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(stalePath, r));
  await new Promise<void>((r) => { s.close(() => r()); });
  if (!existsSync(stalePath)) {
    // node removed it on close; make a leftover the way a SIGKILL leaves it: bind, then never close
    const { spawnSync } = await import('node:child_process');
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  }
  assert.ok(existsSync(stalePath), 'stale socket file present');
  const stale = new ApiLoopback(stalePath);
  await stale.start(api, kubeconfig);
  // a live one: `stale` now listens there
  await assert.rejects(new ApiLoopback(stalePath).start(api, kubeconfig), /in use by another running server/);
  await stale.close();
  const filePath = path.join(dir, 'regular.sock');
  writeFileSync(filePath, 'not a socket');
  await assert.rejects(new ApiLoopback(filePath).start(api, kubeconfig), /not a socket/);
  await assert.rejects(new ApiLoopback(path.join(dir, 'x'.repeat(120))).start(api, kubeconfig), /over the 107-byte limit/);
});

test('in-flight limit: the control plane\'s own loopback token is exempt; anyone else on the socket, and that token over HTTPS, is not', async () => {
  const limitedDir = mkdtempSync(path.join(os.tmpdir(), 'kedge-loopback-limit-'));
  const store = await openSqliteStore(path.join(limitedDir, 'state.db'));
  const pki = await ensureServerPki(limitedDir, { hosts: ['127.0.0.1'] });
  const lb = new ApiLoopback(path.join(limitedDir, LOOPBACK_SOCKET_NAME));
  const limited = await createApiServer({
    store, tls: { cert: pki.serverCertPem, key: pki.serverKeyPem, ca: pki.caCertPem }, port: 0, maxMutatingRequestsInflight: 1,
    tokenAuthenticators: [lb.authenticator], logger: createLogger('test', 'warn'),
  });
  await lb.start(limited, await writeAdminKubeconfig(limitedDir, limited.url));
  const { token } = lb.transport;
  // An authorized write whose body never finishes holds the mutating lane's only slot: over HTTPS the control
  // plane's token is not exempt, and the write waits for its body once authorized.
  const held = https.request(`${limited.url}/api/v1/namespaces/default/configmaps`, {
    method: 'POST', ca: pki.caCertPem, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': 100_000 },
  });
  held.on('error', () => {});
  held.write('{');
  const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } });
  try {
    let anonymous = { code: 0, body: null as unknown };
    for (let i = 0; i < 100 && anonymous.code !== 429; i++) {
      anonymous = await overSocket(lb.socketPath, 'POST', '/api/v1/namespaces/default/configmaps', { body: cm('anonymous') });
      if (anonymous.code !== 429) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(anonymous.code, 429, 'the lane is full for a caller without the loopback token');
    const wrong = await overSocket(lb.socketPath, 'POST', '/api/v1/namespaces/default/configmaps', { token: (token[0] === 'A' ? 'B' : 'A') + token.slice(1), body: cm('wrong') });
    assert.equal(wrong.code, 429, 'a token of the same length that is not the loopback token');
    const own = await overSocket(lb.socketPath, 'POST', '/api/v1/namespaces/default/configmaps', { token, body: cm('control-plane') });
    assert.equal(own.code, 201, JSON.stringify(own.body));
    const overHttps = await new Promise<number>((resolve, reject) => {
      const req = https.request(`${limited.url}/api/v1/namespaces/default/configmaps`, {
        method: 'POST', ca: pki.caCertPem, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); });
      req.on('error', reject);
      req.end(JSON.stringify(cm('over-https')));
    });
    assert.equal(overHttps, 429, 'the exemption belongs to the socket, not to the token');
  } finally {
    held.destroy();
    await lb.close();
    await limited.close();
    await store.close();
    rmSync(limitedDir, { recursive: true, force: true });
  }
});
