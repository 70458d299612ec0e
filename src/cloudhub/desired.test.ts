import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DesiredSets, podReferences } from './desired.js';
import type { CacheListener, CachedObject, SharedCache } from './cache.js';
import { objectKey } from '../protocol/keys.js';
import { RESOLVED_PEERS_ANNOTATION, type ResolvedPeers } from '../protocol/network-policy.js';

/** A stand-in for the informer-fed cache: same interface, fed by hand. */
class FakeCache {
  objects = new Map<string, CachedObject>();
  listeners: CacheListener[] = [];
  rv = 1;
  get(k: string) {
    return this.objects.get(k);
  }
  *keysOf(resource: string) {
    for (const k of this.objects.keys()) if (k.startsWith(`/registry/${resource}/`)) yield k;
  }
  onChange(l: CacheListener) {
    this.listeners.push(l);
  }
  put(resource: string, obj: Record<string, unknown> & { metadata: { name: string; namespace?: string } & Record<string, unknown> }) {
    const key = objectKey(resource, obj.metadata.namespace, obj.metadata.name);
    const old = this.objects.get(key);
    const o = { ...obj, metadata: { uid: `uid-${obj.metadata.name}`, ...obj.metadata, resourceVersion: String(++this.rv) } } as CachedObject;
    this.objects.set(key, o);
    for (const l of this.listeners) l(resource, 'upsert', key, o, old);
    return key;
  }
  del(resource: string, ns: string | undefined, name: string) {
    const key = objectKey(resource, ns, name);
    const old = this.objects.get(key)!;
    this.objects.delete(key);
    for (const l of this.listeners) l(resource, 'delete', key, old, old);
  }
}

function pod(name: string, node: string, cm?: string, secret?: string) {
  return {
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: node,
      containers: [{ name: 'c', image: 'x', env: cm ? [{ name: 'A', valueFrom: { configMapKeyRef: { name: cm, key: 'k' } } }] : [] }],
      volumes: secret ? [{ name: 's', secret: { secretName: secret } }] : [],
    },
  };
}

function setup() {
  const cache = new FakeCache();
  const sets = new DesiredSets(cache as unknown as SharedCache, { maxTombstonesPerNode: 4 });
  return { cache, sets };
}

test('a node sees only its pods and what they reference, plus services', () => {
  const { cache, sets } = setup();
  cache.put('configmaps', { metadata: { name: 'cm-a', namespace: 'default' } });
  cache.put('secrets', { metadata: { name: 'sec-b', namespace: 'default' } });
  cache.put('services', { metadata: { name: 'svc', namespace: 'default' } });
  const a = sets.ensureView('node-a');
  const b = sets.ensureView('node-b');
  cache.put('pods', pod('pa', 'node-a', 'cm-a'));
  cache.put('pods', pod('pb', 'node-b', undefined, 'sec-b'));
  assert.deepEqual([...sets.liveKeys('node-a')].sort(), ['/registry/configmaps/default/cm-a', '/registry/pods/default/pa', '/registry/services/default/svc']);
  assert.deepEqual([...sets.liveKeys('node-b')].sort(), ['/registry/pods/default/pb', '/registry/secrets/default/sec-b', '/registry/services/default/svc']);
  // Services live once, in the shared log, not in every node's view.
  assert.equal(a.entries.has('/registry/services/default/svc'), false);
  assert.equal(sets.canRead('node-a', '/registry/secrets/default/sec-b'), false);
  assert.equal(sets.canRead('node-b', '/registry/configmaps/default/cm-a'), false);
  assert.equal(sets.canRead('node-b', '/registry/services/default/svc'), true);
});

test('changes get increasing seqs; removal leaves a tombstone; a referenced object created later appears', () => {
  const { cache, sets } = setup();
  const a = sets.ensureView('node-a');
  cache.put('pods', pod('pa', 'node-a', 'late-cm'));
  assert.equal(a.canRead('/registry/configmaps/default/late-cm'), false);
  const before = sets.currentSeq();
  cache.put('configmaps', { metadata: { name: 'late-cm', namespace: 'default' } });
  const e = a.entries.get('/registry/configmaps/default/late-cm');
  assert.ok(e && !e.deleted && e.seq > before);
  cache.del('pods', 'default', 'pa');
  assert.equal(a.entries.get('/registry/pods/default/pa')?.deleted, true);
  assert.equal(a.entries.get('/registry/configmaps/default/late-cm')?.deleted, true);
  // Insertion order is seq order (what the session pump relies on).
  const seqs = [...a.entries.values()].map((x) => x.seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
});

test('tombstones beyond the bound are pruned and advance compactedSeq', () => {
  const { cache, sets } = setup();
  const a = sets.ensureView('node-a');
  for (let i = 0; i < 10; i++) cache.put('pods', pod(`p${i}`, 'node-a'));
  assert.equal(a.compactedSeq, 0);
  for (let i = 0; i < 10; i++) cache.del('pods', 'default', `p${i}`);
  assert.ok(a.compactedSeq > 0);
  assert.ok([...a.entries.values()].filter((e) => e.deleted).length <= 4);
});

test('pod references cover volumes, projected, env, envFrom, pull secrets and the service account', () => {
  const refs = podReferences({
    metadata: { namespace: 'ns' },
    spec: {
      serviceAccountName: 'sa',
      imagePullSecrets: [{ name: 'pull' }],
      volumes: [{ name: 'p', projected: { sources: [{ configMap: { name: 'pcm' } }, { secret: { name: 'psec' } }] } }],
      containers: [{ name: 'c', envFrom: [{ configMapRef: { name: 'efcm' } }, { secretRef: { name: 'efsec' } }] }],
    },
  });
  assert.deepEqual(refs.sort(), [
    '/registry/configmaps/ns/efcm',
    '/registry/configmaps/ns/pcm',
    '/registry/secrets/ns/efsec',
    '/registry/secrets/ns/psec',
    '/registry/secrets/ns/pull',
    '/registry/serviceaccounts/ns/sa',
  ]);
});

test('changesAfter merges node and shared changes in seq order and skips superseded records', () => {
  const { cache, sets } = setup();
  sets.ensureView('node-a');
  cache.put('pods', pod('p1', 'node-a'));
  const mark = sets.currentSeq();
  cache.put('services', { metadata: { name: 's1', namespace: 'default' } });
  cache.put('pods', pod('p2', 'node-a'));
  cache.put('services', { metadata: { name: 's1', namespace: 'default' } });
  cache.put('pods', { ...pod('p1', 'node-a'), metadata: { name: 'p1', namespace: 'default', labels: { changed: 'yes' } } });
  const got = [...sets.changesAfter('node-a', mark)].map(([k, e]) => [k, e.seq]);
  assert.deepEqual(got.map(([k]) => k), ['/registry/pods/default/p2', '/registry/services/default/s1', '/registry/pods/default/p1']);
  const seqs = got.map(([, s]) => s as number);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  assert.deepEqual([...sets.changesAfter('node-a', sets.currentSeq())], []);
});

test('objects are shipped without managedFields, shaped once per object version, the cache object untouched', () => {
  const { cache, sets } = setup();
  const managedFields = [{ manager: 'kubectl', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} } }];
  const key = cache.put('configmaps', { metadata: { name: 'cm', namespace: 'default', labels: { a: 'b' }, managedFields }, data: { k: 'v' } });
  const shipped = sets.objectForEdge(key)!;
  assert.equal('managedFields' in shipped.metadata, false);
  assert.deepEqual(shipped.metadata.labels, { a: 'b' });
  assert.equal(shipped.metadata.resourceVersion, cache.get(key)!.metadata.resourceVersion);
  assert.deepEqual((cache.get(key)!.metadata as { managedFields?: unknown }).managedFields, managedFields, 'the cache keeps the whole object');
  assert.equal(sets.objectForEdge(key), shipped, 'the same version is shaped once, whatever number of nodes receive it');
  cache.put('configmaps', { metadata: { name: 'cm', namespace: 'default', managedFields }, data: { k: 'v2' } });
  assert.notEqual(sets.objectForEdge(key), shipped, 'a new version is shaped anew');
  assert.equal(sets.objectForEdge('/registry/configmaps/default/missing'), undefined);
});

test('a Node status-only change is not re-sent to its node; label, taint and spec changes are', () => {
  const { cache, sets } = setup();
  const node = (labels: Record<string, string>, status: Record<string, unknown>, spec: Record<string, unknown> = {}) => ({
    metadata: { name: 'edge-1', labels: { 'node-role.kubernetes.io/edge': '', ...labels } },
    spec,
    status,
  });
  const key = cache.put('nodes', node({}, { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: 't1' }] }));
  const v = sets.ensureView('edge-1');
  const seqOf = () => v.entries.get(key)!.seq;
  const first = seqOf();
  // The edge's own 60 s report: heartbeat times (and resourceVersion) move, nothing else.
  cache.put('nodes', node({}, { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: 't2' }] }));
  assert.equal(seqOf(), first, 'status-only: no change for the node to receive');
  assert.equal([...sets.changesAfter('edge-1', first)].length, 0);
  cache.put('nodes', node({ zone: 'a' }, { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: 't2' }] }));
  const afterLabel = seqOf();
  assert.ok(afterLabel > first, 'a label change is sent');
  cache.put('nodes', node({ zone: 'a' }, { conditions: [] }, { taints: [{ key: 'k', effect: 'NoSchedule' }] }));
  assert.ok(seqOf() > afterLabel, 'a taint (spec) change is sent, with the status that came along');
  const afterTaint = seqOf();
  cache.del('nodes', undefined, 'edge-1');
  assert.ok(v.entries.get(key)!.deleted && v.entries.get(key)!.seq > afterTaint, 'deletion is sent');
});

test('a pod status-only change is not re-sent to its node; a spec or metadata change is, and records the shipped version', () => {
  const { cache, sets } = setup();
  const v = sets.ensureView('node-a');
  const withStatus = (phase: string, labels: Record<string, string> = {}) => ({ ...pod('p1', 'node-a'), metadata: { name: 'p1', namespace: 'default', labels }, status: { phase } });
  const key = cache.put('pods', withStatus('Pending'));
  const shipped = v.entries.get(key)!;
  assert.equal(shipped.rv, cache.get(key)!.metadata.resourceVersion, 'the entry remembers the version it shipped');
  cache.put('pods', withStatus('Running'));
  assert.equal(v.entries.get(key)!.seq, shipped.seq, 'the edge reported Running itself: nothing to send back');
  assert.equal(v.entries.get(key)!.rv, shipped.rv, 'the edge still holds the shipped version');
  cache.put('pods', withStatus('Running', { rev: '2' }));
  assert.ok(v.entries.get(key)!.seq > shipped.seq, 'a label change is sent');
  assert.equal(v.entries.get(key)!.rv, cache.get(key)!.metadata.resourceVersion);
});

test('a pod condition someone else set (a readiness gate\'s) is sent to its node; the edge\'s own conditions are not', () => {
  const { cache, sets } = setup();
  const v = sets.ensureView('node-a');
  const withConditions = (conditions: Array<{ type: string; status: string }>) => ({ ...pod('p1', 'node-a'), status: { phase: 'Running', conditions } });
  const key = cache.put('pods', withConditions([]));
  const shipped = v.entries.get(key)!;
  cache.put('pods', withConditions([{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }]));
  assert.equal(v.entries.get(key)!.seq, shipped.seq, 'the edge reported Ready itself: nothing to send back');
  cache.put('pods', withConditions([{ type: 'Ready', status: 'True' }, { type: 'example.com/lb', status: 'False' }]));
  assert.ok(v.entries.get(key)!.seq > shipped.seq, 'the gate condition is news for the edge');
  assert.equal(v.entries.get(key)!.rv, cache.get(key)!.metadata.resourceVersion);
});

test('the reference index forgets what no pod references any more, and still finds every referencing node', () => {
  const { cache, sets } = setup();
  cache.put('configmaps', { metadata: { name: 'shared', namespace: 'default' } });
  const a = sets.ensureView('node-a');
  const b = sets.ensureView('node-b');
  cache.put('pods', pod('p1', 'node-a', 'shared', 'only-p1'));
  cache.put('pods', pod('p2', 'node-b', 'shared'));
  // serviceaccount default, configmap shared, secret only-p1
  assert.equal(sets.referenceCount(), 3);
  // A change of the shared configmap reaches both nodes; a secret created later reaches only its pod's node.
  const before = { a: [...a.after(sets.currentSeq())].length, b: [...b.after(sets.currentSeq())].length };
  const seq = sets.currentSeq();
  cache.put('configmaps', { metadata: { name: 'shared', namespace: 'default' }, data: { k: 'v2' } });
  cache.put('secrets', { metadata: { name: 'only-p1', namespace: 'default' } });
  assert.deepEqual([...a.after(seq)].map(([k]) => k).sort(), ['/registry/configmaps/default/shared', '/registry/secrets/default/only-p1']);
  assert.deepEqual([...b.after(seq)].map(([k]) => k), ['/registry/configmaps/default/shared']);
  assert.deepEqual(before, { a: 0, b: 0 });
  cache.del('pods', 'default', 'p1');
  assert.equal(sets.referenceCount(), 2, 'only-p1 is forgotten with its pod');
  cache.del('pods', 'default', 'p2');
  assert.equal(sets.referenceCount(), 0);
  // Nothing references the configmap now: its change reaches no node.
  const seq2 = sets.currentSeq();
  cache.put('configmaps', { metadata: { name: 'shared', namespace: 'default' }, data: { k: 'v3' } });
  assert.deepEqual([...a.after(seq2)], []);
  assert.deepEqual([...b.after(seq2)], []);
});

test('KubeEdge devices: a node holds the Devices bound to it and their models; a moved device and an unused model leave it; status writes are no news', () => {
  const { cache, sets } = setup();
  const DEV = 'devices.devices.kubeedge.io';
  const MODEL = 'devicemodels.devices.kubeedge.io';
  const device = (name: string, node: string, model: string, status?: Record<string, unknown>) => ({
    metadata: { name, namespace: 'default' }, spec: { nodeName: node, deviceModelRef: { name: model } }, ...(status ? { status } : {}),
  });
  const a = sets.ensureView('node-a');
  const b = sets.ensureView('node-b');
  const mKey = cache.put(MODEL, { metadata: { name: 'm', namespace: 'default' }, spec: { protocol: 'modbus' } });
  cache.put(MODEL, { metadata: { name: 'other', namespace: 'default' }, spec: {} });
  const dKey = cache.put(DEV, device('d1', 'node-a', 'm'));
  const live = (v: typeof a) => [...v.liveKeys()].sort();
  assert.deepEqual(live(a), [dKey, mKey].sort());
  assert.deepEqual(live(b), []);
  // The model arrives before the device in one recompute.
  const order = [...sets.changesAfter('node-a', 0)].map(([k]) => k);
  assert.ok(order.indexOf(mKey) < order.indexOf(dKey), order.join(' '));
  // The hub's own status write (state) is not sent back.
  const seq = sets.currentSeq();
  cache.put(DEV, device('d1', 'node-a', 'm', { state: 'online' }));
  assert.equal(sets.currentSeq(), seq);
  // A model change reaches only the nodes whose devices use it.
  cache.put(MODEL, { metadata: { name: 'm', namespace: 'default' }, spec: { protocol: 'modbus', properties: [] } });
  assert.equal([...sets.changesAfter('node-a', seq)].map(([k]) => k).join(), mKey);
  assert.equal([...sets.changesAfter('node-b', seq)].length, 0);
  // Moved: it leaves node-a (with its model, unused there now) and arrives on node-b.
  cache.put(DEV, device('d1', 'node-b', 'm'));
  assert.deepEqual(live(a), []);
  assert.deepEqual(live(b), [dKey, mKey].sort());
  assert.equal(sets.canRead('node-a', dKey), false);
  cache.del(DEV, 'default', 'd1');
  assert.deepEqual(live(b), []);
});

test('tenancy: a tenant\'s node receives no service or endpoint slice of another tenant; shared ones and its own it does', () => {
  const { cache, sets } = setup();
  const T = 'tenancy.kedge.io/tenant';
  cache.put('nodes', { metadata: { name: 'edge-a', labels: { [T]: 'a' } } });
  cache.put('nodes', { metadata: { name: 'edge-any' } });
  const own = cache.put('services', { metadata: { name: 'svc', namespace: 'a1', labels: { [T]: 'a' } } });
  const other = cache.put('services', { metadata: { name: 'svc', namespace: 'b1', labels: { [T]: 'b' } } });
  const otherSlice = cache.put('endpointslices.discovery.k8s.io', { metadata: { name: 'svc-x', namespace: 'b1', labels: { [T]: 'b' } } });
  const shared = cache.put('services', { metadata: { name: 'kubernetes', namespace: 'default' } });
  const sent = (node: string) => [...sets.changesAfter(node, 0)].map(([k]) => k).filter((k) => !k.includes('/nodes/'));
  assert.deepEqual(sent('edge-a').sort(), [own, shared].sort());
  assert.deepEqual([...sets.liveKeys('edge-a')].filter((k) => !k.includes('/nodes/')).sort(), [own, shared].sort());
  assert.equal(sets.canRead('edge-a', other), false);
  assert.equal(sets.canRead('edge-a', own), true);
  // A node of no tenant (the administrator's, a shared one) receives everything, as before.
  assert.deepEqual(sent('edge-any').sort(), [own, other, otherSlice, shared].sort());
});

test('topology filtering: each node is sent only the endpoints it should use, and its pool peers\' Nodes', () => {
  const cache = new FakeCache();
  const sets = new DesiredSets(cache as unknown as SharedCache);
  const node = (name: string, pool: string) => cache.put('nodes', { metadata: { name, labels: { 'node-role.kubernetes.io/edge': '', 'apps.openyurt.io/nodepool': pool } }, spec: { podCIDR: `10.0.${name.length}.0/24` } });
  node('a1', 'a');
  node('a2', 'a');
  node('b1', 'b');
  cache.put('services', { metadata: { name: 'web', namespace: 'default', annotations: { 'openyurt.io/topologyKeys': 'openyurt.io/nodepool' } }, spec: { clusterIP: '10.43.0.2' } });
  const sliceKey = cache.put('endpointslices.discovery.k8s.io', {
    metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.2.2'], nodeName: 'a1' }, { addresses: ['10.0.2.3'], nodeName: 'a2' }],
  });
  const eps = (n: string) => ((sets.objectForEdge(sliceKey, n) as unknown as { endpoints: Array<{ nodeName: string }> }).endpoints).map((e) => e.nodeName);
  const live = (n: string) => new Set(sets.liveKeys(n));
  assert.ok(live('a1').has(sliceKey) && live('a2').has(sliceKey));
  assert.ok(!live('b1').has(sliceKey), 'another pool gets no slice at all');
  assert.ok(!sets.canRead('b1', sliceKey));
  assert.deepEqual(eps('a1'), ['a1', 'a2']);
  assert.ok(live('a1').has('/registry/nodes/a2') && !live('a1').has('/registry/nodes/b1'), 'pool peers\' Nodes only');
  assert.ok(sets.isFilteredFor('a1', sliceKey));

  const before = sets.currentSeq();
  cache.put('services', { metadata: { name: 'web', namespace: 'default', annotations: { 'openyurt.io/topologyKeys': 'kubernetes.io/hostname' } }, spec: { clusterIP: '10.43.0.2' } });
  assert.deepEqual(eps('a1'), ['a1']);
  assert.deepEqual(eps('a2'), ['a2']);
  const rv1 = sets.objectForEdge(sliceKey, 'a1')!.metadata.resourceVersion;
  assert.notEqual(rv1, sets.objectForEdge(sliceKey, 'a2')!.metadata.resourceVersion, 'each content has a version of its own');
  assert.ok([...sets.changesAfter('a1', before)].some(([k]) => k === sliceKey), 'a1 is sent its new version');

  // An endpoint on another node changing does not re-send a1's (unchanged) version.
  const mark = sets.currentSeq();
  cache.put('endpointslices.discovery.k8s.io', {
    metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.2.2'], nodeName: 'a1' }, { addresses: ['10.0.2.9'], nodeName: 'a2' }],
  });
  assert.ok(![...sets.changesAfter('a1', mark)].some(([k]) => k === sliceKey));
  assert.ok([...sets.changesAfter('a2', mark)].some(([k]) => k === sliceKey));

  // The annotation gone: the shared log again, every node the whole slice.
  cache.put('services', { metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '10.43.0.2' } });
  assert.ok(live('b1').has(sliceKey));
  assert.equal(sets.objectForEdge(sliceKey, 'b1'), sets.objectForEdge(sliceKey));
  assert.ok(!sets.isFilteredFor('a1', sliceKey));
});

for (const distribution of ['PreferClose', 'PreferSameZone']) test(`${distribution} hints: a node uses the endpoints hinted for its zone, all when none is`, () => {
  const cache = new FakeCache();
  const sets = new DesiredSets(cache as unknown as SharedCache);
  for (const [n, z] of [['z1', 'east'], ['z2', 'west'], ['z3', 'north']]) cache.put('nodes', { metadata: { name: n!, labels: { 'node-role.kubernetes.io/edge': '', 'topology.kubernetes.io/zone': z! } } });
  cache.put('services', { metadata: { name: 'api', namespace: 'default' }, spec: { clusterIP: '10.43.0.3', trafficDistribution: distribution } });
  const key = cache.put('endpointslices.discovery.k8s.io', {
    metadata: { name: 'api-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'api' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.1.0.1'], zone: 'east', hints: { forZones: [{ name: 'east' }] } }, { addresses: ['10.1.0.2'], zone: 'west', hints: { forZones: [{ name: 'west' }] } }],
  });
  const ips = (n: string) => ((sets.objectForEdge(key, n) as unknown as { endpoints: Array<{ addresses: string[] }> }).endpoints).map((e) => e.addresses[0]);
  assert.deepEqual(ips('z1'), ['10.1.0.1']);
  assert.deepEqual(ips('z2'), ['10.1.0.2']);
  assert.deepEqual(ips('z3'), ['10.1.0.1', '10.1.0.2']);
});

test('tenancy: a node owned through a Tenant\'s spec.nodes or spec.nodePools is its tenant\'s; the hub follows Tenant and pool changes', () => {
  const { cache, sets } = setup();
  const T = 'tenancy.kedge.io/tenant';
  const POOL = 'apps.openyurt.io/nodepool';
  const edge = { 'node-role.kubernetes.io/edge': '' };
  cache.put('tenants.tenancy.kedge.io', { metadata: { name: 'a' }, spec: { nodes: ['edge-listed'] } });
  cache.put('tenants.tenancy.kedge.io', { metadata: { name: 'b' }, spec: { nodePools: ['pool-b'] } });
  cache.put('nodes', { metadata: { name: 'edge-listed', labels: edge } });
  cache.put('nodes', { metadata: { name: 'edge-pooled', labels: { ...edge, [POOL]: 'pool-b' } } });
  const ofA = cache.put('services', { metadata: { name: 'svc', namespace: 'a1', labels: { [T]: 'a' } } });
  const ofB = cache.put('services', { metadata: { name: 'svc', namespace: 'b1', labels: { [T]: 'b' } } });
  const shared = cache.put('services', { metadata: { name: 'kubernetes', namespace: 'default' } });
  const sent = (node: string, after = 0) => [...sets.changesAfter(node, after)].filter(([k]) => !k.includes('/nodes/'));
  const live = (node: string) => [...sets.liveKeys(node)].filter((k) => !k.includes('/nodes/')).sort();
  assert.deepEqual(live('edge-listed'), [ofA, shared].sort());
  assert.deepEqual(live('edge-pooled'), [ofB, shared].sort());
  assert.equal(sets.canRead('edge-listed', ofB), false);
  assert.equal(sets.canRead('edge-pooled', ofA), false);

  // The node moves to tenant a's pool: after its cursor, a live session is told once of b's service going and of
  // a's arriving.
  const cursor = sets.currentSeq();
  cache.put('tenants.tenancy.kedge.io', { metadata: { name: 'a' }, spec: { nodes: ['edge-listed'], nodePools: ['pool-a'] } });
  cache.put('nodes', { metadata: { name: 'edge-pooled', labels: { ...edge, [POOL]: 'pool-a' } } });
  assert.deepEqual(live('edge-pooled'), [ofA, shared].sort());
  assert.deepEqual(sent('edge-pooled', cursor).map(([k, e]) => [k, e.deleted]).sort(), [[ofA, false], [ofB, true]]);
  assert.equal(sets.canRead('edge-pooled', ofB), false);

  // The Tenant stops listing the node: it is of no tenant and receives every service; each key is sent once.
  const before = sets.currentSeq();
  cache.put('tenants.tenancy.kedge.io', { metadata: { name: 'a' }, spec: { nodePools: ['pool-a'] } });
  assert.deepEqual(live('edge-listed'), [ofA, ofB, shared].sort());
  assert.deepEqual(sent('edge-listed', before).map(([k, e]) => [k, e.deleted]), [[ofB, false]]);
  assert.deepEqual(sent('edge-listed').map(([k]) => k).sort(), [ofA, ofB, shared].sort());
});

// NetworkPolicy (netpol-feed.ts): scoped per node, peers resolved at the hub.
const NP = 'networkpolicies.networking.k8s.io';
const npPod = (name: string, ns: string, node: string, ip: string, labels: Record<string, string>, ports: Array<{ name: string; containerPort: number }> = []) => ({
  metadata: { name, namespace: ns, labels },
  spec: { nodeName: node, containers: [{ name: 'c', image: 'x', ports }] },
  status: { phase: 'Running', podIP: ip },
});

function held(sets: DesiredSets, node: string): Map<string, CachedObject> {
  const out = new Map<string, CachedObject>();
  for (const k of sets.liveKeys(node)) if (k.startsWith(`/registry/${NP}/`)) out.set(k, sets.objectForEdge(k, node)!);
  return out;
}
const peersOf = (o: CachedObject) => JSON.parse((o.metadata as { annotations: Record<string, string> }).annotations[RESOLVED_PEERS_ANNOTATION]!) as ResolvedPeers;

test('a node gets the policies of namespaces with its pods, peers resolved to IPs wherever they run; changes are incremental', () => {
  const cache = new FakeCache();
  const sets = new DesiredSets(cache as unknown as SharedCache);
  cache.put('namespaces', { metadata: { name: 'web', labels: { team: 'a' } } });
  cache.put('namespaces', { metadata: { name: 'ops', labels: { team: 'ops' } } });
  sets.ensureView('n1');
  sets.ensureView('n2');
  cache.put('pods', npPod('server', 'web', 'n1', '10.244.1.2', { app: 'server' }));
  cache.put('pods', npPod('client', 'web', 'n2', '10.244.2.3', { role: 'client' }, [{ name: 'http', containerPort: 8080 }]));
  cache.put('pods', npPod('probe', 'ops', 'n2', '10.244.2.9', { role: 'probe' }));
  const key = cache.put(NP, {
    metadata: { name: 'allow', namespace: 'web', annotations: { [RESOLVED_PEERS_ANNOTATION]: '{"ingress":[{"ips":["0.0.0.0"]}],"egress":[]}' } },
    spec: {
      podSelector: { matchLabels: { app: 'server' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }, { namespaceSelector: { matchLabels: { team: 'ops' } }, podSelector: { matchLabels: { role: 'probe' } } }] }],
      egress: [{ ports: [{ port: 'http' }] }],
      policyTypes: ['Ingress', 'Egress'],
    },
  });
  const a = held(sets, 'n1').get(key)!;
  assert.ok(a, 'n1 has a pod in web');
  assert.deepEqual(peersOf(a), { ingress: [{ ips: ['10.244.2.3', '10.244.2.9'] }], egress: [{ ips: [], namedPorts: { 'tcp/http': ['10.244.2.3,tcp,8080'] } }] }, 'a forged annotation is replaced');
  assert.ok(held(sets, 'n2').has(key), 'n2 has a pod in web too');
  assert.notEqual(a.metadata.resourceVersion, cache.get(key)!.metadata.resourceVersion, 'shipped with a version of its own content');

  // An unrelated pod's change does not touch the policy's entry.
  const seq = sets.view('n1')!.scoped.entries.get(key)!.seq;
  cache.put('pods', npPod('unrelated', 'ops', 'n2', '10.244.2.50', { role: 'x' }));
  assert.equal(sets.view('n1')!.scoped.entries.get(key)!.seq, seq);
  // A peer's new IP re-sends it; a namespace relabel drops the probe.
  cache.put('pods', npPod('client', 'web', 'n2', '10.244.2.4', { role: 'client' }, [{ name: 'http', containerPort: 8080 }]));
  assert.deepEqual(peersOf(held(sets, 'n1').get(key)!).ingress[0]!.ips, ['10.244.2.4', '10.244.2.9']);
  assert.ok(sets.view('n1')!.scoped.entries.get(key)!.seq > seq);
  cache.put('namespaces', { metadata: { name: 'ops', labels: { team: 'other' } } });
  assert.deepEqual(peersOf(held(sets, 'n1').get(key)!).ingress[0]!.ips, ['10.244.2.4']);

  // n2 leaves the namespace: the policy is deleted there; n1 keeps it.
  cache.del('pods', 'web', 'client');
  assert.equal(held(sets, 'n2').has(key), false);
  assert.equal(sets.view('n2')!.scoped.entries.get(key)!.deleted, true);
  assert.deepEqual(peersOf(held(sets, 'n1').get(key)!).ingress[0]!.ips, []);
  cache.del(NP, 'web', 'allow');
  assert.equal(held(sets, 'n1').size, 0);
});
