/**
 * Does tunnel traffic delay object sync? One real `kedge server` (API server + hub thread), one real edge agent
 * in its own process (bench/lib/tunnel-edge.ts: hub client, tunnel, kubelet server; pods are synced, not run — its
 * "containers" are log firehoses) dialling through the fault proxy, and real `kubectl logs -f` processes.
 *
 * Each phase creates probe pods bound to the edge at a steady rate and times
 *   - delivery (down): API create → the object applied to the edge's store;
 *   - status (up): the edge reports the pod's status at sync → the API shows it (a watch sees it),
 * while a load runs. The first phase runs no load: it is the baseline of the same run; each other phase's p99 is
 * printed as a ratio to it. Loads are entries of LOADS (name → start function returning a stop function), each
 * measured in its own phase the same way: `--streams` × `kubectl logs -f`, and port-forward downloads of `--pf-mb`
 * MB one after another for the whole phase (the issue's "100 MB port-forward"), through the API server as kubectl's
 * SPDY port-forward does, to a stand-in of containerd's streaming server on the edge (lib/portforward-source.ts).
 *
 *   npm run bench:tunnel [-- --probes 150 --rate 10 --streams 10 --log-rate 262144 --pf-mb 100 --link-bytes-per-second 0 --no-write]
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { KUBECTL, createToken, eventually, startCluster, type Cluster } from '../test/edge/cluster.js';
import { KubeHttp } from './lib/kube-http.js';
import { distribution, intOption, round } from './lib/stats.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';
import type { TunnelEdgeEvent, TunnelEdgeInit } from './lib/tunnel-edge.js';
import { apiSpdyOpener, type PodStreamOpener } from './lib/api-spdy.js';

const { values: opt } = parseArgs({
  options: {
    probes: { type: 'string', default: '150' },
    rate: { type: 'string', default: '10' },
    streams: { type: 'string', default: '10' },
    'log-rate': { type: 'string', default: String(256 * 1024) },
    'pf-mb': { type: 'string', default: '100' },
    'link-bytes-per-second': { type: 'string', default: '0' },
    'no-write': { type: 'boolean', default: false },
  },
});
const P = {
  probes: intOption(opt, 'probes', 1),
  rate: intOption(opt, 'rate', 1),
  streams: intOption(opt, 'streams', 1),
  logRate: intOption(opt, 'log-rate', 0),
  linkRate: intOption(opt, 'link-bytes-per-second', 0),
  pfBytes: intOption(opt, 'pf-mb', 1) * 1_000_000,
};
const NODE = 'bench-tunnel-edge';
const NS = 'default';

/** What a load phase can use. */
interface BenchContext {
  c: Cluster;
  api: KubeHttp;
  edge: EdgeProcess;
}
/** A load: started before a phase's probes, stopped after; returns what to report about itself. */
type Load = (ctx: BenchContext) => Promise<{ stop(): Promise<SummaryRow[]> }>;

/** `--streams` × `kubectl logs -f` of firehose containers (each paced at --log-rate bytes/s, 0 = unpaced). */
const logsFollow: Load = async (ctx) => {
  const pods = Array.from({ length: P.streams }, (_, i) => `chatty-${i}`);
  await Promise.all(pods.map((name) => ctx.api.ensure(`/api/v1/namespaces/${NS}/pods`, podManifest(name))));
  await eventually('chatty pods on the edge', async () => pods.every((p) => ctx.edge.applied.has(`/registry/pods/${NS}/${p}`)), 60_000, 200);
  let received = 0;
  const kids: ChildProcess[] = pods.map((p) => {
    const k = spawn(KUBECTL, ['--kubeconfig', ctx.c.kubeconfig, 'logs', '-f', p], { stdio: ['ignore', 'pipe', 'inherit'] });
    k.stdout!.on('data', (d: Buffer) => (received += d.length));
    return k;
  });
  await eventually('every stream flowing', async () => received > P.streams * 64 * 1024, 60_000, 100);
  const t0 = Date.now();
  const r0 = received;
  return {
    async stop() {
      const secs = (Date.now() - t0) / 1000;
      const bytes = received - r0;
      for (const k of kids) k.kill('SIGKILL');
      await Promise.all(kids.map((k) => new Promise((r) => (k.exitCode !== null ? r(null) : k.once('close', r)))));
      return [[`logs -f ×${P.streams}: bytes through the tunnel`, `${round(bytes / secs / 1024 / 1024, 2)} MiB/s`, `${round(bytes / 1024 / 1024, 1)} MiB in ${round(secs, 1)} s, read by kubectl`]];
    },
  };
};

/** One port-forward request through the API server: the bytes it got back. */
async function portForwardOnce(open: PodStreamOpener, pod: string, onBytes: (n: number) => void): Promise<number> {
  const session = await open(pod, 'portforward', new URLSearchParams());
  try {
    const headers = { port: ['8080'], requestid: ['0'] };
    const error = await session.openStream({ ...headers, streamtype: ['error'] });
    error.end();
    error.resume();
    const data = await session.openStream({ ...headers, streamtype: ['data'] });
    data.write('GET / HTTP/1.0\r\n\r\n');
    let got = 0;
    data.on('data', (d: Buffer) => {
      got += d.length;
      onBytes(d.length);
    });
    await new Promise((resolve) => (data.once('end', resolve), data.once('close', resolve)));
    return got;
  } finally {
    session.close();
  }
}

/** `--pf-mb` MB port-forward downloads back to back while the phase runs. */
const portForward: Load = async (ctx) => {
  const pod = 'pf-source';
  await ctx.api.ensure(`/api/v1/namespaces/${NS}/pods`, podManifest(pod));
  await eventually('port-forward pod on the edge', async () => ctx.edge.applied.has(`/registry/pods/${NS}/${pod}`), 60_000, 200);
  const open = await apiSpdyOpener(ctx.c.kubeconfig, ctx.c.apiPort, NS);
  let stopped = false;
  let bytes = 0;
  let transfers = 0;
  let flowing!: () => void;
  const started = new Promise<void>((r) => (flowing = r));
  const t0 = Date.now();
  const loop = (async () => {
    while (!stopped) {
      const got = await portForwardOnce(open, pod, (n) => {
        bytes += n;
        if (bytes > 1024 * 1024) flowing();
      });
      if (got !== P.pfBytes) throw new Error(`port-forward got ${got} of ${P.pfBytes} bytes`);
      transfers++;
    }
  })();
  // The phase starts once bytes flow, as with the logs.
  await Promise.race([started, loop]);
  return {
    async stop() {
      stopped = true;
      await loop;
      const secs = (Date.now() - t0) / 1000;
      return [[`port-forward of ${P.pfBytes / 1e6} MB, back to back`, `${round(bytes / secs / 1024 / 1024, 2)} MiB/s`, `${transfers} transfers in ${round(secs, 1)} s`]];
    },
  };
};

/** Loads in phase order; the first phase of the run is always "none" (the baseline). */
const LOADS: Record<string, Load> = {
  [`${P.streams} × kubectl logs -f`]: logsFollow,
  [`${P.pfBytes / 1e6} MB port-forward`]: portForward,
};

function podManifest(name: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: { nodeName: NODE, automountServiceAccountToken: false, containers: [{ name: 'main', image: 'busybox' }] },
  };
}

interface EdgeProcess {
  child: ChildProcess;
  applied: Map<string, number>;
  logBytes: number;
  stop(): Promise<void>;
}

async function startEdge(c: Cluster, hubPort: number): Promise<EdgeProcess> {
  const token = await createToken(c);
  const child = fork(fileURLToPath(new URL('./lib/tunnel-edge.ts', import.meta.url)), [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, KEDGE_LOG_LEVEL: 'warn' } });
  const e: EdgeProcess = {
    child,
    applied: new Map(),
    logBytes: 0,
    async stop() {
      child.send({ stop: true });
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
  };
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (m: TunnelEdgeEvent) => {
      if ('ready' in m) resolve();
      else if ('applied' in m) for (const [k, at] of m.applied) e.applied.set(k, at);
      else if ('logBytes' in m) e.logBytes = m.logBytes;
    });
    child.once('exit', (code) => reject(new Error(`edge process exited (${code})`)));
  });
  const init: TunnelEdgeInit = { hubUrl: `https://127.0.0.1:${hubPort}`, token: token.token, caCertHash: token.hash, nodeName: NODE, dataDir: c.h.tempDir('edge'), logBytesPerSecond: P.logRate, reportStatus: true, portForwardBytes: P.pfBytes };
  child.send(init);
  await ready;
  return e;
}

interface PhaseResult {
  name: string;
  delivery: ReturnType<typeof distribution>;
  status: ReturnType<typeof distribution>;
  rows: SummaryRow[];
}

async function phase(ctx: BenchContext, name: string, load: Load | undefined, index: number, probes = P.probes): Promise<PhaseResult> {
  const running = load ? await load(ctx) : undefined;
  const created = new Map<string, number>();
  const statusLatency: number[] = [];
  const watch = ctx.api.watch(`/api/v1/namespaces/${NS}/pods`, '0', (_type, object) => {
    const pod = object as { metadata?: { name?: string }; status?: { message?: string } };
    const m = /^synced-at=(\d+)$/.exec(pod.status?.message ?? '');
    if (m && pod.metadata?.name?.startsWith(`probe-${index}-`) && created.has(pod.metadata.name)) {
      statusLatency.push(Date.now() - Number(m[1]));
      created.delete(pod.metadata.name);
    }
  });
  await watch.established;
  const names: string[] = [];
  const start = performance.timeOrigin + performance.now();
  const sent = new Map<string, number>();
  for (let i = 0; i < probes; i++) {
    const due = start + (i * 1000) / P.rate;
    const wait = due - (performance.timeOrigin + performance.now());
    if (wait > 0) await sleep(wait);
    const nm = `probe-${index}-${i}`;
    names.push(nm);
    sent.set(nm, performance.timeOrigin + performance.now());
    created.set(nm, 0);
    void ctx.api.json('POST', `/api/v1/namespaces/${NS}/pods`, podManifest(nm));
  }
  await eventually(`${name}: probes on the edge`, async () => names.every((n) => ctx.edge.applied.has(`/registry/pods/${NS}/${n}`)) || `${names.filter((n) => ctx.edge.applied.has(`/registry/pods/${NS}/${n}`)).length}/${names.length}`, 120_000, 100);
  await eventually(`${name}: statuses in the API`, async () => statusLatency.length >= names.length || `${statusLatency.length}/${names.length}`, 120_000, 100);
  const rows = (await running?.stop()) ?? [];
  watch.close();
  const delivery = names.map((n) => ctx.edge.applied.get(`/registry/pods/${NS}/${n}`)! - sent.get(n)!);
  // Clean up so the next phase starts from the same desired set.
  await Promise.all(names.map((n) => ctx.api.request('DELETE', `/api/v1/namespaces/${NS}/pods/${n}?gracePeriodSeconds=0`)));
  return { name, delivery: distribution(delivery), status: distribution(statusLatency), rows };
}

async function main(): Promise<void> {
  const report = newReport('tunnel', { ...P, edge: 'EdgeAgent in its own process (no containers: logs are firehoses)', link: P.linkRate ? `${P.linkRate} B/s each way (fault proxy)` : 'loopback via the fault proxy, unthrottled' });
  let c: Cluster | undefined;
  let edge: EdgeProcess | undefined;
  const rows: SummaryRow[] = [];
  try {
    c = await startCluster('bench-tunnel');
    const link = await c.proxy.addLink('edge', { host: '127.0.0.1', port: c.hubPort });
    if (P.linkRate) link.throttle(P.linkRate, P.linkRate);
    edge = await startEdge(c, link.port);
    const api = await KubeHttp.fromKubeconfig(c.kubeconfig);
    const ctx: BenchContext = { c, api, edge };
    // Unreported: the first pods of a run pay for JIT and caches, which would inflate the baseline's p99.
    await phase(ctx, 'warm-up', undefined, 99, Math.min(P.probes, 30));
    const results: PhaseResult[] = [await phase(ctx, 'no tunnel traffic (baseline)', undefined, 0)];
    let i = 1;
    for (const [name, load] of Object.entries(LOADS)) results.push(await phase(ctx, name, load, i++));
    const base = results[0]!;
    for (const r of results) {
      const ratio = (a: number, b: number) => (b > 0 ? `×${round(a / b, 2)} of the baseline p99` : '');
      rows.push([`${r.name}: delivery p50 / p99`, `${round(r.delivery.p50, 1)} / ${round(r.delivery.p99, 1)} ms`, r === base ? `${r.delivery.count} pods at ${P.rate}/s, create → applied at the edge` : ratio(r.delivery.p99, base.delivery.p99)]);
      rows.push([`${r.name}: status up p50 / p99`, `${round(r.status.p50, 1)} / ${round(r.status.p99, 1)} ms`, r === base ? 'edge reports → API shows it' : ratio(r.status.p99, base.status.p99)]);
      rows.push(...r.rows);
    }
  } finally {
    await edge?.stop().catch(() => undefined);
    await c?.proxy.close();
    await c?.h.cleanup();
  }
  publish(report, rows, { write: !opt['no-write'] });
}

await main();
