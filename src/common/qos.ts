/**
 * A pod's QoS class, computed as upstream's ComputePodQOS (pkg/apis/core/helper/qos) does: one implementation for
 * the API server (status.qosClass on create) and the edge agent (cgroup placement, oom_score_adj). Quantities are
 * compared exactly, so `cpu: 1` and `cpu: 1000m` are equal.
 */
import { addQuantities, compareQuantities, isZeroQuantity, tryParseQuantity, type Quantity } from './quantity.js';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** The structural part of a container the QoS rules read (client-node's V1Container fits). */
export interface ContainerResourcesLike {
  resources?: { requests?: Record<string, unknown> | null; limits?: Record<string, unknown> | null } | null;
}

export interface PodSpecResourcesLike {
  containers?: ContainerResourcesLike[] | null;
  initContainers?: ContainerResourcesLike[] | null;
}

/** Only cpu and memory decide the class (upstream's supportedQoSComputeResources). */
const QOS_RESOURCES = new Set(['cpu', 'memory']);

/** Add each positive cpu/memory quantity of `list` into `totals`; returns the resource names it found. */
function accumulate(list: Record<string, unknown> | null | undefined, totals: Map<string, Quantity>): Set<string> {
  const found = new Set<string>();
  for (const [name, raw] of Object.entries(list ?? {})) {
    if (!QOS_RESOURCES.has(name)) continue;
    const q = tryParseQuantity(raw); // the API server refuses invalid ones; a stray one counts as unset
    if (!q || isZeroQuantity(q) || q.mantissa < 0n) continue;
    found.add(name);
    const sum = totals.get(name);
    totals.set(name, sum ? addQuantities(sum, q) : q);
  }
  return found;
}

export function podQosClass(spec: PodSpecResourcesLike | null | undefined): QosClass {
  const requests = new Map<string, Quantity>();
  const limits = new Map<string, Quantity>();
  let guaranteed = true;
  for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
    accumulate(c.resources?.requests, requests);
    const limited = accumulate(c.resources?.limits, limits);
    // Every container must limit both cpu and memory.
    if (!limited.has('cpu') || !limited.has('memory')) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [name, request] of requests) {
      const limit = limits.get(name);
      if (!limit || compareQuantities(limit, request) !== 0) { guaranteed = false; break; }
    }
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}
