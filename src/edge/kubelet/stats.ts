/**
 * The kubelet's stats endpoints, served by the edge agent's kubelet server (reached only through the hub):
 *  - `/stats/summary`: the Summary API (kubelet stats/v1alpha1) — node cpu/memory/network/fs/imageFs and,
 *    per pod, containers' cpu/memory/rootfs/logs, pod cpu/memory/network/ephemeral-storage;
 *  - `/metrics/resource`: the stable resource metrics (Prometheus text), what metrics-server and Kedge's
 *    metrics scraper read;
 *  - `/metrics`: the agent's own Prometheus registry (./agent-metrics.ts).
 *
 * Container figures come from CRI ListContainerStats. containerd 1.6 answers ListPodSandboxStats only for
 * sandboxes with a cgroup parent (Kedge's pod manager sets none: "cgroupPath is empty"), so pod cpu/memory
 * are the sum of their containers' (the pause process is not counted), and pod network comes from sandbox
 * stats only when the runtime gives them. usageNanoCores is computed here from the previous sample of the
 * same container, as the kubelet's CRI stats provider does, not taken from the runtime (containerd reports
 * 0 on the first call after a restart of the agent).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../common/logger.js';
import type { ContainerPoint, PodPoint, ResourceSample } from '../../common/resource-metrics.js';
import type { Container, ContainerRuntime, ContainerStats, FilesystemUsage, PodSandbox, PodSandboxStats } from '../../runtime/types.js';
import { fsUsage, type FsSample, type InterfaceCounters, type NodeUsage, type NodeUsageSource } from './node-usage.js';

// ---- Summary API types (kubelet pkg/kubelet/apis/stats/v1alpha1; JSON names as the kubelet writes them) ----

export interface CpuStats { time: string; usageNanoCores?: number; usageCoreNanoSeconds?: number }
export interface MemoryStats { time: string; availableBytes?: number; usageBytes?: number; workingSetBytes?: number; rssBytes?: number; pageFaults?: number; majorPageFaults?: number }
export interface FsStats { time: string; availableBytes?: number; capacityBytes?: number; usedBytes?: number; inodesFree?: number; inodes?: number; inodesUsed?: number }
export interface InterfaceStats { name: string; rxBytes?: number; rxErrors?: number; txBytes?: number; txErrors?: number }
export interface NetworkStats extends InterfaceStats { time: string; interfaces: InterfaceStats[] }
export interface ContainerSummary { name: string; startTime: string; cpu?: CpuStats; memory?: MemoryStats; rootfs?: FsStats; logs?: FsStats }
export interface PodSummary {
  podRef: { name: string; namespace: string; uid: string };
  startTime: string;
  containers: ContainerSummary[];
  cpu?: CpuStats;
  memory?: MemoryStats;
  network?: NetworkStats;
  'ephemeral-storage'?: FsStats;
  process_stats?: { process_count?: number };
}
export interface NodeSummary {
  nodeName: string;
  startTime: string;
  cpu?: CpuStats;
  memory?: MemoryStats;
  network?: NetworkStats;
  fs?: FsStats;
  runtime?: { imageFs?: FsStats };
}
export interface Summary { node: NodeSummary; pods: PodSummary[] }

/** The runtime calls the stats need (the CRI client and the in-process runtime both have them). */
export type StatsRuntime = Pick<ContainerRuntime, 'listContainerStats' | 'listPodSandboxStats' | 'listPodSandbox' | 'listContainers' | 'imageFsInfo'>;

export interface StatsProviderOptions {
  nodeName: string;
  nodeUsage: NodeUsageSource;
  /** Absent with `--runtime none`: the node still reports itself, with no pods. */
  runtime?: StatsRuntime;
  /** `<dataDir>/pods`: container logs are under `<ns>_<name>_<uid>/logs/<container>/` (the pod manager's layout). */
  podsDir?: string;
  log?: Logger;
  /** Collections closer together than this share one result (metrics-server and a human at once). Default 1 s. */
  reuseWithinMs?: number;
}

/** One collection: the Summary plus the raw cumulative figures the resource metrics are rendered from. */
export interface Collected {
  summary: Summary;
  resource: ResourceSample;
}

const iso = (ns: number) => new Date(Math.floor(ns / 1e6)).toISOString().replace(/\.\d{3}Z$/, 'Z');
const val = (v: { value: number } | null | undefined) => (v ? v.value : undefined);

function toFsStats(time: string, fs: FsSample | undefined): FsStats | undefined {
  return fs && { time, ...fs };
}

function toNetwork(time: string, interfaces: InterfaceCounters[], preferred?: string): NetworkStats | undefined {
  if (!interfaces.length) return undefined;
  const def = interfaces.find((i) => i.name === preferred) ?? interfaces.find((i) => i.name === 'eth0') ?? interfaces[0]!;
  return { time, ...def, interfaces: interfaces.map((i) => ({ ...i })) };
}

export class StatsProvider {
  /** Previous cumulative CPU per container id (and 'node'), for usageNanoCores. */
  private readonly lastCpu = new Map<string, { ns: number; at: number }>();
  private sandboxStatsWork = true;
  private inflight: Promise<Collected> | undefined;
  private last: { at: number; value: Collected } | undefined;

  constructor(private readonly o: StatsProviderOptions) {}

  /** A fresh collection, or the one taken less than `reuseWithinMs` ago; concurrent callers share one. */
  async collect(): Promise<Collected> {
    if (this.last && Date.now() - this.last.at < (this.o.reuseWithinMs ?? 1000)) return this.last.value;
    this.inflight ??= this.collectNow().then(
      (value) => { this.last = { at: Date.now(), value }; this.inflight = undefined; return value; },
      (err: unknown) => { this.inflight = undefined; throw err; },
    );
    return this.inflight;
  }

  /**
   * What `/metrics/resource` serves, without the Summary's extras (log directories, filesystems, network): a usage
   * report every interval (protocol v6) needs only CPU and memory, and the extras were most of a collection's cost.
   */
  async collectResource(): Promise<ResourceSample> {
    const node = await this.o.nodeUsage({ cpuAndMemoryOnly: true });
    if (!this.o.runtime) return { pods: [], containers: [], scrapeError: false, node: nodeResourcePoint(node) };
    const pods = await this.collectPods(this.o.runtime, false);
    this.forgetGone(pods.containerIds);
    return { ...pods.resource, node: nodeResourcePoint(node) };
  }

  private rate(key: string, cumulativeNs: number | undefined, atNs: number): number | undefined {
    if (cumulativeNs === undefined) return undefined;
    const prev = this.lastCpu.get(key);
    this.lastCpu.set(key, { ns: cumulativeNs, at: atNs });
    if (!prev || atNs <= prev.at || cumulativeNs < prev.ns) return undefined;
    return Math.round(((cumulativeNs - prev.ns) / (atNs - prev.at)) * 1e9);
  }

  private async collectNow(): Promise<Collected> {
    const node = await this.o.nodeUsage();
    const pods = this.o.runtime ? await this.collectPods(this.o.runtime) : { pods: [], resource: { pods: [], containers: [], scrapeError: false }, imageFs: undefined, containerIds: new Set<string>() };
    const time = iso(node.timestamp);
    const nodeSummary: NodeSummary = {
      nodeName: this.o.nodeName,
      startTime: iso(node.bootTime.getTime() * 1e6),
      cpu: { time, usageCoreNanoSeconds: node.cpu.usageCoreNanoSeconds, usageNanoCores: this.rate('\0node', node.cpu.usageCoreNanoSeconds, node.timestamp) },
      memory: { time, availableBytes: node.memory.availableBytes, usageBytes: node.memory.usageBytes, workingSetBytes: node.memory.workingSetBytes, rssBytes: node.memory.rssBytes },
      network: toNetwork(time, node.interfaces),
      fs: toFsStats(time, node.fs),
      runtime: pods.imageFs ? { imageFs: pods.imageFs } : undefined,
    };
    const resource: ResourceSample = { ...pods.resource, node: nodeResourcePoint(node) };
    this.forgetGone(pods.containerIds);
    return { summary: { node: nodeSummary, pods: pods.pods }, resource };
  }

  private forgetGone(live: Set<string>): void {
    for (const key of this.lastCpu.keys()) if (key !== '\0node' && !live.has(key)) this.lastCpu.delete(key);
  }

  private async imageFs(rt: StatsRuntime): Promise<FsStats | undefined> {
    const fs: FilesystemUsage | undefined = (await rt.imageFsInfo().catch(() => []))[0];
    if (!fs) return undefined;
    const time = iso(fs.timestamp || Date.now() * 1e6);
    const mount = fs.fsId?.mountpoint;
    const cap = mount ? await fsUsage(mount).catch(() => undefined) : undefined;
    return { time, capacityBytes: cap?.capacityBytes, availableBytes: cap?.availableBytes, inodes: cap?.inodes, inodesFree: cap?.inodesFree, usedBytes: val(fs.usedBytes), inodesUsed: val(fs.inodesUsed) };
  }

  private async sandboxStats(rt: StatsRuntime): Promise<Map<string, PodSandboxStats>> {
    const out = new Map<string, PodSandboxStats>();
    if (!this.sandboxStatsWork) return out;
    try {
      for (const s of await rt.listPodSandboxStats()) out.set(s.attributes.id, s);
    } catch (err) {
      // containerd 1.6 without pod cgroups: fall back to container stats for good (logged once).
      this.sandboxStatsWork = false;
      this.o.log?.info({ err: String(err) }, 'runtime gives no pod sandbox stats; pod figures are the sum of their containers');
    }
    return out;
  }

  /** `summary` false: only the resource points (no log, filesystem or sandbox figures; `pods` is left empty). */
  private async collectPods(rt: StatsRuntime, summary = true): Promise<{ pods: PodSummary[]; resource: ResourceSample; imageFs?: FsStats; containerIds: Set<string> }> {
    let scrapeError = false;
    const [sandboxes, containers, stats, sbStats, imageFs] = await Promise.all([
      rt.listPodSandbox({ state: { state: 'SANDBOX_READY' } }),
      rt.listContainers({ state: { state: 'CONTAINER_RUNNING' } }),
      rt.listContainerStats().catch((err: unknown) => { scrapeError = true; this.o.log?.warn({ err: String(err) }, 'container stats'); return [] as ContainerStats[]; }),
      summary ? this.sandboxStats(rt) : new Map<string, PodSandboxStats>(),
      summary ? this.imageFs(rt) : undefined,
    ]);
    const containerById = new Map<string, Container>(containers.map((c) => [c.id, c]));
    const byPod = new Map<string, { sb: PodSandbox; cs: { c: Container; s: ContainerStats }[] }>();
    for (const sb of sandboxes) byPod.set(sb.id, { sb, cs: [] });
    for (const s of stats) {
      const c = containerById.get(s.attributes.id);
      const pod = c && byPod.get(c.podSandboxId);
      if (pod) pod.cs.push({ c: c!, s });
    }
    const pods: PodSummary[] = [];
    const resource: ResourceSample = { pods: [], containers: [], scrapeError };
    for (const { sb, cs } of byPod.values()) {
      const summaries: ContainerSummary[] = [];
      let cpuNs = 0, nanoCores = 0, ws = 0, usage = 0, rss = 0, fsUsed = 0, fsInodes = 0;
      let cpuAt = 0, memAt = 0;
      for (const { c, s } of cs) {
        const cpuTs = s.cpu?.timestamp || Date.now() * 1e6;
        const memTs = s.memory?.timestamp || cpuTs;
        const cumulative = val(s.cpu?.usageCoreNanoSeconds);
        const rate = this.rate(c.id, cumulative, cpuTs) ?? (val(s.cpu?.usageNanoCores) || undefined);
        const logs = summary && this.o.podsDir ? await logUsage(path.join(this.o.podsDir, `${sb.metadata.namespace}_${sb.metadata.name}_${sb.metadata.uid}`, 'logs', c.metadata.name), iso(cpuTs)) : undefined;
        const rootfs = s.writableLayer ? { time: iso(s.writableLayer.timestamp || cpuTs), usedBytes: val(s.writableLayer.usedBytes), inodesUsed: val(s.writableLayer.inodesUsed), capacityBytes: imageFs?.capacityBytes, availableBytes: imageFs?.availableBytes } : undefined;
        summaries.push({
          name: c.metadata.name,
          startTime: iso(c.createdAt),
          cpu: { time: iso(cpuTs), usageNanoCores: rate, usageCoreNanoSeconds: cumulative },
          memory: { time: iso(memTs), workingSetBytes: val(s.memory?.workingSetBytes), usageBytes: val(s.memory?.usageBytes), rssBytes: val(s.memory?.rssBytes), availableBytes: val(s.memory?.availableBytes) || undefined, pageFaults: val(s.memory?.pageFaults), majorPageFaults: val(s.memory?.majorPageFaults) },
          rootfs,
          logs,
        });
        const point: ContainerPoint = {
          namespace: sb.metadata.namespace, pod: sb.metadata.name, container: c.metadata.name,
          cpuSeconds: cumulative !== undefined ? cumulative / 1e9 : undefined, cpuTimestampMs: cpuTs / 1e6,
          memoryWorkingSetBytes: val(s.memory?.workingSetBytes), memoryTimestampMs: memTs / 1e6,
          startTimeSeconds: c.createdAt / 1e9,
        };
        resource.containers.push(point);
        cpuNs += cumulative ?? 0; nanoCores += rate ?? 0; ws += val(s.memory?.workingSetBytes) ?? 0; usage += val(s.memory?.usageBytes) ?? 0; rss += val(s.memory?.rssBytes) ?? 0;
        fsUsed += (rootfs?.usedBytes ?? 0) + (logs?.usedBytes ?? 0); fsInodes += (rootfs?.inodesUsed ?? 0) + (logs?.inodesUsed ?? 0);
        cpuAt = Math.max(cpuAt, cpuTs); memAt = Math.max(memAt, memTs);
      }
      if (cs.length) {
        const pod: PodPoint = { namespace: sb.metadata.namespace, pod: sb.metadata.name, cpuSeconds: cpuNs / 1e9, cpuTimestampMs: cpuAt / 1e6, memoryWorkingSetBytes: ws, memoryTimestampMs: memAt / 1e6 };
        resource.pods.push(pod);
      }
      if (!summary) continue;
      const sbs = sbStats.get(sb.id);
      const podTime = iso(cpuAt || Date.now() * 1e6);
      const net = sbs?.linux?.network;
      pods.push({
        podRef: { name: sb.metadata.name, namespace: sb.metadata.namespace, uid: sb.metadata.uid },
        startTime: iso(sb.createdAt),
        containers: summaries,
        cpu: cs.length ? { time: podTime, usageNanoCores: nanoCores, usageCoreNanoSeconds: cpuNs } : undefined,
        memory: cs.length ? { time: iso(memAt), workingSetBytes: ws, usageBytes: usage, rssBytes: rss } : undefined,
        network: net ? toNetwork(iso(net.timestamp), net.interfaces.map((i) => ({ name: i.name, rxBytes: val(i.rxBytes) ?? 0, rxErrors: val(i.rxErrors) ?? 0, txBytes: val(i.txBytes) ?? 0, txErrors: val(i.txErrors) ?? 0 })), net.defaultInterface?.name) : undefined,
        'ephemeral-storage': cs.length ? { time: podTime, usedBytes: fsUsed, inodesUsed: fsInodes, capacityBytes: imageFs?.capacityBytes, availableBytes: imageFs?.availableBytes } : undefined,
        process_stats: sbs?.linux?.process ? { process_count: val(sbs.linux.process.processCount) } : undefined,
      });
    }
    return { pods, resource, imageFs, containerIds: new Set(stats.map((s) => s.attributes.id)) };
  }
}

function nodeResourcePoint(node: NodeUsage): ResourceSample['node'] {
  return { cpuSeconds: node.cpu.usageCoreNanoSeconds / 1e9, cpuTimestampMs: node.timestamp / 1e6, memoryWorkingSetBytes: node.memory.workingSetBytes, memoryTimestampMs: node.timestamp / 1e6 };
}

/** Bytes and files of a container's log directory (current and rotated files), as the kubelet's `logs` figure. */
async function logUsage(dir: string, time: string): Promise<FsStats | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  let used = 0;
  for (const n of names) used += (await stat(path.join(dir, n)).catch(() => undefined))?.size ?? 0;
  return { time, usedBytes: used, inodesUsed: names.length };
}

export type { NodeUsage };
