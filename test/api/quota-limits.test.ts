/**
 * LimitRanger and ResourceQuota admission against a real `kedge server` with the stock kubectl: LimitRange defaults
 * fill containers' requests and limits, its max refuses a pod, and a ResourceQuota refuses the pod that would pass
 * `spec.hard` with upstream's `exceeded quota` message while `kubectl describe quota` shows the usage; the resource
 * quota controller gives usage back when objects go.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { eventually, startCluster, type Cluster } from '../edge/cluster.js';

describe('LimitRange and ResourceQuota admission', { timeout: 180_000 }, () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster('quota-limits');
    await c.kubectl(['create', 'namespace', 'q']);
  });
  after(async () => { await c?.h.cleanup(); });

  const pod = (name: string, resources: Record<string, unknown> = {}) => JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'q' }, spec: { containers: [{ name: 'c', image: 'busybox', resources }] },
  });
  const refusal = (name: string, resources?: Record<string, unknown>) => c.kubectl(['create', '-f', '-'], pod(name, resources)).then(() => '', (err: Error) => err.message);

  it('defaults and limits from a LimitRange; a ResourceQuota refuses what would exceed it', async () => {
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'defaults', namespace: 'q' },
      spec: { limits: [{ type: 'Container', default: { cpu: '200m' }, defaultRequest: { cpu: '100m' }, max: { cpu: '1' } }] } }));
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'compute', namespace: 'q' },
      spec: { hard: { pods: '2', 'requests.cpu': '250m' } } }));
    await c.kubectl(['create', '-f', '-'], pod('p1'));
    const p1 = JSON.parse(await c.kubectl(['get', 'pod', 'p1', '-n', 'q', '-o', 'json']));
    assert.deepEqual(p1.spec.containers[0].resources, { limits: { cpu: '200m' }, requests: { cpu: '100m' } });
    assert.match(await refusal('huge', { limits: { cpu: '2' } }), /pods "huge" is forbidden: maximum cpu usage per Container is 1, but limit is 2/);
    await c.kubectl(['create', '-f', '-'], pod('p2'));
    assert.match(await refusal('p3'), /pods "p3" is forbidden: exceeded quota: compute, requested: pods=1,requests\.cpu=100m, used: pods=2,requests\.cpu=200m, limited: pods=2,requests\.cpu=250m/);
    const quota = await c.kubectl(['describe', 'quota', 'compute', '-n', 'q']);
    assert.match(quota, /pods\s+2\s+2/);
    assert.match(quota, /requests\.cpu\s+200m\s+250m/);
    // Freed capacity is given back by the resource quota controller (replenishment) and is usable again.
    await c.kubectl(['delete', 'pod', 'p2', '-n', 'q', '--grace-period=0', '--force']);
    await eventually('quota compute used pods=1', async () => JSON.parse(await c.kubectl(['get', 'quota', 'compute', '-n', 'q', '-o', 'json'])).status?.used?.pods === '1');
    const status = JSON.parse(await c.kubectl(['get', 'quota', 'compute', '-n', 'q', '-o', 'json'])).status;
    assert.deepEqual(status, { hard: { pods: '2', 'requests.cpu': '250m' }, used: { pods: '1', 'requests.cpu': '100m' } });
    await c.kubectl(['create', '-f', '-'], pod('p4'));
  });

  it('maxLimitRequestRatio, must-specify under a compute quota, claim limits and the default StorageClass', async () => {
    await c.kubectl(['create', 'namespace', 'r']);
    const inR = (doc: Record<string, unknown>) => JSON.stringify({ ...doc, metadata: { ...(doc.metadata as object), namespace: 'r' } });
    await c.kubectl(['apply', '-f', '-'], inR({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'ratio' },
      spec: { limits: [{ type: 'Container', maxLimitRequestRatio: { memory: '2' } }, { type: 'PersistentVolumeClaim', min: { storage: '1Gi' }, max: { storage: '2Gi' } }] } }));
    const create = (doc: Record<string, unknown>) => c.kubectl(['create', '-f', '-'], inR(doc)).then(() => '', (err: Error) => err.message);
    const podDoc = (name: string, resources: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox', resources }] } });
    assert.match(await create(podDoc('greedy', { requests: { memory: '100Mi' }, limits: { memory: '400Mi' } })),
      /pods "greedy" is forbidden: memory max limit to request ratio per Container is 2, but provided ratio is 4\.000000/);
    const claim = (name: string, storage: string) => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } } });
    assert.match(await create(claim('tiny', '500Mi')), /persistentvolumeclaims "tiny" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi/);
    assert.match(await create(claim('huge', '5Gi')), /persistentvolumeclaims "huge" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi/);
    await c.kubectl(['apply', '-f', '-'], inR({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'mem' }, spec: { hard: { 'limits.cpu': '2', 'requests.storage': '3Gi', persistentvolumeclaims: '5' } } }));
    assert.match(await create(podDoc('nolimit', { requests: { memory: '100Mi' }, limits: { memory: '100Mi' } })), /pods "nolimit" is forbidden: failed quota: mem: must specify limits\.cpu/);
    assert.equal(await create(claim('one', '2Gi')), '');
    assert.match(await create(claim('two', '2Gi')), /persistentvolumeclaims "two" is forbidden: exceeded quota: mem, requested: requests\.storage=2Gi, used: requests\.storage=2Gi, limited: requests\.storage=3Gi/);
    // The local-storage battery's default class is filled into a claim that names none (DefaultStorageClass admission).
    assert.equal(JSON.parse(await c.kubectl(['get', 'pvc', 'one', '-n', 'r', '-o', 'json'])).spec.storageClassName, 'local-path');
    // A BestEffort-scoped quota counts only BestEffort pods.
    await c.kubectl(['create', 'namespace', 's']);
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'besteffort', namespace: 's' }, spec: { hard: { pods: '1' }, scopes: ['BestEffort'] } }));
    const inS = (name: string, resources: Record<string, unknown>) => c.kubectl(['create', '-f', '-'], JSON.stringify({ ...podDoc(name, resources), metadata: { name, namespace: 's' } })).then(() => '', (err: Error) => err.message);
    assert.equal(await inS('be1', {}), '');
    assert.match(await inS('be2', {}), /pods "be2" is forbidden: exceeded quota: besteffort, requested: pods=1, used: pods=1, limited: pods=1/);
    assert.equal(await inS('burstable', { requests: { cpu: '10m' } }), '');
    await eventually('quota mem counts the claim', async () => JSON.parse(await c.kubectl(['get', 'quota', 'mem', '-n', 'r', '-o', 'json'])).status?.used?.persistentvolumeclaims === '1');
  });

  it('concurrent creates cannot pass a quota together; updates that use more (NodePort, a larger claim) are charged', async () => {
    await c.kubectl(['create', 'namespace', 'race']);
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'five', namespace: 'race' }, spec: { hard: { pods: '5' } } }));
    await eventually('quota five counted', async () => JSON.parse(await c.kubectl(['get', 'quota', 'five', '-n', 'race', '-o', 'json'])).status?.used?.pods === '0');
    const kc = new KubeConfig();
    kc.loadFromFile(c.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    // 12 creates at once, with the stock client: upstream's optimistic charge of status.used lets exactly 5 in.
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => core.createNamespacedPod({ namespace: 'race',
      body: { metadata: { name: `p${i}` }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } })));
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(results.length - refused.length, 5, `admitted ${results.length - refused.length} of 12 under pods=5`);
    for (const r of refused) {
      assert.ok(r.reason instanceof ApiException, String(r.reason));
      assert.equal(r.reason.code, 403);
      assert.match(String(r.reason.body), /exceeded quota: five, requested: pods=1, used: pods=5, limited: pods=5/);
    }
    assert.equal((await c.kubectl(['get', 'pods', '-n', 'race', '--no-headers'])).trim().split('\n').length, 5);
    assert.equal(JSON.parse(await c.kubectl(['get', 'quota', 'five', '-n', 'race', '-o', 'json'])).status.used.pods, '5');
    // Updates: a Service becoming NodePort and a claim growing are charged by what they add, as upstream.
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'svc-st', namespace: 'race' },
      spec: { hard: { 'services.nodeports': '0', 'requests.storage': '3Gi' } } }));
    await c.kubectl(['create', 'service', 'clusterip', 'web', '-n', 'race', '--tcp=80:80']);
    const patchFailure = (args: string[]) => c.kubectl(['patch', ...args, '-n', 'race']).then(() => '', (err: Error) => err.message);
    assert.match(await patchFailure(['service', 'web', '-p', '{"spec":{"type":"NodePort"}}']),
      /services "web" is forbidden: exceeded quota: svc-st, requested: services\.nodeports=1, used: services\.nodeports=0, limited: services\.nodeports=0/);
    assert.equal(JSON.parse(await c.kubectl(['get', 'service', 'web', '-n', 'race', '-o', 'json'])).spec.type, 'ClusterIP', 'nothing changed');
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: 'race' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }));
    assert.match(await patchFailure(['pvc', 'data', '-p', '{"spec":{"resources":{"requests":{"storage":"5Gi"}}}}']),
      /persistentvolumeclaims "data" is forbidden: exceeded quota: svc-st, requested: requests\.storage=4Gi, used: requests\.storage=1Gi, limited: requests\.storage=3Gi/);
    await c.kubectl(['patch', 'pvc', 'data', '-n', 'race', '-p', '{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}']);
    assert.equal(JSON.parse(await c.kubectl(['get', 'quota', 'svc-st', '-n', 'race', '-o', 'json'])).status.used['requests.storage'], '3Gi');
  });
});
