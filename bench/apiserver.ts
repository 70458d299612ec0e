/**
 * API server benchmark (issue 2), against one real `kedge server` process in one run:
 *   - server RSS at idle
 *   - create throughput for N pods at concurrency C, with a baseline at concurrency 1
 *   - server RSS (and CPU) with N pods stored
 *   - list latency for the N pods: one full list, and paginated (limit=500) traversal, with a
 *     baseline of the same rows read straight from the server's SQLite file in this process
 *   - watch fan-out: events/s delivered to W watchers while M pods are created, and the
 *     create → delivered latency of each event
 *
 * Usage: npm run bench:apiserver [-- --pods 10000 --concurrency 32 --watchers 100 --no-record]
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Store } from '../src/storage/types.js';
import { Harness, type ManagedProcess } from '../test/harness/processes.js';
import { ProcSampler } from '../test/harness/procstat.js';
import { KubeHttp } from './lib/kube-http.js';
import { distribution, runConcurrent, round, toMiB, since, now, type Distribution } from './lib/stats.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';

const { values: opt } = parseArgs({
  options: {
    pods: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '32' },
    'baseline-pods': { type: 'string', default: '500' },
    watchers: { type: 'string', default: '100' },
    'watch-pods': { type: 'string', default: '1000' },
    'list-repeats': { type: 'string', default: '5' },
    'page-size': { type: 'string', default: '500' },
    'settle-ms': { type: 'string', default: '3000' },
    'no-record': { type: 'boolean', default: false },
  },
});
const int = (name: keyof typeof opt) => {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer, got ${opt[name]}`);
  return v;
};
const P = {
  pods: int('pods'),
  concurrency: Math.max(1, int('concurrency')),
  baselinePods: int('baseline-pods'),
  watchers: int('watchers'),
  watchPods: int('watch-pods'),
  listRepeats: Math.max(1, int('list-repeats')),
  pageSize: Math.max(1, int('page-size')),
  settleMs: int('settle-ms'),
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[bench:apiserver ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** A pod as a user would post it: one container, labels, resources, an env var. */
function podManifest(name: string, i: number): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'bench', shard: String(i % 16) } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'registry.example/bench/app:1.0',
          env: [{ name: 'INDEX', value: String(i) }],
          resources: { requests: { cpu: '10m', memory: '16Mi' } },
        },
      ],
    },
  };
}

const podName = (prefix: string, i: number) => `${prefix}-${String(i).padStart(6, '0')}`;

async function createPods(client: KubeHttp, ns: string, prefix: string, n: number, concurrency: number) {
  const base = `/api/v1/namespaces/${ns}/pods`;
  return runConcurrent(n, concurrency, (i) => client.json('POST', base, podManifest(podName(prefix, i), i)));
}

/** Median of a few RSS readings a moment apart: one reading can catch a GC mid-way. */
async function steadyRss(proc: ManagedProcess): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(proc.sample().rssBytes);
    await sleep(200);
  }
  return distribution(xs).p50;
}

/**
 * Baseline for list latency: the same pods read through the storage engine in this process
 * (the server's SQLite file opened with the Store contract once the server has stopped: it holds the
 * database exclusively while it runs), then JSON.parse of every value. What a list costs with no
 * HTTP, TLS, auth, watch cache or encoding: the floor the server's list is compared against.
 */
async function storeListBaseline(dataDir: string, ns: string, anyPodName: string, repeats: number): Promise<{ ms: Distribution; rows: number; prefix: string } | { error: string }> {
  const { openSqliteStore } = await import('../src/storage/sqlite.js');
  const file = path.join(dataDir, 'state.db');
  if (!existsSync(file)) return { error: `no ${file}` };
  const store = await openSqliteStore(file);
  try {
    const prefix = await findPrefix(store, ns, anyPodName);
    if (!prefix) return { error: `no key ending in /${ns}/${anyPodName} in ${file}` };
    const times: number[] = [];
    let rows = 0;
    for (let r = 0; r < repeats; r++) {
      const t0 = now();
      const res = await store.list(prefix);
      const parsed = res.items.map((kv) => JSON.parse(kv.value) as unknown);
      times.push(since(t0));
      rows = parsed.length;
    }
    return { ms: distribution(times), rows, prefix };
  } catch (e) {
    return { error: `${file}: ${(e as Error).message}` };
  } finally {
    await store.close();
  }
}

/** The key prefix the server stores a namespace's pods under (its layout is the API server's business). */
async function findPrefix(store: Store, ns: string, podNameInNs: string): Promise<string | null> {
  for (const p of [`/registry/core/pods/${ns}/`, `/registry/pods/${ns}/`]) if (await store.get(p + podNameInNs)) return p;
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.list('/', { limit: 2000, ...(startAfter ? { startAfter } : {}) });
    const hit = page.items.find((kv) => kv.key.endsWith(`/${ns}/${podNameInNs}`));
    if (hit) return hit.key.slice(0, hit.key.length - podNameInNs.length);
    if (!page.more || page.items.length === 0) return null;
    startAfter = page.items[page.items.length - 1]!.key;
  }
}

/**
 * W watchers on one namespace from a known resourceVersion, then M pods created there. Measures
 * how long until every watcher has every ADDED event (events/s delivered), and per event the time
 * from sending its create to its arrival at a watcher.
 */
async function watchFanOut(client: KubeHttp, ns: string, watchers: number, pods: number, concurrency: number) {
  await client.ensure('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const base = `/api/v1/namespaces/${ns}/pods`;
  const startRv = (await client.listAll(base)).resourceVersion;
  const sentAt = new Map<string, number>();
  const lagMs: number[] = [];
  const perWatcher = new Array<number>(watchers).fill(0);
  let delivered = 0;
  let lastDelivery = 0;
  let allDone!: () => void;
  const done = new Promise<void>((r) => (allDone = r));
  const expected = watchers * pods;
  const handles = Array.from({ length: watchers }, (_, w) =>
    client.watch(base, startRv, (type, obj) => {
      if (type !== 'ADDED') return;
      const t = now();
      const s = sentAt.get(obj.metadata?.name ?? '');
      if (s !== undefined) lagMs.push(t - s);
      perWatcher[w]!++;
      delivered++;
      lastDelivery = t;
      if (delivered === expected) allDone();
    }),
  );
  await Promise.all(handles.map((h) => h.established));
  const t0 = now();
  const create = await runConcurrent(pods, concurrency, (i) => {
    const name = podName('w', i);
    sentAt.set(name, now());
    return client.json('POST', base, podManifest(name, i));
  });
  const timeoutMs = 120_000;
  const finished = await Promise.race([done.then(() => true), sleep(timeoutMs).then(() => false)]);
  for (const h of handles) h.close();
  const spanMs = (lastDelivery || now()) - t0;
  return {
    watchers,
    pods,
    expectedEvents: expected,
    deliveredEvents: delivered,
    complete: finished,
    watchersComplete: perWatcher.filter((n) => n >= pods).length,
    spanMs,
    eventsPerSecond: delivered / (spanMs / 1000),
    createErrors: create.errors,
    lagMs: distribution(lagMs),
  };
}

async function main(): Promise<void> {
  const report = newReport('apiserver', P);
  const h = new Harness('bench-apiserver');
  const cleanup = () => h.cleanup();
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const dataDir = h.tempDir('data');
    const port = await h.freePort();
    log(`starting kedge server on 127.0.0.1:${port}, data ${dataDir}`);
    const tStart = now();
    const server = await h.startKedge('kedge-server', ['server', '--data-dir', dataDir, '--bind-address', '127.0.0.1', '--secure-port', String(port), '--hub-port', '0'], {
      ready: { url: `https://127.0.0.1:${port}/readyz`, timeoutMs: 60_000 },
    });
    const kubeconfig = path.join(dataDir, 'admin.kubeconfig');
    for (let i = 0; i < 100 && !existsSync(kubeconfig); i++) await sleep(100);
    const startupMs = since(tStart);
    const client = await KubeHttp.fromKubeconfig(kubeconfig, P.concurrency);
    // first authenticated call proves the credentials work before anything is measured
    await client.json('GET', '/api/v1/namespaces/default');

    await sleep(P.settleMs);
    const idleRss = await steadyRss(server);
    log(`idle RSS ${toMiB(idleRss)} MiB`);

    await client.ensure('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench-c1' } });
    await client.ensure('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });

    log(`baseline: ${P.baselinePods} creates at concurrency 1`);
    const c1 = await createPods(client, 'bench-c1', 'c1', P.baselinePods, 1);

    log(`${P.pods} creates at concurrency ${P.concurrency}`);
    const sampler = new ProcSampler(server.pid, 250).start();
    const cN = await createPods(client, 'bench', 'pod', P.pods, P.concurrency);
    const createCost = sampler.stop();
    log(`create: ${round(cN.opsPerSecond)} pods/s, ${cN.errors} errors${cN.firstError ? ` (first: ${cN.firstError})` : ''}`);

    await sleep(P.settleMs);
    const loadedRss = await steadyRss(server);
    log(`RSS with ${P.pods} pods: ${toMiB(loadedRss)} MiB`);

    const nsPods = '/api/v1/namespaces/bench/pods';
    log(`list: ${P.listRepeats}× full, ${P.listRepeats}× paginated limit=${P.pageSize}`);
    await client.listAll(nsPods); // warm-up, not counted
    const full: number[] = [];
    let fullItems = 0;
    let fullBytes = 0;
    for (let r = 0; r < P.listRepeats; r++) {
      const t0 = now();
      const l = await client.listAll(nsPods);
      full.push(since(t0));
      fullItems = l.items;
      fullBytes = l.bytes;
    }
    const paged: number[] = [];
    const pageMs: number[] = [];
    let pagedItems = 0;
    let pages = 0;
    for (let r = 0; r < P.listRepeats; r++) {
      const t0 = now();
      const l = await client.listAll(nsPods, P.pageSize);
      paged.push(since(t0));
      pageMs.push(...l.pageMs);
      pagedItems = l.items;
      pages = l.pages;
    }

    log(`watch fan-out: ${P.watchers} watchers, ${P.watchPods} creates`);
    const fan = P.watchers > 0 && P.watchPods > 0 ? await watchFanOut(client, 'bench-watch', P.watchers, P.watchPods, P.concurrency) : null;
    const afterRss = await steadyRss(server);
    client.close();
    await server.stop(15_000);
    // the server holds its database exclusively while it runs: read the baseline once it is stopped
    const raw = await storeListBaseline(dataDir, 'bench', podName('pod', 0), P.listRepeats);

    const fullD = distribution(full);
    const pagedD = distribution(paged);
    report.results = {
      startupMs: round(startupMs),
      idleRssMiB: toMiB(idleRss),
      create: {
        concurrency1: { pods: P.baselinePods, podsPerSecond: round(c1.opsPerSecond), errors: c1.errors, latencyMs: roundD(c1.latencyMs) },
        concurrencyN: {
          concurrency: P.concurrency,
          pods: P.pods,
          podsPerSecond: round(cN.opsPerSecond),
          errors: cN.errors,
          firstError: cN.firstError,
          latencyMs: roundD(cN.latencyMs),
          serverAvgCpuCores: round(createCost.avgCpuCores),
          serverPeakRssMiB: toMiB(createCost.peakRssBytes),
        },
        speedupVsConcurrency1: round(cN.opsPerSecond / c1.opsPerSecond),
      },
      rssWithPodsMiB: toMiB(loadedRss),
      rssAfterWatchMiB: toMiB(afterRss),
      list: {
        items: fullItems,
        fullListMs: roundD(fullD),
        fullListBytes: fullBytes,
        paginated: { pageSize: P.pageSize, pages, items: pagedItems, traversalMs: roundD(pagedD), pageMs: roundD(distribution(pageMs)) },
        storeListInProcess: 'error' in raw ? raw : { rows: raw.rows, prefix: raw.prefix, ms: roundD(raw.ms) },
        fullListVsStoreList: 'error' in raw ? null : round(fullD.p50 / raw.ms.p50),
      },
      watch: fan && { ...fan, spanMs: round(fan.spanMs), eventsPerSecond: round(fan.eventsPerSecond), lagMs: roundD(fan.lagMs) },
    };
    if (cN.errors) report.notes.push(`${cN.errors} of ${P.pods} creates failed; first error: ${cN.firstError}`);
    if (fullItems !== P.pods - cN.errors) report.notes.push(`full list returned ${fullItems} pods, expected ${P.pods - cN.errors}`);
    if (pagedItems !== fullItems) report.notes.push(`paginated traversal returned ${pagedItems} pods, full list ${fullItems}`);
    if ('error' in raw) report.notes.push(`in-process store baseline unavailable: ${raw.error}`);
    if (fan && !fan.complete) report.notes.push(`watch fan-out incomplete: ${fan.deliveredEvents}/${fan.expectedEvents} events, ${fan.watchersComplete}/${fan.watchers} watchers complete`);
    report.notes.push('the server runs as shipped: API server + in-process controllers + cloud hub (on an ephemeral port, no nodes)');
    report.notes.push('client load (HTTP, JSON parse of every watch event) runs on the same 2 cores as the server');

    const rows: SummaryRow[] = [
      ['server startup to ready', `${round(startupMs, 0)} ms`],
      ['server RSS idle', `${toMiB(idleRss)} MiB`, 'API server + controllers, no workload; not measured against K3s here (see README for the published K3s figure and why it is not comparable)'],
      [`create pods, concurrency ${P.concurrency}`, `${round(cN.opsPerSecond, 0)} pods/s`, `p50 ${round(cN.latencyMs.p50, 1)} ms, p99 ${round(cN.latencyMs.p99, 1)} ms, server ${round(createCost.avgCpuCores)} cores`],
      ['create pods, concurrency 1 (baseline)', `${round(c1.opsPerSecond, 0)} pods/s`, `×${round(cN.opsPerSecond / c1.opsPerSecond, 1)} with concurrency ${P.concurrency}`],
      [`server RSS with ${P.pods} pods`, `${toMiB(loadedRss)} MiB`, `${round((loadedRss - idleRss) / Math.max(1, P.pods) / 1024, 2)} KiB per pod over idle`],
      [`list ${fullItems} pods (one request)`, `p50 ${round(fullD.p50, 0)} ms`, `max ${round(fullD.max, 0)} ms, ${toMiB(fullBytes)} MiB JSON`],
      [`list ${pagedItems} pods, limit=${P.pageSize}`, `p50 ${round(pagedD.p50, 0)} ms for ${pages} pages`, `page p50 ${round(distribution(pageMs).p50, 1)} ms`],
      'error' in raw
        ? ['store list in-process (baseline)', 'unavailable', raw.error]
        : [`store list + parse in-process, ${raw.rows} pods (baseline)`, `p50 ${round(raw.ms.p50, 0)} ms`, `full list costs ×${round(fullD.p50 / raw.ms.p50, 1)}`],
    ];
    if (fan) {
      rows.push(
        [`watch fan-out, ${fan.watchers} watchers × ${fan.pods} pods`, `${round(fan.eventsPerSecond, 0)} events/s`, `${fan.deliveredEvents}/${fan.expectedEvents} delivered in ${round(fan.spanMs / 1000, 1)} s`],
        ['watch create → delivered', `p50 ${round(fan.lagMs.p50, 0)} ms, p99 ${round(fan.lagMs.p99, 0)} ms`],
      );
    }
    publish(report, rows, { write: !opt['no-record'] });
  } finally {
    await cleanup();
  }
}

function roundD(d: Distribution): Distribution {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, round(v, 2)])) as unknown as Distribution;
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:apiserver failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
