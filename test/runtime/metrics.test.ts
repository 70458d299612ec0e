/**
 * Resource metrics end to end, with the stock kubectl against a real `kedge server` and a joined `kedge edge` on
 * containerd (plus one hollow node on the in-process runtime): a busybox pod burning CPU shows non-zero CPU in
 * `kubectl top pods` (also `--containers`, `-A`, `-l`), `kubectl top nodes` lists the nodes, and the node's kubelet
 * endpoints answer through `kubectl get --raw /api/v1/nodes/NAME/proxy/...` (all over the node's own hub
 * connection). A node whose link is cut disappears from metrics.k8s.io, as with metrics-server.
 * The server scrapes every 2 s (`--metric-resolution 2s`) so the suite does not wait 2 × 15 s.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createLogger } from '../../src/common/logger.js';
import { joinCluster } from '../../src/edge/join.js';
import { HollowNode } from '../../src/sim/hollow-node.js';
import { createToken, eventually, hubMetricsText, joinEdge, startCluster, type Cluster, type Edge } from '../edge/cluster.js';
import { skipReason, startRuntime, type RuntimeFixture } from './env.js';

const skip = skipReason();
if (skip) console.log(`# skipping metrics runtime suite: ${skip}`);

/** `kubectl top` rows as whitespace-separated cells, header dropped. */
const rows = (out: string) => out.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
/** `250m` / `1` → millicores. */
const millicores = (s: string) => (s.endsWith('m') ? Number(s.slice(0, -1)) : Number(s) * 1000);

describe('kubectl top and kubelet stats through the hub on containerd', { skip, timeout: 600_000 }, () => {
  let c: Cluster;
  let fx: RuntimeFixture;
  let e: Edge;
  let hollow: HollowNode;
  const NODE = 'edge-metrics';
  const HOLLOW = 'hollow-metrics';

  before(async () => {
    fx = await startRuntime();
    c = await startCluster('runtime-metrics', { serverArgs: ['--metric-resolution', '2s'] });
    const token = await createToken(c);
    e = await joinEdge(c, NODE, token, ['--runtime', 'cri', '--cri-socket', fx.socket]);
    const hubUrl = `https://127.0.0.1:${c.hubPort}`;
    const dataDir = c.h.tempDir(HOLLOW);
    const credentials = await joinCluster({ server: hubUrl, token: (await createToken(c)).token, caCertHash: token.hash, nodeName: HOLLOW, dataDir });
    hollow = new HollowNode({ nodeName: HOLLOW, dataDir, hubUrl, credentials, log: createLogger('hollow', 'warn'), podSyncIntervalMs: 1000 });
    await hollow.start();
    const pod = (name: string, node: string, labels: Record<string, string>) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels },
      spec: { nodeName: node, terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: fx.busybox, imagePullPolicy: node === NODE ? 'Never' : 'IfNotPresent', command: ['sh', '-c', 'while :; do :; done'] }] },
    });
    await c.kubectl(['apply', '-f', '-'], JSON.stringify(pod('burn', NODE, { app: 'burn' })));
    await c.kubectl(['apply', '-f', '-'], JSON.stringify(pod('hollow-burn', HOLLOW, { app: 'hollow' })));
    await eventually('both pods Running', async () => (await c.kubectl(['get', 'pods', '-o', 'jsonpath={.items[*].status.phase}'])).trim() === 'Running Running', 240_000, 1000);
  });

  after(async () => {
    await hollow?.stop();
    await c?.proxy.close();
    await c?.h.cleanup();
    await fx?.stop();
  });

  it('kubectl top pods shows non-zero CPU for the busy pod, and the hollow node\'s pod', async () => {
    let out = '';
    await eventually('burn has CPU in kubectl top pods', async () => {
      out = await c.kubectl(['top', 'pods']).catch((err: Error) => err.message);
      const burn = rows(out).find((r) => r[0] === 'burn');
      return (!!burn && millicores(burn[1]!) > 0 && rows(out).some((r) => r[0] === 'hollow-burn')) || out;
    }, 120_000, 1000);
    const burn = rows(out).find((r) => r[0] === 'burn')!;
    assert.match(burn[2]!, /^\d+(Ki|Mi)$/, out);
  });

  it('top pods --containers, -l and -A', async () => {
    const containers = rows(await c.kubectl(['top', 'pods', '--containers', '-l', 'app=burn']));
    assert.equal(containers.length, 1, JSON.stringify(containers));
    assert.deepEqual(containers[0]!.slice(0, 2), ['burn', 'c']);
    assert.ok(millicores(containers[0]![2]!) > 0, JSON.stringify(containers));
    const all = rows(await c.kubectl(['top', 'pods', '-A']));
    assert.deepEqual(all.map((r) => `${r[0]}/${r[1]}`).sort(), ['default/burn', 'default/hollow-burn']);
    // kubectl get prints the server's table for the group too (NAME CPU MEMORY WINDOW, as metrics-server).
    const table = await c.kubectl(['get', 'podmetrics', 'burn']);
    assert.match(table, /^NAME\s+CPU\s+MEMORY\s+WINDOW\s*\nburn\s+\d+(m|n)?\s+\d+(Ki|Mi|Gi)?\s+\d/m, table);
  });

  it('kubectl top nodes lists both nodes with CPU and memory', async () => {
    let out = '';
    await eventually('both nodes in kubectl top nodes', async () => {
      out = await c.kubectl(['top', 'nodes']).catch((err: Error) => err.message);
      return [NODE, HOLLOW].every((n) => rows(out).some((r) => r[0] === n)) || out;
    }, 60_000, 1000);
    const edge = rows(out).find((r) => r[0] === NODE)!;
    assert.ok(millicores(edge[1]!) > 0, out);
    assert.match(edge[2]!, /^\d+%$/, out);
    assert.match(edge[3]!, /^\d+Mi$/, out);
  });

  it('both nodes report their usage over their links (protocol v6), so the scraper reads them from the hub, not through the tunnel', async () => {
    await eventually('the API server\'s scraper counts both nodes as reporting', async () => {
      const m = await c.kubectl(['get', '--raw', '/metrics']);
      return /^kedge_metrics_reporting_nodes 2$/m.test(m) || (m.split('\n').find((l) => l.startsWith('kedge_metrics_reporting_nodes')) ?? 'no gauge');
    }, 30_000, 1000);
    const hub = await hubMetricsText(c);
    const ok = Number(/^kedge_hub_usage_reports_total\{result="ok"\} (\d+)$/m.exec(hub)?.[1] ?? 0);
    assert.ok(ok >= 2, hub.split('\n').filter((l) => l.includes('usage_reports')).join('\n') || 'no usage reports counted');
  });

  it('kubectl get --raw …/proxy/stats/summary, /proxy/metrics/resource and /proxy/metrics reach the node\'s kubelet endpoints', async () => {
    const summary = JSON.parse(await c.kubectl(['get', '--raw', `/api/v1/nodes/${NODE}/proxy/stats/summary`])) as {
      node: { nodeName: string; memory: { workingSetBytes: number } };
      pods: { podRef: { name: string; namespace: string }; containers: { name: string; cpu: { usageCoreNanoSeconds: number }; memory: { workingSetBytes: number }; logs?: { usedBytes: number } }[] }[];
    };
    assert.equal(summary.node.nodeName, NODE);
    assert.ok(summary.node.memory.workingSetBytes > 0);
    const burn = summary.pods.find((p) => p.podRef.name === 'burn');
    assert.ok(burn, JSON.stringify(summary.pods.map((p) => p.podRef)));
    assert.ok(burn.containers[0]!.cpu.usageCoreNanoSeconds > 0);
    assert.ok(burn.containers[0]!.memory.workingSetBytes > 0);
    const resource = await c.kubectl(['get', '--raw', `/api/v1/nodes/${NODE}/proxy/metrics/resource`]);
    assert.match(resource, /^container_cpu_usage_seconds_total\{container="c",namespace="default",pod="burn"\} [\d.e+]+ \d+$/m);
    assert.match(resource, /^node_memory_working_set_bytes \d+ \d+$/m);
    const own = await c.kubectl(['get', '--raw', `/api/v1/nodes/${NODE}/proxy/metrics`]);
    assert.match(own, new RegExp(`^kubelet_node_name\\{node="${NODE}"\\} 1$`, 'm'));
    assert.match(own, /^process_cpu_seconds_total /m);
  });

  it('a node whose link is cut disappears from metrics.k8s.io and comes back when it heals', async () => {
    await e.link.cut();
    const nodeMetrics = async () => (JSON.parse(await c.kubectl(['get', '--raw', '/apis/metrics.k8s.io/v1beta1/nodes'])) as { items: { metadata: { name: string } }[] }).items.map((n) => n.metadata.name);
    await eventually('edge node absent from metrics.k8s.io', async () => {
      const names = await nodeMetrics();
      return (!names.includes(NODE) && names.includes(HOLLOW)) || JSON.stringify(names);
    }, 90_000, 1000);
    // kubectl top lists every Node and prints <unknown> for one without metrics (kubectl 1.32).
    const row = rows(await c.kubectl(['top', 'nodes'])).find((r) => r[0] === NODE);
    assert.deepEqual(row?.slice(1, 3), ['<unknown>', '<unknown>']);
    const pod = await c.kubectl(['top', 'pod', 'burn']).then(() => 'served', (err: Error) => err.message);
    assert.match(pod, /podmetrics\.metrics\.k8s\.io "default\/burn" not found/);
    await e.link.heal();
    await eventually('edge node back in metrics.k8s.io', async () => (await nodeMetrics()).includes(NODE), 120_000, 1000);
  });
});
