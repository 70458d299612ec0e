/**
 * Through kubectl alone, against a real `kedge server` and a joined `kedge edge` running pods on
 * containerd: a Deployment and a DaemonSet run and become Ready, env comes from a configmap and a
 * secret, a failing liveness probe restarts a container, a failing readiness probe takes the pod
 * out of its Service's EndpointSlice, a bad image shows ImagePullBackOff, and a deleted pod is
 * stopped gracefully. Pods see a bound service account token (issued by the hub through TokenRequest) and the
 * cluster CA under /var/run/secrets/kubernetes.io/serviceaccount.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, eventually, joinEdge, startCluster, type Cluster, type Edge } from '../edge/cluster.js';
import { skipReason, startRuntime, type RuntimeFixture } from './env.js';

const skip = skipReason();
if (skip) console.log(`# skipping kubectl runtime suite: ${skip}`);

interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number; containerID?: string; state?: { waiting?: { reason?: string }; running?: unknown; terminated?: { exitCode: number; reason?: string } } }[];
  };
}

describe('edge workloads through kubectl on containerd', { skip, timeout: 900_000 }, () => {
  let c: Cluster;
  let fx: RuntimeFixture;
  let e: Edge;
  const NODE = 'edge-k';

  before(async () => {
    fx = await startRuntime();
    c = await startCluster('runtime-kubectl');
    const token = await createToken(c);
    e = await joinEdge(c, NODE, token, ['--runtime', 'cri', '--cri-socket', fx.socket]);
  });

  after(async () => {
    await c?.proxy.close();
    await c?.h.cleanup();
    await fx?.stop();
  });

  const apply = (obj: unknown) => c.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
  const pods = async (selector: string) => (JSON.parse(await c.kubectl(['get', 'pods', '-l', selector, '-o', 'json'])) as { items: Pod[] }).items;
  const container = (name: string, script: string, extra: Record<string, unknown> = {}) => ({ name, image: fx.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script], ...extra });

  it('a Deployment runs Ready with env from a configmap and a secret', async () => {
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config', namespace: 'default' }, data: { MODE: 'edge-mode' } });
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-secret', namespace: 'default' }, stringData: { TOKEN: 'tok-123' } });
    await apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [
              container('main', 'echo "MODE=$MODE TOKEN=$TOKEN"; touch /tmp/ready; exec sleep 3600', {
                env: [
                  { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'MODE' } } },
                  { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'TOKEN' } } },
                ],
                readinessProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 },
              }),
            ],
          },
        },
      },
    });
    await eventually('2 web pods Running and Ready', async () => {
      const ps = await pods('app=web');
      return (ps.length === 2 && ps.every((p) => p.spec.nodeName === NODE && p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.ready)) || JSON.stringify(ps.map((p) => p.status?.containerStatuses?.[0]?.state ?? p.status?.phase));
    }, 240_000, 1000);
    await eventually('deployment available', async () => (await c.kubectl(['get', 'deploy', 'web', '-o', 'jsonpath={.status.availableReplicas}'])).trim() === '2', 120_000, 1000);
    const ps = await pods('app=web');
    const cid = ps[0]!.status!.containerStatuses![0]!.containerID!.replace('containerd://', '');
    const out = await fx.runtime.execSync(cid, ['sh', '-c', 'echo $MODE/$TOKEN'], 10);
    assert.equal(out.stdout.toString().trim(), 'edge-mode/tok-123');
  });

  it('pods get a bound service account token and the root CA that authenticate against the API', async () => {
    const cid = (await pods('app=web'))[0]!.status!.containerStatuses![0]!.containerID!.replace('containerd://', '');
    const read = async (file: string) => (await fx.runtime.execSync(cid, ['cat', `/var/run/secrets/kubernetes.io/serviceaccount/${file}`], 10)).stdout.toString();
    // The hub requests the token after the pod is bound; the edge writes it on its next volume refresh.
    let token = '';
    await eventually('token file in the pod', async () => (token = (await read('token')).trim()).split('.').length === 3 || 'no token yet', 60_000, 1000);
    assert.equal((await read('namespace')).trim(), 'default');
    assert.equal(await read('ca.crt'), await c.kubectl(['get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}']));
    assert.match(await read('ca.crt'), /BEGIN CERTIFICATE/);
    const review = JSON.parse(await c.kubectl(['create', '-o', 'json', '-f', '-'], JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } })));
    assert.equal(review.status.authenticated, true);
    assert.equal(review.status.user.username, 'system:serviceaccount:default:default');
  });

  it('a readiness failure takes the pod out of its Service EndpointSlice', async () => {
    await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } });
    const slices = async () =>
      (JSON.parse(await c.kubectl(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json'])) as { items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[] }).items.flatMap((s) => s.endpoints ?? []);
    await eventually('2 ready endpoints', async () => {
      const eps = await slices();
      return (eps.filter((x) => x.conditions?.ready).length === 2) || JSON.stringify(eps);
    }, 120_000, 1000);
    const victim = (await pods('app=web'))[0]!;
    const cid = victim.status!.containerStatuses![0]!.containerID!.replace('containerd://', '');
    await fx.runtime.execSync(cid, ['rm', '/tmp/ready'], 5);
    await eventually('victim not ready in the EndpointSlice', async () => {
      const eps = await slices();
      const mine = eps.find((x) => x.addresses.includes(victim.status!.podIP!));
      return (!!mine && mine.conditions?.ready === false && eps.filter((x) => x.conditions?.ready).length === 1) || JSON.stringify(eps);
    }, 120_000, 1000);
  });

  it('a DaemonSet runs one pod on the edge node', async () => {
    await apply({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'ds' } }, template: { metadata: { labels: { app: 'ds' } }, spec: { terminationGracePeriodSeconds: 2, containers: [container('main', 'exec sleep 3600')] } } },
    });
    await eventually('daemon pod Running on the edge', async () => {
      const ps = await pods('app=ds');
      return (ps.length === 1 && ps[0]!.spec.nodeName === NODE && ps[0]!.status?.phase === 'Running') || JSON.stringify(ps.map((p) => p.status));
    }, 180_000, 1000);
  });

  it('a failing liveness probe restarts the container (restartCount grows)', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'liveness', namespace: 'default', labels: { app: 'liveness' } },
      spec: { nodeName: NODE, terminationGracePeriodSeconds: 1, containers: [container('main', 'touch /tmp/ok; sleep 3; rm /tmp/ok; exec sleep 3600', { livenessProbe: { exec: { command: ['cat', '/tmp/ok'] }, periodSeconds: 1, failureThreshold: 2 } })] },
    });
    await eventually('restartCount ≥ 1', async () => ((await pods('app=liveness'))[0]?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 120_000, 1000);
  });

  it('a bad image shows ImagePullBackOff and other pods keep running', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'badimage', namespace: 'default', labels: { app: 'badimage' } },
      spec: { nodeName: NODE, containers: [{ name: 'main', image: 'registry.kedge.invalid/none:1' }] },
    });
    await eventually('ImagePullBackOff', async () => {
      const r = (await pods('app=badimage'))[0]?.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      return r === 'ImagePullBackOff' || `${r}`;
    }, 180_000, 1000);
    assert.ok((await pods('app=web')).every((p) => p.status?.phase === 'Running'));
  });

  it('deleting a pod stops its container gracefully at the edge', async () => {
    const victim = (await pods('app=ds'))[0]!;
    const cid = victim.status!.containerStatuses![0]!.containerID!.replace('containerd://', '');
    await c.kubectl(['delete', 'pod', victim.metadata.name, '--wait=false']);
    await eventually('container stopped at the edge', async () => {
      const st = await fx.runtime.containerStatus(cid).catch(() => null);
      return !st || st.state === 'CONTAINER_EXITED';
    }, 120_000, 500);
    await eventually('pod gone from the API', async () => {
      const out = await c.kubectl(['get', 'pods', '-l', 'app=ds', '-o', 'jsonpath={range .items[*]}{.metadata.name}{" "}{end}']);
      return !out.includes(victim.metadata.name) || out;
    }, 60_000, 1000);
  });
});
