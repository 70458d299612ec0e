/**
 * Kubernetes resource quantities → Linux cgroup settings through CRI, following the kubelet's rules (cpu shares from
 * requests, CFS quota from limits, memory limit, oom_score_adj by QoS). Quantities and QoS come from src/common, the
 * implementation the API server and the scheduler use too; arithmetic is on exact integers (millicores, bytes).
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { LinuxContainerResources } from '../../runtime/types.js';
import { integerValue, milliValue, parseQuantity, QuantityError, toSafeNumber, type Quantity } from '../../common/quantity.js';
import { podQosClass, type QosClass } from '../../common/qos.js';

export type { QosClass };

/** A quantity from a pod spec; a bad one becomes an error the pod manager reports as CreateContainerConfigError. */
export function containerQuantity(raw: unknown): Quantity | undefined {
  if (raw === undefined || raw === null) return undefined;
  try {
    return parseQuantity(String(raw));
  } catch (err) {
    if (err instanceof QuantityError) throw new InvalidQuantityError(`invalid quantity ${JSON.stringify(raw)}: ${err.message}`);
    throw err;
  }
}

export class InvalidQuantityError extends Error {}

const CPU_PERIOD_US = 100_000;
const MIN_SHARES = 2;
const MIN_QUOTA_US = 1000;

export function qosClass(pod: V1Pod): QosClass {
  return podQosClass(pod.spec);
}

/** The kubelet's MilliCPUToShares and MilliCPUToQuota, in integer millicores. */
function cpuShares(milliCpu: bigint): number {
  return milliCpu === 0n ? MIN_SHARES : Math.max(MIN_SHARES, toSafeNumber((milliCpu * 1024n) / 1000n));
}

function cpuQuota(milliCpu: bigint): number {
  return Math.max(MIN_QUOTA_US, toSafeNumber((milliCpu * BigInt(CPU_PERIOD_US)) / 1000n));
}

export function linuxResources(pod: V1Pod, c: V1Container, nodeMemoryBytes: number): LinuxContainerResources {
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  const cpuReq = containerQuantity(req.cpu ?? lim.cpu);
  const cpuLim = containerQuantity(lim.cpu);
  const memLim = containerQuantity(lim.memory);
  const memReq = containerQuantity(req.memory ?? lim.memory);
  const out: LinuxContainerResources = { cpuShares: cpuShares(cpuReq ? milliValue(cpuReq) : 0n) };
  if (cpuLim && milliValue(cpuLim) > 0n) {
    out.cpuPeriod = CPU_PERIOD_US;
    out.cpuQuota = cpuQuota(milliValue(cpuLim));
  }
  if (memLim && integerValue(memLim) > 0n) out.memoryLimitInBytes = toSafeNumber(integerValue(memLim));
  const qos = qosClass(pod);
  if (qos === 'Guaranteed') out.oomScoreAdj = -997;
  else if (qos === 'BestEffort') out.oomScoreAdj = 1000;
  else {
    // The kubelet: 1000 - (1000 * memoryRequest) / memoryCapacity, kept within [2, 999].
    const requested = memReq ? integerValue(memReq) : 0n;
    const adj = 1000n - (1000n * requested) / BigInt(Math.max(1, Math.floor(nodeMemoryBytes)));
    out.oomScoreAdj = Math.min(999, Math.max(2, toSafeNumber(adj)));
  }
  return out;
}
