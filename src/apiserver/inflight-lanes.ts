/**
 * The API server's in-flight limit in lanes, after upstream's API Priority and Fairness: node liveness has its
 * own priority level there (`system-node-high`: nodes, nodes/status and leases written by system:nodes), so a
 * flood of workload writes cannot starve Lease renewals and nodes do not go NotReady under load. Here a request
 * is in the `node` lane when it is a write of node liveness — a Lease in kube-node-lease, a Node's status, or a
 * node-write batch (node-writes.ts: what the hub writes for its nodes) — whoever sends it (Kedge's hub writes
 * for edge nodes under its own identity); every other write is `mutating` (--max-mutating-requests-inflight),
 * every read `readonly` (--max-requests-inflight). Each lane has its own budget; a full lane answers 429 with
 * Retry-After, as upstream's max-in-flight filter.
 */

export type InflightLane = 'readonly' | 'mutating' | 'node';

const LEASE_WRITE = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/kube-node-lease\/leases(\/[^/?]+)?(\?|$)/;
const NODE_STATUS_WRITE = /^\/api\/v1\/nodes\/[^/?]+\/status(\?|$)/;
const NODE_WRITES = /^\/apis\/kedge\.io\/v1alpha1\/nodewrites(\?|$)/;

/** The lane of a request by method and raw URL (before authentication: the limit protects that work too). */
export function inflightLane(method: string | undefined, url: string): InflightLane {
  if (method === 'GET' || method === 'HEAD' || method === undefined) return 'readonly';
  if (method === 'POST' && NODE_WRITES.test(url)) return 'node';
  if ((method === 'PUT' || method === 'PATCH' || method === 'POST') && (LEASE_WRITE.test(url) || NODE_STATUS_WRITE.test(url))) return 'node';
  return 'mutating';
}

export interface InflightLimits {
  readonly: number;
  mutating: number;
  node: number;
}

/** Counts requests in flight per lane against their limits (0 = unlimited). */
export class InflightLanes {
  private readonly inflight: Record<InflightLane, number> = { readonly: 0, mutating: 0, node: 0 };

  constructor(private readonly limits: InflightLimits) {}

  /** Takes a slot in `lane`; false when the lane is full (answer 429). */
  tryEnter(lane: InflightLane): boolean {
    const limit = this.limits[lane];
    if (limit > 0 && this.inflight[lane] >= limit) return false;
    this.inflight[lane]++;
    return true;
  }

  leave(lane: InflightLane): void {
    this.inflight[lane]--;
  }

  count(lane: InflightLane): number {
    return this.inflight[lane];
  }
}
