import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, eventually, hubMetricsText, joinEdge, startCluster, type Cluster, type Edge } from './cluster.js';

// The node lifecycle controller never sets Ready=True itself (only the kubelet does, as upstream): a real
// edge agent must post it whenever its link to the hub comes back, or its node would stay NotReady.
const GRACE_S = 3;
let c: Cluster;
let edge: Edge;

before(async () => {
  c = await startCluster('edge-node-ready', { serverArgs: ['--node-monitor-grace-period', String(GRACE_S)] });
  edge = await joinEdge(c, 'edge-ready', await createToken(c));
});
after(async () => {
  await c?.proxy.close();
  await c?.h.cleanup();
});

const ready = async () =>
  JSON.parse(await c.kubectl(['get', 'node', 'edge-ready', '-o', 'json'])).status.conditions.find((x: { type: string }) => x.type === 'Ready') as
    | { status: string; reason: string }
    | undefined;

test('an edge cut off for longer than the grace period goes NotReady, and is Ready again when its agent reconnects and posts it', async () => {
  await eventually('Ready', async () => (await ready())?.status === 'True');
  await edge.link.cut();
  await eventually('NotReady (Unknown)', async () => (await ready())?.status === 'Unknown', 60_000);
  assert.equal((await ready())?.reason, 'NodeStatusUnknown');
  // No flap: the hub may not have noticed the dead link yet, but without a renewal it re-asserts nothing.
  for (const until = Date.now() + 2 * GRACE_S * 1000; Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
    assert.equal((await ready())?.status, 'Unknown', 'stays Unknown while cut');
  }
  await edge.link.heal();
  await eventually('Ready again', async () => (await ready())?.status === 'True');
  assert.equal((await ready())?.reason, 'KubeletReady', 'posted by the edge agent, not by the controller');
  await eventually('unreachable taint removed', async () => !JSON.parse(await c.kubectl(['get', 'node', 'edge-ready', '-o', 'json'])).spec.taints?.length);
});

test('a connected node the cloud marks Unknown (its lease late under load) is Ready again at its next lease renewal: the hub re-asserts what the node reported', async () => {
  await eventually('Ready', async () => (await ready())?.status === 'True');
  // What the node lifecycle writes over a node whose renewals came late; the edge's session stays up meanwhile.
  const unknown = { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }] } };
  await c.kubectl(['patch', 'node', 'edge-ready', '--subresource=status', '--type=strategic', '-p', JSON.stringify(unknown)]);
  // The edge posts an unchanged status only every 5 minutes: without the hub, the node would stay NotReady that long.
  await eventually('Ready again without a reconnect', async () => (await ready())?.status === 'True', 20_000);
  assert.equal((await ready())?.reason, 'KubeletReady');
  assert.match(await hubMetricsText(c), /kedge_hub_status_writes_total\{kind="node-reassert",result="ok"\} [1-9]/);
});

test('after kill -9 of kedge server the reconnecting edge agent posts Ready: the node is Ready, never NotReady', async () => {
  await c.server.kill9();
  await c.server.start();
  await c.server.waitForLog(/became leader/, 60_000);
  // The agent reconnects within its backoff and posts Ready; for three grace periods it never goes NotReady.
  const until = Date.now() + 3 * GRACE_S * 1000;
  while (Date.now() < until) {
    assert.equal((await ready())?.status, 'True');
    await new Promise((r) => setTimeout(r, 500));
  }
});
