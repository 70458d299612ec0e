/**
 * Kubernetes resource quantities → Linux cgroup settings through CRI, and the pod's QoS class,
 * following the kubelet's rules (cpu shares from requests, CFS quota from limits, memory limit,
 * oom_score_adj by QoS).
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { LinuxContainerResources } from '../../runtime/types.js';

const SUFFIX: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
};

/** Parses a Kubernetes quantity ("100m", "1.5Gi", "2e3") to a number in base units. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (q === undefined || q === null) return undefined;
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/.exec(q.trim());
  if (!m) throw new Error(`invalid quantity ${JSON.stringify(q)}`);
  return Number(m[1]) * SUFFIX[m[2] ?? '']!;
}

const CPU_PERIOD_US = 100_000;
const MIN_SHARES = 2;

/** For classification only: an invalid quantity is reported when the container is created, not here. */
function tolerant(q: string | undefined): number | string | undefined {
  try {
    return parseQuantity(q);
  } catch {
    return q;
  }
}

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export function qosClass(pod: V1Pod): QosClass {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  let anySet = false;
  let guaranteed = true;
  for (const c of all) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    for (const r of ['cpu', 'memory']) {
      const l = lim[r] as string | undefined;
      const q = (req[r] as string | undefined) ?? l;
      if (l !== undefined || q !== undefined) anySet = true;
      if (l === undefined || tolerant(q) !== tolerant(l)) guaranteed = false;
    }
  }
  if (!anySet) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

export function linuxResources(pod: V1Pod, c: V1Container, nodeMemoryBytes: number): LinuxContainerResources {
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  const cpuReq = parseQuantity((req.cpu ?? lim.cpu) as string | undefined);
  const cpuLim = parseQuantity(lim.cpu as string | undefined);
  const memLim = parseQuantity(lim.memory as string | undefined);
  const memReq = parseQuantity((req.memory ?? lim.memory) as string | undefined);
  const out: LinuxContainerResources = {
    cpuShares: cpuReq ? Math.max(MIN_SHARES, Math.floor(cpuReq * 1024)) : MIN_SHARES,
  };
  if (cpuLim) {
    out.cpuPeriod = CPU_PERIOD_US;
    out.cpuQuota = Math.max(1000, Math.floor(cpuLim * CPU_PERIOD_US));
  }
  if (memLim) out.memoryLimitInBytes = Math.floor(memLim);
  const qos = qosClass(pod);
  if (qos === 'Guaranteed') out.oomScoreAdj = -997;
  else if (qos === 'BestEffort') out.oomScoreAdj = 1000;
  else out.oomScoreAdj = Math.min(999, Math.max(2, Math.round(1000 - (1000 * (memReq ?? 0)) / nodeMemoryBytes)));
  return out;
}
