import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { mkdtempSync, rmSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from '../pki/index.js';
import { loopbackKubeConfig, sharedSecureContext, withKeepAlive } from '../common/kubeconfig.js';
import { JsonApi } from './api-json.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The agent a request of `api` would use (its private pool). */
const poolOf = (api: JsonApi) => (api as unknown as { agent?: { agent: http.Agent } }).agent?.agent;
const contextOf = (agent: http.Agent | undefined) => (agent as unknown as { options: { secureContext?: unknown } } | undefined)?.options.secureContext;

test('sharedSecureContext: one context per credentials and trust', async () => {
  const ca = await createCertificateAuthority('t');
  const a = await issueClientCertificate(ca, 'a', []);
  const b = await issueClientCertificate(ca, 'b', []);
  const ctxA = sharedSecureContext({ ca: ca.certPem, cert: a.certPem, key: a.keyPem });
  assert.equal(sharedSecureContext({ ca: Buffer.from(ca.certPem), cert: Buffer.from(a.certPem), key: Buffer.from(a.keyPem) }), ctxA, 'same material as Buffers');
  assert.notEqual(sharedSecureContext({ ca: ca.certPem, cert: b.certPem, key: b.keyPem }), ctxA);
});

test('TLS: the kubeconfig\'s keep-alive agent and JsonApi\'s bounded pool share one SecureContext and authenticate with the client certificate', async () => {
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
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caData: b64(ca.certPem), skipTLSVerify: false }],
      users: [{ name: 'u', certData: b64(client.certPem), keyData: b64(client.keyPem) }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    withKeepAlive(kc);
    const opts: { agent?: http.Agent } = {};
    await kc.applyToHTTPSOptions(opts as never);
    const shared = contextOf(opts.agent);
    assert.ok(shared, 'the kubeconfig agent has a SecureContext');
    const api = new JsonApi(kc);
    assert.deepEqual(await api.request('GET', '/x'), { ok: '/x' });
    assert.notEqual(poolOf(api), opts.agent, 'JsonApi keeps its own (bounded) pool');
    assert.equal(contextOf(poolOf(api)), shared, 'one SecureContext for both');
    assert.deepEqual([...subjects], ['system:kedge-hub']);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('loopback: JsonApi speaks plain HTTP to the Unix socket with the token; a burst of 100 shares a bounded set of connections', async () => {
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
    const api = new JsonApi(loopbackKubeConfig({ socketPath, token: 'loop-token' }));
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => api.request<{ url: string; body: unknown }>('PUT', `/r/${i}`, { i })));
    assert.deepEqual(answers.map((a) => a.url), Array.from({ length: 100 }, (_, i) => `/r/${i}`));
    assert.deepEqual(answers.map((a) => a.body), Array.from({ length: 100 }, (_, i) => ({ i })));
    assert.deepEqual([...auth], ['Bearer loop-token']);
    assert.ok(connections <= 32, `${connections} connections for 100 concurrent requests`);
    const before = connections;
    await Promise.all(Array.from({ length: 20 }, (_, i) => api.request('GET', `/again/${i}`)));
    assert.equal(connections, before, 'kept-alive connections are reused');
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});
