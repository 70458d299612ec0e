/**
 * Heartbeat write-path benchmark (issue 6): what one Lease renewal and one Node status report cost the
 * control plane. One real `kedge server` (API server + controllers + hub, as shipped); N Nodes and N
 * Leases in kube-node-lease written through the hub's own client path (src/cloudhub StatusWriter), then
 * renewals at fixed rates. The writer runs in this process, not on the server's hub thread, so its CPU can
 * be told apart; it reaches the API the way the hub does (`--transport loopback`, the default: plain HTTP
 * on the server's Unix socket with a bearer token for the admin identity — the server's own in-memory
 * loopback token cannot leave it, so the bench hands the server a static token for the same user and group;
 * `--transport https`: the admin kubeconfig's client certificate over keep-alive TLS, as `kedge cloud` or
 * `kedge server --no-loopback`; `--transport both`: an A/B in one run — half the nodes written over each, the
 * measured time cut into 4 alternating slices per transport so the machine's changing load hits both alike).
 * The server's CPU is sampled
 * from /proc; the writer's CPU (which in production runs inside the server, in the hub) is this
 * process's CPU during the phase. Reports CPU-ms per renewal (server, writer, both) net of the idle
 * server, and the renewals/s one core sustains at that cost.
 *
 * `--transport batched`: node-write batches on the loopback socket, as `kedge server`'s hub sends them
 * (src/cloudhub/node-write-batcher.ts); `--transport loopback,batched`: the A/B of one request per write against batches.
 *
 * Usage: npm run bench:heartbeats [-- --nodes 1000 --rates 100,500 --seconds 20 --node-rate 50 --transport loopback|https|batched|both|A,B --profile-dir DIR]
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { Harness } from '../test/harness/processes.js';
import { kedgeCommand } from '../test/helpers/kedge-cli.js';
import { ProcSampler } from '../test/harness/procstat.js';
import { KubeHttp } from './lib/kube-http.js';
import { distribution, round, now, since, intOption, type Distribution } from './lib/stats.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';
import { loadKubeClient } from '../src/common/kubeconfig.js';
import { KubeClient } from '../src/common/kube-client.js';
import { StatusWriter, type WriteResult } from '../src/cloudhub/status-writer.js';
import { buildNode } from '../src/edge/node-status.js';

const { values: opt } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    /** lease renewals per second, one measured phase each */
    rates: { type: 'string', default: '100,500' },
    seconds: { type: 'string', default: '20' },
    /** Node status reports per second in the node phase (0 = skip) */
    'node-rate': { type: 'string', default: '50' },
    'idle-seconds': { type: 'string', default: '5' },
    /** the hub's cap on concurrent API writes (maxApiWrites) */
    'max-in-flight': { type: 'string', default: '256' },
    /** write V8 CPU profiles of the server and of this process (the writer) into DIR */
    'profile-dir': { type: 'string', default: '' },
    /** how the writer reaches the API: the server's loopback socket (as its hub does) or HTTPS */
    transport: { type: 'string', default: 'loopback' },
    /** batched: how long a batch gathers writes (the hub's default 50 ms; 0 = one event-loop turn) */
    'batch-window-ms': { type: 'string', default: '50' },
    'no-record': { type: 'boolean', default: false },
  },
});
const int = (name: keyof typeof opt, min = 0) => intOption(opt, name, min);
const P = {
  nodes: int('nodes', 1),
  rates: String(opt.rates).split(',').filter(Boolean).map((r) => {
    const v = Number(r);
    if (!Number.isInteger(v) || v < 1) throw new Error(`--rates must be positive integers, got ${JSON.stringify(opt.rates)}`);
    return v;
  }),
  seconds: int('seconds', 1),
  batchWindowMs: int('batch-window-ms'),
  nodeRate: int('node-rate'),
  idleSeconds: int('idle-seconds', 1),
  maxInFlight: int('max-in-flight', 1),
  /** one, or an A/B of several in one run: loopback | https | batched (comma-separated; `both` = loopback,https) */
  transports: ((t: string) => {
    const list = (t === 'both' ? 'loopback,https' : t).split(',').filter(Boolean);
    const bad = list.find((x) => x !== 'loopback' && x !== 'https' && x !== 'batched');
    if (bad !== undefined || list.length === 0 || new Set(list).size !== list.length) throw new Error(`--transport must be loopback, https, batched, both, or a comma-separated list of them, got ${JSON.stringify(t)}`);
    return list as Transport[];
  })(String(opt.transport)),
};

/**
 * How the writer reaches the API: one request per write over the loopback socket or HTTPS, or node-write
 * batches over the loopback socket (`batched`: as `kedge server`'s hub, src/cloudhub/node-write-batcher.ts).
 */
type Transport = 'loopback' | 'https' | 'batched';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[bench:heartbeats ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const nodeName = (i: number) => `hb-${String(i).padStart(5, '0')}`;

interface PhaseResult {
  name: string;
  targetPerSecond: number;
  completed: number;
  errors: number;
  firstError?: string;
  /** ops not started because maxInFlight writes were outstanding: the rate was not sustained */
  skipped: number;
  achievedPerSecond: number;
  latencyMs: Distribution;
  serverCores: number;
  writerCores: number;
  /** CPU-ms per op, net of the idle server (writer: this process has no idle work) */
  serverCpuMsPerOp: number;
  writerCpuMsPerOp: number;
  totalCpuMsPerOp: number;
  /** ops/s at one fully busy core at this cost */
  perSecondAtOneCore: number;
  /** raw totals (slices of one transport are merged from these) */
  raw: { latencies: number[]; wallS: number; serverNetMs: number; writerMs: number; serverCoreS: number };
}

/** One result from alternating slices of the same transport: totals summed, per-op figures recomputed. */
function merge(name: string, rate: number, parts: PhaseResult[]): PhaseResult {
  const sum = (f: (p: PhaseResult) => number) => parts.reduce((a, p) => a + f(p), 0);
  const completed = sum((p) => p.completed);
  const raw = {
    latencies: parts.flatMap((p) => p.raw.latencies),
    wallS: sum((p) => p.raw.wallS), serverNetMs: sum((p) => p.raw.serverNetMs), writerMs: sum((p) => p.raw.writerMs), serverCoreS: sum((p) => p.raw.serverCoreS),
  };
  const n = Math.max(1, completed);
  const total = (raw.serverNetMs + raw.writerMs) / n;
  return {
    name, targetPerSecond: rate, completed, errors: sum((p) => p.errors), firstError: parts.find((p) => p.firstError)?.firstError,
    skipped: sum((p) => p.skipped), achievedPerSecond: completed / raw.wallS, latencyMs: distribution(raw.latencies),
    serverCores: raw.serverCoreS / raw.wallS, writerCores: raw.writerMs / 1000 / raw.wallS,
    serverCpuMsPerOp: raw.serverNetMs / n, writerCpuMsPerOp: raw.writerMs / n, totalCpuMsPerOp: total,
    perSecondAtOneCore: total > 0 ? 1000 / total : 0, raw,
  };
}

/**
 * Issue `op` at `rate` per second for `seconds` (a 10 ms ticker issuing what is due), at most `maxInFlight`
 * outstanding; waits for the outstanding ones. CPU of the server and of this process over the same window.
 */
async function phase(name: string, rate: number, seconds: number, serverPid: number, idleCores: number, op: (i: number) => Promise<WriteResult>): Promise<PhaseResult> {
  const latencies: number[] = [];
  let issued = 0;
  let completed = 0;
  let errors = 0;
  let skipped = 0;
  let inFlight = 0;
  let firstError: string | undefined;
  const pending = new Set<Promise<void>>();
  const sampler = new ProcSampler(serverPid, 250).start();
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const end = t0 + seconds * 1000;
  while (now() < end) {
    const due = Math.floor(((now() - t0) / 1000) * rate);
    while (issued + skipped < due) {
      if (inFlight >= P.maxInFlight) { skipped++; continue; }
      const i = issued++;
      inFlight++;
      const start = now();
      const p = op(i).then(
        (r) => {
          if (r.ok) { completed++; latencies.push(since(start)); }
          else { errors++; firstError ??= r.reason; }
        },
        (e: unknown) => { errors++; firstError ??= String(e); },
      ).finally(() => { inFlight--; pending.delete(p); });
      pending.add(p);
    }
    await sleep(10);
  }
  await Promise.all(pending);
  const wall = since(t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const server = sampler.stop();
  const writerMs = (cpu.user + cpu.system) / 1000;
  const serverNetMs = Math.max(0, server.avgCpuCores - idleCores) * wall * 1000;
  const n = Math.max(1, completed);
  const total = (serverNetMs + writerMs) / n;
  return {
    name,
    targetPerSecond: rate,
    completed,
    errors,
    firstError,
    skipped,
    achievedPerSecond: completed / wall,
    latencyMs: distribution(latencies),
    serverCores: server.avgCpuCores,
    writerCores: writerMs / 1000 / wall,
    serverCpuMsPerOp: serverNetMs / n,
    writerCpuMsPerOp: writerMs / n,
    totalCpuMsPerOp: total,
    perSecondAtOneCore: total > 0 ? 1000 / total : 0,
    raw: { latencies, wallS: wall, serverNetMs, writerMs, serverCoreS: server.avgCpuCores * wall },
  };
}

/** Profile this process (the writer) while `fn` runs, if --profile-dir is set. */
async function profiled<T>(fn: () => Promise<T>): Promise<T> {
  const dir = opt['profile-dir'];
  if (!dir) return fn();
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await s.post('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    const file = path.join(path.resolve(dir), `heartbeats-writer-${process.pid}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    log(`writer profile: ${file}`);
    s.disconnect();
  }
}

async function main(): Promise<void> {
  const report = newReport('heartbeats', P);
  const h = new Harness('bench-heartbeats');
  const cleanup = () => h.cleanup();
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const dataDir = h.tempDir('data');
    const port = await h.freePort();
    const serverArgs = ['server', '--data-dir', dataDir, '--bind-address', '127.0.0.1', '--secure-port', String(port), '--hub-port', '0'];
    // The admin certificate's identity (CN=kubernetes-admin, O=system:masters) as a static token, for the socket.
    const benchToken = randomBytes(24).toString('hex');
    if (P.transports.some((t) => t !== 'https')) {
      const tokenFile = path.join(h.tempDir('tokens'), 'tokens.csv');
      writeFileSync(tokenFile, `${benchToken},kubernetes-admin,bench-heartbeats,"system:masters"\n`, { mode: 0o600 });
      serverArgs.push('--token-auth-file', tokenFile);
    } else {
      serverArgs.push('--no-loopback');
    }
    // The writer is this process: the server's own hub has no nodes to write for.
    const ready = { url: `https://127.0.0.1:${port}/readyz`, timeoutMs: 60_000 };
    log(`starting kedge server on 127.0.0.1:${port}`);
    const server = opt['profile-dir']
      ? // V8 writes the profile when the process exits (graceful stop below)
        await h.start({ name: 'kedge-server', command: process.execPath, args: ['--cpu-prof', `--cpu-prof-dir=${path.resolve(opt['profile-dir'])}`, ...kedgeCommand(serverArgs).args], ready })
      : await h.startKedge('kedge-server', serverArgs, { ready });
    const kubeconfig = path.join(dataDir, 'admin.kubeconfig');
    for (let i = 0; i < 100 && !existsSync(kubeconfig); i++) await sleep(100);
    const client = await KubeHttp.fromKubeconfig(kubeconfig, 8);
    await client.ensure('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-node-lease' } }).catch(() => {});
    const socketPath = path.join(dataDir, 'apiserver-loopback.sock');
    const transports = P.transports;
    if (transports.some((t) => t !== 'https') && !existsSync(socketPath)) throw new Error(`the server serves no loopback socket at ${socketPath}`);
    const writers = new Map(transports.map((t) => [t, new StatusWriter(
      t === 'https' ? loadKubeClient(kubeconfig) : KubeClient.loopback({ socketPath, token: benchToken }), () => undefined, undefined, undefined, { batchNodeWrites: t === 'batched', batchWindowMs: P.batchWindowMs },
    )]));
    // Each node is written by one transport's writer only (a writer replaces Leases from its own last copy).
    const nodesOf = new Map(transports.map((t, k) => [t, Array.from({ length: P.nodes }, (_, i) => i).filter((i) => i % transports.length === k)]));
    const transportOf = (i: number) => transports[i % transports.length]!;
    const since0 = new Date();
    const nodeBody = (i: number) => JSON.parse(JSON.stringify(buildNode({ nodeName: nodeName(i), capacity: { cpu: '4', memory: '8Gi' }, since: since0 }))) as Record<string, unknown>;
    const leaseOf = (t: Transport, node: number) => writers.get(t)!.write(nodeName(node), 'lease', { renewTime: new Date().toISOString(), durationSeconds: 40 });
    const nodeStatusOf = (t: Transport, node: number) => writers.get(t)!.write(nodeName(node), 'node', nodeBody(node));
    /** the i-th op of transport t goes to its nodes in turn */
    const pick = (t: Transport, i: number) => { const mine = nodesOf.get(t)!; return mine[i % mine.length]!; };
    const lease = (i: number) => leaseOf(transportOf(i), i % P.nodes);
    const nodeStatus = (i: number) => nodeStatusOf(transportOf(i), i % P.nodes);
    /** One measured phase: as is for one transport; for both, 4 alternating slices each, merged per transport. */
    const measure = async (name: string, rate: number, op: (t: Transport, node: number) => Promise<WriteResult>): Promise<PhaseResult[]> => {
      if (transports.length === 1) return [await phase(name, rate, P.seconds, server.pid, idleCores, (i) => op(transports[0]!, pick(transports[0]!, i)))];
      const SLICES = 4;
      const parts = new Map<Transport, PhaseResult[]>(transports.map((t) => [t, []]));
      for (let s = 0; s < SLICES; s++) {
        for (const t of s % 2 === 0 ? transports : [...transports].reverse()) {
          parts.get(t)!.push(await phase(`${name}/${t}`, rate, Math.max(1, P.seconds / SLICES), server.pid, idleCores, (i) => op(t, pick(t, i))));
        }
      }
      return transports.map((t) => merge(`${name}/${t}`, rate, parts.get(t)!));
    };

    log(`registering ${P.nodes} Nodes (as the hub's join does), then their status and Leases through the hub's StatusWriter`);
    const tCreate = now();
    for (let base = 0; base < P.nodes; base += 64) {
      const batch = Array.from({ length: Math.min(64, P.nodes - base) }, (_, k) => base + k);
      // A status report never creates a Node (only a join registers one), so register them first.
      await Promise.all(batch.map((i) => client.ensure('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName(i) } })));
      const results = await Promise.all(batch.flatMap((i) => [nodeStatus(i), lease(i)]));
      const bad = results.find((r) => !r.ok);
      if (bad) throw new Error(`setup write failed: ${bad.reason}`);
    }
    log(`created in ${round(since(tCreate) / 1000, 1)} s`);

    await sleep(2000);
    const idle = new ProcSampler(server.pid, 250).start();
    await sleep(P.idleSeconds * 1000);
    const idleCores = idle.stop().avgCpuCores;
    log(`idle server with ${P.nodes} nodes: ${round(idleCores, 3)} cores`);

    const phases: PhaseResult[] = [];
    await profiled(async () => {
      for (const rate of P.rates) {
        log(`lease renewals at ${rate}/s for ${P.seconds} s${transports.length > 1 ? ' per transport' : ''}`);
        for (const r of await measure(`lease@${rate}`, rate, leaseOf)) {
          log(`  ${r.name}: ${round(r.achievedPerSecond)}/s, server ${round(r.serverCpuMsPerOp, 3)} + writer ${round(r.writerCpuMsPerOp, 3)} CPU-ms/renewal`);
          phases.push(r);
        }
      }
      if (P.nodeRate > 0) {
        log(`node status reports at ${P.nodeRate}/s for ${P.seconds} s${transports.length > 1 ? ' per transport' : ''}`);
        for (const r of await measure(`node@${P.nodeRate}`, P.nodeRate, nodeStatusOf)) {
          log(`  ${r.name}: ${round(r.achievedPerSecond)}/s, server ${round(r.serverCpuMsPerOp, 3)} + writer ${round(r.writerCpuMsPerOp, 3)} CPU-ms/report`);
          phases.push(r);
        }
      }
    });

    // Sanity: the renewals kept every node alive (a lapsed lease would add lifecycle writes to the numbers).
    const nodes = JSON.parse((await client.request('GET', '/api/v1/nodes')).body) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] };
    const notReady = nodes.items.filter((n) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True').length;
    client.close();
    await server.stop(15_000);

    const rd = (d: Distribution) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, round(v, 2)]));
    report.results = {
      idleServerCores: round(idleCores, 3),
      nodesNotReadyAtEnd: notReady,
      phases: phases.map(({ raw: _raw, ...p }) => ({
        ...p,
        achievedPerSecond: round(p.achievedPerSecond),
        latencyMs: rd(p.latencyMs),
        serverCores: round(p.serverCores, 3),
        writerCores: round(p.writerCores, 3),
        serverCpuMsPerOp: round(p.serverCpuMsPerOp, 3),
        writerCpuMsPerOp: round(p.writerCpuMsPerOp, 3),
        totalCpuMsPerOp: round(p.totalCpuMsPerOp, 3),
        perSecondAtOneCore: round(p.perSecondAtOneCore, 0),
      })),
    };
    for (const p of phases) {
      if (p.errors) report.notes.push(`${p.name}: ${p.errors} writes failed; first: ${p.firstError}`);
      if (p.skipped) report.notes.push(`${p.name}: ${p.skipped} writes not started (${P.maxInFlight} in flight): rate not sustained`);
    }
    if (notReady) report.notes.push(`${notReady} nodes not Ready at the end: lifecycle writes are included in the numbers`);
    const describe = (t: Transport) => t === 'loopback' ? 'one request per write on the server\'s loopback Unix socket (plain HTTP, bearer token)'
      : t === 'batched' ? 'node-write batches on the loopback socket (as kedge server\'s hub)' : 'one request per write over HTTPS (client certificate, keep-alive)';
    report.notes.push(`writer = the hub StatusWriter run in the bench process (in production it runs on the server's hub thread), ${transports.map(describe).join(' vs ')}; server = API + storage + watch cache + controllers`);
    report.notes.push('CPU-ms per op are net of the idle server; "at one core" = 1000 / (server + writer CPU-ms)');

    const rows: SummaryRow[] = [[`idle server, ${P.nodes} nodes`, `${round(idleCores, 3)} cores`]];
    for (const p of phases) {
      const what = p.name.startsWith('lease') ? 'renewal' : 'node status';
      rows.push([
        `${p.name} (${round(p.achievedPerSecond, 0)}/s achieved)`,
        `${round(p.totalCpuMsPerOp, 3)} CPU-ms/${what}`,
        `server ${round(p.serverCpuMsPerOp, 3)} + writer ${round(p.writerCpuMsPerOp, 3)}; ${round(p.perSecondAtOneCore, 0)}/s at one core; p50 ${round(p.latencyMs.p50, 1)} ms, p99 ${round(p.latencyMs.p99, 1)} ms`,
      ]);
    }
    publish(report, rows, { write: !opt['no-record'] });
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:heartbeats failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
