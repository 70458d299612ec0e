/**
 * Node pools and per-pool workloads, end to end with real parts: `kedge server` (API + hub + controllers), the
 * stock kubectl (client-side validation on), a real `kedge edge join --nodepool` on a private containerd
 * (test/runtime/env.ts) and fake nodes (test/helpers/fake-nodes.ts: Node + Lease + a kubelet stand-in that runs pods)
 * in three pools. The containerd edge needs root (as the runtime suites); without it the pool tests are skipped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { createToken, eventually, joinEdge, KUBECTL, run, startCluster, type Cluster } from '../edge/cluster.js';
import { FakeNode } from '../helpers/fake-nodes.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { skipReason, startRuntime, type RuntimeFixture } from '../runtime/env.js';
import { buildBusyboxArchive } from '../../src/runtime/image/busybox.js';
import { importImageBuffer } from '../../src/runtime/image/import.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const POOL_LABEL = 'apps.openyurt.io/nodepool';
/** The busybox the runtime fixture imports, under a second tag: the image tweak for the containerd edge's pool. */
const POOL_C_IMAGE = 'kedge.local/busybox:shop-c';
const skip = skipReason();
if (skip) console.log(`# skipping the pool tests with a containerd edge: ${skip}`);

type Obj = { metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: any; status?: any };

let c: Cluster;
let kc: KubeConfig;
let fx: RuntimeFixture | undefined;
const fakes: FakeNode[] = [];

/** kubectl exactly as a user runs it: no --validate=false. */
const kubectl = (args: string[], input?: string) => run(KUBECTL, ['--kubeconfig', c.kubeconfig, ...args], { input });
const getJson = async <T = Obj>(args: string[]): Promise<T> => JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
const raw = async <T = Obj>(p: string): Promise<T> => JSON.parse(await kubectl(['get', '--raw', p])) as T;
const refused = async (args: string[], input?: string): Promise<string> => {
  try {
    await kubectl(args, input);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`kubectl ${args.join(' ')} was accepted`);
};
type PodView = { metadata: { name: string }; spec: { nodeName?: string; containers: Array<{ image: string }> }; status: { phase?: string; containerStatuses?: Array<{ image: string; containerID?: string; ready: boolean }> } };
const podsOf = async (selector: string) => (await getJson<{ items: PodView[] }>(['get', 'pods', '-l', selector])).items;

const poolYaml = (name: string, spec: string, labels = '') => `apiVersion: apps.openyurt.io/v1beta2\nkind: NodePool\nmetadata:\n  name: ${name}\n${labels ? `  labels:\n${labels}` : ''}spec:\n${spec}`;

before(async () => {
  if (!skip) {
    fx = await startRuntime();
    await importImageBuffer(fx.socket, buildBusyboxArchive(POOL_C_IMAGE));
  }
  c = await startCluster('pools');
  kc = new KubeConfig();
  kc.loadFromFile(c.kubeconfig);
});

after(async () => {
  for (const f of fakes) await f.dispose().catch(() => {});
  await c?.proxy.close();
  await c?.h.cleanup();
  await fx?.stop();
});

test("the projects' published manifests apply unchanged with the stock kubectl", async () => {
  for (const f of ['nodepool-v1beta2', 'nodepool-v1beta1', 'yurtappset-v1beta1', 'yurtappset-v1alpha1', 'deploymentgrid', 'servicegrid', 'statefulsetgrid']) {
    const out = await kubectl(['apply', '-f', path.join(FIXTURES, `${f}.yaml`)]);
    assert.match(out, /created/, `${f}: ${out}`);
  }
  const table = await kubectl(['get', 'np']);
  assert.match(table, /^NAME\s+TYPE\s+READYNODES\s+NOTREADYNODES\s+AGE/m);
  assert.match(table, /^hangzhou\s+Edge\s/m);
  assert.match(table, /^beijing\s+Cloud\s/m);
  // The v1alpha1 YurtAppSet is stored as v1beta1: pools from its topology, replicas and image patch as tweaks.
  const yas = await raw('/apis/apps.openyurt.io/v1beta1/namespaces/default/yurtappsets/yas-test');
  assert.deepEqual(yas.spec.pools, ['beijing', 'hangzhou']);
  assert.deepEqual(yas.spec.workload.workloadTweaks[0], { pools: ['beijing'], tweaks: { replicas: 1, containerImages: [{ name: 'nginx', targetImage: 'nginx:1.19.0' }] } });
  // ...and reads back through v1alpha1 as it was written.
  const alpha = await raw('/apis/apps.openyurt.io/v1alpha1/namespaces/default/yurtappsets/yas-test');
  assert.equal(alpha.spec.topology.pools[1].tolerations[0].key, 'apps.openyurt.io/example');
  assert.equal(alpha.spec.topology.pools[0].patch.spec.template.spec.containers[0].image, 'nginx:1.19.0');
  await eventually('the fixtures\' workloads', async () => {
    const names = (await getJson<{ items: Obj[] }>(['get', 'deployments'])).items.map((d) => d.metadata.name);
    return ['example-beijing', 'yas-test-beijing', 'yas-test-hangzhou'].every((n) => names.includes(n)) || names.join(',');
  });
  const svc = await getJson(['get', 'service', 'servicegrid-demo-svc']);
  assert.equal(svc.metadata.annotations?.topologyKeys, '["zone"]');
  assert.deepEqual(svc.spec.selector, { appGrid: 'echo' });
  for (const f of ['yurtappset-v1beta1', 'yurtappset-v1alpha1', 'deploymentgrid', 'servicegrid', 'statefulsetgrid', 'nodepool-v1beta2', 'nodepool-v1beta1']) {
    await kubectl(['delete', '-f', path.join(FIXTURES, `${f}.yaml`), '--wait=true']);
  }
});

test('a NodePool written as v1beta1 reads back as v1beta2 and the other way round, losing nothing', async () => {
  await kubectl(['apply', '-f', '-'], 'apiVersion: apps.openyurt.io/v1beta1\nkind: NodePool\nmetadata:\n  name: old-style\nspec:\n  type: Edge\n  hostNetwork: true\n  labels:\n    site: old\n');
  const v2 = await raw('/apis/apps.openyurt.io/v1beta2/nodepools/old-style');
  assert.equal((v2 as { apiVersion?: string }).apiVersion, 'apps.openyurt.io/v1beta2');
  assert.equal(v2.spec.hostNetwork, true);
  assert.deepEqual(v2.spec.labels, { site: 'old' });
  assert.equal(v2.spec.leaderElectionStrategy, 'random');
  await kubectl(['apply', '-f', '-'], poolYaml('new-style', '  type: Cloud\n  interConnectivity: true\n  enableLeaderElection: true\n  leaderReplicas: 2\n'));
  const v1 = await raw('/apis/apps.openyurt.io/v1beta1/nodepools/new-style');
  assert.equal((v1 as { apiVersion?: string }).apiVersion, 'apps.openyurt.io/v1beta1');
  assert.equal(v1.spec.type, 'Cloud');
  assert.equal(v1.spec.interConnectivity, undefined, 'v1beta1 has no interConnectivity field');
  // A v1beta1 read-modify-write keeps the v1beta2-only fields.
  const edited = { ...v1, spec: { ...v1.spec, labels: { edited: 'yes' } } };
  await kubectl(['replace', '-f', '-'], JSON.stringify(edited));
  const back = await raw('/apis/apps.openyurt.io/v1beta2/nodepools/new-style');
  assert.deepEqual(back.spec.labels, { edited: 'yes' });
  assert.equal(back.spec.interConnectivity, true);
  assert.equal(back.spec.leaderReplicas, 2);
  assert.equal(back.metadata.annotations?.['nodepool.kedge.io/v1beta2-fields'], undefined);
  // OpenYurt's rules: type, hostNetwork and interConnectivity are immutable.
  assert.match(await refused(['patch', 'np', 'new-style', '--type=merge', '-p', '{"spec":{"interConnectivity":false}}']), /spec\.interConnectivity: Forbidden: interConnectivity of a NodePool cannot be changed/);
  assert.match(await refused(['patch', 'np', 'old-style', '--type=merge', '-p', '{"spec":{"type":"Cloud"}}']), /spec\.type: Forbidden/);
  assert.match(await refused(['apply', '-f', '-'], poolYaml('bad', '  type: Fog\n')), /spec\.type: Unsupported value: "Fog"/);
  await kubectl(['delete', 'np', 'old-style', 'new-style']);
});

test('pools, a YurtAppSet with tweaks, joins into pools, moves between pools, taints and cleanup', { skip }, async () => {
  await kubectl(['apply', '-f', '-'], [
    poolYaml('shop-a', '  type: Edge\n  labels:\n    region: north\n  taints:\n  - key: dedicated\n    value: shop-a\n    effect: NoSchedule\n'),
    poolYaml('shop-b', '  type: Edge\n  labels:\n    region: south\n', '    tier: small\n'),
    poolYaml('shop-c', '  type: Edge\n'),
  ].join('---\n'));
  // A real edge joins into a pool through the hub; a pool that does not exist is refused at join.
  const token = await createToken(c);
  const missing = kedgeCommand(['edge', 'join', '--server', `https://127.0.0.1:${c.hubPort}`, '--token', token.token, '--ca-cert-hash', token.hash,
    '--node-name', 'edge-x', '--nodepool', 'no-such-pool', '--data-dir', c.h.tempDir('edge-x'), '--runtime', 'none']);
  await assert.rejects(run(missing.command, missing.args), /nodepool "no-such-pool" not found/);
  // A token made for one pool joins only into that pool.
  const bound = await createToken(c, '1h', ['--nodepool', 'shop-b']);
  const elsewhere = kedgeCommand(['edge', 'join', '--server', `https://127.0.0.1:${c.hubPort}`, '--token', bound.token, '--ca-cert-hash', bound.hash,
    '--node-name', 'edge-y', '--nodepool', 'shop-c', '--data-dir', c.h.tempDir('edge-y'), '--runtime', 'none']);
  await assert.rejects(run(elsewhere.command, elsewhere.args), /made for nodepool "shop-b" and cannot join nodepool "shop-c"/);
  await joinEdge(c, 'edge-c1', token, ['--nodepool', 'shop-c', '--runtime', 'cri', '--cri-socket', fx!.socket]);
  const joined = await getJson(['get', 'node', 'edge-c1']);
  assert.equal(joined.metadata.labels?.[POOL_LABEL], 'shop-c');

  for (const [name, pool] of [['a1', 'shop-a'], ['a2', 'shop-a'], ['b1', 'shop-b'], ['free1', '']] as const) {
    const f = new FakeNode(kc, name, { labels: pool ? { [POOL_LABEL]: pool } : {} });
    await f.start();
    fakes.push(f);
  }
  // The pool's labels and taints reach its members; status counts them.
  await eventually('shop-a labels and taints on a1, a2', async () => {
    for (const n of ['a1', 'a2']) {
      const node = await getJson(['get', 'node', n]);
      if (node.metadata.labels?.region !== 'north') return `${n} labels ${JSON.stringify(node.metadata.labels)}`;
      if (!(node.spec.taints ?? []).some((t: { key: string; value?: string }) => t.key === 'dedicated' && t.value === 'shop-a')) return `${n} taints`;
    }
    return true;
  });
  await eventually('nodepool status', async () => {
    const a = await getJson(['get', 'np', 'shop-a']);
    return (a.status?.readyNodeNum === 2 && JSON.stringify(a.status?.nodes) === '["a1","a2"]') || JSON.stringify(a.status);
  });

  // One Deployment per pool: a replicas tweak for shop-a, an image tweak for shop-b.
  await kubectl(['apply', '-f', '-'], `apiVersion: apps.openyurt.io/v1beta1
kind: YurtAppSet
metadata:
  name: web
  namespace: default
spec:
  pools: [shop-a, shop-b]
  workload:
    workloadTemplate:
      deploymentTemplate:
        metadata:
          labels: {app: web}
        spec:
          replicas: 2
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
              - name: web
                image: busybox:1
                command: [sh, -c, 'while true; do sleep 1; done']
    workloadTweaks:
    - pools: [shop-a]
      tweaks:
        replicas: 3
    - nodepoolSelector:
        matchLabels: {tier: small}
      tweaks:
        containerImages:
        - name: web
          targetImage: busybox:2
    - pools: [shop-c]
      tweaks:
        replicas: 1
        containerImages:
        - name: web
          targetImage: ${POOL_C_IMAGE}
`);
  const poolNodes: Record<string, string[]> = { 'shop-a': ['a1', 'a2'], 'shop-b': ['b1'] };
  const landed = async (pool: string, replicas: number, image: string) => {
    const all = await podsOf(`app=web,apps.openyurt.io/pool-name=${pool}`);
    const pods = all.filter((p) => p.status.phase === 'Running');
    if (pods.length !== replicas) return `${pool}: ${pods.length}/${replicas} running: ${JSON.stringify(all.map((p) => [p.spec.nodeName, p.status.phase]))}`;
    for (const p of pods) {
      if (!poolNodes[pool]!.includes(p.spec.nodeName ?? '')) return `${p.metadata.name} on ${p.spec.nodeName}`;
      if (p.spec.containers[0]!.image !== image) return `${p.metadata.name} image ${p.spec.containers[0]!.image}`;
    }
    return true;
  };
  await eventually('each pool runs its variant', async () => {
    const a = await landed('shop-a', 3, 'busybox:1');
    if (a !== true) return a;
    return landed('shop-b', 2, 'busybox:2');
  }, 120_000);
  const dep = await getJson(['get', 'deployment', 'web-shop-a']);
  assert.equal(dep.metadata.labels?.['apps.openyurt.io/ref-yurtappset'], 'web');
  assert.equal(dep.metadata.labels?.['apps.openyurt.io/pool-name'], 'shop-a');
  assert.deepEqual(dep.spec.template.spec.nodeSelector, { [POOL_LABEL]: 'shop-a' });
  await eventually('YurtAppSet status', async () => {
    const yas = await getJson(['get', 'yas', 'web']);
    const cond = Object.fromEntries((yas.status?.conditions ?? []).map((x: { type: string; status: string }) => [x.type, x.status]));
    return (yas.status?.totalWorkloads === 2 && yas.status?.readyWorkloads === 2 && cond.PoolFound === 'True' && cond.AppDispatched === 'True' && cond.AppReady === 'True' && cond.AppUpdated === 'True') || JSON.stringify(yas.status);
  });

  // Pool taints keep other workloads off the pool's nodes.
  await kubectl(['create', 'deployment', 'other', `--image=${fx!.busybox}`, '--replicas=4', '--', 'sleep', '3600']);
  await eventually('other pods scheduled', async () => {
    const pods = await podsOf('app=other');
    return (pods.length === 4 && pods.every((p) => p.spec.nodeName)) || `${pods.length} pods`;
  });
  for (const p of await podsOf('app=other')) assert.ok(!['a1', 'a2'].includes(p.spec.nodeName!), `${p.metadata.name} landed on tainted ${p.spec.nodeName}`);

  // A pool that starts being selected gets its workload.
  await kubectl(['patch', 'yas', 'web', '--type=merge', '-p', '{"spec":{"pools":["shop-a","shop-b","shop-c"]}}']);
  // Its variant (1 replica, the shop-c image) runs on the containerd edge: Running as its agent reports it, and the
  // container exists in containerd with that image.
  await eventually('shop-c variant running on the containerd edge', async () => {
    const pods = await podsOf('app=web,apps.openyurt.io/pool-name=shop-c');
    const p = pods[0];
    if (pods.length !== 1 || !p || p.spec.nodeName !== 'edge-c1' || p.status.phase !== 'Running' || !p.status.containerStatuses?.[0]?.ready) {
      return JSON.stringify(pods.map((x) => [x.spec.nodeName, x.status.phase, x.status.containerStatuses]));
    }
    return (p.spec.containers[0]!.image === POOL_C_IMAGE && p.status.containerStatuses[0]!.image === POOL_C_IMAGE) || `image ${JSON.stringify(p.status.containerStatuses[0])}`;
  }, 120_000);
  const [onEdge] = await podsOf('app=web,apps.openyurt.io/pool-name=shop-c');
  const containerId = onEdge!.status.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');
  const inContainerd = (await fx!.runtime.listContainers()).find((x) => x.id === containerId);
  assert.ok(inContainerd, `container ${containerId} of ${onEdge!.metadata.name} is in containerd`);

  // Moving a node: never in place (OpenYurt's rule), but remove + add; its pool-pinned pods leave with the old pool.
  assert.match(await refused(['label', '--overwrite', 'node', 'a2', `${POOL_LABEL}=shop-b`]), /the node pool of a node cannot be changed in place/);
  const onA2Before = (await podsOf('apps.openyurt.io/pool-name=shop-a')).filter((p) => p.spec.nodeName === 'a2');
  assert.ok(onA2Before.length > 0, 'some shop-a pods ran on a2');
  await kubectl(['label', 'node', 'a2', `${POOL_LABEL}-`]);
  await kubectl(['label', 'node', 'a2', `${POOL_LABEL}=shop-b`]);
  poolNodes['shop-a'] = ['a1'];
  poolNodes['shop-b'] = ['b1', 'a2'];
  await eventually('a2 carries shop-b, not shop-a', async () => {
    const node = await getJson(['get', 'node', 'a2']);
    const tainted = (node.spec.taints ?? []).some((t: { key: string }) => t.key === 'dedicated');
    return (node.metadata.labels?.region === 'south' && !tainted) || JSON.stringify([node.metadata.labels, node.spec.taints]);
  });
  await eventually('shop-a workload left a2 and runs in shop-a', () => landed('shop-a', 3, 'busybox:1'), 120_000);
  await kubectl(['scale', 'deployment', 'web-shop-b', '--replicas=6']);
  await eventually('shop-b workload may use a2 now', async () => {
    const pods = await podsOf('apps.openyurt.io/pool-name=shop-b');
    return pods.some((p) => p.spec.nodeName === 'a2') || JSON.stringify(pods.map((p) => p.spec.nodeName));
  });
  const a = await getJson(['get', 'np', 'shop-a']);
  assert.match(await refused(['delete', 'np', 'shop-a']), /cannot be deleted while it has nodes/);
  assert.deepEqual(a.status?.nodes, ['a1']);

  // Deleting the YurtAppSet deletes its workloads (owner references, garbage collector).
  await kubectl(['delete', 'yas', 'web']);
  await eventually('web workloads gone', async () => {
    const deps = (await getJson<{ items: Obj[] }>(['get', 'deployments', '-l', 'apps.openyurt.io/ref-yurtappset=web'])).items;
    const left = await podsOf('app=web');
    return (deps.length === 0 && left.length === 0) || `${deps.length} deployments, ${left.length} pods`;
  }, 120_000);
});

test('DeploymentGrid: one Deployment per value of gridUniqKey, per-value templates; ServiceGrid keeps its topology key', { skip }, async () => {
  await kubectl(['label', 'node', 'a1', 'zone=z1']);
  await kubectl(['label', 'node', 'b1', 'zone=z2']);
  await kubectl(['apply', '-f', '-'], `apiVersion: superedge.io/v1
kind: DeploymentGrid
metadata:
  name: echo
  namespace: default
spec:
  gridUniqKey: zone
  defaultTemplateName: v1
  templatePool:
    v1:
      replicas: 1
      selector: {matchLabels: {appGrid: echo}}
      template:
        metadata: {labels: {appGrid: echo}}
        spec:
          tolerations: [{key: dedicated, operator: Exists, effect: NoSchedule}]
          containers: [{name: echo, image: echo:1}]
    v2:
      replicas: 2
      selector: {matchLabels: {appGrid: echo}}
      template:
        metadata: {labels: {appGrid: echo}}
        spec:
          containers: [{name: echo, image: echo:2}]
  templates:
    z2: v2
`);
  await eventually('one Deployment per zone with its template', async () => {
    const deps = (await getJson<{ items: Obj[] }>(['get', 'deployments', '-l', 'superedge.io/grid-selector=echo'])).items;
    const by = Object.fromEntries(deps.map((d) => [d.metadata.name, [d.spec.replicas, d.spec.template.spec.containers[0].image, d.spec.template.spec.nodeSelector?.zone]]));
    return JSON.stringify(by) === JSON.stringify({ 'echo-z1': [1, 'echo:1', 'z1'], 'echo-z2': [2, 'echo:2', 'z2'] }) || JSON.stringify(by);
  });
  // A new NodeUnit (a node with a new zone value) gets its Deployment; the last node leaving one removes it.
  await kubectl(['label', 'node', 'free1', 'zone=z3']);
  await eventually('echo-z3 appears', async () => (await kubectl(['get', 'deployments', '-o', 'name'])).includes('deployment.apps/echo-z3'));
  await kubectl(['label', 'node', 'free1', 'zone-']);
  await eventually('echo-z3 goes', async () => !(await kubectl(['get', 'deployments', '-o', 'name'])).includes('deployment.apps/echo-z3'));
  await eventually('grid status states', async () => {
    const g = await getJson(['get', 'deploymentgrid', 'echo']);
    return (g.status?.states && Object.keys(g.status.states).sort().join() === 'z1,z2') || JSON.stringify(g.status);
  });
  await kubectl(['delete', 'deploymentgrid', 'echo']);
  await eventually('grid Deployments gone', async () => (await getJson<{ items: Obj[] }>(['get', 'deployments', '-l', 'superedge.io/grid-selector=echo'])).items.length === 0);
});
