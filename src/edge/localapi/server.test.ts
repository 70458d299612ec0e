import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { openSqliteStore } from '../../storage/sqlite.js';
import { LocalStore } from '../local-store.js';
import { startLocalApi } from './server.js';
import { createLogger } from '../../common/logger.js';

const ADMIN = 'a'.repeat(43);
const auth = { authorization: `Bearer ${ADMIN}` };

function req(port: number, method: string, path: string, headers: Record<string, string> = auth): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let d = '';
      res.on('data', (c: Buffer) => (d += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: d }));
    });
    r.on('error', reject);
    r.end();
  });
}

const pod = (name: string, app: string, rv: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns', uid: `u-${name}`, resourceVersion: rv, labels: { app } }, spec: { nodeName: 'n1' } });

test('local API: get/list/watch with selectors; writes and unknown paths refused with Status', async () => {
  const store = await openSqliteStore(':memory:');
  const ls = new LocalStore(store);
  await ls.applyUpsert('/registry/pods/ns/a', pod('a', 'web', '10'));
  await ls.applyUpsert('/registry/pods/ns/b', pod('b', 'db', '11'));
  await ls.writeCursor({ epoch: 'e', seq: 3 }); // agent bookkeeping bumps the revision too
  const api = await startLocalApi({ store, port: 0, nodeName: 'n1', log: createLogger('t', 'silent'), adminToken: ADMIN });
  try {
    const list = JSON.parse((await req(api.port, 'GET', '/api/v1/namespaces/ns/pods?labelSelector=app%3Dweb')).body) as { kind: string; items: Array<{ metadata: { name: string } }> };
    assert.equal(list.kind, 'PodList');
    assert.deepEqual(list.items.map((i) => i.metadata.name), ['a']);
    assert.equal(JSON.parse((await req(api.port, 'GET', '/api/v1/pods?fieldSelector=metadata.name%3Db')).body).items.length, 1);
    const missing = await req(api.port, 'GET', '/api/v1/namespaces/ns/pods/zz');
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body).reason, 'NotFound');
    const post = await req(api.port, 'POST', '/api/v1/namespaces/ns/pods');
    assert.equal(post.status, 405);
    assert.equal(JSON.parse(post.body).reason, 'MethodNotAllowed');
    assert.equal((await req(api.port, 'GET', '/apis/apps/v1/deployments')).status, 404);

    // Watch from the list's resourceVersion sees the next change only.
    const rv = JSON.parse((await req(api.port, 'GET', '/api/v1/namespaces/ns/pods')).body).metadata.resourceVersion as string;
    const events: string[] = [];
    const done = new Promise<void>((resolve) => {
      http.get({ host: '127.0.0.1', port: api.port, path: `/api/v1/namespaces/ns/pods?watch=1&resourceVersion=${rv}`, headers: auth }, (res) => {
        res.on('data', (c: Buffer) => {
          for (const line of c.toString().split('\n').filter(Boolean)) {
            const ev = JSON.parse(line) as { type: string; object: { metadata: { name: string } } };
            events.push(`${ev.type} ${ev.object.metadata.name}`);
          }
          if (events.length >= 2) {
            res.destroy();
            resolve();
          }
        });
      });
    });
    await new Promise((r) => setTimeout(r, 100));
    await ls.applyUpsert('/registry/pods/ns/a', pod('a', 'web', '12'));
    await ls.applyDelete('/registry/pods/ns/b');
    await done;
    assert.deepEqual(events, ['MODIFIED a', 'DELETED b']);
  } finally {
    await api.close();
    await store.close();
  }
});

const podToken = (ns: string, name: string, podUID: string, token: string, extra: { audience?: string; expires?: string } = {}) => ({
  apiVersion: 'kedge.io/v1', kind: 'PodToken', metadata: { name, namespace: ns, uid: podUID, resourceVersion: '1' }, podUID,
  tokens: [{ volume: 'kube-api-access', path: 'token', audience: extra.audience, token, expirationTimestamp: extra.expires ?? new Date(Date.now() + 3_600_000).toISOString() }],
});

test('local API access: Host check, public reads, node token, pod tokens limited to what the pod references', async () => {
  const store = await openSqliteStore(':memory:');
  const ls = new LocalStore(store);
  await ls.applyUpsert('/registry/pods/ns/app', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app', namespace: 'ns', uid: 'u-app', resourceVersion: '1' },
    spec: { nodeName: 'n1', serviceAccountName: 'app-sa', containers: [{ name: 'c', image: 'i', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'mine', key: 'p' } } }] }] } });
  for (const name of ['mine', 'other']) await ls.applyUpsert(`/registry/secrets/ns/${name}`, { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'ns', resourceVersion: '1' }, data: { p: 'eA==' } });
  await ls.applyUpsert('/registry/services/ns/web', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'ns', resourceVersion: '1' } });
  await ls.applyUpsert('/registry/podtokens.kedge.io/ns/app', podToken('ns', 'app', 'u-app', 'pod-app-token'));
  await ls.applyUpsert('/registry/pods/ns/gone', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gone', namespace: 'ns', uid: 'u-new', resourceVersion: '1' }, spec: { nodeName: 'n1' } });
  await ls.applyUpsert('/registry/podtokens.kedge.io/ns/gone', podToken('ns', 'gone', 'u-old', 'stale-uid-token'));
  await ls.applyUpsert('/registry/podtokens.kedge.io/ns/aud', podToken('ns', 'app', 'u-app', 'vault-token', { audience: 'vault' }));
  await ls.applyUpsert('/registry/podtokens.kedge.io/ns/old', podToken('ns', 'app', 'u-app', 'expired-token', { expires: new Date(Date.now() - 1000).toISOString() }));
  const api = await startLocalApi({ store, port: 0, nodeName: 'edge-1', log: createLogger('t', 'silent'), adminToken: ADMIN });
  try {
    const none = {};
    // DNS rebinding: a foreign Host is refused even for public reads; local names and the node name pass.
    const rebound = await req(api.port, 'GET', '/api/v1/services', { host: 'attacker.example:10550' });
    assert.equal(rebound.status, 403);
    assert.match(JSON.parse(rebound.body).message, /host "attacker\.example:10550" is not allowed.*DNS rebinding/);
    for (const host of ['localhost:1', '127.0.0.1', '[::1]:10550', 'EDGE-1:10550']) assert.equal((await req(api.port, 'GET', '/api/v1/services', { host })).status, 200, host);
    // Public without credentials: services, nodes, endpointslices, discovery, version.
    for (const p of ['/api/v1/services', '/api/v1/nodes', '/apis/discovery.k8s.io/v1/endpointslices', '/api/v1', '/version', '/healthz']) assert.equal((await req(api.port, 'GET', p, none)).status, 200, p);
    // Secrets, pods, configmaps: never without a credential.
    const anon = await req(api.port, 'GET', '/api/v1/namespaces/ns/secrets/mine', none);
    assert.equal(anon.status, 403);
    assert.match(JSON.parse(anon.body).message, /^secrets "mine" is forbidden: User "system:anonymous" cannot get resource "secrets" in API group "" in the namespace "ns"/);
    for (const p of ['/api/v1/secrets', '/api/v1/pods', '/api/v1/namespaces/ns/configmaps']) assert.equal((await req(api.port, 'GET', p, none)).status, 403, p);
    // Unknown, expired, other-audience and wrong-UID tokens are 401.
    for (const t of ['nope', 'expired-token', 'vault-token', 'stale-uid-token']) {
      const r = await req(api.port, 'GET', '/api/v1/services', { authorization: `Bearer ${t}` });
      assert.deepEqual([r.status, JSON.parse(r.body).reason], [401, 'Unauthorized'], t);
    }
    // The node token reads everything.
    assert.equal(JSON.parse((await req(api.port, 'GET', '/api/v1/secrets')).body).items.length, 2);
    // A pod token: its own pod, its referenced secret (get, or list/watch pinned by name); nothing else.
    const pod = { authorization: 'Bearer pod-app-token' };
    assert.equal((await req(api.port, 'GET', '/api/v1/namespaces/ns/pods/app', pod)).status, 200);
    assert.equal((await req(api.port, 'GET', '/api/v1/namespaces/ns/secrets/mine', pod)).status, 200);
    const pinned = await req(api.port, 'GET', '/api/v1/namespaces/ns/secrets?fieldSelector=metadata.name%3Dmine', pod);
    assert.deepEqual(JSON.parse(pinned.body).items.map((i: { metadata: { name: string } }) => i.metadata.name), ['mine']);
    const other = await req(api.port, 'GET', '/api/v1/namespaces/ns/secrets/other', pod);
    assert.equal(other.status, 403);
    assert.match(JSON.parse(other.body).message, /User "system:serviceaccount:ns:app-sa" cannot get resource "secrets"/);
    for (const p of ['/api/v1/namespaces/ns/secrets', '/api/v1/secrets', '/api/v1/namespaces/ns/pods/gone']) assert.equal((await req(api.port, 'GET', p, pod)).status, 403, p);
    assert.equal((await req(api.port, 'GET', '/api/v1/services', pod)).status, 200);
  } finally {
    await api.close();
    await store.close();
  }
});
