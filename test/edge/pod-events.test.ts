/**
 * Real containers (containerd, runc, CNI) behind a real edge agent and hub: a crash-looping container's repeated
 * events reach the API as one Event with a count (`kubectl describe` shows `(xN over …)`), and a pod's readiness
 * gate, set with kubectl, holds its Ready back at the edge until the gate's condition is True. Needs root
 * (containerd), as CI runs; skipped with a reason otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, eventually, joinEdge, startCluster, type Cluster } from './cluster.js';
import { skipReason, startRuntime, type RuntimeFixture } from '../runtime/env.js';

const skip = skipReason();
if (skip) console.log(`# skipping edge pod events suite: ${skip}`);

interface EventJson { metadata: { name: string }; involvedObject: { name?: string }; reason?: string; count?: number }
interface PodJson { status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> } }

describe('edge pod events and readiness gates on containerd', { skip, timeout: 600_000 }, () => {
  let c: Cluster;
  let fx: RuntimeFixture;

  before(async () => {
    fx = await startRuntime();
    c = await startCluster('edge-pod-events');
    const token = await createToken(c);
    await joinEdge(c, 'edge-ev', token, ['--runtime', 'cri', '--cri-socket', fx.socket]);
  });

  after(async () => {
    await c?.proxy.close();
    await c?.h.cleanup();
    await fx?.stop();
  });

  const pod = (name: string, script: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: {
      nodeName: 'edge-ev', terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: fx.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script] }],
      ...extra,
    },
  });

  it('a crash-looping container: its repeated events are one Event with a count, and kubectl describe shows (xN over …)', async () => {
    await c.kubectl(['apply', '-f', '-'], JSON.stringify(pod('crasher', 'exit 3')));
    // Restarts: at once, then after 10 s and 20 s of back-off (kubelet's): three starts within ~35 s.
    await eventually('Started counted three times on one Event', async () => {
      const items = (JSON.parse(await c.kubectl(['get', 'events', '-n', 'default', '-o', 'json'])) as { items: EventJson[] }).items
        .filter((e) => e.involvedObject.name === 'crasher' && e.reason === 'Started');
      return (items.length === 1 && (items[0]!.count ?? 0) >= 3) || JSON.stringify(items.map((e) => [e.metadata.name, e.count]));
    }, 180_000, 1000);
    const described = await c.kubectl(['describe', 'pod', 'crasher']);
    assert.match(described, /Started\s+\S+ \(x[3-9]\d* over \S+\)\s+\S+\s+Started container main/, described.slice(described.indexOf('Events:')));
  });

  it('a readiness gate set with kubectl holds Ready back at the edge until its condition is True', async () => {
    await c.kubectl(['apply', '-f', '-'], JSON.stringify(pod('gated', 'exec sleep 3600', { readinessGates: [{ conditionType: 'example.com/load-balancer' }] })));
    const conditions = async () => Object.fromEntries(((JSON.parse(await c.kubectl(['get', 'pod', 'gated', '-o', 'json'])) as PodJson).status?.conditions ?? []).map((x) => [x.type, x]));
    await eventually('containers ready, pod not Ready for want of the gate', async () => {
      const cs = await conditions();
      return (cs.ContainersReady?.status === 'True' && cs.Ready?.status === 'False' && cs.Ready.reason === 'ReadinessGatesNotReady'
        && cs.Ready.message === 'corresponding condition of pod readiness gate "example.com/load-balancer" does not exist.') || JSON.stringify(cs.Ready ?? {});
    }, 180_000, 500);
    const setGate = (status: string) => c.kubectl(['patch', 'pod', 'gated', '--subresource=status', '-p',
      JSON.stringify({ status: { conditions: [{ type: 'example.com/load-balancer', status, lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } })]);
    await setGate('True');
    await eventually('Ready once the gate is True (computed at the edge)', async () => (await conditions()).Ready?.status === 'True', 60_000, 500);
    await setGate('False');
    await eventually('not Ready again, the gate condition kept', async () => {
      const cs = await conditions();
      return (cs.Ready?.status === 'False' && cs.Ready.message === 'the status of pod readiness gate "example.com/load-balancer" is not "True", but False'
        && cs['example.com/load-balancer']?.status === 'False') || JSON.stringify(cs);
    }, 60_000, 500);
  });
});
