/**
 * Fleet benchmark (issue 6): one real `kedge server` process (API server + controllers + cloud hub)
 * and N hollow edge nodes (src/sim: the real EdgeAgent with a fake container runtime) in this
 * process, dialing the hub through the fault proxy (test/harness) so every byte on the cloud-edge
 * link is counted. One run measures:
 *   1. scale: N nodes joined, heartbeating every 10 s, P pods per node bound and persisted at the edge
 *   2. delivery latency: pod created bound to a node in the cloud → persisted in that node's store,
 *      under the bulk load and as a paced stream at steady state (p50/p99)
 *   3. reconnect storm: the link cut for all nodes, C changes made, link healed: time until every
 *      node has every change, and hub→edge bytes, compared in the same run with (a) a full resync of
 *      the same nodes over Kedge's protocol (fresh stores) and (b) a kubelet-style relist over the API
 *   4. memory: server RSS per connected node; a real `kedge edge run` process's RSS at idle
 *   5. bandwidth per node per hour at steady state (both directions, heartbeats included)
 *
 * Usage: npm run bench:fleet [-- --nodes 1000 --pods-per-node 10 --no-record]
 */
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { existsSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Harness, type ManagedProcess } from '../test/harness/processes.js';
import { kedgeCommand } from '../test/helpers/kedge-cli.js';
import { FaultProxy } from '../test/harness/fault-proxy.js';
import { ProcSampler, sampleProcess } from '../test/harness/procstat.js';
import { KubeHttp } from './lib/kube-http.js';
import { distribution, runConcurrent, round, toMiB, now, since, formatBytes, type Distribution } from './lib/stats.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';
import { Fleet } from '../src/sim/fleet.js';
import type { HollowNode } from '../src/sim/hollow-node.js';
import { ensureCertificateAuthority, issueClientCertificate, pkiDir } from '../src/pki/index.js';
import { writeEdgeIdentity, type EdgeCredentials } from '../src/edge/config.js';

const { values: opt } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    'pods-per-node': { type: 'string', default: '10' },
    'paced-pods': { type: 'string', default: '200' },
    'paced-rate': { type: 'string', default: '20' },
    'steady-seconds': { type: 'string', default: '60' },
    'cut-seconds': { type: 'string', default: '10' },
    'storm-changes': { type: 'string', default: '' },
    'heartbeat-ms': { type: 'string', default: '10000' },
    'start-concurrency': { type: 'string', default: '20' },
    'relist-sample': { type: 'string', default: '100' },
    'base-dir': { type: 'string', default: existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir() },
    'skip-fresh-resync': { type: 'boolean', default: false },
    /** write a V8 CPU profile of the server (and this process) into DIR, for finding bottlenecks */
    'profile-dir': { type: 'string', default: '' },
    'no-record': { type: 'boolean', default: false },
  },
});
const int = (name: keyof typeof opt, min = 0) => {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(opt[name])}`);
  return v;
};
const P = {
  nodes: int('nodes', 1),
  podsPerNode: int('pods-per-node'),
  pacedPods: int('paced-pods'),
  pacedRate: int('paced-rate', 1),
  steadySeconds: int('steady-seconds', 1),
  cutSeconds: int('cut-seconds'),
  stormChanges: opt['storm-changes'] ? int('storm-changes') : int('nodes', 1),
  heartbeatMs: int('heartbeat-ms', 100),
  startConcurrency: int('start-concurrency', 1),
  relistSample: int('relist-sample', 1),
};
const NS = 'fleet';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[bench:fleet ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const podKey = (name: string) => `/registry/pods/${NS}/${name}`;

function pod(name: string, nodeName: string, i: number): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: 'fleet', rev: '0' } },
    spec: {
      nodeName,
      // edge pods tolerate an unreachable cloud, as Kedge's autonomy expects
      tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }],
      containers: [{ name: 'app', image: 'registry.example/fleet/app:1.0', env: [{ name: 'INDEX', value: String(i) }], resources: { requests: { cpu: '10m', memory: '16Mi' } } }],
    },
  };
}

/** Resolves when host:port accepts TCP (bounded). */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = now() + timeoutMs;
  while (now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`hub port ${port} not accepting connections after ${timeoutMs} ms`);
}

async function steadyRss(pid: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(sampleProcess(pid).rssBytes);
    await sleep(200);
  }
  return distribution(xs).p50;
}

/**
 * Tracks which pod keys each node still has to persist, and the create → persisted latency of each.
 * Keys are matched per node, so an object delivered to the wrong node never counts.
 */
class DeliveryTracker {
  private readonly pending = new Map<string, { node: string; sentAt: number }>();
  readonly lagMs: number[] = [];
  private waiters: (() => void)[] = [];

  expect(node: string, key: string, sentAt = now()): void {
    this.pending.set(`${node}\u0000${key}`, { node, sentAt });
  }

  onApplied(node: string, key: string, at: number): void {
    const id = `${node}\u0000${key}`;
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.lagMs.push(at - p.sentAt);
    if (this.pending.size === 0) for (const w of this.waiters.splice(0)) w();
  }

  get outstanding(): number {
    return this.pending.size;
  }

  /** Wait (bounded) until nothing is outstanding; returns whether that happened. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.pending.size === 0) return true;
    return Promise.race([new Promise<boolean>((r) => this.waiters.push(() => r(true))), sleep(timeoutMs).then(() => this.pending.size === 0)]);
  }

  reset(): void {
    this.pending.clear();
    this.lagMs.length = 0;
  }
}

async function main(): Promise<void> {
  const report = newReport('fleet', P);
  const h = new Harness('bench-fleet');
  const proxy = new FaultProxy();
  const fleetDir = mkdtempSync(path.join(opt['base-dir']!, 'kedge-fleet-'));
  let fleet: Fleet | undefined;
  const cleanup = async () => {
    log('cleaning up');
    await fleet?.destroy().catch(() => {});
    await proxy.close();
    await h.cleanup();
    await rm(fleetDir, { recursive: true, force: true });
    log('cleaned up');
  };
  const rows: SummaryRow[] = [];
  // Interrupted (Ctrl-C, or SIGTERM from a time budget): publish the phases measured so far, marked partial.
  let interruptedOnce = false;
  const interrupted = (signal: string) => {
    if (interruptedOnce) return;
    interruptedOnce = true;
    report.notes.push(`PARTIAL: interrupted by ${signal}; phases after the last row were not measured`);
    try {
      publish(report, rows, { write: !opt['no-record'] });
    } finally {
      void cleanup().then(() => process.exit(130));
    }
  };
  // `on`, not `once`: the listener stays registered, so the harness's own handler leaves the exit to us
  process.on('SIGINT', () => interrupted('SIGINT'));
  process.on('SIGTERM', () => interrupted('SIGTERM'));
  const results: Record<string, unknown> = {};
  report.results = results;
  try {
    // --- cloud ---------------------------------------------------------------------------------
    const dataDir = h.tempDir('server');
    const apiPort = await h.freePort();
    const hubPort = await h.freePort();
    log(`starting kedge server (API :${apiPort}, hub :${hubPort})`);
    const serverArgs = ['server', '--data-dir', dataDir, '--bind-address', '127.0.0.1', '--secure-port', String(apiPort), '--hub-port', String(hubPort)];
    const ready = { url: `https://127.0.0.1:${apiPort}/readyz`, timeoutMs: 90_000 };
    const server = opt['profile-dir']
      ? // V8 writes the profile when the process exits (graceful stop below)
        await h.start({ name: 'kedge-server', command: process.execPath, args: ['--cpu-prof', `--cpu-prof-dir=${path.resolve(opt['profile-dir'])}`, ...kedgeCommand(serverArgs).args], ready })
      : await h.startKedge('kedge-server', serverArgs, { ready });
    await waitForPort(hubPort, 60_000);
    const kubeconfig = path.join(dataDir, 'admin.kubeconfig');
    const client = await KubeHttp.fromKubeconfig(kubeconfig, 32);
    await client.ensure('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    const link = await proxy.addLink('hub', { host: '127.0.0.1', port: hubPort });
    const hubUrl = `https://127.0.0.1:${link.port}`;
    const ca = await ensureCertificateAuthority(pkiDir(dataDir));
    // Node identities are minted from the cluster CA, as the hub's CSR approval would issue them:
    // joining 10,000 nodes through bootstrap tokens is the join path's own benchmark, not this one.
    const credentials = async (nodeName: string): Promise<EdgeCredentials> => {
      const c = await issueClientCertificate(ca, `system:node:${nodeName}`, ['system:nodes']);
      return { caCertPem: ca.certPem, certPem: c.certPem, keyPem: c.keyPem };
    };
    await sleep(3000);
    const serverIdleRss = await steadyRss(server.pid);
    const benchIdleRss = process.memoryUsage().rss;
    log(`server idle RSS ${toMiB(serverIdleRss)} MiB`);

    // The simulator's own event-loop delay: if it is large, late pongs/acks are the simulator's fault, not the hub's.
    const simLoopDelay = monitorEventLoopDelay({ resolution: 20 });
    simLoopDelay.enable();
    const loopDelayMs = () => ({ p99: round(simLoopDelay.percentile(99) / 1e6, 1), max: round(simLoopDelay.max / 1e6, 1) });

    // --- 1. scale: join N hollow nodes ---------------------------------------------------------
    const delivery = new DeliveryTracker();
    let appliedHook: ((node: HollowNode, key: string, at: number) => void) | undefined;
    let syncedNodes = 0;
    fleet = new Fleet({
      hubUrl,
      baseDir: fleetDir,
      credentials,
      startConcurrency: P.startConcurrency,
      node: { heartbeatIntervalMs: P.heartbeatMs },
      observer: {
        applied: (node, key, kind, at) => {
          if (kind === 'upsert') delivery.onApplied(node.name, key, at);
          appliedHook?.(node, key, at);
        },
        synced: () => {
          syncedNodes++;
        },
      },
    });
    log(`joining ${P.nodes} hollow nodes (${P.startConcurrency} at a time)`);
    const tJoin = now();
    await fleet.grow(P.nodes);
    const allConnected = await fleet.waitFor(() => fleet!.nodes.every((n) => n.connected && n.synced), 600_000, 200);
    const joinMs = since(tJoin);
    log(`${fleet.connectedCount()}/${P.nodes} connected and synced in ${round(joinMs / 1000, 1)} s`);
    // Nodes registered through the hub's status path, visible to kubectl
    const nodesVisible = async () => (await client.json<{ items: unknown[] }>('GET', '/api/v1/nodes?labelSelector=kedge.io%2Fhollow%3Dtrue')).items.length;
    let registered = 0;
    // bounded by wall time, not by tries: one list can itself take seconds on a loaded server
    for (const until = now() + 300_000; (registered = await nodesVisible()) < P.nodes && now() < until; ) await sleep(1000);
    await sleep(2000);
    const serverRssConnected = await steadyRss(server.pid);
    const benchRssConnected = process.memoryUsage().rss;
    // more connections than nodes = sessions dropped and re-dialled while joining (churn)
    const joinConnections = link.counters().accepted;
    const joinLoopDelay = loopDelayMs();
    simLoopDelay.reset();
    results.scale = {
      nodes: P.nodes,
      connected: fleet.connectedCount(),
      allConnectedAndSynced: allConnected,
      joinSeconds: round(joinMs / 1000, 1),
      nodesRegisteredInApi: registered,
      connectionsWhileJoining: joinConnections,
      simulatorEventLoopDelayMs: joinLoopDelay,
    };
    results.memory = {
      serverIdleRssMiB: toMiB(serverIdleRss),
      serverRssWithNodesMiB: toMiB(serverRssConnected),
      serverRssPerNodeKiB: round((serverRssConnected - serverIdleRss) / P.nodes / 1024, 1),
      simulatorRssPerHollowNodeKiB: round((benchRssConnected - benchIdleRss) / P.nodes / 1024, 1),
    };
    rows.push(
      [`nodes joined (hollow, one process)`, `${fleet.connectedCount()}/${P.nodes}`, `all connected+synced in ${round(joinMs / 1000, 1)} s; ${registered} Node objects in the API; ${joinConnections} connections (${joinConnections - P.nodes} re-dials); simulator loop delay max ${joinLoopDelay.max} ms`],
      ['server RSS idle → with nodes', `${toMiB(serverIdleRss)} → ${toMiB(serverRssConnected)} MiB`, `${round((serverRssConnected - serverIdleRss) / P.nodes / 1024, 1)} KiB per connected node`],
    );

    // --- 2a. bulk: P pods per node -------------------------------------------------------------
    const nodeNames = fleet.nodes.map((n) => n.name);
    const totalPods = P.nodes * P.podsPerNode;
    const bulkName = (i: number) => `bulk-${String(i).padStart(6, '0')}`;
    const bulkNode = (i: number) => nodeNames[i % nodeNames.length]!;
    log(`creating ${totalPods} pods bound to the nodes (${P.podsPerNode} per node)`);
    const serverCpu = new ProcSampler(server.pid, 500).start();
    const tBulk = now();
    const bulk = await runConcurrent(totalPods, 32, (i) => {
      delivery.expect(bulkNode(i), podKey(bulkName(i)));
      return client.json('POST', `/api/v1/namespaces/${NS}/pods`, pod(bulkName(i), bulkNode(i), i));
    });
    const bulkDelivered = await delivery.drained(600_000);
    const bulkAllMs = since(tBulk);
    const bulkLag = distribution(delivery.lagMs);
    const bulkCost = serverCpu.stop();
    log(`bulk: ${round(bulk.opsPerSecond)} creates/s, all persisted at the edges after ${round(bulkAllMs / 1000, 1)} s (${delivery.outstanding} missing)`);
    // pods reported Running by the hollow nodes' pod managers, through the hub's status path
    const running = async () =>
      (await client.json<{ items: unknown[] }>('GET', `/api/v1/namespaces/${NS}/pods?fieldSelector=status.phase%3DRunning`)).items.length;
    let runningCount = 0;
    const tRunning = now();
    for (const until = now() + 120_000; (runningCount = await running()) < totalPods - bulk.errors && now() < until; ) await sleep(1000);
    const runningMs = since(tRunning) + bulkAllMs;
    results.bulk = {
      pods: totalPods,
      createErrors: bulk.errors,
      firstError: bulk.firstError,
      createsPerSecond: round(bulk.opsPerSecond),
      allPersistedAtEdges: bulkDelivered,
      missing: delivery.outstanding,
      secondsUntilAllPersisted: round(bulkAllMs / 1000, 1),
      deliveryLagMs: roundD(bulkLag),
      reportedRunning: runningCount,
      secondsUntilRunningReported: round(runningMs / 1000, 1),
      serverAvgCpuCores: round(bulkCost.avgCpuCores),
    };
    rows.push(
      [`pods bound (${P.podsPerNode}/node)`, `${totalPods - bulk.errors} created at ${round(bulk.opsPerSecond, 0)}/s`, `all persisted at edges: ${bulkDelivered} after ${round(bulkAllMs / 1000, 1)} s; ${runningCount} reported Running`],
      ['delivery under bulk load', `p50 ${round(bulkLag.p50, 0)} ms, p99 ${round(bulkLag.p99, 0)} ms`, 'create sent → persisted in the node store'],
    );
    delivery.reset();

    // --- 2b. paced delivery at steady state ----------------------------------------------------
    log(`paced: ${P.pacedPods} pods at ${P.pacedRate}/s`);
    const pacedName = (i: number) => `paced-${String(i).padStart(6, '0')}`;
    // Our own API watch splits the latency: create → event out of the API server, and from there → edge store.
    const apiSeenAt = new Map<string, number>();
    const pacedWatchRv = (await client.json<{ metadata: { resourceVersion: string } }>('GET', `/api/v1/namespaces/${NS}/pods?limit=1`)).metadata.resourceVersion;
    const apiWatch = client.watch(`/api/v1/namespaces/${NS}/pods`, pacedWatchRv, (type, o) => {
      const n = o.metadata?.name ?? '';
      if (type === 'ADDED' && n.startsWith('paced-') && !apiSeenAt.has(n)) apiSeenAt.set(n, now());
    });
    await apiWatch.established;
    const edgeAt = new Map<string, number>();
    const pacedObserver = (node: HollowNode, key: string, at: number) => {
      if (key.startsWith(podKey('paced-')) && !edgeAt.has(key.slice(podKey('').length))) edgeAt.set(key.slice(podKey('').length), at);
    };
    appliedHook = pacedObserver;
    const pacedCreates: Promise<unknown>[] = [];
    for (let i = 0; i < P.pacedPods; i++) {
      const node = nodeNames[(i * 7919) % nodeNames.length]!;
      delivery.expect(node, podKey(pacedName(i)));
      pacedCreates.push(client.json('POST', `/api/v1/namespaces/${NS}/pods`, pod(pacedName(i), node, i)).catch((e: Error) => e));
      await sleep(1000 / P.pacedRate);
    }
    await Promise.all(pacedCreates);
    const pacedDone = await delivery.drained(120_000);
    const pacedLag = distribution(delivery.lagMs);
    apiWatch.close();
    appliedHook = undefined;
    const apiToEdge: number[] = [];
    for (const [name, t] of edgeAt) {
      const seen = apiSeenAt.get(name);
      if (seen !== undefined) apiToEdge.push(t - seen);
    }
    const apiToEdgeLag = distribution(apiToEdge);
    results.delivery = {
      nodesConnected: fleet.connectedCount(),
      pods: P.pacedPods,
      ratePerSecond: P.pacedRate,
      complete: pacedDone,
      missing: delivery.outstanding,
      lagMs: roundD(pacedLag),
      apiWatchEventToEdgePersistedMs: roundD(apiToEdgeLag),
    };
    rows.push([`delivery, ${P.pacedRate} pods/s paced, ${fleet.connectedCount()} nodes`, `p50 ${round(pacedLag.p50, 0)} ms, p99 ${round(pacedLag.p99, 0)} ms`, `goal p99 < 1000 ms${pacedDone ? '' : `; ${delivery.outstanding} never arrived`}`]);
    rows.push(['  of which API watch event → edge store', `p50 ${round(apiToEdgeLag.p50, 0)} ms, p99 ${round(apiToEdgeLag.p99, 0)} ms`, 'hub + link + edge apply (the rest is the API server)']);
    delivery.reset();

    // --- 5. steady-state bandwidth -------------------------------------------------------------
    log(`steady state: ${P.steadySeconds} s of heartbeats`);
    await sleep(2000);
    proxy.resetCounters();
    simLoopDelay.reset();
    const steadyCpu = new ProcSampler(server.pid, 1000).start();
    const tSteady = now();
    await sleep(P.steadySeconds * 1000);
    const steadyWall = since(tSteady) / 1000;
    const steadyBytes = link.counters();
    const steadyCost = steadyCpu.stop();
    const steadyLoopDelay = loopDelayMs();
    const perNodeHour = (b: number) => (b / P.nodes / steadyWall) * 3600;
    results.bandwidth = {
      seconds: round(steadyWall, 1),
      upBytesPerNodeHour: round(perNodeHour(steadyBytes.upBytes), 0),
      downBytesPerNodeHour: round(perNodeHour(steadyBytes.downBytes), 0),
      heartbeatMs: P.heartbeatMs,
      serverAvgCpuCores: round(steadyCost.avgCpuCores),
      simulatorEventLoopDelayMs: steadyLoopDelay,
    };
    rows.push(
      ['bandwidth per node-hour, steady state', `${round(perNodeHour(steadyBytes.upBytes) / 1024, 1)} KiB up, ${round(perNodeHour(steadyBytes.downBytes) / 1024, 1)} KiB down`, `TLS bytes on the link, lease every ${P.heartbeatMs / 1000} s`],
      ['server CPU at steady state', `${round(steadyCost.avgCpuCores, 2)} cores`, `${P.nodes} nodes heartbeating; simulator event-loop delay p99 ${steadyLoopDelay.p99} ms, max ${steadyLoopDelay.max} ms`],
    );

    // --- 3. reconnect storm --------------------------------------------------------------------
    log(`storm: cutting all ${P.nodes} nodes for ${P.cutSeconds} s, ${P.stormChanges} changes meanwhile`);
    await link.cut();
    const cutStart = now();
    const stormTargets = Array.from({ length: Math.min(P.stormChanges, Math.max(totalPods, 1)) }, (_, i) => i);
    const storm = await runConcurrent(stormTargets.length, 32, async (j) => {
      // spread the changes over the nodes: change j touches bulk pod j (node j % N)
      await client.json('PATCH', `/api/v1/namespaces/${NS}/pods/${bulkName(j)}`, { metadata: { labels: { rev: '1' } } }, 'application/merge-patch+json');
      delivery.expect(bulkNode(j), podKey(bulkName(j)));
    });
    const remaining = P.cutSeconds * 1000 - since(cutStart);
    if (remaining > 0) await sleep(remaining);
    await fleet.waitFor(() => fleet!.connectedCount() === 0, 60_000);
    proxy.resetCounters();
    const tHeal = now();
    await link.heal();
    const stormSettled = (await delivery.drained(300_000)) && (await fleet.waitFor(() => fleet!.connectedCount() === P.nodes, 60_000));
    const stormMs = since(tHeal);
    const stormBytes = link.counters();
    results.storm = {
      cutSeconds: P.cutSeconds,
      changes: stormTargets.length - storm.errors,
      changeErrors: storm.errors,
      settled: stormSettled,
      missing: delivery.outstanding,
      secondsUntilAllInSync: round(stormMs / 1000, 1),
      hubToEdgeBytes: stormBytes.downBytes,
      edgeToHubBytes: stormBytes.upBytes,
      reconnections: stormBytes.accepted,
    };
    log(`storm settled=${stormSettled} in ${round(stormMs / 1000, 1)} s, ${toMiB(stormBytes.downBytes)} MiB down`);
    delivery.reset();

    // --- 3b. the same nodes relisting, measured in this run -------------------------------------
    // (a) kubelet-style: what plain Kubernetes nodes would pull on reconnect (their pods, by field selector)
    const sample = nodeNames.filter((_, i) => i % Math.max(1, Math.floor(nodeNames.length / P.relistSample)) === 0).slice(0, P.relistSample);
    let relistBytes = 0;
    for (const n of sample) {
      const r = await client.listAll(`/api/v1/pods?fieldSelector=spec.nodeName%3D${encodeURIComponent(n)}`);
      relistBytes += r.bytes;
    }
    const apiRelistAllNodes = (relistBytes / sample.length) * P.nodes;
    // (b) Kedge's own full resync: every node restarted with an empty store
    let freshBytes: number | null = null;
    let freshMs: number | null = null;
    if (!opt['skip-fresh-resync']) {
      log('fresh resync: restarting every node with an empty store');
      await fleet.destroy();
      const expectPerNode = new Map<string, number>();
      for (let i = 0; i < totalPods; i++) expectPerNode.set(bulkNode(i), (expectPerNode.get(bulkNode(i)) ?? 0) + 1);
      for (let i = 0; i < P.pacedPods; i++) {
        const n = nodeNames[(i * 7919) % nodeNames.length]!;
        expectPerNode.set(n, (expectPerNode.get(n) ?? 0) + 1);
      }
      for (let i = 0; i < totalPods; i++) delivery.expect(bulkNode(i), podKey(bulkName(i)));
      for (let i = 0; i < P.pacedPods; i++) delivery.expect(nodeNames[(i * 7919) % nodeNames.length]!, podKey(pacedName(i)));
      proxy.resetCounters();
      const tFresh = now();
      fleet = new Fleet({
        hubUrl,
        baseDir: fleetDir,
        credentials,
        startConcurrency: P.startConcurrency,
        node: { heartbeatIntervalMs: P.heartbeatMs },
        observer: { applied: (node, key, kind, at) => kind === 'upsert' && delivery.onApplied(node.name, key, at) },
      });
      await fleet.grow(P.nodes);
      const freshDone = (await delivery.drained(600_000)) && (await fleet.waitFor(() => fleet!.nodes.every((n) => n.synced), 120_000));
      freshMs = since(tFresh);
      freshBytes = link.counters().downBytes;
      if (!freshDone) report.notes.push(`fresh resync incomplete: ${delivery.outstanding} pods missing`);
    }
    results.relist = {
      apiRelistSampleNodes: sample.length,
      apiRelistBytesAllNodes: round(apiRelistAllNodes, 0),
      kedgeFullResyncBytes: freshBytes,
      kedgeFullResyncSeconds: freshMs === null ? null : round(freshMs / 1000, 1),
      stormVsKedgeFullResync: freshBytes ? round(stormBytes.downBytes / freshBytes, 4) : null,
      stormVsApiRelist: round(stormBytes.downBytes / apiRelistAllNodes, 4),
    };
    rows.push(
      [`reconnect storm: ${P.nodes} nodes cut ${P.cutSeconds} s, ${stormTargets.length - storm.errors} changes`, stormSettled ? `all in sync ${round(stormMs / 1000, 1)} s after heal` : `NOT settled after ${round(stormMs / 1000, 1)} s (${delivery.outstanding} missing)`, 'goal < 60 s'],
      [
        'storm hub→edge bytes',
        `${formatBytes(stormBytes.downBytes)} (${formatBytes(stormBytes.downBytes / P.nodes)} per node)`,
        `${freshBytes ? `${round((stormBytes.downBytes / freshBytes) * 100, 1)}% of a full Kedge resync (${formatBytes(freshBytes)}), ` : ''}${round((stormBytes.downBytes / apiRelistAllNodes) * 100, 1)}% of a kubelet-style API relist (${formatBytes(apiRelistAllNodes)}); goal ≤ 5%`,
      ],
    );

    // --- 4b. one real edge agent process at idle ------------------------------------------------
    const agentDir = h.tempDir('edge');
    const probeName = 'rss-probe';
    await writeEdgeIdentity(agentDir, { server: `https://127.0.0.1:${hubPort}`, nodeName: probeName }, await credentials(probeName));
    await runConcurrent(P.podsPerNode, 4, (i) => client.json('POST', `/api/v1/namespaces/${NS}/pods`, pod(`probe-${i}`, probeName, i)));
    try {
      const agent: ManagedProcess = await h.startKedge('kedge-edge', ['edge', 'run', '--data-dir', agentDir, '--runtime', 'none', '--local-api-port', '-1'], {
        ready: { logLine: /connected to hub/, timeoutMs: 60_000 },
      });
      await sleep(10_000);
      const agentRss = await steadyRss(agent.pid);
      await agent.stop();
      results.memory = { ...(results.memory as object), edgeAgentIdleRssMiB: toMiB(agentRss) };
      rows.push(['edge agent RSS at idle (kedge edge run)', `${toMiB(agentRss)} MiB`, `${P.podsPerNode} pods synced, --runtime none; KubeEdge edgecore ~70 MB`]);
    } catch (e) {
      // one failed probe must not throw away the fleet numbers above
      report.notes.push(`edge agent RSS probe failed: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`);
    }

    client.close();
    await fleet.destroy();
    fleet = undefined;
    await server.stop(15_000);
    report.notes.push('hollow nodes, load generator and server share the same 2 cores; bytes are TLS bytes counted on the loopback fault proxy');
    report.notes.push(`node certificates minted from the cluster CA (join path not measured); node data dirs on ${opt['base-dir']}`);
    publish(report, rows, { write: !opt['no-record'] });
  } finally {
    await cleanup();
  }
}

function roundD(d: Distribution): Distribution {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, round(v, 2)])) as unknown as Distribution;
}

main().then(
  // thousands of agents' sockets and timers: exit explicitly once everything is reported and cleaned up
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:fleet failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
