import type { V1NodeStatus, V1PodStatus } from '@kubernetes/client-node';
import { reportedStatusSignature } from '../common/pod-status.js';

/** Writes of one object's status the cache may still echo; older ones are dropped (a write that never landed). */
const MAX_UNSEEN_WRITES = 8;

/**
 * Per object, the signatures of the statuses this hub wrote from its node's reports and the cache has not shown
 * yet, oldest first, and the last one it did show. The hub asks it whether a status-only change came from someone
 * else (upstream's node lifecycle marking a node Unknown or its pods not Ready): such a change is re-asserted
 * (a pod's copy is sent to its node, which reports again; a Node's last report is written again by the hub,
 * node-reassertion.ts), while the echo of any of the node's own reports is not news.
 *
 * Several writes may be in flight: a pod going Pending → Running writes twice within milliseconds, and the cache
 * shows the Pending write after the hub recorded Running. Comparing with the last report only took that echo for a
 * contradiction: the pod went back down to its node, which reported again (measured in bench:fleet, RESULTS.md
 * "issue 18"). Bounded by the objects of edge nodes; a deleted one is forgotten.
 */
export class ReportedStatus<S> {
  /** key → signature, or signatures oldest first (a lone one is held as a string: most objects have one). */
  private readonly byKey = new Map<string, string | string[]>();

  /** `signature`: what a node's report says in the terms others may contradict. */
  constructor(private readonly signature: (status: S | undefined) => string) {}

  record(key: string, status: S): void {
    const sig = this.signature(status);
    const cur = this.byKey.get(key);
    if (cur === undefined || cur === sig) this.byKey.set(key, sig);
    else if (typeof cur === 'string') this.byKey.set(key, [cur, sig]);
    else {
      if (cur[cur.length - 1] !== sig) cur.push(sig);
      if (cur.length > MAX_UNSEEN_WRITES) cur.splice(0, cur.length - MAX_UNSEEN_WRITES);
    }
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }

  /** Whether the node reported this object since the hub started. */
  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /**
   * True when the cloud's copy now says something else than any report of the node the cache has not shown yet
   * (or the last one it showed). An echo also retires the reports written before it. With no report recorded
   * (a hub restart), a change of the signature between the two versions counts.
   */
  contradicted(key: string, old: S | undefined, now: S | undefined): boolean {
    const sig = this.signature(now);
    const cur = this.byKey.get(key);
    if (cur === undefined) return sig !== this.signature(old);
    if (typeof cur === 'string') return sig !== cur;
    const at = cur.lastIndexOf(sig);
    if (at < 0) return true;
    if (at === cur.length - 1) this.byKey.set(key, sig);
    else cur.splice(0, at);
    return false;
  }

  get size(): number {
    return this.byKey.size;
  }
}

/** Pods: the phase and the kubelet's own conditions (src/common/pod-status.ts). */
export type ReportedPodStatus = ReportedStatus<V1PodStatus>;
export const reportedPodStatus = (): ReportedPodStatus => new ReportedStatus<V1PodStatus>(reportedStatusSignature);

/** The Node conditions the kubelet owns and posts; the node lifecycle controller sets them Unknown. */
export const KUBELET_NODE_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'] as const;

/** Nodes: the status of each condition the kubelet owns (heartbeat and transition times are not news). */
export function nodeConditionsSignature(status: V1NodeStatus | undefined): string {
  return KUBELET_NODE_CONDITIONS.map((type) => status?.conditions?.find((c) => c.type === type)?.status ?? '').join('|');
}
