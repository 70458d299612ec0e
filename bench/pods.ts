/**
 * Pod start latency on one edge node with a real containerd: N pods written to the edge's local
 * store at once (as the hub would deliver a Deployment scale-up), time from the store write
 * ("bound") until the pod manager reports phase Running; then the agent's RSS and CPU with all N
 * running. The pod manager runs in this process, so RSS/CPU are the agent-side cost (pod manager +
 * local SQLite store); containerd and shims are measured separately.
 *
 *   npm run bench:pods [-- --pods 50 --single 10 --steady-seconds 15 --no-write]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { openSqliteStore } from '../src/storage/sqlite.js';
import { PodManager } from '../src/edge/podmanager/pod-manager.js';
import { createLogger } from '../src/common/logger.js';
import { startRuntime } from '../test/runtime/env.js';
import { distribution } from './lib/stats.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const PODS = arg('pods', 50);
const STEADY_S = arg('steady-seconds', 15);
const SINGLE = arg('single', 10);
const write = !process.argv.includes('--no-write');

function rssOfPids(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {}
  }
  return kb * 1024;
}

function pidsOf(pattern: RegExp): number[] {
  const out: number[] = [];
  for (const line of execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (m && pattern.test(m[2]!)) out.push(Number(m[1]));
  }
  return out;
}

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:pods needs root (containerd, runc, CNI)');
  const fx = await startRuntime();
  const dataDir = mkdtempSync('/tmp/kbench-pods-');
  const store = await openSqliteStore(path.join(dataDir, 'local.db'));
  const running = new Map<string, number>();
  const t0 = new Map<string, number>();
  let pm: PodManager | undefined;
  const report = newReport('pods', { pods: PODS, single: SINGLE, steadySeconds: STEADY_S, runtime: 'containerd 1.6 (CRI v1) + runc + CNI bridge', image: 'busybox-static OCI image, imported' });
  const load0 = os.loadavg()[0]!;
  try {
    pm = await PodManager.start({
      nodeName: 'bench-node',
      dataDir,
      store,
      runtime: fx.runtime,
      podStatus: {
        setPodStatus: (_ns, name, _uid, st) => {
          if (st.phase === 'Running' && !running.has(name)) running.set(name, performance.now());
        },
      },
      events: { recordEvent: () => undefined },
      log: createLogger('bench-pods', 'warn'),
      reservationDir: fx.reservationDir,
    });
    const mkPod = (name: string, i: number): V1Pod => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', uid: `bench-${name}-${i}-${Date.now()}`, labels: { app: 'bench' } },
      spec: { nodeName: 'bench-node', terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: fx.busybox, command: ['sleep', '3600'], resources: { requests: { cpu: '10m', memory: '8Mi' } } }] },
    });
    // One pod at a time first (nothing else starting on the node), each deleted again.
    const single: number[] = [];
    for (let i = 0; i < SINGLE; i++) {
      const name = `s${i}`;
      t0.set(name, performance.now());
      await store.create(`/registry/pods/default/${name}`, JSON.stringify(mkPod(name, i)));
      const end = Date.now() + 120_000;
      while (!running.has(name) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      if (running.has(name)) single.push(running.get(name)! - t0.get(name)!);
      await store.delete(`/registry/pods/default/${name}`);
    }
    const singleDist = distribution(single);
    await new Promise((r) => setTimeout(r, 3000)); // let the single pods' teardown finish
    const start = performance.now();
    await Promise.all(
      Array.from({ length: PODS }, async (_, i) => {
        const name = `p${i}`;
        const pod = mkPod(name, i);
        t0.set(name, performance.now());
        await store.create(`/registry/pods/default/${name}`, JSON.stringify(pod));
      }),
    );
    const deadline = Date.now() + 600_000;
    const burst = () => [...running].filter(([n]) => n.startsWith('p'));
    while (burst().length < PODS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const all = performance.now() - start;
    if (burst().length < PODS) report.notes.push(`only ${burst().length}/${PODS} pods reached Running within 10 minutes`);
    const lat = distribution(burst().map(([n, t]) => t - t0.get(n)!));

    // Steady state with every pod running.
    await new Promise((r) => setTimeout(r, 3000));
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, STEADY_S * 1000));
    const cpu1 = process.cpuUsage(cpu0);
    const wall = (performance.now() - w0) / 1000;
    const cpuPct = ((cpu1.user + cpu1.system) / 1e6 / wall) * 100;
    const rss = process.memoryUsage().rss;
    const containerdRss = rssOfPids(pidsOf(new RegExp(`containerd --config ${fx.dir.replace(/[/.]/g, '\\$&')}`)));
    const shimRss = rssOfPids(pidsOf(/containerd-shim-runc-v2/));

    const rows: SummaryRow[] = [
      [`bound → Running, one pod at a time: p50`, `${singleDist.p50.toFixed(0)} ms`, `p99 ${singleDist.p99.toFixed(0)} ms over ${single.length} pods, no other pod starting`],
      [`bound → Running, ${PODS} pods at once: p50`, `${lat.p50.toFixed(0)} ms`, `min ${lat.min.toFixed(0)} ms, mean ${lat.mean.toFixed(0)} ms`],
      [`bound → Running, ${PODS} pods at once: p99`, `${lat.p99.toFixed(0)} ms`, `max ${lat.max.toFixed(0)} ms; all ${PODS} Running after ${(all / 1000).toFixed(1)} s`],
      [`agent RSS with ${PODS} pods running`, mib(rss), 'pod manager + local SQLite store, in one Node process'],
      [`agent CPU with ${PODS} pods running`, `${cpuPct.toFixed(1)} % of one core`, `average over ${STEADY_S} s, 1 s runtime relist`],
      ['containerd RSS', mib(containerdRss), `plus ${mib(shimRss)} for all runc shims on the machine`],
    ];
    report.notes.push(`1-min load average: ${load0.toFixed(1)} at start, ${os.loadavg()[0]!.toFixed(1)} at end (other engineers' suites share these 2 cores)`);
    report.results = { singleLatencyMs: singleDist, latencyMs: lat, allRunningMs: all, agentRssBytes: rss, agentCpuPercent: cpuPct, containerdRssBytes: containerdRss, shimRssBytes: shimRss };
    report.notes.push('sandbox + container per pod through CRI, CNI bridge/host-local IPAM with Kedge IP retention; no probes; shared 2-core machine, expect noise');
    report.notes.push('sandbox starts are limited to 4 at a time (maxParallelSandboxStarts); measured on the same machine, unlimited gave p50 10.1 s / p99 11.0 s and 8 gave p50 8.6 s / p99 17.7 s: the limit trades the last pod\'s wait for most pods starting sooner');
    publish(report, rows, { write });
  } finally {
    await pm?.stop();
    await store.close();
    await fx.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
