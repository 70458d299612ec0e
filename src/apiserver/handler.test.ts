import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../common/logger.js';
import { ApiHandler } from './handler.js';
import { Registry } from './registry.js';

/** The max-in-flight filter: a request past the limit is 429 with Retry-After; watches are not counted. */
test('requests beyond --max-requests-inflight get 429 Too Many Requests', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let calls = 0;
  const handler = new ApiHandler({
    registry: new Registry(), objects: null as never, feed: null as never,
    authenticator: { authenticate: async () => { calls++; if (calls === 1) await gate; return { username: 'u', groups: ['system:masters'] }; } },
    authorizer: { authorize: async () => ({ allowed: true, reason: '' }) },
    log: createLogger('test', 'silent'), subresourceHandlers: new Map(), serverAddress: () => 'x', isReady: () => true,
    maxRequestsInflight: 1,
  });
  const server = http.createServer((req, res) => { void handler.handle(req, res); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const get = (path: string) => new Promise<{ code: number; retryAfter?: string; body: string }>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ code: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    }).on('error', reject);
  });
  try {
    const first = get('/version');
    await new Promise((r) => setTimeout(r, 100));
    const second = await get('/version');
    assert.equal(second.code, 429);
    assert.equal(second.retryAfter, '1');
    assert.equal(JSON.parse(second.body).reason, 'TooManyRequests');
    release();
    assert.equal((await first).code, 200);
    assert.equal((await get('/version')).code, 200, 'capacity is back once the first request finished');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

/** PUT hands the body itself to the first read-modify-write attempt; a retry (storage conflict) gets a fresh decode. */
test('update retried after a storage conflict starts again from the unmodified body', async () => {
  const { configMapsDef } = await import('./resources/core.js');
  const registry = new Registry();
  registry.add(configMapsDef);
  const stored = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'ns', resourceVersion: '5' }, data: { a: 'old' } };
  const attempts: unknown[] = [];
  const objects = {
    update: async (_def: unknown, _ns: string, _name: string, _ctx: unknown, mutate: (cur: object) => Promise<{ data?: Record<string, string> }> | { data?: Record<string, string> }) => {
      const first = await mutate(structuredClone(stored));
      attempts.push(structuredClone(first.data));
      first.data!.a = 'changed by the first attempt'; // as defaulting or a strategy might
      const second = await mutate(structuredClone(stored));
      attempts.push(structuredClone(second.data));
      return { obj: second, created: false };
    },
  };
  const handler = new ApiHandler({
    registry, objects: objects as never, feed: null as never,
    authenticator: { authenticate: async () => ({ username: 'u', groups: ['system:masters'] }) },
    authorizer: { authorize: async () => ({ allowed: true, reason: '' }) },
    log: createLogger('test', 'silent'), subresourceHandlers: new Map(), serverAddress: () => 'x', isReady: () => true,
  });
  const server = http.createServer((req, res) => { void handler.handle(req, res); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'ns' }, data: { a: 'new' } });
    const res = await new Promise<{ code: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, method: 'PUT', path: '/api/v1/namespaces/ns/configmaps/c', headers: { 'content-type': 'application/json' } }, (r) => {
        let b = '';
        r.on('data', (d: Buffer) => { b += d.toString(); });
        r.on('end', () => resolve({ code: r.statusCode!, body: b }));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(res.code, 200, res.body);
    assert.deepEqual(attempts, [{ a: 'new' }, { a: 'new' }]);
    assert.deepEqual(JSON.parse(res.body).data, { a: 'new' });
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
