/**
 * Storage benchmark (npm run bench:storage): the SQLite store on its own, in-process, on a real
 * file in a temp dir.
 *  - create throughput for N pod-sized objects: group commit (default) vs a baseline that commits
 *    every write in its own transaction (maxBatchSize 1), both with synchronous=FULL, plus group
 *    commit with synchronous=NORMAL to show what the fsync costs;
 *  - list latency over N objects (one full list, and a paginated traversal of limit=500 pages);
 *  - watch fan-out: events/s delivered to W watchers while N objects are created;
 *  - compaction of N revisions.
 * Each create/update run also reports CPU per write (the whole process: every thread, so work moved to
 * a checkpointer thread still counts) and main-thread busy time per write (event-loop utilisation:
 * what the API server's thread would pay, blocking fsyncs included).
 * Flags: --objects N (default 10000), --concurrency C (default 100), --watchers W (default 100),
 *        --only a,b (run only these create/update runs, skip list/watch/compact; names in the JSON;
 *        `leasePaced` = Lease renewals arriving one by one at --paced-rate/s for --paced-seconds, once per
 *        commitIntervalMs in --commit-intervals, e.g. 0,5),
 *        --store-options JSON (extra SqliteStoreOptions for every store, e.g. '{"checkpoint":"background"}'),
 *        --no-record (print only; do not rewrite bench/RESULTS.md).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { newReport, publish, type SummaryRow } from './lib/report.js';
import { distribution, now, round, runConcurrent, since, type ConcurrentRun } from './lib/stats.js';
import { openSqliteStore, type SqliteStoreOptions } from '../src/storage/sqlite.js';
import { podJson } from './lib/pod-json.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const objects = flag('objects', 10000);
const concurrency = flag('concurrency', 100);
const watchers = flag('watchers', 100);
const record = !process.argv.includes('--no-record');
function stringFlag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const only = stringFlag('only')?.split(',').filter(Boolean) ?? null;
const extraOptions = JSON.parse(stringFlag('store-options') ?? '{}') as SqliteStoreOptions;

const key = (i: number) => `/registry/pods/bench/bench-pod-${String(i).padStart(6, '0')}`;

const dirs: string[] = [];
async function freshStore(options: SqliteStoreOptions) {
  const dir = await mkdtemp(join(tmpdir(), 'kedge-bench-storage-'));
  dirs.push(dir);
  return openSqliteStore(join(dir, 'kedge.db'), { ...extraOptions, ...options });
}

/** Spin the CPU for `ms`, standing in for an API server's per-request work (decode, validate, encode). */
function burn(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy on purpose
  }
}

type CreateRun = ConcurrentRun & {
  commits: number;
  syncs: number;
  /** process CPU (all threads) per successful write, ms; includes the simulated request CPU */
  cpuMsPerWrite: number;
  /** main-thread busy time per successful write, ms (event-loop utilisation; blocking syscalls count) */
  mainThreadMsPerWrite: number;
  stats: Record<string, unknown>;
};

/** CPU and main-thread busy time spent while `body` runs, per successful op. */
async function measured(body: () => Promise<ConcurrentRun>): Promise<ConcurrentRun & { cpuMsPerWrite: number; mainThreadMsPerWrite: number }> {
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const run = await body();
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  const ok = Math.max(1, run.ops - run.errors);
  return { ...run, cpuMsPerWrite: round((cpu.user + cpu.system) / 1000 / ok, 4), mainThreadMsPerWrite: round(elu.active / ok, 4) };
}

async function createRun(options: SqliteStoreOptions, inFlight = concurrency, cpuPerRequestMs = 0): Promise<CreateRun> {
  const store = await freshStore(options);
  try {
    const run = await measured(() =>
      runConcurrent(objects, inFlight, async (i) => {
        if (cpuPerRequestMs > 0) {
          await new Promise((r) => setImmediate(r)); // a request arrives as an I/O event
          burn(cpuPerRequestMs);
        }
        return store.create(key(i), podJson(i));
      }),
    );
    if ((await store.count('/registry/pods/')) !== objects - run.errors) throw new Error('count mismatch after creates');
    const stats = store.stats();
    return { ...run, commits: stats.commits, syncs: stats.syncs, stats: { ...stats } };
  } finally {
    await store.close();
  }
}

/** A Lease as the hub renews it (~450 B of JSON): the write the fleet's heartbeats are made of. */
function leaseJson(i: number, n: number): string {
  return JSON.stringify({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: `node-${i}`, namespace: 'kube-node-lease', uid: `00000000-0000-4000-9000-${String(i).padStart(12, '0')}`, resourceVersion: String(n), creationTimestamp: new Date(0).toISOString(), ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: `node-${i}`, uid: 'node-uid' }] },
    spec: { holderIdentity: `node-${i}`, leaseDurationSeconds: 40, renewTime: new Date(1_700_000_000_000 + n * 1000).toISOString() },
  });
}

const LEASES = 1000;
const leaseKey = (i: number) => `/registry/leases/kube-node-lease/node-${String(i).padStart(5, '0')}`;

/** 1,000 Leases created; each one's current revision, for the compare-and-swap renewals that follow. */
async function seedLeases(store: Awaited<ReturnType<typeof freshStore>>): Promise<{ leases: number; leaseKey: (i: number) => string; revisions: Map<number, number> }> {
  const revisions = new Map<number, number>();
  await Promise.all(Array.from({ length: LEASES }, async (_, i) => revisions.set(i, (await store.create(leaseKey(i), leaseJson(i, 0))).modRevision)));
  return { leases: LEASES, leaseKey, revisions };
}

/** `objects` renewals spread over 1,000 Leases (each update one compare-and-swap, as the API server does). */
async function leaseRun(options: SqliteStoreOptions, inFlight = concurrency): Promise<CreateRun> {
  const store = await freshStore(options);
  try {
    const { leases, leaseKey, revisions } = await seedLeases(store);
    const run = await measured(() =>
      runConcurrent(objects, inFlight, async (n) => {
        const i = n % leases;
        const kv = await store.update(leaseKey(i), leaseJson(i, n), revisions.get(i));
        revisions.set(i, kv.modRevision);
      }),
    );
    const stats = store.stats();
    return { ...run, commits: stats.commits, syncs: stats.syncs, stats: { ...stats } };
  } finally {
    await store.close();
  }
}

const pacedRate = flag('paced-rate', 1000);
const pacedSeconds = flag('paced-seconds', 10);

/**
 * Lease renewals arriving one at a time at a steady rate (as heartbeats do), not in bursts: one op per
 * 1 ms tick at most. Reports writes per commit, which is what group commit is worth at this rate.
 */
async function leasePacedRun(options: SqliteStoreOptions): Promise<CreateRun> {
  const store = await freshStore(options);
  try {
    const { leases, leaseKey, revisions } = await seedLeases(store);
    const before = store.stats();
    const run = await measured(async () => {
      const latencies: number[] = [];
      let issued = 0;
      let errors = 0;
      const total = pacedRate * pacedSeconds;
      const inFlight = new Set<Promise<void>>();
      const t0 = now();
      while (issued < total) {
        const due = Math.min(total, Math.floor((since(t0) / 1000) * pacedRate) + 1);
        while (issued < due) {
          const n = issued++;
          const i = n % leases;
          const start = now();
          const p = store.update(leaseKey(i), leaseJson(i, n), revisions.get(i)).then(
            (kv) => { revisions.set(i, kv.modRevision); latencies.push(since(start)); },
            () => { errors++; },
          ).finally(() => inFlight.delete(p));
          inFlight.add(p);
          if (issued < due) await new Promise((r) => setImmediate(r)); // each arrives as its own I/O event
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      await Promise.all(inFlight);
      const wallMs = since(t0);
      return { ops: total, errors, wallMs, opsPerSecond: ((total - errors) / wallMs) * 1000, latencyMs: distribution(latencies) };
    });
    const stats = store.stats();
    const commits = stats.commits - before.commits;
    return { ...run, commits, syncs: stats.syncs - before.syncs, stats: { ...stats, writesPerCommit: round((run.ops - run.errors) / Math.max(1, commits), 2) } };
  } finally {
    await store.close();
  }
}

/** Run a named create/update run unless --only leaves it out. */
async function pick(name: string, body: () => Promise<CreateRun>): Promise<CreateRun | null> {
  if (only && !only.includes(name)) return null;
  return body();
}

const report = newReport('storage', { objects, concurrency, watchers, backend: 'sqlite (WAL)' });
// The machine is shared with other engineers' work: say how busy it was, beside the numbers.
const loadAtStart = loadavg()[0]!;
try {
  const runs: Record<string, CreateRun | null> = {
    createGroupCommit: await pick('createGroupCommit', () => createRun({})),
    createGroupCommitBlockingFsync: await pick('createGroupCommitBlockingFsync', () => createRun({ asyncFsync: false })),
    createServerLikeAsyncFsync: await pick('createServerLikeAsyncFsync', () => createRun({}, concurrency, 0.2)),
    createServerLikeBlockingFsync: await pick('createServerLikeBlockingFsync', () => createRun({ asyncFsync: false }, concurrency, 0.2)),
    createGroupCommitWide: await pick('createGroupCommitWide', () => createRun({}, concurrency * 10)),
    createOneTransactionPerWrite: await pick('createOneTransactionPerWrite', () => createRun({ maxBatchSize: 1 })),
    createSequential: await pick('createSequential', () => createRun({}, 1)),
    createGroupCommitSyncNormal: await pick('createGroupCommitSyncNormal', () => createRun({ synchronous: 'normal' })),
    leaseRenewals: await pick('leaseRenewals', () => leaseRun({})),
    // Only with --only (not part of the default set, which the recorded RESULTS section lists):
    // leasePaced@N: commitIntervalMs N (--commit-intervals, default 0,5).
    ...(only?.includes('leasePaced')
      ? Object.fromEntries(
          await (async () => {
            const out: [string, CreateRun][] = [];
            for (const ms of (stringFlag('commit-intervals') ?? '0,5').split(',').map(Number)) {
              out.push([`leasePaced@${ms}ms`, await leasePacedRun({ commitIntervalMs: ms })]);
            }
            return out;
          })(),
        )
      : {}),
  };
  const cost = (r: CreateRun) =>
    `${round(r.cpuMsPerWrite, 3)} ms CPU/write (all threads), ${round(r.mainThreadMsPerWrite, 3)} ms main-thread busy/write`;
  if (only) {
    // A selection: just those runs, no list/watch/compaction phases.
    const rows: SummaryRow[] = [];
    for (const [name, r] of Object.entries(runs)) {
      if (!r) continue;
      report.results[name] = r;
      rows.push([name, `${Math.round(r.opsPerSecond)} writes/s`, `${cost(r)}; p50 ${round(r.latencyMs.p50)} ms, p99 ${round(r.latencyMs.p99)} ms, ${r.errors} errors, ${r.commits} transactions (${round((r.ops - r.errors) / Math.max(1, r.commits), 1)} writes each)`]);
    }
    report.notes.push(`1-minute load average ${round(loadAtStart, 1)} at start, ${round(loadavg()[0]!, 1)} at end on ${cpus().length} cores`);
    publish(report, rows, { write: record });
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    process.exit(0);
  }
  const grouped = runs.createGroupCommit!;
  const groupedBlocking = runs.createGroupCommitBlockingFsync!;
  const serverLikeAsync = runs.createServerLikeAsyncFsync!;
  const serverLikeBlocking = runs.createServerLikeBlockingFsync!;
  const groupedWide = runs.createGroupCommitWide!;
  const oneByOne = runs.createOneTransactionPerWrite!;
  const sequential = runs.createSequential!;
  const groupedNormal = runs.createGroupCommitSyncNormal!;
  const leases = runs.leaseRenewals!;

  // List and watch on one store holding the N objects.
  const store = await freshStore({});
  const feed: Promise<unknown>[] = [];
  let delivered = 0;
  const expected = objects * watchers;
  let allDelivered: () => void = () => {};
  const done = new Promise<void>((r) => (allDelivered = r));
  const handles = Array.from({ length: watchers }, () =>
    store.watch('/registry/pods/', { fromRevision: 0 }, {
      onEvent: () => {
        if (++delivered === expected) allDelivered();
      },
      onError: (err) => {
        throw err;
      },
    }),
  );
  const t0 = now();
  for (let i = 0; i < objects; i++) feed.push(store.create(key(i), podJson(i)));
  await Promise.all(feed);
  await done;
  const fanoutMs = since(t0);
  for (const h of handles) h.cancel();

  const fullList: number[] = [];
  for (let r = 0; r < 20; r++) {
    const s = now();
    const res = await store.list('/registry/pods/');
    fullList.push(since(s));
    if (res.items.length !== objects) throw new Error(`list returned ${res.items.length}`);
  }
  const paged: number[] = [];
  for (let r = 0; r < 5; r++) {
    const s = now();
    let startAfter: string | undefined;
    let revision: number | undefined;
    let seen = 0;
    for (;;) {
      const page = await store.list('/registry/pods/', { limit: 500, startAfter, revision });
      seen += page.items.length;
      revision = page.revision;
      if (!page.more) break;
      startAfter = page.items[page.items.length - 1]!.key;
    }
    paged.push(since(s));
    if (seen !== objects) throw new Error(`paginated list saw ${seen}`);
  }
  // Paginated list at a past revision (reads the log, not the current-state table).
  for (let i = 0; i < 100; i++) await store.update(key(i), podJson(i));
  const pastStart = now();
  const past = await store.list('/registry/pods/', { revision: objects });
  const pastListMs = since(pastStart);
  if (past.items.length !== objects) throw new Error('past list size');

  const compactStart = now();
  await store.compact(await store.currentRevision());
  const compactMs = since(compactStart);
  await store.close();

  const full = distribution(fullList);
  const pages = distribution(paged);
  report.results = {
    createGroupCommit: grouped,
    createGroupCommitBlockingFsync: groupedBlocking,
    createServerLikeAsyncFsync: serverLikeAsync,
    createServerLikeBlockingFsync: serverLikeBlocking,
    createGroupCommitWide: groupedWide,
    createOneTransactionPerWrite: oneByOne,
    createSequential: sequential,
    createGroupCommitSyncNormal: groupedNormal,
    leaseRenewals: leases,
    groupCommitSpeedup: round(grouped.opsPerSecond / oneByOne.opsPerSecond, 1),
    listFullMs: full,
    listPaginated500Ms: pages,
    listAtPastRevisionMs: round(pastListMs),
    watchFanout: { watchers, events: expected, wallMs: round(fanoutMs), eventsPerSecond: round((expected / fanoutMs) * 1000) },
    compactMs: round(compactMs),
  };
  const w = (r: ConcurrentRun) => `${Math.round(r.opsPerSecond)} writes/s`;
  const lat = (r: CreateRun) =>
    `p50 ${round(r.latencyMs.p50)} ms, p99 ${round(r.latencyMs.p99)} ms, ${r.errors} errors, ${r.commits} transactions${r.syncs ? `, ${r.syncs} WAL syncs` : ''}`;
  const rows: SummaryRow[] = [
    [`create ${objects}, group commit, durable (async WAL fsync), c=${concurrency}`, w(grouped), lat(grouped)],
    [`create ${objects}, group commit, durable (SQLite FULL: fsync blocks the loop), c=${concurrency}`, w(groupedBlocking), lat(groupedBlocking)],
    [`create ${objects} + 0.2 ms CPU each (server-like), async WAL fsync, c=${concurrency}`, w(serverLikeAsync), lat(serverLikeAsync)],
    [`create ${objects} + 0.2 ms CPU each (server-like), blocking FULL, c=${concurrency}`, w(serverLikeBlocking), `${lat(serverLikeBlocking)}; async is ${round(serverLikeAsync.opsPerSecond / serverLikeBlocking.opsPerSecond, 2)}x`],
    [`create ${objects}, group commit, durable, c=${concurrency * 10}`, w(groupedWide), lat(groupedWide)],
    [`create ${objects}, 1 txn per write, durable, c=${concurrency}`, w(oneByOne), `baseline; group commit is ${round(grouped.opsPerSecond / oneByOne.opsPerSecond, 1)}x faster`],
    [`create ${objects}, one at a time (c=1), durable`, w(sequential), `p50 ${round(sequential.latencyMs.p50)} ms per write: one fsync each`],
    [`create ${objects}, group commit, sync=NORMAL, c=${concurrency}`, w(groupedNormal), 'no fsync per commit: survives a crash, not power loss'],
    [`${objects} Lease renewals over 1,000 Leases, durable, c=${concurrency}`, w(leases), `${cost(leases)}; ${lat(leases)}`],
    [`cost of a durable create (group commit, c=${concurrency})`, cost(grouped)],
    [`list ${objects} (one call)`, `p50 ${round(full.p50)} ms`, `min ${round(full.min)} ms, p99 ${round(full.p99)} ms over ${full.count} runs`],
    [`list ${objects} (limit=500 pages)`, `p50 ${round(pages.p50)} ms`, `whole traversal; min ${round(pages.min)} ms over ${pages.count} runs`],
    [`list ${objects} at a past revision`, `${round(pastListMs)} ms`, 'served from the history log'],
    [`watch fan-out, ${watchers} watchers`, `${Math.round((expected / fanoutMs) * 1000)} events/s`, `${expected} events while creating ${objects}`],
    [`compact ${objects + 100} revisions`, `${round(compactMs)} ms`],
  ];
  report.notes.push(
    'in-process store only (no HTTP, no JSON parsing); values are ~1.3 KB pod JSON',
    `1-minute load average ${round(loadAtStart, 1)} at start, ${round(loadavg()[0]!, 1)} at end on ${cpus().length} cores: other work shared the CPU, so these are lower bounds`,
  );
  publish(report, rows, { write: record });
} finally {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
