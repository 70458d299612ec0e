/**
 * Datastore benchmark (npm run bench:datastores): the three Store backends side by side in one run, at the
 * Store interface (in-process, no HTTP), with ratios to SQLite measured in the same run.
 *  - sqlite: a file store as `kedge server` opens it (background checkpoints, durable: WAL fdatasync per batch);
 *  - etcd: a private Debian etcd 3.4 (fsyncs its WAL per commit, as always);
 *  - postgres: a private PostgreSQL 15 with default durability (fsync, synchronous_commit on).
 * Per backend: creates one at a time (c=1) and concurrent (c=100), a list of --objects keys (10,000), watch fan-out
 * (--watchers watchers on a prefix while 1,000 objects are created), and create→delivered latency to a watcher on
 * a *second* connection to the same datastore (another kedge server's view; SQLite has no second writer, so
 * there it is the same store). PostgreSQL's second view is measured twice: fed by LISTEN/NOTIFY, and by polling
 * only (50 ms), which is what the NOTIFY path is for.
 * Also for etcd and SQLite: a concurrent-write profile (writes/s at c = 1, 10, 100, 400, with the CPU seconds of the
 * engine process and of this client per 1,000 writes), to say where etcd's concurrent writes spend their time.
 * Then through real servers (bench/lib/edge-delivery.ts): create→delivered at --edge-nodes hollow edge nodes per
 * backend (one server each), and fleet delivery with 2 servers vs 1 on the same datastore (etcd and PostgreSQL).
 * Flags: --objects N (10000), --single N (300), --watchers W (20), --latency N (200), --edge-nodes N (50),
 * --edge-creates N (40), --edge-burst N (50), --no-edge, --no-record.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { newReport, publish, type SummaryRow } from './lib/report.js';
import { distribution, now, round, runConcurrent, since, type ConcurrentRun, type Distribution } from './lib/stats.js';
import { podJson } from './lib/pod-json.js';
import { openSqliteStore } from '../src/storage/sqlite.js';
import { openEtcdStore } from '../src/storage/etcd.js';
import { openPostgresStore } from '../src/storage/postgres.js';
import type { Store, WatchEvent } from '../src/storage/types.js';
import { Harness } from '../test/harness/processes.js';
import { sampleProcess } from '../test/harness/procstat.js';
import { edgeDelivery, type EdgeDeliveryResult } from './lib/edge-delivery.js';
import { startEtcd, startPostgres } from '../test/harness/datastores.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const objects = flag('objects', 10000);
const single = flag('single', 300);
const watchers = flag('watchers', 20);
const latencyWrites = flag('latency', 200);
const fanOutWrites = 1000;
const record = !process.argv.includes('--no-record');
const edgeNodes = flag('edge-nodes', 50);
const edgeCreates = flag('edge-creates', 40);
const edgeBurst = flag('edge-burst', 50);
const withEdges = !process.argv.includes('--no-edge');
const PROFILE_CONCURRENCY = [1, 10, 100, 400];

interface Backend {
  name: string;
  store: Store;
  /** Another connection to the same datastore (a second server's view), or the same store where none can exist. */
  second: () => Promise<Store>;
  extraSeconds?: { label: string; open: () => Promise<Store> }[];
}

interface BackendResult {
  single: ConcurrentRun;
  concurrent: ConcurrentRun;
  listMs: Distribution;
  fanOutEventsPerSecond: number;
  delivered: Record<string, Distribution>;
}

async function measure(b: Backend): Promise<BackendResult> {
  const singleRun = await runConcurrent(single, 1, (i) => b.store.create(`/bench/single/${i}`, podJson(i)));
  const concurrent = await runConcurrent(objects, 100, (i) => b.store.create(`/bench/pods/${String(i).padStart(6, '0')}`, podJson(i)));
  const lists: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = now();
    const res = await b.store.list('/bench/pods/');
    if (res.items.length !== objects) throw new Error(`${b.name}: listed ${res.items.length} of ${objects}`);
    lists.push(since(t));
  }
  const fanOutEventsPerSecond = await fanOut(b.store);
  const delivered: Record<string, Distribution> = { main: await deliveryLatency(b.store, await b.second(), b.name) };
  for (const extra of b.extraSeconds ?? []) delivered[extra.label] = await deliveryLatency(b.store, await extra.open(), `${b.name} ${extra.label}`);
  return { single: singleRun, concurrent, listMs: distribution(lists), fanOutEventsPerSecond, delivered };
}

interface ProfilePoint { concurrency: number; writesPerSecond: number; p99Ms: number; engineCpuSPer1000: number; clientCpuSPer1000: number }

/** writes/s per concurrency, with the engine's CPU (its own process, or none in-process) and this process's CPU per 1,000 writes. */
async function concurrencyProfile(store: Store, prefix: string, enginePid?: number): Promise<ProfilePoint[]> {
  const points: ProfilePoint[] = [];
  for (const c of PROFILE_CONCURRENCY) {
    const writes = c === 1 ? 200 : 1000;
    const e0 = enginePid ? sampleProcess(enginePid).cpuSeconds : 0;
    const u0 = process.cpuUsage();
    const run = await runConcurrent(writes, c, (i) => store.create(`${prefix}/c${c}/${i}`, podJson(i)));
    const u = process.cpuUsage(u0);
    const engine = enginePid ? sampleProcess(enginePid).cpuSeconds - e0 : 0;
    points.push({
      concurrency: c, writesPerSecond: run.opsPerSecond, p99Ms: run.latencyMs.p99,
      engineCpuSPer1000: (engine * 1000) / writes, clientCpuSPer1000: ((u.user + u.system) / 1e6) * 1000 / writes,
    });
  }
  return points;
}

async function fanOut(store: Store): Promise<number> {
  const from = await store.currentRevision();
  let received = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((r) => (done = r));
  const ws = Array.from({ length: watchers }, () =>
    store.watch('/bench/fan/', { fromRevision: from }, {
      onEvent: () => {
        if (++received === watchers * fanOutWrites) done();
      },
      onError: (err) => console.error('fan-out watcher failed', err),
    }),
  );
  const t = now();
  await runConcurrent(fanOutWrites, 100, (i) => store.create(`/bench/fan/${i}`, podJson(i)));
  await all;
  const ms = since(t);
  for (const w of ws) w.cancel();
  return (watchers * fanOutWrites) / (ms / 1000);
}

/** Writes one at a time on `writer`; each one's time from create() to its event at a watcher on `reader`. */
async function deliveryLatency(writer: Store, reader: Store, label: string): Promise<Distribution> {
  const prefix = `/bench/lat/${Math.random().toString(36).slice(2)}/`;
  const started = new Map<string, number>();
  const samples: number[] = [];
  let wake: (() => void) | null = null;
  const w = reader.watch(prefix, { fromRevision: await reader.currentRevision() }, {
    onEvent: (e: WatchEvent) => {
      const t = started.get(e.kv.key);
      if (t !== undefined) samples.push(since(t));
      wake?.();
    },
    onError: (err) => console.error(`${label}: latency watcher failed`, err),
  });
  for (let i = 0; i < latencyWrites; i++) {
    const key = `${prefix}${i}`;
    const arrived = new Promise<void>((r) => (wake = r));
    started.set(key, now());
    await writer.create(key, podJson(i));
    const deadline = new Promise<void>((r) => setTimeout(r, 5000).unref());
    while (samples.length <= i) await Promise.race([arrived, deadline]).then(() => new Promise((r) => setImmediate(r)));
  }
  w.cancel();
  if (reader !== writer) await reader.close();
  return distribution(samples);
}

const h = new Harness('bench-datastores');
const report = newReport('datastores', { objects, single, watchers, fanOutWrites, latencyWrites, cpus: cpus().length });
const loadAtStart = loadavg()[0]!;
const dir = await mkdtemp(join(tmpdir(), 'kedge-bench-ds-'));
const results: Record<string, BackendResult> = {};
const profiles: Record<string, ProfilePoint[]> = {};
const edges: Record<string, EdgeDeliveryResult> = {};
try {
  const sqlite = await openSqliteStore(join(dir, 'state.db'), { checkpoint: 'background' });
  results.sqlite = await measure({ name: 'sqlite', store: sqlite, second: async () => sqlite });
  profiles.sqlite = await concurrencyProfile(sqlite, '/bench/profile');
  await sqlite.close();

  const etcd = await startEtcd(h, { name: 'bench-etcd' });
  const etcdStore = await openEtcdStore({ endpoints: [etcd.endpoint] });
  results.etcd = await measure({ name: 'etcd', store: etcdStore, second: () => openEtcdStore({ endpoints: [etcd.endpoint] }) });
  profiles.etcd = await concurrencyProfile(etcdStore, '/bench/profile', etcd.process.pid);
  await etcdStore.close();

  const pg = await startPostgres(h, { name: 'bench-postgres' });
  const url = await pg.createDatabase('bench');
  const pgStore = await openPostgresStore({ connectionString: url });
  results.postgres = await measure({
    name: 'postgres',
    store: pgStore,
    second: () => openPostgresStore({ connectionString: url }),
    extraSeconds: [{ label: 'poll only (50 ms), no NOTIFY', open: () => openPostgresStore({ connectionString: url, notify: false, pollIntervalMs: 50 }) }],
  });
  await pgStore.close();

  if (withEdges) {
    const run = (label: string, endpoint: string, servers: 1 | 2) => edgeDelivery(h, { label, endpoint, servers, nodes: edgeNodes, creates: edgeCreates, burst: edgeBurst });
    edges.sqlite = await run('sqlite', 'sqlite', 1);
    // Fresh engines: the edge runs start from an empty datastore like the SQLite one.
    edges.etcd = await run('etcd', (await startEtcd(h, { name: 'edge-etcd-1' })).endpoint, 1);
    edges['etcd, 2 servers'] = await run('etcd2', (await startEtcd(h, { name: 'edge-etcd-2' })).endpoint, 2);
    edges.postgres = await run('pg', await pg.createDatabase('edge1'), 1);
    edges['postgres, 2 servers'] = await run('pg2', await pg.createDatabase('edge2'), 2);
  }
} finally {
  await h.cleanup();
  await rm(dir, { recursive: true, force: true });
}

const base = results.sqlite!;
const ratio = (x: number, y: number): string => `${round(x / y, 2)}x SQLite`;
const rows: SummaryRow[] = [];
for (const [name, r] of Object.entries(results)) {
  rows.push([`${name}: create one at a time (c=1)`, `${Math.round(r.single.opsPerSecond)} writes/s`, `p99 ${round(r.single.latencyMs.p99)} ms; ${ratio(r.single.opsPerSecond, base.single.opsPerSecond)}`]);
  rows.push([`${name}: create ${objects}, c=100`, `${Math.round(r.concurrent.opsPerSecond)} writes/s`, `p99 ${round(r.concurrent.latencyMs.p99)} ms, ${r.concurrent.errors} errors; ${ratio(r.concurrent.opsPerSecond, base.concurrent.opsPerSecond)}`]);
  rows.push([`${name}: list ${objects}`, `p50 ${round(r.listMs.p50)} ms`, `min ${round(r.listMs.min)} ms over 5; ${ratio(r.listMs.p50, base.listMs.p50)} the time`]);
  rows.push([`${name}: watch fan-out, ${watchers} watchers × ${fanOutWrites} creates`, `${Math.round(r.fanOutEventsPerSecond)} events/s`, ratio(r.fanOutEventsPerSecond, base.fanOutEventsPerSecond)]);
  for (const [label, d] of Object.entries(r.delivered)) {
    const what = label === 'main' ? (name === 'sqlite' ? 'same store' : 'second connection') : label;
    rows.push([`${name}: create→delivered to a watcher (${what})`, `p50 ${round(d.p50)} ms, p99 ${round(d.p99)} ms`, `${latencyWrites} writes one at a time; p99 ${ratio(d.p99, base.delivered.main!.p99)} the time`]);
  }
}
for (const [name, points] of Object.entries(profiles)) {
  for (const p of points) {
    const sqliteAt = profiles.sqlite!.find((q) => q.concurrency === p.concurrency)!;
    rows.push([`${name}: concurrent-write profile, c=${p.concurrency}`, `${Math.round(p.writesPerSecond)} writes/s`,
      `p99 ${round(p.p99Ms)} ms; CPU per 1,000 writes: engine ${round(p.engineCpuSPer1000, 2)} s, client ${round(p.clientCpuSPer1000, 2)} s; ${ratio(p.writesPerSecond, sqliteAt.writesPerSecond)}`]);
  }
}
const edgeBase = edges.sqlite;
for (const [name, e] of Object.entries(edges)) {
  const oneServer = name.endsWith(', 2 servers') ? edges[name.replace(', 2 servers', '')] : undefined;
  rows.push([`${name}: create→delivered at ${edgeNodes} hollow edge nodes`, `p50 ${round(e.perNodeMs.p50)} ms, p99 ${round(e.perNodeMs.p99)} ms`,
    `${edgeCreates} Services one at a time × every node; p99 ${ratio(e.perNodeMs.p99, edgeBase!.perNodeMs.p99)} the time`]);
  rows.push([`${name}: fleet delivery, ${edgeBurst} Services at once to ${edgeNodes} nodes`, `${round(e.burstMs / 1000, 2)} s`,
    oneServer ? `${round(e.burstMs / oneServer.burstMs, 2)}x the time of 1 server on the same engine` : `${ratio(e.burstMs, edgeBase!.burstMs)} the time`]);
}
report.results = { stores: results, profiles, edges } as unknown as Record<string, unknown>;
report.notes.push('in-process Store interface only (no HTTP, no JSON decoding); values are ~1.3 KB pod JSON; engines on the same 2-core machine, over loopback');
report.notes.push('all three durable: SQLite fdatasyncs its WAL per batch, etcd fsyncs per commit, PostgreSQL fsync + synchronous_commit on');
report.notes.push(`1-minute load average ${round(loadAtStart, 1)} at start, ${round(loadavg()[0]!, 1)} at end on 2 cores, shared with other engineers' work: lower bounds, compare ratios`);
report.notes.push(`edge rows: real \`kedge server\` processes and ${edgeNodes} hollow nodes (the real EdgeAgent on the fake runtime) in the bench process, all on this 2-core machine: with 2 servers the hubs share the same 2 cores, so the 2-vs-1 ratio shows the cost of spreading, not capacity; small on purpose (shared machine)`);
publish(report, rows, { write: record });
process.exit(0);
