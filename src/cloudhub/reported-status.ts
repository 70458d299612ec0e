import type { V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { reportedStatusSignature } from '../common/pod-status.js';

/** Writes of one pod's status the cache may still echo; older ones are dropped (a write that never landed). */
const MAX_UNSEEN_WRITES = 8;

/**
 * Per pod, the signatures (src/common/pod-status.ts) of the statuses this hub wrote from its node's reports and
 * the cache has not shown yet, oldest first, and the last one it did show. DesiredSets asks it whether a
 * status-only change of a pod came from someone else: such a change is sent to the node (which re-asserts its own
 * status), while the echo of any of the node's own reports is not (it would double the downlink).
 *
 * Several writes may be in flight: a pod going Pending → Running writes twice within milliseconds, and the cache
 * shows the Pending write after the hub recorded Running. Comparing with the last report only took that echo for a
 * contradiction: the pod went back down to its node, which reported again (measured in bench:fleet, RESULTS.md
 * "issue 18"). Bounded by the pods bound to edge nodes; a deleted pod is forgotten.
 */
export class ReportedPodStatus {
  /** key → signature, or signatures oldest first (a lone one is held as a string: most pods have one). */
  private readonly byKey = new Map<string, string | string[]>();

  record(key: string, status: V1PodStatus): void {
    const sig = reportedStatusSignature(status);
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

  /**
   * True when the cloud's copy now says something else than any report of the node the cache has not shown yet
   * (or the last one it showed). An echo also retires the reports written before it. With no report recorded
   * (a hub restart), a change of the signature between the two versions counts.
   */
  contradicted(key: string, old: V1Pod, now: V1Pod): boolean {
    const sig = reportedStatusSignature(now.status);
    const cur = this.byKey.get(key);
    if (cur === undefined) return sig !== reportedStatusSignature(old.status);
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
