import type { V1NodeCondition, V1NodeStatus } from '@kubernetes/client-node';
import { KUBELET_NODE_CONDITIONS, ReportedStatus, nodeConditionsSignature } from './reported-status.js';

export interface ReassertResult { ok: boolean; reason?: string; retry?: boolean }
/** Writes a node's own conditions over the cloud's copy (StatusWriter.reassertNodeConditions). */
export type NodeConditionsWrite = (node: string, conditions: V1NodeCondition[]) => Promise<ReassertResult>;

/**
 * The kubelet compares the status it computes with its Node in the API every nodeStatusUpdateFrequency (10 s) and
 * posts at once when they differ; an edge agent cannot see its Node in the API, and posts an unchanged status only
 * every 5 minutes (src/edge/node-status.ts). So when the cloud's node lifecycle marks a connected node's conditions
 * Unknown (its lease renewal was late, e.g. under load), the hub re-asserts the conditions that node last reported:
 * nothing on the wire, and the edge's own report stays the truth.
 *
 * - Only on proof of life after the contradiction: the hub re-asserts when it receives the node's next lease renewal
 *   (at most one renewal interval later), never on the contradiction alone. A session can look live for a while
 *   after its link died (the hub notices a dead link after missed keepalives, which may be later than the
 *   lifecycle's grace): re-asserting then would flap the node Unknown → True → Unknown, and upstream's lifecycle
 *   would restart its taints' eviction clocks. A node whose session ended stays Unknown.
 * - The re-asserted conditions keep the heartbeat time the node reported, so the lifecycle's clock (it times the
 *   Lease's renewTime and that heartbeat, src/controllers/nodes/lifecycle.ts) is not reset by the hub.
 * - Hence at most once per renewal: a starved edge never makes the hub and the lifecycle write back and forth.
 *
 * Which changes are contradictions is ReportedStatus's rule, as for pods (reported-status.ts): the echo of any of the
 * node's own reports is not. docs/design/fleet-scale.md §10.
 */
export class NodeStatusReassertion {
  readonly reported = new ReportedStatus<V1NodeStatus>(nodeConditionsSignature);
  /** node → the kubelet-owned conditions of its last report the hub wrote. */
  private readonly lastConditions = new Map<string, V1NodeCondition[]>();
  /** Contradicted nodes → when the hub saw the contradiction (its clock): a renewal received later re-asserts. */
  private readonly pending = new Map<string, number>();
  /** Re-assertions written (tests, metrics). */
  reasserted = 0;

  constructor(
    private readonly write: NodeConditionsWrite,
    /** Each re-assertion's outcome (the hub counts it and logs a failure). */
    private readonly onResult: (node: string, result: ReassertResult) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /** The hub is about to write `node`'s report (recorded first: the cache may show the write before it returns). */
  reportWritten(node: string, status: V1NodeStatus | undefined): void {
    if (!status) return;
    this.reported.record(node, status);
    const own = (status.conditions ?? []).filter((c) => (KUBELET_NODE_CONDITIONS as readonly string[]).includes(c.type));
    this.lastConditions.set(node, own);
    this.pending.delete(node);
  }

  /** The cache shows a change of `node`'s Node; `live`: the node has a session now. */
  statusChanged(node: string, old: V1NodeStatus | undefined, now: V1NodeStatus | undefined, live: boolean): void {
    if (!this.reported.has(node)) return; // nothing reported since this hub started: the node reports on connect
    if (!this.reported.contradicted(node, old, now)) {
      this.pending.delete(node);
      return;
    }
    if (live && !this.pending.has(node)) this.pending.set(node, this.now());
  }

  /** The hub accepted a lease renewal from `node` (written or coalesced) that it received at `receivedAt`. */
  renewed(node: string, receivedAt: number): void {
    const since = this.pending.get(node);
    if (since === undefined || receivedAt < since) return;
    this.pending.delete(node);
    this.reassert(node);
  }

  sessionEnded(node: string): void {
    this.pending.delete(node);
  }

  /** The Node was deleted. */
  forget(node: string): void {
    this.reported.forget(node);
    this.lastConditions.delete(node);
    this.pending.delete(node);
  }

  private reassert(node: string): void {
    const conditions = this.lastConditions.get(node);
    if (!conditions?.length) return;
    this.reported.record(node, { conditions });
    this.reasserted++;
    void this.write(node, conditions).then(
      (r) => this.onResult(node, r),
      (err: unknown) => this.onResult(node, { ok: false, reason: String((err as Error).message ?? err), retry: true }),
    );
  }
}
