import type { V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { reportedStatusSignature } from '../common/pod-status.js';

/**
 * Per pod, the signature (src/common/pod-status.ts) of the status this hub last wrote from its node's report.
 * DesiredSets asks it whether a status-only change of a pod came from someone else: such a change is sent to the
 * node (which re-asserts its own status), while the echo of the node's own report is not (it would double the
 * downlink). Bounded by the pods bound to edge nodes; a deleted pod is forgotten.
 */
export class ReportedPodStatus {
  private readonly byKey = new Map<string, string>();

  record(key: string, status: V1PodStatus): void {
    this.byKey.set(key, reportedStatusSignature(status));
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }

  /**
   * True when the cloud's copy now says something else than the node's last report. With no report recorded
   * (a hub restart), a change of the signature between the two versions counts.
   */
  contradicted(key: string, old: V1Pod, now: V1Pod): boolean {
    const sig = reportedStatusSignature(now.status);
    const reported = this.byKey.get(key);
    return reported !== undefined ? sig !== reported : sig !== reportedStatusSignature(old.status);
  }

  get size(): number {
    return this.byKey.size;
  }
}
