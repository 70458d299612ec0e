/**
 * Per-pool workloads at fleet scale (issue 13): one `kedge server` (API + scheduler + workload controllers + hub),
 * the pool controllers (nodepool, yurtappset, grid) in their own process (`kedge cloud --controllers ...`, so their
 * CPU is measured alone), and P pools × N hollow edge nodes (src/sim: the real EdgeAgent with a fake runtime,
 * joined through the hub with their pool label set at registration, as `kedge edge join --nodepool` does).
 *
 * Measured in one run, like with like:
 *   A. baseline: P plain Deployments, each pinned to one pool with the nodeSelector and tolerations a YurtAppSet
 *      would give it, created directly → time until all R×P pods are Running (reported by the hollow nodes);
 *   B. one YurtAppSet selecting all P pools (nodepoolSelector) with R replicas → time until all pods Running;
 *   the ratio B/A is the YurtAppSet's overhead; plus the pool controllers' CPU during B (and idle), and the
 *   server's CPU during A and B.
 *
 * Usage: npm run bench:pools [-- --pools 100 --nodes-per-pool 10 --replicas 2 --no-record]
 * Defaults are small (30 pools × 5 nodes) for a shared 2-core machine; the issue's size is --pools 100 --nodes-per-pool 10.
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Harness } from '../test/harness/processes.js';
import { sampleProcess, cpuCoresBetween, type ProcSample } from '../test/harness/procstat.js';
import { ensureCertificateAuthority, pkiDir } from '../src/pki/index.js';
import { Fleet } from '../src/sim/fleet.js';
import { KubeHttp } from './lib/kube-http.js';
import { issueBoundNodeCredentials, registerNode } from './lib/hollow-identity.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';
import { intOption, round, now, since, runConcurrent } from './lib/stats.js';

const POOL_LABEL = 'apps.openyurt.io/nodepool';

const { values: opt } = parseArgs({
  options: {
    pools: { type: 'string', default: '30' },
    'nodes-per-pool': { type: 'string', default: '5' },
    replicas: { type: 'string', default: '2' },
    'no-record': { type: 'boolean', default: false },
  },
});
const P = { pools: intOption(opt, 'pools', 1), nodesPerPool: intOption(opt, 'nodes-per-pool', 1), replicas: intOption(opt, 'replicas', 1) };
const log = (m: string) => process.stderr.write(`[bench:pools] ${m}\n`);
const poolName = (i: number) => `pool-${String(i).padStart(3, '0')}`;

async function waitFor(what: string, check: () => Promise<boolean | string>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: boolean | string = false;
  let lastPrint = Date.now();
  for (;;) {
    last = await check();
    if (last === true) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${what} (${String(last)})`);
    if (Date.now() - lastPrint > 10_000) {
      log(`${what}: ${String(last)}`);
      lastPrint = Date.now();
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Pods matching `selector` that are Running, of how many. */
async function running(api: KubeHttp, selector: string): Promise<{ running: number; total: number }> {
  const list = await api.json<{ items: Array<{ status?: { phase?: string } }> }>('GET', `/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(selector)}`);
  return { running: list.items.filter((p) => p.status?.phase === 'Running').length, total: list.items.length };
}

function deploymentFor(pool: string, replicas: number): unknown {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: `plain-${pool}`, namespace: 'default', labels: { app: 'plain' } },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'plain', 'pool': pool } },
      template: {
        metadata: { labels: { app: 'plain', pool } },
        spec: {
          nodeSelector: { [POOL_LABEL]: pool },
          tolerations: [{ key: 'site', operator: 'Equal', value: pool, effect: 'NoSchedule' }],
          containers: [{ name: 'app', image: 'registry.local/app:1' }],
        },
      },
    },
  };
}

async function main(): Promise<void> {
  const h = new Harness('bench-pools');
  // Hollow nodes' stores on tmpfs, as bench:fleet puts them.
  const base = existsSync('/dev/shm') ? mkdtempSync(path.join('/dev/shm', 'kedge-bench-pools-')) : h.tempDir('fleet');
  try {
    const dataDir = h.tempDir('server');
    const apiPort = await h.freePort();
    const hubPort = await h.freePort();
    const server = await h.startKedge('server', [
      'server', '--data-dir', dataDir, '--secure-port', String(apiPort), '--hub-port', String(hubPort),
      '--controllers', '*,-namespace,-serviceaccount,-nodepool,-yurtappset,-grid',
    ], { ready: { url: `https://127.0.0.1:${apiPort}/readyz`, ok: (s) => s === 200 || s === 401 || s === 403, timeoutMs: 120_000 } });
    await server.waitForLog(/cloud hub listening/, 60_000);
    const kubeconfig = path.join(dataDir, 'admin.kubeconfig');
    const cloudPort = await h.freePort();
    const pools = await h.startKedge('pool-controllers', [
      'cloud', '--kubeconfig', kubeconfig, '--data-dir', h.tempDir('cloud'), '--port', String(cloudPort), '--controllers', 'nodepool,yurtappset,grid',
    ], { ready: { logLine: /controllers started/, timeoutMs: 120_000 } });
    const api = await KubeHttp.fromKubeconfig(kubeconfig, 16);

    // Pools, each tainted (only its own workloads land there) and labelled for the YurtAppSet's selector.
    log(`${P.pools} pools × ${P.nodesPerPool} nodes`);
    await runConcurrent(P.pools, 8, (i) => api.json('POST', '/apis/apps.openyurt.io/v1beta2/nodepools', {
      apiVersion: 'apps.openyurt.io/v1beta2', kind: 'NodePool',
      metadata: { name: poolName(i), labels: { bench: 'pools' } },
      spec: { type: 'Edge', labels: { site: poolName(i) }, taints: [{ key: 'site', value: poolName(i), effect: 'NoSchedule' }] },
    }));
    const ca = await ensureCertificateAuthority(pkiDir(dataDir));
    const names: string[] = [];
    const poolOf = new Map<string, string>();
    for (let p = 0; p < P.pools; p++) for (let n = 0; n < P.nodesPerPool; n++) {
      const name = `${poolName(p)}-n${n}`;
      names.push(name);
      poolOf.set(name, poolName(p));
    }
    const bindings = new Map<string, Awaited<ReturnType<typeof registerNode>>>();
    await runConcurrent(names.length, 8, async (i) => { bindings.set(names[i]!, await registerNode(api, names[i]!, { [POOL_LABEL]: poolOf.get(names[i]!)! })); });
    const fleet = new Fleet({
      hubUrl: `https://127.0.0.1:${hubPort}`,
      baseDir: base,
      credentials: (name) => issueBoundNodeCredentials(ca, name, bindings.get(name)!),
      startConcurrency: 20,
      startGateMs: 30_000,
      node: { heartbeatIntervalMs: 10_000 },
    });
    const joinStart = now();
    await fleet.grow(names.length, names);
    await waitFor('nodes connected', async () => {
      const c = fleet.nodes.filter((n) => n.connected).length;
      return c === names.length || `${c}/${names.length}`;
    }, 300_000);
    const joinMs = since(joinStart);
    await waitFor('pool taints on every node', async () => {
      const st = await api.json<{ items: Array<{ status?: { readyNodeNum?: number } }> }>('GET', '/apis/apps.openyurt.io/v1beta2/nodepools');
      const ready = st.items.reduce((s, p) => s + (p.status?.readyNodeNum ?? 0), 0);
      return ready === names.length || `${ready}/${names.length} ready in pool status`;
    }, 300_000);
    const idleA = sampleProcess(pools.pid);
    await new Promise((r) => setTimeout(r, 10_000));
    const idleCores = cpuCoresBetween(idleA, sampleProcess(pools.pid));
    const total = P.pools * P.replicas;

    // A. baseline: plain pinned Deployments.
    const phase = async (label: string, create: () => Promise<void>, selector: string, deploymentSelector: string) => {
      const s0: ProcSample = sampleProcess(server.pid);
      const c0: ProcSample = sampleProcess(pools.pid);
      const t0 = now();
      await create();
      let dispatchedMs = 0;
      await waitFor(`${label}: pods Running`, async () => {
        if (!dispatchedMs) {
          const deps = await api.json<{ items: unknown[] }>('GET', `/apis/apps/v1/namespaces/default/deployments?labelSelector=${encodeURIComponent(deploymentSelector)}`);
          if (deps.items.length === P.pools) dispatchedMs = since(t0);
        }
        const r = await running(api, selector);
        return r.running === total || `${r.running}/${total} running (${r.total} pods)`;
      }, 900_000);
      const ms = since(t0);
      const s1 = sampleProcess(server.pid);
      const c1 = sampleProcess(pools.pid);
      return { ms, dispatchedMs, serverCpuS: s1.cpuSeconds - s0.cpuSeconds, poolCtlCpuS: c1.cpuSeconds - c0.cpuSeconds, serverCores: cpuCoresBetween(s0, s1), poolCtlCores: cpuCoresBetween(c0, c1) };
    };
    const a = await phase('plain Deployments', async () => {
      await runConcurrent(P.pools, 8, (i) => api.json('POST', '/apis/apps/v1/namespaces/default/deployments', deploymentFor(poolName(i), P.replicas)));
    }, 'app=plain', 'app=plain');
    log(`baseline: ${total} pods Running in ${round(a.ms / 1000, 1)} s`);
    await runConcurrent(P.pools, 8, (i) => api.request('DELETE', `/apis/apps/v1/namespaces/default/deployments/plain-${poolName(i)}`));
    await waitFor('baseline pods gone', async () => (await running(api, 'app=plain')).total === 0 || 'pods left', 600_000);
    await new Promise((r) => setTimeout(r, 5_000)); // let the deletions' tail (ReplicaSets, endpoints) settle

    // B. one YurtAppSet across every pool.
    const b = await phase('YurtAppSet', async () => {
      await api.json('POST', '/apis/apps.openyurt.io/v1beta1/namespaces/default/yurtappsets', {
        apiVersion: 'apps.openyurt.io/v1beta1', kind: 'YurtAppSet', metadata: { name: 'bench', namespace: 'default' },
        spec: {
          nodepoolSelector: { matchLabels: { bench: 'pools' } },
          workload: { workloadTemplate: { deploymentTemplate: {
            metadata: { labels: { app: 'yas' } },
            spec: { replicas: P.replicas, selector: { matchLabels: { app: 'yas' } }, template: { metadata: { labels: { app: 'yas' } }, spec: { containers: [{ name: 'app', image: 'registry.local/app:1' }] } } },
          } } },
        },
      });
    }, 'app=yas', 'apps.openyurt.io/ref-yurtappset=bench');
    log(`YurtAppSet: ${total} pods Running in ${round(b.ms / 1000, 1)} s`);

    const report = newReport('pools', { ...P, nodes: names.length, machine: `${os.cpus().length} cores, load ${os.loadavg().map((x) => round(x, 2)).join(' ')}` });
    report.notes.push(
      'Pool controllers (nodepool, yurtappset, grid) run in their own `kedge cloud --controllers` process so their CPU is theirs alone; the server runs the rest.',
      'Default size is small for a shared 2-core machine; the issue\'s size is `npm run bench:pools -- --pools 100 --nodes-per-pool 10`. Time-to-Running is dominated by scheduling and the hollow nodes\' status reports on a loaded machine: compare the dispatch times.',
    );
    const rows: SummaryRow[] = [
      ['hollow nodes joined (pool label set at registration)', `${names.length} in ${round(joinMs / 1000, 1)} s`, `${P.pools} pools × ${P.nodesPerPool} nodes`],
      ['YurtAppSet across all pools → all pods Running', `${round(b.ms / 1000, 1)} s`, `${total} pods; all ${P.pools} Deployments existed after ${round(b.dispatchedMs / 1000, 1)} s`],
      ['baseline: the same pinned Deployments created directly', `${round(a.ms / 1000, 1)} s`, `ratio YurtAppSet / direct ${round(b.ms / a.ms, 2)}; created after ${round(a.dispatchedMs / 1000, 1)} s`],
      ['pool controllers CPU during the YurtAppSet rollout', `${round(b.poolCtlCpuS, 2)} CPU-s (${round(b.poolCtlCores, 3)} cores)`, `${round((b.poolCtlCpuS * 1000) / P.pools, 1)} ms per pool; during the baseline ${round(a.poolCtlCpuS, 2)} CPU-s; idle ${round(idleCores, 3)} cores`],
      ['server CPU (API, scheduler, workload controllers, hub)', `${round(b.serverCpuS, 1)} CPU-s with the YurtAppSet`, `${round(a.serverCpuS, 1)} CPU-s for the baseline`],
    ];
    publish(report, rows, { write: !opt['no-record'] });
    await fleet.stop();
  } finally {
    await h.cleanup();
    await rm(base, { recursive: true, force: true }).catch(() => {});
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
