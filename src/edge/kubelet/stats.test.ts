import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeRuntime } from '../../runtime/fake.js';
import { parseResourceMetrics } from '../../common/resource-metrics.js';
import { hostNodeUsage, parseMeminfo, parseNetDev, parseProcStat, syntheticNodeUsage, type NodeUsage } from './node-usage.js';
import { StatsProvider } from './stats.js';
import { AgentMetrics, registerStatsRoutes, type RouteRegistrar } from './stats-routes.js';

const PROC_STAT = `cpu  1000 20 300 50000 400 5 6 7 0 0
cpu0 500 10 150 25000 200 2 3 3 0 0
btime 1796600000
`;
const MEMINFO = `MemTotal:        8000000 kB
MemFree:         2000000 kB
MemAvailable:    5000000 kB
Inactive(file):  1000000 kB
AnonPages:       1500000 kB
`;
const NETDEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 999 9 0 0 0 0 0 0 999 9 0 0 0 0 0 0
  eth0: 1000 10 1 0 0 0 0 0 2000 20 2 0 0 0 0 0
`;

test('/proc parsers: busy CPU excludes idle and iowait; working set = used − inactive file; loopback left out', () => {
  const { cpu, bootTime } = parseProcStat(PROC_STAT);
  assert.equal(cpu.usageCoreNanoSeconds, (1000 + 20 + 300 + 5 + 6 + 7) * 1e7);
  assert.equal(bootTime.toISOString(), new Date(1796600000 * 1000).toISOString());
  const m = parseMeminfo(MEMINFO);
  assert.equal(m.usageBytes, 6000000 * 1024);
  assert.equal(m.workingSetBytes, 5000000 * 1024);
  assert.equal(m.availableBytes, 3000000 * 1024);
  assert.deepEqual(parseNetDev(NETDEV), [{ name: 'eth0', rxBytes: 1000, rxErrors: 1, txBytes: 2000, txErrors: 2 }]);
  assert.throws(() => parseProcStat('intr 1 2 3\n'), /no aggregate cpu line/);
  assert.throws(() => parseMeminfo('garbage'), /MemTotal/);
});

test('this host\'s /proc and data dir parse: busy CPU, working set below capacity, a filesystem', async () => {
  const u = await hostNodeUsage(tmpdir())();
  assert.ok(u.cpu.usageCoreNanoSeconds > 0);
  assert.ok(u.memory.workingSetBytes > 0 && u.memory.workingSetBytes <= u.memory.capacityBytes);
  assert.ok(u.fs && u.fs.capacityBytes > 0);
  assert.ok(u.bootTime.getTime() < Date.now());
});

/** A runtime with one pod of two containers burning a known CPU rate, and a node whose clock the test moves. */
async function fixture() {
  let nowMs = 1_800_000_000_000;
  const realNow = Date.now;
  Date.now = () => nowMs;
  const rt = new FakeRuntime({ usage: (c) => ({ nanoCores: c.name === 'burn' ? 500_000_000 : 2_000_000, workingSetBytes: c.name === 'burn' ? 10 << 20 : 1 << 20 }) });
  rt.addImage('busybox');
  const sbConfig = { metadata: { name: 'web', namespace: 'team-a', uid: 'uid-1' }, logDirectory: '/x' };
  const sb = await rt.runPodSandbox(sbConfig);
  for (const name of ['burn', 'side']) {
    const id = await rt.createContainer(sb, { metadata: { name }, image: { image: 'busybox' } }, sbConfig);
    await rt.startContainer(id);
  }
  const podsDir = mkdtempSync(path.join(tmpdir(), 'kstats-'));
  const logDir = path.join(podsDir, 'team-a_web_uid-1', 'logs', 'burn');
  mkdirSync(logDir, { recursive: true });
  writeFileSync(path.join(logDir, '0.log'), 'x'.repeat(100));
  writeFileSync(path.join(logDir, '0.log.20260101-000000'), 'y'.repeat(50));
  let nodeCpu = 0;
  const nodeUsage = async (): Promise<NodeUsage> => ({
    timestamp: nowMs * 1e6,
    bootTime: new Date(1_700_000_000_000),
    cpu: { usageCoreNanoSeconds: nodeCpu },
    memory: { capacityBytes: 8 << 30, usageBytes: 3 << 30, workingSetBytes: 2 << 30, availableBytes: 6 << 30, rssBytes: 1 << 30 },
    interfaces: [{ name: 'eth0', rxBytes: 1, rxErrors: 0, txBytes: 2, txErrors: 0 }],
  });
  const stats = new StatsProvider({ nodeName: 'edge-1', nodeUsage, runtime: rt, podsDir, reuseWithinMs: 0 });
  return {
    rt, stats,
    advance(ms: number, nodeNanoCores: number) { nowMs += ms; nodeCpu += (ms / 1000) * nodeNanoCores; },
    done() { Date.now = realNow; rmSync(podsDir, { recursive: true, force: true }); },
  };
}

test('summary: pods with containers cpu/memory/logs, rates from the previous sample, node figures', async () => {
  const f = await fixture();
  try {
    f.advance(10_000, 1e9);
    const first = (await f.stats.collect()).summary;
    assert.equal(first.node.nodeName, 'edge-1');
    assert.equal(first.node.cpu?.usageNanoCores, undefined, 'no rate from a single sample');
    assert.equal(first.pods.length, 1);
    f.advance(10_000, 1.5e9);
    const { summary, resource } = await f.stats.collect();
    assert.equal(summary.node.cpu?.usageNanoCores, 1_500_000_000);
    assert.equal(summary.node.memory?.workingSetBytes, 2 << 30);
    assert.equal(summary.node.network?.name, 'eth0');
    const pod = summary.pods[0]!;
    assert.deepEqual(pod.podRef, { name: 'web', namespace: 'team-a', uid: 'uid-1' });
    const burn = pod.containers.find((c) => c.name === 'burn')!;
    assert.equal(burn.cpu?.usageNanoCores, 500_000_000);
    assert.equal(burn.memory?.workingSetBytes, 10 << 20);
    assert.equal(burn.logs?.usedBytes, 150, 'current and rotated log files');
    assert.equal(burn.logs?.inodesUsed, 2);
    assert.equal(pod.cpu?.usageNanoCores, 502_000_000, 'pod = sum of its containers');
    assert.equal(pod.memory?.workingSetBytes, (10 << 20) + (1 << 20));
    assert.ok(pod.network, 'the in-process runtime gives sandbox network stats');
    assert.equal(resource.containers.length, 2);
    assert.equal(resource.pods[0]!.memoryWorkingSetBytes, (10 << 20) + (1 << 20));
    assert.equal(resource.node?.memoryWorkingSetBytes, 2 << 30);
  } finally {
    f.done();
  }
});

test('a usage report (collectResource) has the figures /metrics/resource serves, and asks the node for CPU and memory only', async () => {
  const f = await fixture();
  try {
    f.advance(10_000, 1e9);
    const full = (await f.stats.collect()).resource;
    const report = await f.stats.collectResource();
    assert.deepEqual(report, full, 'same clock, same runtime: the same sample');
    assert.equal(report.containers.length, 2);
    assert.equal(report.pods.length, 1);
  } finally {
    f.done();
  }
  const asked: ({ cpuAndMemoryOnly?: boolean } | undefined)[] = [];
  const stats = new StatsProvider({ nodeName: 'n', nodeUsage: async (opts) => (asked.push(opts), { timestamp: 1e15, bootTime: new Date(0), cpu: { usageCoreNanoSeconds: 5e9 }, memory: { capacityBytes: 2, usageBytes: 1, workingSetBytes: 1, availableBytes: 1, rssBytes: 1 }, interfaces: [] }) });
  assert.deepEqual(await stats.collectResource(), { pods: [], containers: [], scrapeError: false, node: { cpuSeconds: 5, cpuTimestampMs: 1e9, memoryWorkingSetBytes: 1, memoryTimestampMs: 1e9 } });
  assert.deepEqual(asked, [{ cpuAndMemoryOnly: true }]);
});

test('a container stopped between collections disappears, and its previous sample is forgotten', async () => {
  const f = await fixture();
  try {
    await f.stats.collect();
    const burn = (await f.rt.listContainers()).find((c) => c.metadata.name === 'burn')!;
    await f.rt.stopContainer(burn.id);
    f.advance(5_000, 1e9);
    const { summary } = await f.stats.collect();
    assert.deepEqual(summary.pods[0]!.containers.map((c) => c.name), ['side']);
    assert.equal((f.stats as unknown as { lastCpu: Map<string, unknown> }).lastCpu.has(burn.id), false);
  } finally {
    f.done();
  }
});

test('a runtime whose sandbox stats fail (containerd 1.6 without pod cgroups) still yields container and pod figures', async () => {
  const f = await fixture();
  try {
    f.rt.listPodSandboxStats = async () => { throw new Error('failed to get cgroup metrics for sandbox: cgroupPath is empty'); };
    f.advance(1000, 1e9);
    const { summary, resource } = await f.stats.collect();
    assert.equal(summary.pods[0]!.containers.length, 2);
    assert.equal(summary.pods[0]!.network, undefined);
    assert.equal(resource.scrapeError, false);
  } finally {
    f.done();
  }
});

test('a failing ListContainerStats sets resource_scrape_error; the node is still reported', async () => {
  const f = await fixture();
  try {
    f.rt.listContainerStats = async () => { throw new Error('CRI ListContainerStats: deadline exceeded'); };
    const { resource } = await f.stats.collect();
    assert.equal(resource.scrapeError, true);
    assert.ok(resource.node?.memoryWorkingSetBytes);
  } finally {
    f.done();
  }
});

test('the synthetic node of a hollow runtime has a monotonic CPU counter whatever its pods do', async () => {
  let pods = { nanoCores: 1e9, workingSetBytes: 100 };
  const source = syntheticNodeUsage({ capacityBytes: 1 << 30, baseNanoCores: 1e8, baseWorkingSetBytes: 1000, pods: async () => pods });
  const a = await source();
  await new Promise((r) => setTimeout(r, 20));
  pods = { nanoCores: 0, workingSetBytes: 0 };
  const b = await source();
  assert.ok(b.cpu.usageCoreNanoSeconds >= a.cpu.usageCoreNanoSeconds);
  assert.equal(b.memory.workingSetBytes, 1000);
});

test('routes: /stats/summary (and only_cpu_and_memory), /metrics/resource parses back, /metrics has the kubelet names', async () => {
  const f = await fixture();
  const routes = new Map<string, Parameters<RouteRegistrar['route']>[2]>();
  registerStatsRoutes({ route: (m, p, h) => void routes.set(`${m} ${p}`, h) }, f.stats, new AgentMetrics('edge-1'));
  const server = http.createServer((req, res) => {
    const h = routes.get(`${req.method} ${new URL(req.url!, 'http://x').pathname}`);
    if (h) void h(req, res, {});
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    f.advance(1000, 1e9);
    const summary = await (await fetch(`${base}/stats/summary`)).json() as { pods: { containers: { rootfs?: unknown }[] }[] };
    assert.ok(summary.pods[0]!.containers[0]!.rootfs);
    const slim = await (await fetch(`${base}/stats/summary?only_cpu_and_memory=true`)).json() as { node: { fs?: unknown }; pods: { containers: { rootfs?: unknown }[] }[] };
    assert.equal(slim.node.fs, undefined);
    assert.equal(slim.pods[0]!.containers[0]!.rootfs, undefined);
    const res = await fetch(`${base}/metrics/resource`);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0.0.4/);
    const text = await res.text();
    assert.match(text, /# TYPE container_cpu_usage_seconds_total counter/);
    const parsed = parseResourceMetrics(text);
    assert.deepEqual(parsed.containers.map((c) => c.container).sort(), ['burn', 'side']);
    assert.equal(parsed.pods[0]!.namespace, 'team-a');
    assert.equal(parsed.scrapeError, false);
    await f.rt.stopContainer((await f.rt.listContainers()).find((c) => c.metadata.name === 'side')!.id);
    f.advance(2000, 1e9);
    const own = await (await fetch(`${base}/metrics`)).text();
    assert.match(own, /kubelet_running_containers\{container_state="running"\} 1/, 'as of the /metrics request itself');
    assert.match(own, /kubelet_node_name\{node="edge-1"\} 1/);
    assert.match(own, /kubelet_running_pods 1/);
    f.rt.listPodSandbox = async () => { throw new Error('runtime down'); };
    const failed = await fetch(`${base}/stats/summary`);
    assert.equal(failed.status, 500);
    assert.equal(((await failed.json()) as { kind: string }).kind, 'Status');
  } finally {
    server.close();
    f.done();
  }
});
