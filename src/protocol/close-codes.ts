/**
 * WebSocket close codes the hub uses to end an edge session (4000–4999 is the range RFC 6455
 * leaves to applications). The edge keys its reaction on them: a revoked identity stops
 * reconnecting, a duplicate agent backs off loudly instead of fighting for the session.
 */
export const CloseCode = {
  /** Another agent holds a live session under this node name (a copied data dir); the newcomer is refused. */
  DuplicateSession: 4009,
  /** The Node was deleted or the certificate is no longer accepted: join again with a new token. */
  Revoked: 4003,
  /**
   * The session fell behind its node's change log far enough that deletions it had not sent yet were compacted
   * away: streaming on would skip them. The edge reconnects as after any drop; its cursor is compacted by then,
   * so the hub asks for its inventory and sends a diff (as etcd cancels a compacted watch and the client relists).
   */
  Resync: 4410,
  /**
   * The hub has more than its share of the nodes (several servers, src/cloudhub/rebalance.ts) and asks this node to
   * move; the reason is the `https://host:port` of the least-loaded hub, which the node dials if it is in its list
   * (else the next one). An edge that does not know the code simply reconnects to its next hub, as after a drop.
   */
  Rebalance: 4012,
  /** A frame failed validation; the message says which. */
  ProtocolError: 1008,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
