import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteStore } from '../storage/sqlite.js';
import { WatchCacheFeed } from '../apimachinery/watchcache.js';
import { StatusError } from '../apimachinery/status.js';
import type { KubeObject } from '../apimachinery/object.js';
import { ObjectStore } from './objects.js';
import type { StrategyContext } from './registry.js';
import { podsDef } from './resources/pods.js';
import { deploymentsDef } from './resources/apps.js';
import { configMapsDef } from './resources/core.js';

const ctx = (subresource = ''): StrategyContext => ({ user: { username: 'u', groups: [] }, namespace: 'ns', dryRun: false, subresource });
const code = (p: Promise<unknown>, want: number, reason?: string) => assert.rejects(p, (e: unknown) => e instanceof StatusError && e.code === want && (!reason || e.reason === reason));

async function setup() {
  const store = await openSqliteStore(':memory:');
  const feed = new WatchCacheFeed(store, '/registry/');
  await feed.start();
  let nsState: 'active' | 'missing' | 'terminating' = 'active';
  const objects = new ObjectStore({ store, feed, namespaces: { namespaceState: async () => nsState } });
  return { store, feed, objects, setNs: (s: typeof nsState) => { nsState = s; }, close: async () => { feed.close(); await store.close(); } };
}

const deploy = (replicas: number): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' },
  spec: { replicas, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i:1' }] } } },
  status: { replicas: 99 },
});

test('create: system metadata, generateName, defaults, status reset, AlreadyExists, namespace gates, dry-run', async () => {
  const e = await setup();
  try {
    const d = await e.objects.create(deploymentsDef, deploy(2), ctx());
    assert.match(d.metadata!.uid!, /^[0-9a-f-]{36}$/);
    assert.equal(d.metadata!.generation, 1);
    assert.equal(d.metadata!.namespace, 'ns');
    assert.deepEqual(d.status, {}, 'status is not settable on create');
    assert.equal((d as any).spec.strategy.type, 'RollingUpdate'); // eslint-disable-line @typescript-eslint/no-explicit-any
    await code(e.objects.create(deploymentsDef, deploy(2), ctx()), 409, 'AlreadyExists');
    const g = await e.objects.create(configMapsDef, { metadata: { generateName: 'gen-' } }, ctx());
    assert.match(g.metadata!.name!, /^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    await code(e.objects.create(configMapsDef, { metadata: { name: 'Bad' } }, ctx()), 422, 'Invalid');
    await code(e.objects.create(configMapsDef, { metadata: { name: 'x', resourceVersion: '5' } }, ctx()), 400, 'BadRequest');
    e.setNs('missing');
    await code(e.objects.create(configMapsDef, { metadata: { name: 'x' } }, ctx()), 404, 'NotFound');
    e.setNs('terminating');
    await code(e.objects.create(configMapsDef, { metadata: { name: 'x' } }, ctx()), 403, 'Forbidden');
    e.setNs('active');
    await e.objects.create(configMapsDef, { metadata: { name: 'dry' } }, { ...ctx(), dryRun: true });
    await code(e.objects.get(configMapsDef, 'ns', 'dry'), 404);
  } finally { await e.close(); }
});

test('update: optimistic concurrency, spec/status split, generation bumps only on spec changes, no-op writes', async () => {
  const e = await setup();
  try {
    const d = await e.objects.create(deploymentsDef, deploy(1), ctx());
    const rv = d.metadata!.resourceVersion;
    const u1 = await e.objects.update(deploymentsDef, 'ns', 'd', ctx(), (cur) => ({ ...cur, spec: { ...(cur as any).spec, replicas: 3 }, status: { replicas: 7 } })); // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(u1.obj.metadata!.generation, 2);
    assert.deepEqual(u1.obj.status, {}, 'main resource writes ignore status');
    const u2 = await e.objects.update(deploymentsDef, 'ns', 'd', ctx('status'), (cur) => ({ ...cur, spec: { replicas: 100 }, status: { replicas: 3 } }));
    assert.equal((u2.obj as any).spec.replicas, 3, 'status writes ignore spec'); // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(u2.obj.metadata!.generation, 2, 'status changes do not bump generation');
    const u3 = await e.objects.update(deploymentsDef, 'ns', 'd', ctx(), (cur) => ({ ...cur, metadata: { ...cur.metadata, labels: { l: '1' } } }));
    assert.equal(u3.obj.metadata!.generation, 2, 'metadata changes do not bump generation');
    const same = await e.objects.update(deploymentsDef, 'ns', 'd', ctx(), (cur) => cur);
    assert.equal(same.obj.metadata!.resourceVersion, u3.obj.metadata!.resourceVersion, 'a no-op update writes nothing');
    await code(e.objects.update(deploymentsDef, 'ns', 'd', ctx(), (cur) => ({ ...cur, metadata: { ...cur.metadata, resourceVersion: rv } })), 409, 'Conflict');
    await code(e.objects.update(deploymentsDef, 'ns', 'd', ctx(), (cur) => ({ ...cur, spec: { ...(cur as any).spec, selector: { matchLabels: { z: 'z' } } } })), 422); // eslint-disable-line @typescript-eslint/no-explicit-any
    await code(e.objects.update(deploymentsDef, 'ns', 'nope', ctx(), (c) => c), 404);
    // Concurrent unconditional updates (no resourceVersion in the result) all land: store conflicts are retried.
    await e.objects.create(configMapsDef, { metadata: { name: 'c' }, data: {} }, ctx());
    await Promise.all(Array.from({ length: 10 }, (_, i) => e.objects.update(configMapsDef, 'ns', 'c', ctx(), (cur) => {
      const { resourceVersion: _rv, ...meta } = cur.metadata!;
      return { ...cur, metadata: meta, data: { ...(cur as any).data, [`k${i}`]: 'v' } }; // eslint-disable-line @typescript-eslint/no-explicit-any
    })));
    assert.equal(Object.keys(((await e.objects.get(configMapsDef, 'ns', 'c')).obj as any).data).length, 10); // eslint-disable-line @typescript-eslint/no-explicit-any
  } finally { await e.close(); }
});

test('delete: finalizers hold, propagation finalizers, graceful pods, preconditions', async () => {
  const e = await setup();
  try {
    await e.objects.create(configMapsDef, { metadata: { name: 'f', finalizers: ['x/y'] } }, ctx());
    const held = await e.objects.delete(configMapsDef, 'ns', 'f', { dryRun: false }, ctx());
    assert.equal(held.deleted, false);
    assert.ok(held.obj.metadata!.deletionTimestamp);
    const gone = await e.objects.update(configMapsDef, 'ns', 'f', ctx(), (cur) => ({ ...cur, metadata: { ...cur.metadata, finalizers: [] } }));
    assert.ok(gone.obj.metadata!.deletionTimestamp);
    await code(e.objects.get(configMapsDef, 'ns', 'f'), 404);

    await e.objects.create(configMapsDef, { metadata: { name: 'o' } }, ctx());
    const orphan = await e.objects.delete(configMapsDef, 'ns', 'o', { dryRun: false, propagationPolicy: 'Orphan' }, ctx());
    assert.deepEqual(orphan.obj.metadata!.finalizers, ['orphan']);
    await e.objects.create(configMapsDef, { metadata: { name: 'fg' } }, ctx());
    const fg = await e.objects.delete(configMapsDef, 'ns', 'fg', { dryRun: false, propagationPolicy: 'Foreground' }, ctx());
    assert.deepEqual(fg.obj.metadata!.finalizers, ['foregroundDeletion']);

    const pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } };
    await e.objects.create(podsDef, pod, ctx());
    assert.equal((await e.objects.delete(podsDef, 'ns', 'p', { dryRun: false }, ctx())).deleted, true, 'unscheduled pods go at once');
    await e.objects.create(podsDef, { ...pod, spec: { ...pod.spec, nodeName: 'n1' } }, ctx());
    const graceful = await e.objects.delete(podsDef, 'ns', 'p', { dryRun: false }, ctx());
    assert.equal(graceful.deleted, false);
    assert.equal(graceful.obj.metadata!.deletionGracePeriodSeconds, 30);
    assert.equal((await e.objects.delete(podsDef, 'ns', 'p', { dryRun: false }, ctx())).deleted, false, 'a second delete waits for the kubelet');
    assert.equal((await e.objects.delete(podsDef, 'ns', 'p', { dryRun: false, gracePeriodSeconds: 0 }, ctx())).deleted, true, 'grace 0 (kubelet/force) deletes');

    const c = await e.objects.create(configMapsDef, { metadata: { name: 'pre' } }, ctx());
    await code(e.objects.delete(configMapsDef, 'ns', 'pre', { dryRun: false, preconditions: { uid: 'other' } }, ctx()), 409, 'Conflict');
    assert.equal((await e.objects.delete(configMapsDef, 'ns', 'pre', { dryRun: false, preconditions: { uid: c.metadata!.uid } }, ctx())).deleted, true);
  } finally { await e.close(); }
});

test('events.k8s.io/v1 and core/v1 Events are one stored object, converted field by field', async () => {
  const { eventsV1Def } = await import('./resources/groups.js');
  const { coreEventsDef } = await import('./resources/core.js');
  const e = await setup();
  try {
    const v1 = await e.objects.create(eventsV1Def, {
      metadata: { name: 'e1' }, eventTime: '2025-01-01T00:00:00.000000Z', reportingController: 'kedge/ctl', reportingInstance: 'i1', action: 'Bind',
      reason: 'Scheduled', note: 'assigned to n1', type: 'Normal', regarding: { kind: 'Pod', name: 'p', namespace: 'ns' },
    } as KubeObject, ctx());
    assert.equal(v1.apiVersion, 'events.k8s.io/v1');
    assert.equal((v1 as any).note, 'assigned to n1'); // eslint-disable-line @typescript-eslint/no-explicit-any
    const core = (await e.objects.get(coreEventsDef, 'ns', 'e1')).obj as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(core.apiVersion, 'v1');
    assert.equal(core.message, 'assigned to n1');
    assert.equal(core.involvedObject.name, 'p');
    assert.equal(core.reportingComponent, 'kedge/ctl');
    await e.objects.create(coreEventsDef, { metadata: { name: 'e2' }, message: 'hi', reason: 'R', involvedObject: { kind: 'Node', name: 'n1' }, count: 3 } as KubeObject, ctx());
    const back = (await e.objects.get(eventsV1Def, 'ns', 'e2')).obj as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(back.apiVersion, 'events.k8s.io/v1');
    assert.equal(back.note, 'hi');
    assert.equal(back.regarding.name, 'n1');
    assert.equal(back.deprecatedCount, 3);
  } finally { await e.close(); }
});

test('update reads the current object from the watch cache; a stale cached copy never decides a conflict, a precondition or a no-op', async () => {
  const { storagePrefix } = await import('./registry.js');
  const e = await setup();
  try {
    const cm = (data: Record<string, string>, resourceVersion?: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', ...(resourceVersion ? { resourceVersion } : {}) }, data });
    const v1 = await e.objects.create(configMapsDef, cm({ a: '1' }), ctx());
    const cache = await e.feed.cache(storagePrefix(configMapsDef));
    let reads = 0;
    const get = e.store.get.bind(e.store);
    e.store.get = (...args: Parameters<typeof e.store.get>) => { reads++; return get(...args); };
    const v2 = await e.objects.update(configMapsDef, 'ns', 'c', ctx(), () => cm({ a: '2' }));
    assert.equal(reads, 0, 'served from the watch cache');
    assert.deepEqual(v2.obj.data, { a: '2' });

    // Freeze the cache at v1 (as if it lagged the store).
    const key = `${storagePrefix(configMapsDef)}ns/c`;
    const stale = { ...cache.get(key)! };
    const staleItem = { key, obj: { ...v1 }, raw: JSON.stringify(v1), revision: Number(v1.metadata!.resourceVersion) };
    const realGet = cache.get.bind(cache);
    cache.get = (k: string) => (k === key ? staleItem : realGet(k));
    assert.notEqual(stale.revision, staleItem.revision);

    // No precondition: the stale copy's CAS fails, the retry reads the store.
    const v3 = await e.objects.update(configMapsDef, 'ns', 'c', ctx(), (cur) => ({ ...cur, data: { ...(cur as { data: object }).data, b: 'x' } }));
    assert.deepEqual(v3.obj.data, { a: '2', b: 'x' }, 'built on the stored v2, not the cached v1');
    // The client's resourceVersion is the store's: accepted, although the cache shows an older one.
    const v4 = await e.objects.update(configMapsDef, 'ns', 'c', ctx(), () => cm({ a: '4' }, v3.obj.metadata!.resourceVersion));
    assert.deepEqual(v4.obj.data, { a: '4' });
    // A write equal to the stale copy is a real change against the store: written, not answered as a no-op.
    const v5 = await e.objects.update(configMapsDef, 'ns', 'c', ctx(), () => cm({ a: '1' }));
    assert.deepEqual(v5.obj.data, { a: '1' });
    assert.notEqual(v5.obj.metadata!.resourceVersion, v4.obj.metadata!.resourceVersion);
    assert.deepEqual(JSON.parse((await get(key))!.value).data, { a: '1' });
    // A real precondition failure is still 409.
    await code(e.objects.update(configMapsDef, 'ns', 'c', ctx(), () => cm({ a: '9' }, v1.metadata!.resourceVersion)), 409, 'Conflict');
  } finally {
    await e.close();
  }
});
