/**
 * Issue 19: `kedge cloud --kubeconfig` against a cluster whose node lifecycle is upstream's. `kedge server
 * --upstream-node-lifecycle` plays the unmodified cluster (kube-controller-manager's node lifecycle + taint manager,
 * kube-apiserver's DefaultTolerationSeconds, both shortened through upstream's own flags); `kedge cloud` runs beside
 * it as an operator would (README quick start): its CA hash from `kedge token create`, its podbinding controller.
 * An edge node on containerd runs a 2-replica Deployment; the hub is killed and the link cut for longer than grace +
 * toleration; after the heal the same pods (UIDs, containers, IPs) are Ready again, the Deployment available, and
 * no replacement pod was ever created. The control: a node opted out (`apps.openyurt.io/binding=false`) loses its
 * pod exactly as upstream evicts it (that node runs without a runtime: only the eviction is looked at).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig, type V1Deployment, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { createToken, eventually, joinEdge, startCluster, type Cluster, type Edge } from './cluster.js';
import { skipReason, startRuntime, type RuntimeFixture } from '../runtime/env.js';
import { FakeNode } from '../helpers/fake-nodes.js';
import { caCertHash } from '../../src/pki/index.js';
import type { ManagedProcess } from '../harness/processes.js';

const skip = skipReason();
const GRACE_S = 4;
const TOLERATION_S = 8;

describe('kedge cloud against upstream node lifecycle: no eviction of edge pods across a long cut', { skip, timeout: 600_000 }, () => {
  let c: Cluster;
  let fx: RuntimeFixture;
  let cloud: ManagedProcess;
  let cloudDir: string;
  let worker: FakeNode;
  let a: Edge;
  let b: Edge;
  let token: { token: string; hash: string };

  const pods = async (selector: string): Promise<V1Pod[]> => (JSON.parse(await c.kubectl(['get', 'pods', '-l', selector, '-o', 'json'])) as { items: V1Pod[] }).items;
  const node = async (name: string): Promise<V1Node> => JSON.parse(await c.kubectl(['get', 'node', name, '-o', 'json'])) as V1Node;
  const ready = (p: V1Pod) => p.status?.conditions?.find((x) => x.type === 'Ready')?.status;

  before(async () => {
    fx = await startRuntime();
    c = await startCluster('cloud-upstream', {
      hub: false,
      serverArgs: [
        '--upstream-node-lifecycle', '--node-monitor-grace-period', `${GRACE_S}s`, '--node-eviction-rate', '10',
        '--default-not-ready-toleration-seconds', String(TOLERATION_S), '--default-unreachable-toleration-seconds', String(TOLERATION_S),
      ],
    });
    // A healthy cloud worker in the same zone: with every node lost, upstream stops evicting (full disruption).
    await eventually('admin.kubeconfig written', async () => existsSync(c.kubeconfig));
    const kc = new KubeConfig();
    kc.loadFromFile(c.kubeconfig);
    worker = new FakeNode(kc, 'cloud-worker', { kubelet: false, taints: [{ key: 'dedicated', value: 'cloud', effect: 'NoSchedule' }] });
    await worker.start();
    cloudDir = c.h.tempDir('cloud');
    c.hubPort = await c.h.freePort();
    cloud = await c.h.startKedge('cloud', ['cloud', '--kubeconfig', c.kubeconfig, '--data-dir', cloudDir, '--bind-address', '127.0.0.1', '--port', String(c.hubPort), '--keepalive', '1000'], {
      ready: { logLine: /cloud hub listening/, timeoutMs: 60_000 },
      env: { KEDGE_LOG_LEVEL: 'info' },
    });
    // As the quick start: no --ca-cert; the hash printed is that of the CA `kedge cloud` serves (its own, not the cluster's).
    await eventually('hub CA published', async () => (await c.kubectl(['get', 'configmap', '-n', 'kube-system', 'kedge-cloudhub', '-o', 'name']).catch(() => '')).includes('kedge-cloudhub'));
    token = await createToken(c);
    a = await joinEdge(c, 'edge-a', token, ['--runtime', 'cri', '--cri-socket', fx.socket]);
    await c.kubectl(['label', 'node', 'edge-a', 'site=a']);
    b = await joinEdge(c, 'edge-b', await createToken(c));
    await c.kubectl(['annotate', 'node', 'edge-b', 'apps.openyurt.io/binding=false']);
  });

  after(async () => {
    await worker?.dispose();
    await c?.proxy.close();
    await c?.h.cleanup();
    await fx?.stop();
  });

  it('kedge token create prints the hash of the CA kedge cloud serves (not the cluster CA), and it joins', () => {
    assert.equal(token.hash, caCertHash(readFileSync(path.join(cloudDir, 'pki', 'ca.crt'), 'utf8')));
    assert.notEqual(token.hash, caCertHash(readFileSync(path.join(c.dataDir, 'pki', 'ca.crt'), 'utf8')));
    assert.ok(a.proc.running && b.proc.running);
  });

  it('hub killed and link cut past grace + toleration: same pods Ready again, Deployment available, no replacements; the opted-out node is evicted', async () => {
    const container = { name: 'web', image: fx.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', 'while true; do sleep 1; done'] };
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { nodeSelector: { site: 'a' }, terminationGracePeriodSeconds: 1, containers: [container] } } },
    }));
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'optout', namespace: 'default', labels: { app: 'optout' } }, spec: { nodeName: 'edge-b', containers: [container] } }));
    await eventually('2 web pods Ready', async () => (await pods('app=web')).filter((p) => ready(p) === 'True').length === 2, 180_000);
    // podbinding (in kedge cloud) made them tolerate the lost link forever, originals kept; the opted-out pod keeps upstream's.
    await eventually('web pods bound', async () => (await pods('app=web')).every((p) => (p.spec?.tolerations ?? []).filter((t) => t.effect === 'NoExecute' && t.key?.startsWith('node.kubernetes.io/')).every((t) => t.tolerationSeconds === undefined)));
    const bound = (await pods('app=web'))[0]!;
    assert.equal(bound.metadata?.annotations?.['apps.openyurt.io/original-unreachable-toleration-duration'], String(TOLERATION_S));
    assert.equal((await pods('app=optout'))[0]!.spec!.tolerations!.find((t) => t.key === 'node.kubernetes.io/unreachable')?.tolerationSeconds, TOLERATION_S);

    const before = new Map((await pods('app=web')).map((p) => [p.metadata!.uid!, { ip: p.status?.podIP, containers: (p.status?.containerStatuses ?? []).map((s) => s.containerID).join(',') }]));
    assert.equal(before.size, 2);
    const seen = new Set(before.keys());
    let sawNotReady = false;
    const watchUids = setInterval(() => {
      void pods('app=web').then((ps) => {
        for (const p of ps) seen.add(p.metadata!.uid!);
        if (ps.some((p) => ready(p) === 'False')) sawNotReady = true;
      }, () => undefined);
    }, 1000);
    try {
      await cloud.kill9();
      await a.link.cut();
      await b.link.cut();
      // Upstream: Ready=Unknown after the grace period, NoExecute taint, pods marked not Ready, the opted-out pod evicted.
      await eventually('edge-a tainted NoExecute', async () => ((await node('edge-a')).spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute'), 60_000);
      await eventually('opted-out pod evicted', async () => {
        const p = (await pods('app=optout'))[0];
        return !p || (!!p.metadata?.deletionTimestamp && p.status?.conditions?.some((x) => x.type === 'DisruptionTarget' && x.reason === 'DeletionByTaintManager') === true);
      }, 60_000);
      const taint = ((await node('edge-a')).spec?.taints ?? []).find((t) => t.effect === 'NoExecute')!;
      // Past the toleration the web pods would have had without podbinding.
      await eventually('toleration passed', async () => Date.now() - Date.parse(String(taint.timeAdded)) > (TOLERATION_S + 3) * 1000, 60_000);
      assert.ok(sawNotReady || (await pods('app=web')).some((p) => ready(p) === 'False'), 'upstream marked the pods not Ready');
      for (const p of await pods('app=web')) assert.equal(p.metadata?.deletionTimestamp, undefined, `${p.metadata?.name} not evicted`);

      await cloud.start();
      await a.link.heal();
      await b.link.heal();
      // The edge re-asserts its pods' status over upstream's Ready=False; the Deployment is available again.
      await eventually('web pods Ready again', async () => (await pods('app=web')).filter((p) => ready(p) === 'True').length === 2, 120_000);
      await eventually('deployment available', async () => {
        const d = JSON.parse(await c.kubectl(['get', 'deployment', 'web', '-o', 'json'])) as V1Deployment;
        return d.status?.availableReplicas === 2;
      }, 60_000);
      await eventually('edge-a untainted', async () => ((await node('edge-a')).spec?.taints ?? []).length === 0, 60_000);
    } finally {
      clearInterval(watchUids);
    }
    const afterHeal = await pods('app=web');
    assert.deepEqual(new Set(afterHeal.map((p) => p.metadata!.uid!)), new Set(before.keys()), 'same pod UIDs');
    for (const p of afterHeal) {
      const was = before.get(p.metadata!.uid!)!;
      assert.equal(p.status?.podIP, was.ip, 'same IP');
      assert.equal((p.status?.containerStatuses ?? []).map((s) => s.containerID).join(','), was.containers, 'same containers');
    }
    assert.deepEqual([...seen].sort(), [...before.keys()].sort(), 'no replacement pod was ever created');
  });
});
