/**
 * The node's own resource usage, read the way cAdvisor reads it for the kubelet's root container:
 * CPU time from /proc/stat, memory from /proc/meminfo (working set = used − inactive file pages, the
 * figure the kubelet evicts on and metrics-server reports), network from /proc/net/dev, and the node
 * filesystem from statfs of the agent's data dir. Parsers are pure so they are unit-tested on fixtures.
 */
import { readFile, statfs } from 'node:fs/promises';

/** USER_HZ: /proc/stat counts in 1/100 s on every Linux architecture Kedge runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface NodeCpuSample {
  /** Cumulative CPU time of all cores, nanoseconds (kubelet's usageCoreNanoSeconds). */
  usageCoreNanoSeconds: number;
}

export interface NodeMemorySample {
  capacityBytes: number;
  usageBytes: number;
  workingSetBytes: number;
  availableBytes: number;
  rssBytes: number;
}

export interface InterfaceCounters {
  name: string;
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}

export interface FsSample {
  capacityBytes: number;
  availableBytes: number;
  usedBytes: number;
  inodes: number;
  inodesFree: number;
  inodesUsed: number;
}

/** Everything the summary needs about the node itself at one instant. */
export interface NodeUsage {
  /** Nanoseconds since the epoch. */
  timestamp: number;
  /** When the node booted (summary `node.startTime`). */
  bootTime: Date;
  cpu: NodeCpuSample;
  memory: NodeMemorySample;
  interfaces: InterfaceCounters[];
  fs?: FsSample;
}

/**
 * Where node usage comes from: the real host, or a synthetic one for hollow nodes. `cpuAndMemoryOnly`: the caller
 * needs only CPU and memory (a usage report), so network and filesystem figures may be left out.
 */
export type NodeUsageSource = (opts?: { cpuAndMemoryOnly?: boolean }) => Promise<NodeUsage>;

/** `cpu  user nice system idle iowait irq softirq steal guest guest_nice`: busy = all but idle and iowait (guest is inside user). */
export function parseProcStat(text: string): { cpu: NodeCpuSample; bootTime: Date } {
  let cpu: NodeCpuSample | undefined;
  let bootTime = new Date(0);
  for (const line of text.split('\n')) {
    if (line.startsWith('cpu ')) {
      const f = line.trim().split(/\s+/).slice(1).map(Number);
      const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
      const busyTicks = user + nice + system + irq + softirq + steal;
      cpu = { usageCoreNanoSeconds: Math.round((busyTicks * 1e9) / CLOCK_TICKS_PER_SECOND) };
    } else if (line.startsWith('btime ')) {
      bootTime = new Date(Number(line.slice(6).trim()) * 1000);
    }
  }
  if (!cpu) throw new Error('/proc/stat has no aggregate cpu line');
  return { cpu, bootTime };
}

/** /proc/meminfo in kB. Used = MemTotal − MemFree; working set = used − Inactive(file), floored at 0. */
export function parseMeminfo(text: string): NodeMemorySample {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(\d+)/.exec(line);
    if (m) kb.set(m[1]!, Number(m[2]) * 1024);
  }
  const total = kb.get('MemTotal');
  if (total === undefined) throw new Error('/proc/meminfo has no MemTotal');
  const usage = total - (kb.get('MemFree') ?? 0);
  const workingSet = Math.max(0, usage - (kb.get('Inactive(file)') ?? 0));
  return { capacityBytes: total, usageBytes: usage, workingSetBytes: workingSet, availableBytes: total - workingSet, rssBytes: kb.get('AnonPages') ?? 0 };
}

/** /proc/net/dev: two header lines, then `name: rxBytes rxPackets rxErrs … (8 rx fields) txBytes txPackets txErrs …`. Loopback is left out, as cAdvisor does. */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (!name || name === 'lo') continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 11) continue;
    out.push({ name, rxBytes: f[0]!, rxErrors: f[2]!, txBytes: f[8]!, txErrors: f[10]! });
  }
  return out;
}

export async function fsUsage(dir: string): Promise<FsSample> {
  const s = await statfs(dir);
  const capacity = s.blocks * s.bsize;
  const available = s.bavail * s.bsize;
  return {
    capacityBytes: capacity,
    availableBytes: available,
    usedBytes: (s.blocks - s.bfree) * s.bsize,
    inodes: s.files,
    inodesFree: s.ffree,
    inodesUsed: s.files - s.ffree,
  };
}

/** The host this agent runs on (`fsDir`: the agent's data dir, the kubelet's root dir counterpart). */
export function hostNodeUsage(fsDir: string, procRoot = '/proc'): NodeUsageSource {
  return async (opts) => {
    const full = !opts?.cpuAndMemoryOnly;
    const [stat, meminfo, netdev, fs] = await Promise.all([
      readFile(`${procRoot}/stat`, 'utf8'),
      readFile(`${procRoot}/meminfo`, 'utf8'),
      full ? readFile(`${procRoot}/net/dev`, 'utf8').catch(() => '') : '',
      full ? fsUsage(fsDir).catch(() => undefined) : undefined,
    ]);
    const { cpu, bootTime } = parseProcStat(stat);
    return { timestamp: Date.now() * 1e6, bootTime, cpu, memory: parseMeminfo(meminfo), interfaces: parseNetDev(netdev), fs };
  };
}

/**
 * A hollow node (in-process runtime, many per process): the host's figures would be the same for every
 * node and meaningless, so the node is a fixed-size machine whose usage is a base load plus its pods'.
 */
export function syntheticNodeUsage(opts: { capacityBytes: number; baseNanoCores: number; baseWorkingSetBytes: number; pods: () => Promise<{ nanoCores: number; workingSetBytes: number }> }): NodeUsageSource {
  const started = Date.now();
  let last = started;
  // Integrated from the current rates so the counter stays monotonic when pods come and go.
  let cpuNs = 0;
  return async () => {
    const pods = await opts.pods();
    const now = Date.now();
    cpuNs += ((now - last) / 1000) * (opts.baseNanoCores + pods.nanoCores);
    last = now;
    const workingSet = opts.baseWorkingSetBytes + pods.workingSetBytes;
    const iface: InterfaceCounters = { name: 'eth0', rxBytes: (now - started) * 10, rxErrors: 0, txBytes: (now - started) * 5, txErrors: 0 };
    return {
      timestamp: now * 1e6,
      bootTime: new Date(started),
      cpu: { usageCoreNanoSeconds: Math.round(cpuNs) },
      memory: { capacityBytes: opts.capacityBytes, usageBytes: workingSet, workingSetBytes: workingSet, availableBytes: Math.max(0, opts.capacityBytes - workingSet), rssBytes: workingSet },
      interfaces: [iface],
    };
  };
}
