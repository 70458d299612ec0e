/**
 * The pool's vote on a node the cloud lost (SuperEdge's edge-health, issue 14; docs/design/edge-services.md,
 * "Distributed health"). Each edge node probes the peers of its NodePool and reports what it sees in the
 * `kedge.io/peer-health` annotation of its own Node (src/common/peer-health.ts). When the cloud stops hearing from a
 * node, the node lifecycle controller asks its pool: the voters are the node's pool peers that are themselves Ready
 * (their report rides the same link as their heartbeat, so a Ready peer's report is current) and that report on it.
 * A strict majority of voters reaching it means only the node's uplink failed: it keeps its pods in the pool's
 * endpoints and nothing is evicted. No voter, or no majority: the node is treated as upstream treats an unreachable one.
 */
import type { V1Node, V1NodeCondition } from '@kubernetes/client-node';
import { NODEPOOL_LABEL } from '../../common/tenancy.js';
import { parsePeerHealth } from '../../common/peer-health.js';

/** The Node condition that shows the vote (`kubectl describe node`); set only while the node is Ready=Unknown. */
export const PeerReachableCondition = 'PeerReachable';

export type PeerVerdict = 'reachable' | 'unreachable' | 'no-voters';

export interface PeerVote {
  pool: string | undefined;
  /** Ready pool peers that report on the node. */
  voters: string[];
  /** Those of them that reach it. */
  reachedBy: string[];
  verdict: PeerVerdict;
}

const isReady = (n: V1Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

export function peerVote(node: V1Node, nodes: Iterable<V1Node>): PeerVote {
  const name = node.metadata?.name;
  const pool = node.metadata?.labels?.[NODEPOOL_LABEL];
  const voters: string[] = [];
  const reachedBy: string[] = [];
  if (pool === undefined || name === undefined) return { pool, voters, reachedBy, verdict: 'no-voters' };
  for (const peer of nodes) {
    const peerName = peer.metadata?.name;
    if (!peerName || peerName === name || peer.metadata?.labels?.[NODEPOOL_LABEL] !== pool || !isReady(peer)) continue;
    const seen = parsePeerHealth(peer.metadata?.annotations)?.[name];
    if (!seen) continue;
    voters.push(peerName);
    if (seen.reachable) reachedBy.push(peerName);
  }
  voters.sort();
  reachedBy.sort();
  const verdict: PeerVerdict = voters.length === 0 ? 'no-voters' : reachedBy.length * 2 > voters.length ? 'reachable' : 'unreachable';
  return { pool, voters, reachedBy, verdict };
}

/** The condition the vote calls for (undefined: none to show — no voters and none shown before). */
export function peerReachableCondition(vote: PeerVote, previous: V1NodeCondition | undefined, nowIso: string): V1NodeCondition | undefined {
  if (vote.verdict === 'no-voters' && !previous) return undefined;
  const status = vote.verdict === 'reachable' ? 'True' : vote.verdict === 'unreachable' ? 'False' : 'Unknown';
  const reason = vote.verdict === 'reachable' ? 'PoolMajorityReachesNode' : vote.verdict === 'unreachable' ? 'PoolMajorityLostNode' : 'NoPeerReports';
  const message =
    vote.verdict === 'no-voters'
      ? `no Ready peer in pool ${vote.pool ?? '(none)'} reports on this node`
      : `${vote.reachedBy.length} of ${vote.voters.length} Ready peers in pool ${vote.pool} reach this node` + (vote.reachedBy.length ? ` (${vote.reachedBy.join(', ')})` : '');
  const changed = previous?.status !== status;
  return {
    type: PeerReachableCondition,
    status,
    reason,
    message,
    lastHeartbeatTime: nowIso as unknown as Date,
    lastTransitionTime: (changed ? nowIso : previous?.lastTransitionTime ?? nowIso) as unknown as Date,
  };
}
