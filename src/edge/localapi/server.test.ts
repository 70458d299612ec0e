import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { openSqliteStore } from '../../storage/sqlite.js';
import { LocalStore } from '../local-store.js';
import { startLocalApi } from './server.js';
import { createLogger } from '../../common/logger.js';

function req(port: number, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path }, (res) => {
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
  const api = await startLocalApi({ store, port: 0, nodeName: 'n1', log: createLogger('t', 'silent') });
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
      http.get({ host: '127.0.0.1', port: api.port, path: `/api/v1/namespaces/ns/pods?watch=1&resourceVersion=${rv}` }, (res) => {
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
