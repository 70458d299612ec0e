/**
 * The hub's API client (src/common/kube-client.ts) over TLS with a client certificate and over the loopback
 * socket. Here rather than in src/common because the certificates come from src/pki.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { mkdtempSync, rmSync } from 'node:fs';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from '../pki/index.js';
import { KubeClient, sharedSecureContext } from '../common/kube-client.js';

/** The agents of `api`'s current connection settings. */
const agentsOf = (api: KubeClient) => {
  api.server; // resolves the settings
  return (api as unknown as { endpoint: { value: { requestAgent: http.Agent; watchAgent: http.Agent } } }).endpoint.value;
};
const contextOf = (agent: http.Agent | undefined) => (agent as unknown as { options: { secureContext?: unknown } } | undefined)?.options.secureContext;

test('sharedSecureContext: one context per credentials and trust', async () => {
  const ca = await createCertificateAuthority('t');
  const a = await issueClientCertificate(ca, 'a', []);
  const b = await issueClientCertificate(ca, 'b', []);
  const ctxA = sharedSecureContext({ ca: ca.certPem, cert: a.certPem, key: a.keyPem });
  assert.equal(sharedSecureContext({ ca: Buffer.from(ca.certPem), cert: Buffer.from(a.certPem), key: Buffer.from(a.keyPem) }), ctxA, 'same material as Buffers');
  assert.notEqual(sharedSecureContext({ ca: ca.certPem, cert: b.certPem, key: b.keyPem }), ctxA);
});

test('TLS: the request pool and the watch agent share one SecureContext and authenticate with the client certificate', async () => {
  const ca = await createCertificateAuthority('test-ca');
  const srv = await issueServerCertificate(ca, 'api', ['127.0.0.1']);
  const client = await issueClientCertificate(ca, 'system:kedge-hub', ['system:masters']);
  const subjects = new Set<string>();
  const server = https.createServer({ cert: srv.certPem, key: srv.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    subjects.add(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
    res.end(JSON.stringify({ ok: req.url }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const api = KubeClient.fromConfig({ server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caCertPem: ca.certPem, clientCertPem: client.certPem, clientKeyPem: client.keyPem });
    assert.deepEqual(await api.request('GET', '/x'), { ok: '/x' });
    const { requestAgent, watchAgent } = agentsOf(api);
    assert.notEqual(requestAgent, watchAgent, 'watches do not take the bounded request pool');
    const shared = contextOf(requestAgent);
    assert.ok(shared, 'the request pool has a SecureContext');
    assert.equal(contextOf(watchAgent), shared, 'one SecureContext for both');
    assert.equal(sharedSecureContext({ ca: ca.certPem, cert: client.certPem, key: client.keyPem }), shared, 'the thread\'s one context for these credentials');
    api.close();
    assert.deepEqual([...subjects], ['system:kedge-hub']);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('loopback: the client speaks plain HTTP to the Unix socket with the token; a burst of 300 shares a bounded set of connections (256)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-apijson-'));
  const socketPath = path.join(dir, 'api.sock');
  let connections = 0;
  const auth = new Set<string>();
  const server = http.createServer((req, res) => {
    auth.add(String(req.headers.authorization));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    // answer a little later, so the burst really is concurrent
    req.on('end', () => setTimeout(() => res.end(JSON.stringify({ url: req.url, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') })), 5));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(socketPath, r));
  try {
    const api = KubeClient.loopback({ socketPath, token: 'loop-token' });
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => api.request<{ url: string; body: unknown }>('PUT', `/r/${i}`, { i })));
    assert.deepEqual(answers.map((a) => a.url), Array.from({ length: 300 }, (_, i) => `/r/${i}`));
    assert.deepEqual(answers.map((a) => a.body), Array.from({ length: 300 }, (_, i) => ({ i })));
    assert.deepEqual([...auth], ['Bearer loop-token']);
    // 256: the hub's writes in flight each get one (kube-client.ts MAX_LOOPBACK_REQUEST_SOCKETS); TLS clients keep 32.
    assert.ok(connections <= 256, `${connections} connections for 300 concurrent requests`);
    const before = connections;
    await Promise.all(Array.from({ length: 20 }, (_, i) => api.request('GET', `/again/${i}`)));
    assert.equal(connections, before, 'kept-alive connections are reused');
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});
