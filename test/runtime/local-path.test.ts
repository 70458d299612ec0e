/**
 * The local-storage battery end to end, with kubectl against a real `kedge server` and a `kedge edge` running pods
 * on containerd: a claim with no class gets the default `local-path` class and waits for its first consumer; the
 * scheduler picks the edge node, the provisioner creates a hostPath volume under the node's path (from
 * kube-system/local-path-config) bound to the claim; the pod writes into it; after the agent is killed (-9) and
 * restarted, a new pod on the same claim reads what the first wrote. Deleting the claim releases the volume; a helper
 * pod on the node removes its directory and the volume is deleted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createToken, edgeRunArgs, eventually, joinEdge, startCluster, type Cluster, type Edge } from '../edge/cluster.js';
import { skipReason, startRuntime, type RuntimeFixture } from './env.js';

const skip = skipReason();
if (skip) console.log(`# skipping local-path runtime suite: ${skip}`);

interface Obj { metadata: { name: string; uid: string; annotations?: Record<string, string> }; spec: Record<string, any>; status?: Record<string, any> }

describe('local-path volumes on a containerd edge node', { skip, timeout: 600_000 }, () => {
  let c: Cluster;
  let fx: RuntimeFixture;
  let e: Edge;
  const NODE = 'edge-lp';
  const NS = 'lp-test';

  before(async () => {
    fx = await startRuntime();
    c = await startCluster('runtime-local-path');
    const token = await createToken(c);
    e = await joinEdge(c, NODE, token, ['--runtime', 'cri', '--cri-socket', fx.socket]);
  });

  after(async () => {
    await c?.proxy.close();
    await c?.h.cleanup();
    await fx?.stop();
  });

  const apply = (obj: unknown) => c.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
  const get = async (kind: string, name: string, ns = NS) => JSON.parse(await c.kubectl(['get', kind, name, ...(ns ? ['-n', ns] : []), '-o', 'json'])) as Obj;
  const pod = (name: string, script: string) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: fx.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
    },
  });
  const running = (name: string) => eventually(`pod ${name} Running on ${NODE}`, async () => {
    const p = await get('pod', name);
    return (p.spec.nodeName === NODE && p.status?.phase === 'Running') || JSON.stringify(p.status?.conditions ?? p.status?.phase);
  }, 180_000);

  it('a claim binds on first use, a pod writes to it, and a new pod finds the data after the agent restarts', async () => {
    const storageDir = path.join(e.dataDir, 'storage');
    await c.kubectl(['create', 'namespace', NS]);
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'local-path-config', namespace: 'kube-system' },
      data: {
        'config.json': JSON.stringify({ nodePathMap: [{ node: NODE, paths: [storageDir] }] }),
        // K3s's helper pod template: the test's node has only the locally built busybox.
        'helperPod.yaml': JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'helper-pod' }, spec: { containers: [{ name: 'helper-pod', image: fx.busybox, imagePullPolicy: 'Never' }] } }),
      } });
    await apply({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: NS },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Mi' } } } });
    const pending = await get('pvc', 'data');
    assert.equal(pending.spec.storageClassName, 'local-path');
    assert.equal(pending.status?.phase, 'Pending');
    assert.match(await c.kubectl(['get', 'storageclass']), /local-path \(default\)\s+rancher\.io\/local-path\s+Delete\s+WaitForFirstConsumer/);

    const secret = randomBytes(8).toString('hex');
    await apply(pod('writer', `echo ${secret} > /data/hello; exec sleep 3600`));
    await running('writer');
    const claim = await get('pvc', 'data');
    assert.equal(claim.status?.phase, 'Bound');
    assert.equal(claim.metadata.annotations?.['volume.kubernetes.io/selected-node'], NODE);
    const pv = await get('pv', claim.spec.volumeName, '');
    assert.equal(pv.metadata.name, `pvc-${claim.metadata.uid}`);
    assert.equal(pv.status?.phase, 'Bound');
    assert.deepEqual(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0], { key: 'kubernetes.io/hostname', operator: 'In', values: [NODE] });
    const hostDir = path.join(storageDir, `pvc-${claim.metadata.uid}_${NS}_data`);
    assert.equal(pv.spec.hostPath.path, hostDir);
    await eventually('the writer wrote into the volume', async () => readFileSync(path.join(hostDir, 'hello'), 'utf8').trim() === secret);

    // The agent dies and comes back; the claim's volume resolves from its local store again.
    await e.proc.kill9();
    await c.h.startKedge(`${NODE}-run`, edgeRunArgs(e), { ready: { logLine: /edge agent started/, timeoutMs: 90_000 } });
    await c.kubectl(['delete', 'pod', 'writer', '-n', NS, '--wait=true']);
    await apply(pod('reader', 'cp /data/hello /data/seen-by-reader; exec sleep 3600'));
    await running('reader');
    await eventually('the reader found the data', async () => readFileSync(path.join(hostDir, 'seen-by-reader'), 'utf8').trim() === secret);

    // The claim goes: the volume is released and, policy Delete, its directory removed on the node, then the volume deleted.
    await c.kubectl(['delete', 'pod', 'reader', '-n', NS, '--wait=true']);
    await c.kubectl(['delete', 'pvc', 'data', '-n', NS]);
    await eventually('the volume is deleted', async () => !(await c.kubectl(['get', 'pv', '-o', 'name'])).includes(pv.metadata.name), 120_000);
    assert.equal(existsSync(hostDir), false, `${hostDir} removed by the helper pod`);
    assert.ok(existsSync(storageDir));
    await eventually('the helper pod is gone', async () => !(await c.kubectl(['get', 'pods', '-n', 'kube-system', '-o', 'name'])).includes('helper-pod-delete-'));
  });
});
