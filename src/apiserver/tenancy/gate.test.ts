import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteStore } from '../../storage/sqlite.js';
import { WatchCacheFeed } from '../../apimachinery/watchcache.js';
import { StatusError } from '../../apimachinery/status.js';
import type { ResourceDef } from '../registry.js';
import type { RequestInfo } from '../request-info.js';
import { TenancyGate } from './gate.js';

const T = 'tenancy.kedge.io/tenant';
const def = (resource: string, kind: string, namespaced: boolean) => ({ group: '', version: 'v1', resource, kind, namespaced, strategy: {} }) as unknown as ResourceDef;
const nodes = def('nodes', 'Node', false);
const pods = def('pods', 'Pod', true);
const info = (verb: string, resource: string, namespace = '', name = ''): RequestInfo =>
  ({ isResourceRequest: true, path: '', verb, apiPrefix: 'api', group: '', version: 'v1', namespace, resource, subresource: '', name, parts: [] });
const alice = { username: 'alice', groups: ['system:authenticated'] };

async function fixture() {
  const store = await openSqliteStore(':memory:');
  const put = (key: string, obj: object) => store.create(key, JSON.stringify(obj));
  await put('/registry/tenancy.kedge.io/tenants/a', { apiVersion: 'tenancy.kedge.io/v1alpha1', kind: 'Tenant', metadata: { name: 'a' }, spec: { users: ['alice'], groups: ['a-devs'], namespaces: ['a-listed'] } });
  await put('/registry/tenancy.kedge.io/tenants/b', { apiVersion: 'tenancy.kedge.io/v1alpha1', kind: 'Tenant', metadata: { name: 'b' }, spec: { users: ['bob'] } });
  await put('/registry/core/namespaces/a1', { kind: 'Namespace', metadata: { name: 'a1', labels: { [T]: 'a' } } });
  await put('/registry/core/namespaces/b1', { kind: 'Namespace', metadata: { name: 'b1', labels: { [T]: 'b' } } });
  for (let i = 0; i < 50; i++) await put(`/registry/core/pods/b1/p${i}`, { kind: 'Pod', metadata: { name: `p${i}`, namespace: 'b1' } });
  await put('/registry/core/pods/a1/mine', { kind: 'Pod', metadata: { name: 'mine', namespace: 'a1' } });
  await put('/registry/core/pods/a-listed/listed', { kind: 'Pod', metadata: { name: 'listed', namespace: 'a-listed' } });
  await put('/registry/core/nodes/a-node', { kind: 'Node', metadata: { name: 'a-node', labels: { [T]: 'a' } } });
  await put('/registry/core/nodes/b-node', { kind: 'Node', metadata: { name: 'b-node', labels: { [T]: 'b' } } });
  const feed = new WatchCacheFeed(store, '/registry/');
  await feed.start();
  return { store, feed, gate: new TenancyGate(feed) };
}

test('membership: users, groups, service accounts of the tenant\'s namespaces; system:masters and strangers are not confined', async () => {
  const { gate, feed, store } = await fixture();
  try {
    const dir = gate.directory;
    assert.equal(await dir.tenantOf(alice), 'a');
    assert.equal(await dir.tenantOf({ username: 'x', groups: ['a-devs'] }), 'a');
    assert.equal(await dir.tenantOf({ username: 'system:serviceaccount:b1:default', groups: [] }), 'b');
    assert.equal(await dir.tenantOf({ username: 'alice', groups: ['system:masters'] }), undefined);
    assert.equal(await dir.tenantOf({ username: 'carol', groups: [] }), undefined);
    assert.equal(await dir.namespaceOwner('a-listed'), 'a', 'listed in spec, no Namespace object yet');
  } finally { feed.close(); await store.close(); }
});

test('the gate: namespaced refusals depend on the namespace name only; foreign cluster-scoped objects are 404; lists come from the index', async () => {
  const { gate, feed, store } = await fixture();
  try {
    const refusal = async (ns: string, name: string) => {
      try { await gate.admit({ user: alice, info: info('get', 'pods', ns, name), def: pods }); } catch (err) { return (err as StatusError).status; }
      throw new Error('not refused');
    };
    const foreign = await refusal('b1', 'p1');
    const missing = await refusal('zz', 'p1');
    assert.equal(foreign.code, 403);
    assert.equal(JSON.stringify(missing), JSON.stringify(foreign).replaceAll('b1', 'zz'));
    assert.equal(await gate.admit({ user: alice, info: info('get', 'pods', 'a1', 'mine'), def: pods }), undefined);
    await assert.rejects(gate.admit({ user: alice, info: info('get', 'nodes', '', 'b-node'), def: nodes }), (e: StatusError) => e.code === 404 && e.status.message === 'nodes "b-node" not found');
    await assert.rejects(gate.admit({ user: alice, info: info('create', 'pods', 'default'), def: pods }), /namespace "default" is shared/);

    const all = await gate.admit({ user: alice, info: info('list', 'pods'), def: pods });
    const cache = await feed.cache('/registry/core/pods/');
    // Only the tenant's buckets are read: 2 candidates, not the 52 pods.
    assert.deepEqual(all!.candidates(cache).map((i) => i.key), ['/registry/core/pods/a-listed/listed', '/registry/core/pods/a1/mine']);
    const nodeList = await gate.admit({ user: alice, info: info('list', 'nodes'), def: nodes });
    const nodeCache = await feed.cache('/registry/core/nodes/');
    assert.deepEqual(nodeList!.candidates(nodeCache).filter((i) => nodeList!.matches(i.obj)).map((i) => i.obj.metadata?.name), ['a-node']);

    // The index follows a relabel: the node moves to b's bucket, and out of a's view.
    await store.update('/registry/core/nodes/a-node', JSON.stringify({ kind: 'Node', metadata: { name: 'a-node', labels: { [T]: 'b' } } }));
    await feed.waitFresh();
    assert.deepEqual(nodeList!.candidates(nodeCache).filter((i) => nodeList!.matches(i.obj)).map((i) => i.obj.metadata?.name), []);
  } finally { feed.close(); await store.close(); }
});
