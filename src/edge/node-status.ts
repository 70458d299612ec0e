/**
 * The Node this agent registers and keeps reporting: labels, capacity, addresses, OS/arch, versions, conditions.
 * Only labels a kubelet may set on itself (src/common/node-restriction.ts); the edge role is the hub's to set.
 */
import os from 'node:os';
import { readFile, statfs } from 'node:fs/promises';
import { formatQuantity } from '../common/quantity.js';
import type { V1Node, V1NodeCondition, V1NodeDaemonEndpoints } from '@kubernetes/client-node';
import { KUBELET_PORT } from '../common/kubelet-endpoint.js';

export const KUBELET_VERSION = 'v1.32.0-kedge';

const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

function findInternalIp(): string | undefined {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/**
 * The node's address, looked up at most once a minute: os.networkInterfaces() costs ~0.2 ms (more with many
 * veths), and the status is computed every 10 s by each agent — thousands of times a second in the hollow-node
 * simulator. An address change still shows within a minute.
 */
const IP_LOOKUP_MS = 60_000;
let ipCache: { ip: string | undefined; at: number } | undefined;
export function internalIp(now = Date.now()): string | undefined {
  if (!ipCache || now - ipCache.at >= IP_LOOKUP_MS) ipCache = { ip: findInternalIp(), at: now };
  return ipCache.ip;
}

/**
 * Facts about the machine and its runtime that change rarely and cost I/O to learn, so the agent refreshes
 * them in the background and the every-10-s status computation only reads them.
 */
export interface NodeFacts {
  /** /etc/os-release PRETTY_NAME, as the kubelet (cadvisor) reports it; "Linux" without one. */
  osImage: string;
  /** `<runtimeName>://<runtimeVersion>` from the CRI Version call, as the kubelet; '' without a runtime. */
  containerRuntimeVersion: string;
  /** Size of the data dir's filesystem (statfs), for ephemeral-storage. */
  ephemeralStorageBytes?: number;
}

/** cadvisor's getOperatingSystem: PRETTY_NAME from os-release, quotes trimmed; "Linux" when absent. */
export function osImageFrom(osRelease: string | undefined): string {
  for (const line of (osRelease ?? '').split('\n')) {
    const m = /^PRETTY_NAME=(.*)$/.exec(line.trim());
    if (m) return m[1]!.replace(/^["']|["']$/g, '');
  }
  return 'Linux';
}

export async function readOsImage(file = '/etc/os-release'): Promise<string> {
  return osImageFrom(await readFile(file, 'utf8').catch(() => undefined));
}

/** Capacity of the filesystem holding `dir`, bytes (what cadvisor reports for the kubelet's root fs). */
export async function filesystemBytes(dir: string): Promise<number> {
  const st = await statfs(dir);
  return st.blocks * st.bsize;
}

/** Bytes as the kubelet writes a BinarySI quantity ("61255492Ki", or plain bytes when no unit divides it). */
export function bytesQuantity(bytes: number): string {
  return formatQuantity({ mantissa: BigInt(Math.floor(bytes)), exponent: 0, format: 'BinarySI' });
}

/** The kubelet's default hard eviction threshold nodefs.available<10%, which it subtracts from allocatable. */
const NODEFS_EVICTION_FRACTION = 0.1;

export interface NodeStatusOptions {
  nodeName: string;
  labels?: Record<string, string>;
  /** Max pods this node accepts (kubelet default 110). */
  maxPods?: number;
  ready?: boolean;
  /** Fixed resources (the simulator reports the same fake machine for every hollow node). */
  capacity?: { cpu: string; memory: string; ephemeralStorage?: string };
  facts?: Partial<NodeFacts>;
  /** Condition transition times are kept stable between reports. */
  since: Date;
  /** Annotations the node reports on itself (the hub keeps only its peer-health report: src/common/peer-health.ts). */
  annotations?: Record<string, string>;
}

export function buildNode(o: NodeStatusOptions, now: Date = new Date()): V1Node {
  const ts = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z') as unknown as Date;
  const cpu = o.capacity?.cpu ?? String(os.cpus().length);
  const memory = o.capacity?.memory ?? `${Math.floor(os.totalmem() / 1024)}Ki`;
  const pods = String(o.maxPods ?? 110);
  const disk = o.facts?.ephemeralStorageBytes;
  const fixedStorage = o.capacity?.ephemeralStorage;
  const storage =
    fixedStorage !== undefined
      ? { capacity: fixedStorage, allocatable: fixedStorage }
      : disk !== undefined
        ? { capacity: bytesQuantity(disk), allocatable: bytesQuantity(disk - Math.floor(disk * NODEFS_EVICTION_FRACTION)) }
        : undefined;
  const capacity = { cpu, memory, pods, ...(storage ? { 'ephemeral-storage': storage.capacity } : {}) };
  const allocatable = { cpu, memory, pods, ...(storage ? { 'ephemeral-storage': storage.allocatable } : {}) };
  const cond = (type: string, status: string, reason: string, message: string): V1NodeCondition => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: ts(now),
    lastTransitionTime: ts(o.since),
  });
  const ip = internalIp();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: o.nodeName,
      labels: {
        'kubernetes.io/hostname': o.nodeName,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': GO_ARCH[process.arch] ?? process.arch,
        ...(o.labels ?? {}),
      },
      ...(o.annotations ? { annotations: o.annotations } : {}),
    },
    status: {
      capacity,
      allocatable,
      addresses: [...(ip ? [{ type: 'InternalIP', address: ip }] : []), { type: 'Hostname', address: o.nodeName }],
      // Where the API server reaches this node's kubelet API: through the hub's tunnel (src/edge/kubelet). The wire
      // name is `Port` (capitalised, as upstream's JSON tag), which client-node's TS model calls `port`.
      daemonEndpoints: { kubeletEndpoint: { Port: KUBELET_PORT } } as unknown as V1NodeDaemonEndpoints,
      conditions: [
        cond('Ready', o.ready === false ? 'False' : 'True', o.ready === false ? 'KubeletNotReady' : 'KubeletReady', o.ready === false ? 'edge agent not ready' : 'kedge edge agent is posting ready status'),
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      ],
      nodeInfo: {
        machineID: '',
        systemUUID: '',
        bootID: '',
        kernelVersion: os.release(),
        osImage: o.facts?.osImage ?? 'Linux',
        containerRuntimeVersion: o.facts?.containerRuntimeVersion ?? '',
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: GO_ARCH[process.arch] ?? process.arch,
      },
    },
  };
}

/** The kubelet's nodeStatusUpdateFrequency: how often the Node status is computed. */
export const NODE_STATUS_UPDATE_MS = 10_000;
/** The kubelet's nodeStatusReportFrequency: an unchanged status is still posted this often. */
export const NODE_STATUS_REPORT_MS = 5 * 60_000;

/**
 * The status as compared between reports: heartbeat times left out, as the kubelet's
 * nodeStatusHasChanged does — they change on every computation and carry no news.
 */
export function nodeStatusFingerprint(node: V1Node): string {
  const status = node.status ?? {};
  const conditions = (status.conditions ?? []).map(({ lastHeartbeatTime: _hb, ...rest }) => rest);
  return JSON.stringify({ labels: node.metadata?.labels ?? {}, annotations: node.metadata?.annotations ?? {}, status: { ...status, conditions } });
}

/**
 * Decides which computed Node statuses are posted, like the kubelet: only when something changed, or
 * when the last post is older than the report interval. Liveness is the Lease's job (every 10 s), so an
 * unchanged Node costs the control plane a write every 5 minutes instead of every 10 seconds.
 */
export class NodeStatusReportPolicy {
  private last?: { fingerprint: string; at: number };

  constructor(
    private readonly reportIntervalMs = NODE_STATUS_REPORT_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** True if `node` should be posted now; a true answer counts as posted. */
  shouldReport(node: V1Node): boolean {
    const fingerprint = nodeStatusFingerprint(node);
    const at = this.now();
    if (this.last && this.last.fingerprint === fingerprint && at - this.last.at < this.reportIntervalMs) return false;
    this.last = { fingerprint, at };
    return true;
  }

  /** Forget the last post (a new connection to the hub: the cloud gets a full report at once). */
  reset(): void {
    this.last = undefined;
  }
}
