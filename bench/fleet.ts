/**
 * Fleet benchmark (issue 6): one real `kedge server` process (API server + controllers + cloud hub)
 * and N hollow edge nodes (src/sim: the real EdgeAgent with a fake container runtime) spread over
 * --shards child processes (bench/lib/fleet-shard.ts, driven over IPC by bench/lib/shard-pool.ts; default
 * one per 2,500 nodes, since each node holds ~6 descriptors and a process may open 20,000 here), each
 * dialing the hub through its own fault proxy (test/harness) so every byte on the cloud-edge link is
 * counted. This process keeps the orchestration: phases, API client, delivery tracking, report. One run measures:
 *   1. scale: N nodes joined, heartbeating every 10 s, P pods per node bound and persisted at the edge
 *   2. delivery latency: pod created bound to a node in the cloud → persisted in that node's store,
 *      under the bulk load and as a paced stream at steady state (p50/p99)
 *   3. reconnect storm: the link cut for all nodes, C changes made, link healed: time until every
 *      node has every change, and hub→edge bytes, compared in the same run with (a) a full resync of
 *      the same nodes over Kedge's protocol (fresh stores) and (b) a kubelet-style relist over the API
 *   4. memory: server RSS per connected node; a real `kedge edge run` process's RSS at idle
 *   5. bandwidth per node per hour at steady state (both directions, heartbeats included)
 *
 * Usage: npm run bench:fleet [-- --nodes 1000 --pods-per-node 10 --shards 1 --no-record]
 *   --phases join,bulk,paced,steady,storm,relist,fresh,probe   (default all; join always runs) skips phases
 *   for huge runs; waits are bounded by timeouts that grow with --nodes and print progress every 10 s.
 *   --bulk-backlog N: the bulk phase keeps at most N pods created and not yet Running (default 2,000; 0 = create as
 *   fast as the API accepts, which starves a 10,000-node simulator sharing the machine).
 *   --start-concurrency K: nodes joining at once (a node counts until its first sync, or 30 s).
 *   --sim-heap-snapshot FILE: heap snapshot of each simulator shard (FILE.shardN.heapsnapshot) once the nodes have joined.
 *   --sim-profile FILE: CPU profile of each simulator shard over the steady-state window (FILE.shardN.cpuprofile) and
 *     over the reconnect-only cut and heal (FILE.reconnect.shardN.cpuprofile).
 *   --server-heap-snapshot DIR: heap snapshots of the server's main thread once the nodes have joined and again after
 *   the bulk pods are Running (a snapshot collects garbage first: the live heap; `bench/lib/heap-owners.ts` breaks
 *   it down by owner). The hub runs on a worker thread the signal does not snapshot: add `--server-arg=--no-hub-thread`
 *   to see the hub in the same snapshot.
 *   --server-arg ARG (repeatable): extra `kedge server` argument, e.g. --server-arg=--no-hub-thread.
 *   --server-gc-probe: start the server with an inspector on a free loopback port and read its main thread's
 *   memory after the join and after the bulk, as it is and after a forced full GC (bench/lib/inspect-memory.ts):
 *   how much of the RSS per pod is live objects, garbage not yet collected, or committed-but-free heap.
 * Node certificates: one is issued from the cluster CA as a template; every other node's is the template
 * re-signed by the CA with its own name and serial (src/sim/credentials.ts): ~0.1 ms instead of ~20 ms per
 * node, all hollow nodes share one key pair. The hub verifies each like any node certificate. Each node's Node is
 * registered through the API just before it dials, as the hub's join registers it, and its certificate carries
 * that Node's UID (bench/lib/hollow-identity.ts): the hub accepts only bound certificates and never creates a Node
 * from a status report. Join time therefore includes one Node create per node (which the first status report did
 * before issue 10).
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { Harness, type ManagedProcess } from '../test/harness/processes.js';
import { kedgeCommand } from '../test/helpers/kedge-cli.js';
import { ProcSampler, sampleProcess } from '../test/harness/procstat.js';
import { KubeHttp } from './lib/kube-http.js';
import { distribution, runConcurrent, round, toMiB, now, since, formatBytes, intOption, type Distribution } from './lib/stats.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';
import { ShardPool } from './lib/shard-pool.js';
import { measureReconnectOnly, reconnectRows, type ReconnectCost } from './lib/reconnect-cost.js';
import { inspectorUrl, settledMemory, type SettledMemory } from './lib/inspect-memory.js';
import { ensureCertificateAuthority, pkiDir } from '../src/pki/index.js';
import { issueBoundNodeCredentials, registerNode } from './lib/hollow-identity.js';
import { writeEdgeIdentity, type EdgeCredentials } from '../src/edge/config.js';
import { LINK_DEFLATE_WINDOW_BITS, LINK_ZLIB_DEFLATE } from '../src/protocol/index.js';

const ALL_PHASES = ['join', 'bulk', 'paced', 'steady', 'storm', 'relist', 'fresh', 'probe'] as const;
type Phase = (typeof ALL_PHASES)[number];
const { values: opt } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    'pods-per-node': { type: 'string', default: '10' },
    'paced-pods': { type: 'string', default: '200' },
    'paced-rate': { type: 'string', default: '20' },
    /** bulk: at most this many pods created and not yet reported Running (0 = create as fast as the API accepts) */
    'bulk-backlog': { type: 'string', default: '2000' },
    'steady-seconds': { type: 'string', default: '60' },
    /** quiet time before the steady-state window (one-time work after the bulk, e.g. first volume refreshes, settles) */
    'settle-seconds': { type: 'string', default: '2' },
    'cut-seconds': { type: 'string', default: '10' },
    'storm-changes': { type: 'string', default: '' },
    'heartbeat-ms': { type: 'string', default: '10000' },
    'start-concurrency': { type: 'string', default: '50' },
    'relist-sample': { type: 'string', default: '100' },
    'base-dir': { type: 'string', default: existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir() },
    'skip-fresh-resync': { type: 'boolean', default: false },
    phases: { type: 'string', default: ALL_PHASES.join(',') },
    'sim-heap-snapshot': { type: 'string', default: '' },
    'sim-profile': { type: 'string', default: '' },
    /** write a heap snapshot of the server into DIR once the nodes have joined (where its memory per node goes) */
    'server-heap-snapshot': { type: 'string', default: '' },
    /** extra `kedge server` arguments (repeatable), e.g. --server-arg=--no-hub-thread for measurement runs */
    'server-arg': { type: 'string', multiple: true, default: [] },
    'server-gc-probe': { type: 'boolean', default: false },
    /** write a V8 CPU profile of the server (and this process) into DIR, for finding bottlenecks */
    'profile-dir': { type: 'string', default: '' },
    'no-record': { type: 'boolean', default: false },
    /** child processes hosting the hollow nodes (default one per 2,500 nodes: the open-file limit per process) */
    shards: { type: 'string', default: '' },
  },
});
const int = (name: keyof typeof opt, min = 0) => intOption(opt, name, min);
const P = {
  nodes: int('nodes', 1),
  podsPerNode: int('pods-per-node'),
  pacedPods: int('paced-pods'),
  pacedRate: int('paced-rate', 1),
  bulkBacklog: int('bulk-backlog'),
  steadySeconds: int('steady-seconds', 1),
  settleSeconds: int('settle-seconds'),
  cutSeconds: int('cut-seconds'),
  stormChanges: opt['storm-changes'] ? int('storm-changes') : int('nodes', 1),
  heartbeatMs: int('heartbeat-ms', 100),
  startConcurrency: int('start-concurrency', 1),
  relistSample: int('relist-sample', 1),
  shards: opt.shards ? int('shards', 1) : Math.ceil(int('nodes', 1) / 2500),
};
if (P.shards > P.nodes) throw new Error(`--shards ${P.shards} is more than --nodes ${P.nodes}`);
const phases = new Set<string>(opt.phases!.split(',').map((p) => p.trim()).filter(Boolean));
for (const p of phases) if (!(ALL_PHASES as readonly string[]).includes(p)) throw new Error(`--phases: unknown phase ${p} (known: ${ALL_PHASES.join(', ')})`);
if (opt['skip-fresh-resync']) phases.delete('fresh');
const runs = (p: Phase): boolean => p === 'join' || phases.has(p);
/** Bounded waits grow with the fleet: a fixed floor plus a per-node (or per-pod) allowance. */
const scaled = (floorMs: number, perItemMs: number, items: number): number => floorMs + perItemMs * items;
const NS = 'fleet';
const HUB_DEFLATE = { level: LINK_ZLIB_DEFLATE.level, memLevel: LINK_ZLIB_DEFLATE.memLevel, windowBits: LINK_DEFLATE_WINDOW_BITS };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[bench:fleet ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const podKey = (name: string) => `/registry/pods/${NS}/${name}`;

/**
 * Wait (bounded) until `done()` resolves true, printing `progress()` every 10 s so a long run shows it is
 * moving (and where it stalls). `done` is polled every `pollMs`; it may be slow (an API list).
 */
async function waitProgress(label: string, done: () => boolean | Promise<boolean>, timeoutMs: number, progress: () => string, pollMs = 200): Promise<boolean> {
  const start = now();
  let lastLog = start;
  for (;;) {
    if (await done()) return true;
    const t = now();
    if (t - start >= timeoutMs) {
      log(`${label}: gave up after ${round((t - start) / 1000, 0)} s (${progress()})`);
      return false;
    }
    if (t - lastLog >= 10_000) {
      lastLog = t;
      log(`${label}: ${round((t - start) / 1000, 0)} s, ${progress()}`);
    }
    await sleep(pollMs);
  }
}

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

/**
 * The hub's own counters (GET /metrics on the hub port): uncompressed bytes by message type each way and status
 * writes by kind, so a phase's bytes are broken down by what carried them (e.g. tunnel = metrics scrapes). The hub
 * serves /metrics without client certificates; its serving certificate is not checked here (our own child process
 * on loopback).
 */
async function hubCounters(hubPort: number): Promise<Map<string, number>> {
  const text = await hubMetricsText(hubPort);
  const out = new Map<string, number>();
  const names: Record<string, string> = { kedge_hub_sent_bytes_total: 'down', kedge_hub_received_bytes_total: 'up', kedge_hub_status_writes_total: 'writes', kedge_hub_node_write_batches_total: 'batches', kedge_hub_node_write_batch_items_total: 'batched-writes' };
  for (const line of text.split('\n')) {
    const m = /^(kedge_hub_\w+)\{([^}]*)\} (\S+)$/.exec(line);
    const short = m && names[m[1]!];
    if (!short) continue;
    const labels = [...m![2]!.matchAll(/="([^"]*)"/g)].map((x) => x[1]).join('/');
    out.set(`${short}:${labels}`, Number(m![3]));
  }
  return out;
}

/** The hub's unsent and unacknowledged changes over all sessions (kedge_hub_queue_depth). */
async function hubQueueDepth(hubPort: number): Promise<number> {
  return Number(/^kedge_hub_queue_depth (\S+)$/m.exec(await hubMetricsText(hubPort))?.[1] ?? NaN);
}

/** The hub's own count of open sessions (for progress lines). */
async function hubConnectedNodes(hubPort: number): Promise<number> {
  return Number(/^kedge_hub_connected_nodes (\S+)$/m.exec(await hubMetricsText(hubPort))?.[1] ?? NaN);
}

function hubMetricsText(hubPort: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port: hubPort, path: '/metrics', rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The counters that moved between two hubCounters() reads, per node (rounded), largest first. */
function hubDelta(before: Map<string, number>, after: Map<string, number>, nodes: number): Record<string, number> {
  const d: Array<[string, number]> = [];
  for (const [k, v] of after) {
    const x = v - (before.get(k) ?? 0);
    if (x > 0) d.push([k, round(x / nodes, 1)]);
  }
  return Object.fromEntries(d.sort((a, b) => b[1] - a[1]));
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

/** Signal the server (started with --heapsnapshot-signal) and wait until its snapshot file stops growing. */
async function serverHeapSnapshot(pid: number, dir: string): Promise<void> {
  const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
  process.kill(pid, 'SIGUSR2');
  let last = -1;
  for (const until = now() + 120_000; now() < until; ) {
    await sleep(1000);
    const f = (existsSync(dir) ? readdirSync(dir) : []).find((n) => n.endsWith('.heapsnapshot') && !before.has(n));
    if (!f) continue;
    const size = statSync(path.join(dir, f)).size;
    if (size > 0 && size === last) {
      log(`server heap snapshot: ${path.join(dir, f)}`);
      return;
    }
    last = size;
  }
  log('server heap snapshot: not written within 120 s');
}

/** pool.grow with a progress line every 10 s (thousands of gated starts take minutes). */
async function growWithProgress(pool: ShardPool, names: readonly string[], label: string, progress: () => Promise<string>): Promise<void> {
  const t0 = now();
  const ticker = setInterval(() => void progress().then((p) => log(`${label}: ${round(since(t0) / 1000, 0)} s, ${p}`), () => {}), 10_000);
  try {
    await pool.grow(names);
  } finally {
    clearInterval(ticker);
  }
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

  expect(node: string, key: string, sentAt = now()): void {
    this.pending.set(`${node}\u0000${key}`, { node, sentAt });
  }

  onApplied(node: string, key: string, at: number): void {
    const id = `${node}\u0000${key}`;
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.lagMs.push(at - p.sentAt);
  }

  /** A create that failed: nothing will arrive for it (its failure is counted by the phase). */
  forget(node: string, key: string): void {
    this.pending.delete(`${node}\u0000${key}`);
  }

  get outstanding(): number {
    return this.pending.size;
  }

  reset(): void {
    this.pending.clear();
    this.lagMs.length = 0;
  }
}

/**
 * Each hollow node holds ~6 descriptors in its shard process (SQLite db/wal/shm, its socket, the proxy's two),
 * the server one per node: fail up front with the fix rather than 3,000 nodes into a 10,000-node join.
 * The shards inherit this process's limit.
 */
function checkDescriptorLimit(): void {
  const perShard = Math.ceil(P.nodes / P.shards);
  const needed = perShard * 6 + 2048;
  let soft = Infinity;
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const v = Number(line?.split(/\s{2,}/)[1]);
    if (Number.isFinite(v)) soft = v;
  } catch {
    return; // not Linux: nothing to check
  }
  if (soft < needed) {
    throw new Error(
      `--nodes ${P.nodes} over ${P.shards} shard(s) needs about ${needed} open files per shard process, the limit is ${soft}: ` +
        `use more shards (--shards ${Math.ceil((P.nodes * 6) / Math.max(1, soft - 2048))}) or raise the limit (\`ulimit -n ${Math.max(needed * 2, 65536)}\` as root)`,
    );
  }
}

async function main(): Promise<void> {
  checkDescriptorLimit();
  const report = newReport('fleet', P);
  const h = new Harness('bench-fleet');
  const fleetDir = mkdtempSync(path.join(opt['base-dir']!, 'kedge-fleet-'));
  let pool: ShardPool | undefined;
  const cleanup = async () => {
    log('cleaning up');
    await pool?.close().catch(() => {});
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
    const serverArgs = ['server', '--data-dir', dataDir, '--bind-address', '127.0.0.1', '--secure-port', String(apiPort), '--hub-port', String(hubPort), ...(opt['server-arg'] ?? [])];
    const ready = { url: `https://127.0.0.1:${apiPort}/readyz`, timeoutMs: 90_000 };
    if (opt['server-heap-snapshot']) mkdirSync(path.resolve(opt['server-heap-snapshot']), { recursive: true });
    const nodeFlags = [
      // V8 writes the profile when the process exits (graceful stop below)
      ...(opt['profile-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(opt['profile-dir'])}`] : []),
      ...(opt['server-heap-snapshot'] ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${path.resolve(opt['server-heap-snapshot'])}`] : []),
      ...(opt['server-gc-probe'] ? ['--inspect=127.0.0.1:0'] : []),
    ];
    const server = nodeFlags.length
      ? await h.start({ name: 'kedge-server', command: process.execPath, args: [...nodeFlags, ...kedgeCommand(serverArgs).args], ready })
      : await h.startKedge('kedge-server', serverArgs, { ready });
    await waitForPort(hubPort, 60_000);
    const kubeconfig = path.join(dataDir, 'admin.kubeconfig');
    const client = await KubeHttp.fromKubeconfig(kubeconfig, 32);
    await client.ensure('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    // For the probe's one real edge agent; the hollow nodes' identities are minted by the shards themselves.
    const ca = await ensureCertificateAuthority(pkiDir(dataDir));
    const credentials = async (nodeName: string): Promise<EdgeCredentials> => issueBoundNodeCredentials(ca, nodeName, await registerNode(client, nodeName));

    // --- 1. scale: join N hollow nodes ---------------------------------------------------------
    const delivery = new DeliveryTracker();
    let appliedHook: ((node: string, key: string, at: number) => void) | undefined;
    // Every hollow node lives in a shard process with its own fault-proxy link to the hub (one process would hit
    // the open-file limit near 3,000 nodes). Node identities are minted from the cluster CA inside each shard, as
    // the hub's CSR approval would issue them: joining 10,000 nodes through bootstrap tokens is the join path's
    // own benchmark, not this one.
    log(`starting ${P.shards} simulator shard process(es)`);
    pool = await ShardPool.start(
      P.shards,
      {
        hubPort,
        serverDataDir: dataDir,
        baseDir: fleetDir,
        heartbeatMs: P.heartbeatMs,
        // the join bound is fleet-wide: split it over the shards
        startConcurrency: Math.max(1, Math.ceil(P.startConcurrency / P.shards)),
        // a start slot is held until the node's first sync: K nodes join at once, not K nodes dial at once
        startGateMs: 30_000,
        templateName: 'hollow-00000',
      },
      (node, key, at) => {
        delivery.onApplied(node, key, at);
        appliedHook?.(node, key, at);
      },
    );
    const fleet = pool;
    await sleep(3000);
    const serverIdleRss = await steadyRss(server.pid);
    const simIdle = await fleet.usage();
    log(`server idle RSS ${toMiB(serverIdleRss)} MiB; ${P.shards} shard(s) idle RSS ${toMiB(simIdle.memory.rss)} MiB`);

    // The simulator's own event-loop delay (worst shard): if it is large, late pongs/acks are the simulator's fault, not the hub's.
    const loopDelayMs = async () => {
      const d = await fleet.loopDelay();
      return { p99: round(d.p99Ms, 1), max: round(d.maxMs, 1) };
    };

    const nodeNames = Array.from({ length: P.nodes }, (_, i) => `hollow-${String(i).padStart(5, '0')}`);
    log(`joining ${P.nodes} hollow nodes over ${P.shards} shard(s) (${P.startConcurrency} at a time)`);
    const tJoin = now();
    const joinProgress = async () => {
      const st = await fleet.status();
      return `${st.started} started, ${st.connected} connected, ${st.syncEvents} synced; simulator loop delay max ${(await loopDelayMs()).max} ms`;
    };
    const joinTimeoutMs = scaled(120_000, 100, P.nodes);
    await growWithProgress(fleet, nodeNames, 'join', joinProgress);
    let joinProgressLine = '';
    const allConnected = await waitProgress(
      'join',
      async () => {
        const st = await fleet.status();
        joinProgressLine = `${st.started} started, ${st.connected} connected, ${st.syncEvents} synced`;
        return st.connectedAndSynced === P.nodes;
      },
      Math.max(60_000, joinTimeoutMs - since(tJoin)),
      () => joinProgressLine,
    );
    const joinMs = since(tJoin);
    let connectedNow = (await fleet.status()).connected;
    log(`${connectedNow}/${P.nodes} connected and synced in ${round(joinMs / 1000, 1)} s`);
    // Nodes registered through the hub's status path, visible to kubectl
    // Counted with limit=1 + remainingItemCount (only hollow nodes exist yet): listing 10,000 Nodes every second
    // would load the server more than the nodes do.
    const nodesVisible = async () => {
      const l = await client.json<{ items: unknown[]; metadata: { remainingItemCount?: number } }>('GET', '/api/v1/nodes?limit=1');
      return l.items.length + (l.metadata.remainingItemCount ?? 0);
    };
    let registered = 0;
    // bounded by wall time, not by tries: one list can itself take seconds on a loaded server
    await waitProgress('nodes registered', async () => (registered = await nodesVisible()) >= P.nodes, scaled(60_000, 30, P.nodes), () => `${registered}/${P.nodes} Node objects`, 1000);
    await sleep(2000);
    const serverRssConnected = await steadyRss(server.pid);
    const simConnected = await fleet.usage();
    const benchMemConnected = simConnected.memory;
    const benchIdleMem = simIdle.memory;
    // before the heap snapshots below, which stop the shards for seconds
    const joinLoopDelay = await loopDelayMs();
    /** Server main-thread memory as it is and after a forced GC (--server-gc-probe), in MiB. */
    const gcProbe = async (): Promise<Record<string, unknown> | undefined> => {
      if (!opt['server-gc-probe']) return undefined;
      const url = inspectorUrl(server.logFile);
      if (!url) { log('gc probe: no inspector URL in the server log'); return undefined; }
      const m: SettledMemory = await settledMemory(url);
      const mib = (x: SettledMemory['before']) => ({ rss: toMiB(x.rss), heapUsed: toMiB(x.heapUsed), heapTotal: toMiB(x.heapTotal), external: toMiB(x.external) });
      return { before: mib(m.before), afterGc: mib(m.afterGc), workers: m.workers.map((w) => ({ title: w.title, before: mib(w.before), afterGc: mib(w.afterGc) })) };
    };
    const gcAfterJoin = await gcProbe();
    if (gcAfterJoin) log(`server memory after join (MiB): ${JSON.stringify(gcAfterJoin)}`);
    if (opt['sim-heap-snapshot']) log(`simulator heap snapshots: ${(await fleet.heapSnapshots(opt['sim-heap-snapshot'])).join(', ')}`);
    if (opt['server-heap-snapshot']) await serverHeapSnapshot(server.pid, path.resolve(opt['server-heap-snapshot']));
    /** The simulator's memory per hollow node, by kind (KiB; shards' deltas summed): where a 10,000-node run's memory goes. */
    const perNodeKiB = (k: keyof NodeJS.MemoryUsage) => round((benchMemConnected[k] - benchIdleMem[k]) / P.nodes / 1024, 1);
    // more connections than nodes = sessions dropped and re-dialled while joining (churn)
    const joinConnections = (await fleet.counters()).accepted;
    await fleet.resetLoopDelay();
    connectedNow = (await fleet.status()).connected;
    // descriptors per hollow node in a shard (the open-file limit is per process): what sizes --shards
    const fdsPerNode = round(simConnected.shards.reduce((a, u) => a + u.fds, 0) / P.nodes, 1);
    results.scale = {
      nodes: P.nodes,
      connected: connectedNow,
      shards: P.shards,
      shardOpenFilesPerNode: fdsPerNode,
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
      simulatorRssPerHollowNodeKiB: perNodeKiB('rss'),
      simulatorPerHollowNodeKiB: { rss: perNodeKiB('rss'), jsHeapUsed: perNodeKiB('heapUsed'), jsHeapTotal: perNodeKiB('heapTotal'), external: perNodeKiB('external'), arrayBuffers: perNodeKiB('arrayBuffers') },
    };
    rows.push(
      [`nodes joined (hollow, ${P.shards} simulator process${P.shards === 1 ? '' : 'es'})`, `${connectedNow}/${P.nodes}`, `all connected+synced in ${round(joinMs / 1000, 1)} s; ${registered} Node objects in the API; ${joinConnections} connections (${joinConnections - P.nodes} re-dials); simulator loop delay max ${joinLoopDelay.max} ms, ${fdsPerNode} open files per node`],
      ['server RSS idle → with nodes', `${toMiB(serverIdleRss)} → ${toMiB(serverRssConnected)} MiB`, `${round((serverRssConnected - serverIdleRss) / P.nodes / 1024, 1)} KiB per connected node`],
      ['simulator memory per hollow node', `${perNodeKiB('rss')} KiB RSS`, `JS heap ${perNodeKiB('heapUsed')} KiB used, external ${perNodeKiB('external')} KiB (native: SQLite, TLS, zlib not counted there)`],
    );

    // --- 2a. bulk: P pods per node -------------------------------------------------------------
    const totalPods = P.nodes * P.podsPerNode;
    const bulkName = (i: number) => `bulk-${String(i).padStart(6, '0')}`;
    const bulkNode = (i: number) => nodeNames[i % nodeNames.length]!;
    const pacedName = (i: number) => `paced-${String(i).padStart(6, '0')}`;
    /** Pods the phases below created (and the fresh resync must deliver again). */
    let bulkPods = 0;
    /** Bulk creates the API refused: the later phases do not wait for them. */
    const failedBulk = new Set<number>();
    let pacedPods = 0;
    const failedPaced = new Set<number>();
    if (runs('bulk')) {
      log(`creating ${totalPods} pods bound to the nodes (${P.podsPerNode} per node)`);
      // Pods reported Running, followed on a watch: re-listing 100,000 pods every second to count them would
      // be most of the server's load in that phase.
      const runningPods = new Set<string>();
      const bulkWatchRv = (await client.json<{ metadata: { resourceVersion: string } }>('GET', `/api/v1/namespaces/${NS}/pods?limit=1`)).metadata.resourceVersion;
      let runningWatchOpen = true;
      const runningWatch = client.watch(`/api/v1/namespaces/${NS}/pods`, bulkWatchRv, (type, o) => {
        const n = o.metadata?.name ?? '';
        if (!n.startsWith('bulk-')) return;
        if (type !== 'DELETED' && (o as { status?: { phase?: string } }).status?.phase === 'Running') runningPods.add(n);
        else runningPods.delete(n);
      });
      void runningWatch.ended.then(() => (runningWatchOpen = false));
      await runningWatch.established;
      const serverCpu = new ProcSampler(server.pid, 500).start();
      const bulkHub0 = await hubCounters(hubPort);
      const tBulk = now();
      // The backlog bound: creates wait while --bulk-backlog pods are not yet Running. Without it the bench creates
      // as fast as the API accepts (~200/s), far faster than 10,000 hollow nodes sharing these 2 cores with the
      // server can run pods, and the starved simulator's links time out (bench/RESULTS.md, 10,000 × 10, session 9).
      let created = 0;
      let backlogGaveUp = false;
      const roomInBacklog = async (): Promise<void> => {
        if (P.bulkBacklog === 0 || backlogGaveUp) return;
        let lastRunning = runningPods.size;
        let lastMove = now();
        while (created - runningPods.size >= P.bulkBacklog && !backlogGaveUp) {
          await sleep(50);
          if (runningPods.size !== lastRunning) [lastRunning, lastMove] = [runningPods.size, now()];
          else if (now() - lastMove > 120_000) {
            backlogGaveUp = true;
            log(`bulk: no pod went Running for 120 s with ${created - runningPods.size} waiting; creating the rest without the backlog bound`);
            return;
          }
        }
      };
      const bulkProgress = setInterval(() => {
        void Promise.all([hubConnectedNodes(hubPort).catch(() => NaN), loopDelayMs()]).then(([connectedNow, d]) =>
          log(`bulk: ${round(since(tBulk) / 1000, 0)} s, ${created}/${totalPods} created, ${created - delivery.outstanding} persisted at edges, ${runningPods.size} Running; hub sessions ${connectedNow}; simulator loop delay max ${d.max} ms`),
        );
      }, 10_000);
      const bulk = await runConcurrent(totalPods, 32, async (i) => {
        await roomInBacklog();
        created++;
        delivery.expect(bulkNode(i), podKey(bulkName(i)));
        try {
          return await client.json('POST', `/api/v1/namespaces/${NS}/pods`, pod(bulkName(i), bulkNode(i), i));
        } catch (e) {
          delivery.forget(bulkNode(i), podKey(bulkName(i)));
          failedBulk.add(i);
          throw e;
        }
      });
      if (bulk.errors > 0) log(`bulk: ${bulk.errors} creates failed (first: ${bulk.firstError ?? '?'}); not waited for`);
      clearInterval(bulkProgress);
      bulkPods = totalPods;
      const bulkDelivered = await waitProgress('bulk delivery', () => delivery.outstanding === 0, scaled(120_000, 20, totalPods), () => `${delivery.outstanding}/${totalPods} pods not yet persisted at their node`);
      const bulkAllMs = since(tBulk);
      const bulkLag = distribution(delivery.lagMs);
      const bulkCost = serverCpu.stop();
      log(`bulk: ${round(bulk.opsPerSecond)} creates/s, all persisted at the edges after ${round(bulkAllMs / 1000, 1)} s (${delivery.outstanding} missing)`);
      // pods reported Running by the hollow nodes' pod managers, through the hub's status path
      // (a list only if the watch ended early)
      const running = async () =>
        runningWatchOpen ? runningPods.size : (await client.json<{ items: unknown[] }>('GET', `/api/v1/namespaces/${NS}/pods?fieldSelector=status.phase%3DRunning`)).items.length;
      let runningCount = 0;
      const tRunning = now();
      await waitProgress('running reported', async () => (runningCount = await running()) >= totalPods - bulk.errors, scaled(120_000, 5, totalPods), () => `${runningCount}/${totalPods - bulk.errors} Running`, 1000);
      const runningMs = since(tRunning) + bulkAllMs;
      runningWatch.close();
      const bulkHub = hubDelta(bulkHub0, await hubCounters(hubPort), P.nodes);
      log(`bulk until Running, hub counters per node: ${JSON.stringify(bulkHub)}`);
      // memory again with the pods in place (what a 10-pods-per-node run must fit)
      const serverRssPods = await steadyRss(server.pid);
      const simRssPods = (await fleet.usage()).memory.rss;
      const gcAfterBulk = await gcProbe();
      if (gcAfterBulk) log(`server memory after bulk (MiB): ${JSON.stringify(gcAfterBulk)}`);
      if (opt['server-heap-snapshot']) await serverHeapSnapshot(server.pid, path.resolve(opt['server-heap-snapshot']));
      results.memory = {
        ...(results.memory as object),
        serverRssWithPodsMiB: toMiB(serverRssPods),
        serverRssPerNodeWithPodsKiB: round((serverRssPods - serverIdleRss) / P.nodes / 1024, 1),
        serverRssPerPodKiB: round((serverRssPods - serverRssConnected) / Math.max(1, totalPods) / 1024, 1),
        ...(gcAfterBulk ? { serverMainThreadMiB: { afterJoin: gcAfterJoin, afterBulk: gcAfterBulk } } : {}),
        simulatorRssPerHollowNodeWithPodsKiB: round((simRssPods - benchIdleMem.rss) / P.nodes / 1024, 1),
      };
      results.bulk = {
        pods: totalPods,
        createErrors: bulk.errors,
        firstError: bulk.firstError,
        createsPerSecond: round(bulk.opsPerSecond),
        backlogBound: P.bulkBacklog,
        backlogBoundDropped: backlogGaveUp,
        allPersistedAtEdges: bulkDelivered,
        missing: delivery.outstanding,
        secondsUntilAllPersisted: round(bulkAllMs / 1000, 1),
        deliveryLagMs: roundD(bulkLag),
        reportedRunning: runningCount,
        secondsUntilRunningReported: round(runningMs / 1000, 1),
        serverAvgCpuCores: round(bulkCost.avgCpuCores),
        hubCountersPerNode: bulkHub,
      };
      rows.push(
        [`pods bound (${P.podsPerNode}/node)`, `${totalPods - bulk.errors} created at ${round(bulk.opsPerSecond, 0)}/s`, `${P.bulkBacklog ? `at most ${P.bulkBacklog} not yet Running${backlogGaveUp ? ' (bound dropped after a 120 s stall)' : ''}; ` : ''}all persisted at edges: ${bulkDelivered} after ${round(bulkAllMs / 1000, 1)} s; ${runningCount} reported Running`],
        ['delivery under bulk load', `p50 ${round(bulkLag.p50, 0)} ms, p99 ${round(bulkLag.p99, 0)} ms`, 'create sent → persisted in the node store'],
      );
      rows.push([
        `memory per node with ${P.podsPerNode} pods each`,
        `server ${round((serverRssPods - serverIdleRss) / P.nodes / 1024, 1)} KiB, simulator ${round((simRssPods - benchIdleMem.rss) / P.nodes / 1024, 1)} KiB`,
        `RSS over idle; server ${toMiB(serverRssPods)} MiB in all, ${round((serverRssPods - serverRssConnected) / Math.max(1, totalPods) / 1024, 1)} KiB per pod over the joined fleet`,
      ]);
      delivery.reset();
    }

    // --- 2b. paced delivery at steady state ----------------------------------------------------
    if (runs('paced')) {
      log(`paced: ${P.pacedPods} pods at ${P.pacedRate}/s`);
      // Our own API watch splits the latency: create → event out of the API server, and from there → edge store.
      const apiSeenAt = new Map<string, number>();
      const pacedWatchRv = (await client.json<{ metadata: { resourceVersion: string } }>('GET', `/api/v1/namespaces/${NS}/pods?limit=1`)).metadata.resourceVersion;
      const apiWatch = client.watch(`/api/v1/namespaces/${NS}/pods`, pacedWatchRv, (type, o) => {
        const n = o.metadata?.name ?? '';
        if (type === 'ADDED' && n.startsWith('paced-') && !apiSeenAt.has(n)) apiSeenAt.set(n, now());
      });
      await apiWatch.established;
      const edgeAt = new Map<string, number>();
      const pacedObserver = (_node: string, key: string, at: number) => {
        if (key.startsWith(podKey('paced-')) && !edgeAt.has(key.slice(podKey('').length))) edgeAt.set(key.slice(podKey('').length), at);
      };
      appliedHook = pacedObserver;
      const pacedConnected = (await fleet.status()).connected;
      const pacedCreates: Promise<unknown>[] = [];
      for (let i = 0; i < P.pacedPods; i++) {
        const node = nodeNames[(i * 7919) % nodeNames.length]!;
        delivery.expect(node, podKey(pacedName(i)));
        pacedCreates.push(
          client.json('POST', `/api/v1/namespaces/${NS}/pods`, pod(pacedName(i), node, i)).catch((e: Error) => {
            delivery.forget(node, podKey(pacedName(i)));
            failedPaced.add(i);
            log(`paced: create ${pacedName(i)} failed: ${e.message}`);
          }),
        );
        await sleep(1000 / P.pacedRate);
      }
      await Promise.all(pacedCreates);
      pacedPods = P.pacedPods;
      const pacedDone = await waitProgress('paced delivery', () => delivery.outstanding === 0, 120_000, () => `${delivery.outstanding} outstanding`);
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
        nodesConnected: pacedConnected,
        pods: P.pacedPods,
        ratePerSecond: P.pacedRate,
        complete: pacedDone,
        missing: delivery.outstanding,
        lagMs: roundD(pacedLag),
        apiWatchEventToEdgePersistedMs: roundD(apiToEdgeLag),
      };
      rows.push([`delivery, ${P.pacedRate} pods/s paced, ${pacedConnected} nodes`, `p50 ${round(pacedLag.p50, 0)} ms, p99 ${round(pacedLag.p99, 0)} ms`, `goal p99 < 1000 ms${pacedDone ? '' : `; ${delivery.outstanding} never arrived`}`]);
      rows.push(['  of which API watch event → edge store', `p50 ${round(apiToEdgeLag.p50, 0)} ms, p99 ${round(apiToEdgeLag.p99, 0)} ms`, 'hub + link + edge apply (the rest is the API server)']);
      delivery.reset();
    }

    // --- 5. steady-state bandwidth -------------------------------------------------------------
    if (runs('steady')) {
      log(`steady state: ${P.steadySeconds} s of heartbeats (after ${P.settleSeconds} s to settle)`);
      await sleep(P.settleSeconds * 1000);
      await fleet.resetCounters();
      await fleet.resetLoopDelay();
      const steadyCpu = new ProcSampler(server.pid, 1000).start();
      const simCpu0 = (await fleet.usage()).cpuMicros;
      const hub0 = await hubCounters(hubPort);
      if (opt['sim-profile']) await fleet.profileStart();
      const tSteady = now();
      await sleep(P.steadySeconds * 1000);
      const steadyWall = since(tSteady) / 1000;
      if (opt['sim-profile']) log(`simulator CPU profiles of the steady state: ${(await fleet.profileStop(path.resolve(opt['sim-profile']))).join(', ')}`);
      const steadyBytes = await fleet.counters();
      const steadyHub = hubDelta(hub0, await hubCounters(hubPort), P.nodes);
      log(`steady state, hub counters per node over ${round(steadyWall, 0)} s: ${JSON.stringify(steadyHub)}`);
      const steadyCost = steadyCpu.stop();
      const simCpuMicros = (await fleet.usage()).cpuMicros - simCpu0;
      const simCores = round(simCpuMicros / 1e6 / steadyWall);
      const steadyLoopDelay = await loopDelayMs();
      // Memory of a fleet that sat idle (links quiet past LINK_DEFLATE_IDLE_MS): the join's reading above is taken
      // while every link is still busy syncing.
      const serverRssSteady = await steadyRss(server.pid);
      const simRssSteady = (await fleet.usage()).memory.rss;
      const gcAfterSteady = await gcProbe();
      if (gcAfterSteady) log(`server memory after steady state (MiB): ${JSON.stringify(gcAfterSteady)}`);
      const perNodeHour = (b: number) => (b / P.nodes / steadyWall) * 3600;
      results.bandwidth = {
        seconds: round(steadyWall, 1),
        upBytesPerNodeHour: round(perNodeHour(steadyBytes.upBytes), 0),
        downBytesPerNodeHour: round(perNodeHour(steadyBytes.downBytes), 0),
        heartbeatMs: P.heartbeatMs,
        serverAvgCpuCores: round(steadyCost.avgCpuCores),
        simulatorAvgCpuCores: simCores,
        simulatorEventLoopDelayMs: steadyLoopDelay,
        hubCountersPerNode: steadyHub,
        serverRssMiB: toMiB(serverRssSteady),
        simulatorRssMiB: toMiB(simRssSteady),
      };
      rows.push(
        ['bandwidth per node-hour, steady state', `${round(perNodeHour(steadyBytes.upBytes) / 1024, 1)} KiB up, ${round(perNodeHour(steadyBytes.downBytes) / 1024, 1)} KiB down`, `TLS bytes on the link, lease every ${P.heartbeatMs / 1000} s`],
        ['memory at the end of the steady state', `server ${toMiB(serverRssSteady)} MiB, simulator ${toMiB(simRssSteady)} MiB RSS`, `server ${round((serverRssSteady - serverIdleRss) / P.nodes / 1024, 1)} KiB per node over idle (pods included), simulator ${round((simRssSteady - benchIdleMem.rss) / P.nodes / 1024, 1)} KiB`],
        ['server CPU at steady state', `${round(steadyCost.avgCpuCores, 2)} cores`, `${P.nodes} nodes heartbeating; simulator ${simCores} cores, event-loop delay p99 ${steadyLoopDelay.p99} ms, max ${steadyLoopDelay.max} ms`],
      );
    }

    // --- 3. reconnect storm --------------------------------------------------------------------
    let storm: { changes: number; settled: boolean; ms: number; downBytes: number } | undefined;
    let reconnectOnly: ReconnectCost | undefined;
    if (runs('storm')) {
      // First the same cut with nothing changed: what a reconnect itself costs, apart from the changes. Only once
      // nothing is in flight: the last bulk pods' tokens (minted after their pods) were still being sent when the
      // cut came, and their resend on reconnect (~1 KiB per node) was counted as the reconnect's own cost.
      let depth = NaN;
      await waitProgress('hub quiet before the cut', async () => (depth = await hubQueueDepth(hubPort)) === 0 && (await sleep(1000), (depth = await hubQueueDepth(hubPort)) === 0), 60_000, () => `${depth} changes unsent or unacknowledged`, 500);
      log(`reconnect-only: cutting all ${P.nodes} nodes for ${P.cutSeconds} s, no changes`);
      if (opt['sim-profile']) await fleet.profileStart();
      reconnectOnly = await measureReconnectOnly({
        fleet,
        nodes: P.nodes,
        cutSeconds: P.cutSeconds,
        hubSnapshot: async () => {
          const before = await hubCounters(hubPort);
          return async () => hubDelta(before, await hubCounters(hubPort), P.nodes);
        },
        waitFor: waitProgress,
        timeoutMs: scaled(60_000, 10, P.nodes),
      });
      if (opt['sim-profile']) log(`simulator CPU profiles of the reconnect-only cut and heal: ${(await fleet.profileStop(`${path.resolve(opt['sim-profile'])}.reconnect`)).join(', ')}`);
      log(`reconnect-only, hub counters per node: ${JSON.stringify(reconnectOnly.hubPerNode)}`);
      results.reconnectOnly = { ...reconnectOnly, seconds: round(reconnectOnly.seconds, 1), downBytesPerNode: round(reconnectOnly.downBytes / P.nodes, 0), upBytesPerNode: round(reconnectOnly.upBytes / P.nodes, 0) };
      // change j touches bulk pod j (node j % N); without the bulk phase there is nothing to change
      const changes = Math.min(P.stormChanges, bulkPods);
      log(`storm: cutting all ${P.nodes} nodes for ${P.cutSeconds} s, ${changes} changes meanwhile`);
      await fleet.cut();
      const cutStart = now();
      const patched = await runConcurrent(changes, 32, async (j) => {
        await client.json('PATCH', `/api/v1/namespaces/${NS}/pods/${bulkName(j)}`, { metadata: { labels: { rev: '1' } } }, 'application/merge-patch+json');
        delivery.expect(bulkNode(j), podKey(bulkName(j)));
      });
      const remaining = P.cutSeconds * 1000 - since(cutStart);
      if (remaining > 0) await sleep(remaining);
      let connected = connectedNow;
      const connectedIs = async (n: number) => (connected = (await fleet.status()).connected) === n;
      await waitProgress('storm cut', () => connectedIs(0), scaled(60_000, 10, P.nodes), () => `${connected} still connected`);
      await fleet.resetCounters();
      const stormHub0 = await hubCounters(hubPort);
      const tHeal = now();
      await fleet.heal();
      const stormProgress = () => `${connected}/${P.nodes} connected, ${delivery.outstanding} changes outstanding`;
      const stormSettled =
        (await waitProgress('storm', () => delivery.outstanding === 0, scaled(120_000, 30, P.nodes), stormProgress)) &&
        (await waitProgress('storm reconnect', () => connectedIs(P.nodes), scaled(60_000, 10, P.nodes), stormProgress));
      const stormMs = since(tHeal);
      const stormBytes = await fleet.counters();
      const stormHub = hubDelta(stormHub0, await hubCounters(hubPort), P.nodes);
      log(`storm, hub counters per node: ${JSON.stringify(stormHub)}`);
      storm = { changes: changes - patched.errors, settled: stormSettled, ms: stormMs, downBytes: stormBytes.downBytes };
      results.storm = {
        cutSeconds: P.cutSeconds,
        changes: changes - patched.errors,
        changeErrors: patched.errors,
        settled: stormSettled,
        missing: delivery.outstanding,
        secondsUntilAllInSync: round(stormMs / 1000, 1),
        hubToEdgeBytes: stormBytes.downBytes,
        edgeToHubBytes: stormBytes.upBytes,
        reconnections: stormBytes.accepted,
        hubCountersPerNode: stormHub,
      };
      log(`storm settled=${stormSettled} in ${round(stormMs / 1000, 1)} s, ${toMiB(stormBytes.downBytes)} MiB down`);
      rows.push([
        `reconnect storm: ${P.nodes} nodes cut ${P.cutSeconds} s, ${storm.changes} changes`,
        stormSettled ? `all in sync ${round(stormMs / 1000, 1)} s after heal` : `NOT settled after ${round(stormMs / 1000, 1)} s (${delivery.outstanding} missing)`,
        'goal < 60 s',
      ]);
      delivery.reset();
    }

    // --- 3b. the same nodes relisting, measured in this run -------------------------------------
    // (a) kubelet-style: what plain Kubernetes nodes would pull on reconnect (their pods, by field selector).
    // Like with like: the storm's bytes are compressed (permessage-deflate) WebSocket frames inside TLS, so the relist
    // is compared compressed the same way (raw deflate at the hub's level/memLevel), its response bodies only (no TLS,
    // HTTP headers or watch re-establishment: the relist side is counted low, never high). The uncompressed body
    // bytes are kept for reference, labelled as such.
    let apiRelistAllNodes: number | null = null;
    let apiRelistRawAllNodes: number | null = null;
    let relistSampled = 0;
    if (runs('relist')) {
      const sample = nodeNames.filter((_, i) => i % Math.max(1, Math.floor(nodeNames.length / P.relistSample)) === 0).slice(0, P.relistSample);
      let rawBytes = 0;
      let deflatedBytes = 0;
      for (const n of sample) {
        const relistPath = `/api/v1/pods?fieldSelector=spec.nodeName%3D${encodeURIComponent(n)}`;
        const r = await client.request('GET', relistPath);
        if (r.status !== 200) throw new Error(`relist ${relistPath}: HTTP ${r.status}`);
        rawBytes += r.bytes;
        deflatedBytes += deflateRawSync(Buffer.from(r.body), HUB_DEFLATE).length;
      }
      relistSampled = sample.length;
      apiRelistAllNodes = (deflatedBytes / sample.length) * P.nodes;
      apiRelistRawAllNodes = (rawBytes / sample.length) * P.nodes;
    }
    // (b) Kedge's own full resync: every node restarted with an empty store
    let freshBytes: number | null = null;
    let freshMs: number | null = null;
    if (runs('fresh')) {
      log('fresh resync: restarting every node with an empty store');
      await fleet.destroyFleet();
      for (let i = 0; i < bulkPods; i++) if (!failedBulk.has(i)) delivery.expect(bulkNode(i), podKey(bulkName(i)));
      for (let i = 0; i < pacedPods; i++) if (!failedPaced.has(i)) delivery.expect(nodeNames[(i * 7919) % nodeNames.length]!, podKey(pacedName(i)));
      await fleet.resetCounters();
      const tFresh = now();
      // the shards start a new fleet of the same names (same stores' paths, now empty)
      let freshSynced = 0;
      const freshLine = () => `${delivery.outstanding} pods outstanding, ${freshSynced}/${P.nodes} synced`;
      const allFreshSynced = async () => (freshSynced = (await fleet.status()).synced) === P.nodes;
      await growWithProgress(fleet, nodeNames, 'fresh resync', async () => (await allFreshSynced(), freshLine()));
      const freshDone =
        (await waitProgress('fresh resync', () => delivery.outstanding === 0, scaled(120_000, 20, bulkPods + pacedPods), freshLine)) &&
        (await waitProgress('fresh resync', allFreshSynced, scaled(60_000, 10, P.nodes), freshLine));
      freshMs = since(tFresh);
      freshBytes = (await fleet.counters()).downBytes;
      if (!freshDone) report.notes.push(`fresh resync incomplete: ${delivery.outstanding} pods missing`);
    }
    results.relist = {
      apiRelistSampleNodes: relistSampled,
      apiRelistDeflatedBytesAllNodes: apiRelistAllNodes === null ? null : round(apiRelistAllNodes, 0),
      apiRelistUncompressedBytesAllNodes: apiRelistRawAllNodes === null ? null : round(apiRelistRawAllNodes, 0),
      kedgeFullResyncBytes: freshBytes,
      kedgeFullResyncSeconds: freshMs === null ? null : round(freshMs / 1000, 1),
      stormVsKedgeFullResync: freshBytes && storm ? round(storm.downBytes / freshBytes, 4) : null,
      stormVsApiRelist: apiRelistAllNodes && storm ? round(storm.downBytes / apiRelistAllNodes, 4) : null,
    };
    if (storm) {
      const vsFresh = freshBytes ? `${round((storm.downBytes / freshBytes) * 100, 1)}% of a full Kedge resync (${formatBytes(freshBytes)}), ` : '';
      const vsApi =
        apiRelistAllNodes && apiRelistRawAllNodes
          ? `${round((storm.downBytes / apiRelistAllNodes) * 100, 1)}% of a kubelet-style API relist compressed the same way ` +
            `(${formatBytes(apiRelistAllNodes)} deflated; ${formatBytes(apiRelistRawAllNodes)} uncompressed JSON); `
          : '';
      rows.push(['storm hub→edge bytes (TLS wire, deflated frames)', `${formatBytes(storm.downBytes)} (${formatBytes(storm.downBytes / P.nodes)} per node)`, `${vsFresh}${vsApi}goal ≤ 5%`]);
      if (reconnectOnly) rows.push(...reconnectRows(reconnectOnly, storm, P.nodes, freshBytes));
    }

    // --- 4b. one real edge agent process at idle ------------------------------------------------
    if (runs('probe')) {
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
        rows.push(['edge agent RSS at idle (kedge edge run)', `${toMiB(agentRss)} MiB`, `${P.podsPerNode} pods synced, --runtime none (no CRI client loaded: see bench:edge for the agent as users run it)`]);
      } catch (e) {
        // one failed probe must not throw away the fleet numbers above
        report.notes.push(`edge agent RSS probe failed: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`);
      }
    }

    client.close();
    await fleet.close();
    pool = undefined;
    await server.stop(15_000);
    report.notes.push(`hollow nodes (${P.shards} simulator process${P.shards === 1 ? '' : 'es'}), load generator and server share the same 2 cores; bytes are TLS bytes counted on the loopback fault proxies (one per simulator process)`);
    report.notes.push(`node certificates from the cluster CA (one issued, the rest re-signed copies sharing its key; join path not measured); node data dirs on ${opt['base-dir']}`);
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
