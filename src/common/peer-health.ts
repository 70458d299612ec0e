/**
 * Distributed node health (SuperEdge's edge-health, issue 14): the report an edge node makes about the peers of its
 * NodePool, as an annotation on its own Node, and how the cloud reads it. Shared by the edge agent (writes it), the
 * hub (lets a node write only this annotation, on its own Node) and the node lifecycle controller (counts the vote).
 *
 * Value: JSON `{"<peer node>": {"reachable": true|false, "since": "<RFC 3339>"}}` — `since` is when the verdict last
 * changed, so the annotation changes (and costs a Node write) only when a peer's verdict flips.
 */
export const PEER_HEALTH_ANNOTATION = 'kedge.io/peer-health';

export interface PeerVerdict {
  reachable: boolean;
  since: string;
}

export type PeerHealthReport = Record<string, PeerVerdict>;

/** A report as read from a Node's annotations; anything malformed counts as no report (a peer's bad data votes nothing). */
export function parsePeerHealth(annotations: Record<string, string> | undefined): PeerHealthReport | undefined {
  const raw = annotations?.[PEER_HEALTH_ANNOTATION];
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const out: PeerHealthReport = {};
  for (const [peer, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!v || typeof v !== 'object') continue;
    const { reachable, since } = v as Record<string, unknown>;
    if (typeof reachable !== 'boolean' || typeof since !== 'string') continue;
    out[peer] = { reachable, since };
  }
  return out;
}

/** Stable text of a report (peers sorted), so an unchanged report compares equal. */
export function formatPeerHealth(report: PeerHealthReport): string {
  const sorted: PeerHealthReport = {};
  for (const peer of Object.keys(report).sort()) sorted[peer] = report[peer]!;
  return JSON.stringify(sorted);
}
