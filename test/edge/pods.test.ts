/**
 * End to end with real containers: kubectl → kedge server → hub → edge agent → pod manager → containerd
 * (CRI, runc, CNI), and statuses back up to the API. While the link is cut, a pod finishes and the agent is
 * killed with -9 and restarted: the running pod keeps its container, and after healing the cloud shows the
 * edge's latest pod statuses. Needs root (containerd), as CI runs; skipped with a reason otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, edgeRunArgs, eventually, joinEdge, startCluster, type Cluster, type Edge } from './cluster.js';
import { skipReason, startRuntime, type RuntimeFixture } from '../runtime/env.js';

const skip = skipReason();
if (skip) console.log(`# skipping edge pod suite: ${skip}`);

interface PodJson {
  metadata: { uid: string };
  status?: {
    phase?: string;
    podIP?: string;
    containerStatuses?: Array<{ ready: boolean; restartCount: number; containerID?: string; state?: { running?: unknown; terminated?: { exitCode: number } } }>;
  };
}

describe('edge pods on containerd, status up through the hub', { skip, timeout: 600_000 }, () => {
  let c: Cluster;
  let fx: RuntimeFixture;
  let e: Edge;

  before(async () => {
    fx = await startRuntime();
    c = await startCluster('edge-pods');
    const token = await createToken(c);
    e = await joinEdge(c, 'edge-p', token, ['--runtime', 'cri', '--cri-socket', fx.socket]);
  });

  after(async () => {
    await c?.proxy.close();
    await c?.h.cleanup();
    await fx?.stop();
  });

  const pod = (name: string, script: string, restartPolicy = 'Always') => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: 'edge-p',
      restartPolicy,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: fx.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script], envFrom: [{ configMapRef: { name: 'greeting' } }] }],
    },
  });
  const getPod = async (name: string) => JSON.parse(await c.kubectl(['get', 'pod', name, '-o', 'json'])) as PodJson;

  it('a pod created with kubectl runs at the edge and reports Running with its IP', async () => {
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'greeting', namespace: 'default' }, data: { GREETING: 'hello' } }));
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pod('web', 'echo $GREETING; exec sleep 3600'), pod('short', 'sleep 12; exit 0', 'Never')] }));
    await eventually('web Running in the cloud', async () => {
      const p = await getPod('web');
      return (p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.ready === true && !!p.status.podIP) || JSON.stringify(p.status ?? {}).slice(0, 300);
    }, 180_000, 500);
    await eventually('short Running in the cloud', async () => (await getPod('short')).status?.phase === 'Running', 120_000, 500);
  });

  it('cut off: a pod finishes, the agent is killed -9 and restarted; after heal the cloud has the latest statuses', async () => {
    const before = await getPod('web');
    const containerId = before.status?.containerStatuses?.[0]?.containerID;
    assert.ok(containerId);
    await e.link.cut();
    await e.proc.waitForLog(/disconnected from hub/, 30_000);
    await e.proc.kill9();
    const run = await c.h.startKedge('edge-p-run', edgeRunArgs(e), { ready: { logLine: /edge agent started/, timeoutMs: 90_000 } });
    // 'short' exits while we are offline; wait long enough for it to finish at the edge.
    await new Promise((r) => setTimeout(r, 15_000));
    assert.equal((await getPod('short')).status?.phase, 'Running', 'the cloud cannot know yet');
    await e.link.heal();
    await eventually('short Succeeded in the cloud', async () => (await getPod('short')).status?.phase === 'Succeeded', 120_000, 500);
    const web = await getPod('web');
    assert.equal(web.metadata.uid, before.metadata.uid);
    assert.equal(web.status?.containerStatuses?.[0]?.containerID, containerId, 'the running container survived the agent kill -9 (adopted, not recreated)');
    assert.equal(web.status?.containerStatuses?.[0]?.restartCount, 0);
    e.proc = run;
  });

  it('kubectl delete waits for the edge: containers stop, then the edge finishes the deletion', async () => {
    // Graceful deletion: the API keeps the pod (deletionTimestamp) until the node confirms, as with a kubelet.
    await c.kubectl(['delete', 'pod', 'web', '--timeout=120s']);
    await assert.rejects(c.kubectl(['get', 'pod', 'web']), /NotFound|not found/);
    const containers = await fx.runtime.listContainers();
    assert.ok(!containers.some((ct) => ct.state === 'CONTAINER_RUNNING' && ct.labels?.['io.kubernetes.pod.name'] === 'web'), 'web container stopped');
  });
});
