/**
 * `kedge cloud` memory (issue 19): the hub + its default controller (podbinding) attached through a kubeconfig to a
 * cluster (here a `kedge server --hub-port -1` playing it), as users run it. Measures the `kedge cloud` process's
 * steady RSS idle with 0 edge nodes — at its first start (which issues the hub's serving certificate, in the X.509
 * worker process) and after a restart (the certificate reused from its data dir: a service's normal state) — then
 * with N hollow edge nodes connected and heartbeating (src/sim in shard processes, bench/lib/shard-pool.ts,
 * certificates minted from the CA `kedge cloud` is given with --ca-cert/--ca-key), and its peak (VmHWM).
 *
 * Baselines in the same run, like with like: a bare Node.js process idle (the floor of anything in Node), a Node.js
 * process that has only imported @kubernetes/client-node (what `kedge cloud` carried before it dropped that
 * library), and `kedge cloud` restarted with V8's default young generation (NODE_OPTIONS=--max-semi-space-size=16,
 * which its young-generation pin defers to): the A/B of that pin.
 *
 * Figures of KubeEdge's cloudcore are quoted in the notes with their source, never printed as measurements.
 *
 *   npm run bench:cloud [-- --nodes 1000 --idle-seconds 20 --no-write]
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Harness } from '../test/harness/processes.js';
import { intOption, toMiB } from './lib/stats.js';
import { statusKiB, steadyRssBytes } from './lib/rss.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';
import { ShardPool } from './lib/shard-pool.js';

const { values: opt } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    'idle-seconds': { type: 'string', default: '20' },
    'no-write': { type: 'boolean', default: false },
  },
});
const P = { nodes: intOption(opt, 'nodes', 1), idleSeconds: intOption(opt, 'idle-seconds', 1) };
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const log = (msg: string) => process.stderr.write(`[bench:cloud] ${msg}\n`);

async function main(): Promise<void> {
  const report = newReport('cloud', { nodes: P.nodes, idleSeconds: P.idleSeconds, cloud: 'kedge cloud, default flags (hub + podbinding)', cluster: 'kedge server --hub-port -1' });
  const rows: SummaryRow[] = [];
  const h = new Harness('bench-cloud');
  const baseDir = mkdtempSync(path.join(os.tmpdir(), 'kedge-bench-cloud-'));
  let pool: ShardPool | undefined;
  try {
    const dataDir = h.tempDir('server');
    const apiPort = await h.freePort();
    await h.startKedge('server', ['server', '--data-dir', dataDir, '--bind-address', '127.0.0.1', '--secure-port', String(apiPort), '--hub-port', '-1'], {
      ready: { url: `https://127.0.0.1:${apiPort}/readyz`, ok: (s) => s === 200 || s === 401 || s === 403, timeoutMs: 90_000 },
    });
    const kubeconfig = path.join(dataDir, 'admin.kubeconfig');
    for (let i = 0; i < 60 && !existsSync(kubeconfig); i++) await sleep(500);

    const idleProcess = async (name: string, script: string): Promise<number> => {
      const p = await h.start({ name, command: process.execPath, cwd: repo, args: ['--input-type=module', '-e', `${script} console.log('loaded'); setInterval(() => {}, 1 << 30);`], ready: { logLine: /loaded/, timeoutMs: 60_000 } });
      await sleep(P.idleSeconds * 1000);
      const rss = await steadyRssBytes(p.pid);
      await p.stop();
      return rss;
    };
    // Baselines: the floor of any Node.js process, and of one built on @kubernetes/client-node (imported, idle).
    const nodeFloor = await idleProcess('node-floor', '');
    const clientNodeFloor = await idleProcess('client-node-floor', "await import('@kubernetes/client-node');");

    const hubPort = await h.freePort();
    const cloudData = h.tempDir('cloud');
    const cloudArgs = ['cloud', '--kubeconfig', kubeconfig, '--data-dir', cloudData, '--ca-cert', path.join(dataDir, 'pki', 'ca.crt'), '--ca-key', path.join(dataDir, 'pki', 'ca.key'), '--bind-address', '127.0.0.1', '--port', String(hubPort)];
    const startCloud = (name: string, env: NodeJS.ProcessEnv = {}) => h.startKedge(name, cloudArgs, { ready: { logLine: /controllers started/, timeoutMs: 60_000 }, env });
    const idleOf = async (name: string, env?: NodeJS.ProcessEnv): Promise<{ rss: number; threads: number; stop: () => Promise<void>; pid: number }> => {
      const p = await startCloud(name, env);
      await sleep(P.idleSeconds * 1000);
      const rss = await steadyRssBytes(p.pid);
      const threads = Number(/Threads:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1] ?? 0);
      return { rss, threads, pid: p.pid, stop: async () => { await p.stop(); } };
    };
    // First start: issues and stores the hub's serving certificate.
    const first = await idleOf('cloud-first-start');
    await first.stop();
    // A/B of the young-generation pin, both restarts: V8's default young generation vs kedge cloud's.
    const defaultYoung = await idleOf('cloud-v8-default-young-gen', { NODE_OPTIONS: '--max-semi-space-size=16' });
    await defaultYoung.stop();
    const cloud = await idleOf('cloud');
    const idle = cloud.rss;
    log(`kedge cloud idle ${toMiB(idle)} MiB after a restart, ${toMiB(first.rss)} MiB at first start (bare node ${toMiB(nodeFloor)} MiB, client-node floor ${toMiB(clientNodeFloor)} MiB); joining ${P.nodes} hollow nodes`);

    pool = await ShardPool.start(1, { hubPort, serverDataDir: dataDir, baseDir, heartbeatMs: 10_000, startConcurrency: 50, startGateMs: 30_000, templateName: 'hollow-00000' }, () => {});
    const names = Array.from({ length: P.nodes }, (_, i) => `hollow-${String(i).padStart(5, '0')}`);
    const t0 = Date.now();
    await pool.grow(names);
    for (;;) {
      const st = await pool.status();
      if (st.connectedAndSynced >= P.nodes) break;
      if (Date.now() - t0 > 60_000 + P.nodes * 300) throw new Error(`only ${st.connectedAndSynced}/${P.nodes} nodes connected and synced`);
      await sleep(1000);
    }
    const joinSeconds = (Date.now() - t0) / 1000;
    await sleep(P.idleSeconds * 1000);
    const withNodes = await steadyRssBytes(cloud.pid);
    const peak = statusKiB(cloud.pid, 'VmHWM') * 1024;
    log(`with ${P.nodes} nodes ${toMiB(withNodes)} MiB, peak ${toMiB(peak)} MiB`);

    rows.push(
      ['kedge cloud RSS idle, 0 edge nodes, after a restart', `${toMiB(idle)} MiB`, `bare node + ${toMiB(idle - nodeFloor)} MiB; ${cloud.threads} OS threads (hub and controllers on the main thread)`],
      ['kedge cloud RSS idle, 0 edge nodes, first start', `${toMiB(first.rss)} MiB`, 'issued its serving certificate in the X.509 worker (a child process, gone when idle)'],
      ['A/B: kedge cloud idle after a restart, V8 default young generation', `${toMiB(defaultYoung.rss)} MiB`, `the pinned young generation saves ${toMiB(defaultYoung.rss - idle)} MiB`],
      ['baseline: bare node, idle', `${toMiB(nodeFloor)} MiB`, 'same machine, same run'],
      ['baseline: node + @kubernetes/client-node imported, idle', `${toMiB(clientNodeFloor)} MiB`, `what kedge cloud carried before: ×${(clientNodeFloor / idle).toFixed(2)} its idle RSS now`],
      [`kedge cloud RSS with ${P.nodes} hollow nodes heartbeating`, `${toMiB(withNodes)} MiB`, `${Math.round((withNodes - idle) / P.nodes / 1024)} KiB per node over idle; joined in ${joinSeconds.toFixed(1)} s`],
      ['kedge cloud peak RSS (VmHWM), restart + join', `${toMiB(peak)} MiB`, 'start, join of every node'],
    );
    report.results = { cloudIdleRssBytes: idle, cloudFirstStartIdleRssBytes: first.rss, cloudDefaultYoungGenIdleRssBytes: defaultYoung.rss, nodeFloorRssBytes: nodeFloor, clientNodeFloorRssBytes: clientNodeFloor, cloudWithNodesRssBytes: withNodes, cloudPeakRssBytes: peak, joinSeconds };
    report.notes.push(
      'not measured here (no download of other projects is possible on these machines): issue 19 reports KubeEdge v1.15 cloudcore at 60–68 MiB idle, 75 MiB peak, beside a real cluster, measured elsewhere',
      'hollow nodes: certificates minted from the CA given to kedge cloud (join path not measured), no pods, heartbeat every 10 s, one simulator process',
    );
  } finally {
    await pool?.close().catch(() => {});
    await h.cleanup();
    await rm(baseDir, { recursive: true, force: true });
  }
  publish(report, rows, { write: !opt['no-write'] });
}

main().catch((err) => {
  process.stderr.write(`bench:cloud failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
