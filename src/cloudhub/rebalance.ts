/**
 * Hub load spreading across several `kedge server`s on one datastore (issue 16; docs/design/datastores.md
 * "Rebalancing").
 *
 * Every hub keeps a Lease `kube-system/kedge-hub-<server id>` (label `kedge.io/hub`), renewed every publish interval
 * (5 s), that says where it is (`kedge.io/hub-peer-url`) and how many nodes it holds (`kedge.io/hub-connected-nodes`).
 * Each hub reads the others' Leases; a peer counts as live only while it is seen renewing within two publish intervals
 * (the resourceVersion changes, timed on this server's clock as leader election does: clocks of servers are never
 * compared). No moves while nodes are arriving (within three intervals of this hub's count growing): a failing peer
 * still looks live for up to two intervals, and nodes sent to it would bounce back. A hub holding more
 * than its fair share (total / live hubs, plus a slack of 10 %, at least one node) asks some of its nodes to move to
 * the least-loaded peer: it closes their sessions with CloseCode.Rebalance naming that peer. Bounded so it never
 * storms: at most `maxMovesPerRound` (2 % of its nodes, at least 10) per round, never more than the target is short
 * of its share, and no new round before every live peer has published a count taken after the last moves. A moved
 * node resumes on its new hub from its datastore-revision cursor: it is sent only what changed.
 */
import type { V1Lease } from '@kubernetes/client-node';
import type { KubeClient } from '../common/kube-client.js';
import { KubeApiError } from '../common/kube-client.js';
import type { Logger } from '../common/logger.js';
import { microTime } from './status-writer.js';

export const HUB_LEASE_NAMESPACE = 'kube-system';
export const HUB_LEASE_PREFIX = 'kedge-hub-';
export const HUB_LEASE_LABEL = 'kedge.io/hub';
export const PEER_URL_ANNOTATION = 'kedge.io/hub-peer-url';
export const CONNECTED_NODES_ANNOTATION = 'kedge.io/hub-connected-nodes';

export interface HubLoad {
  identity: string;
  peerUrl: string;
  nodes: number;
}

export interface RebalancePlan {
  /** How many nodes to ask to move now (0: balanced enough). */
  moves: number;
  /** The peer URL they are sent to (the least-loaded live peer). */
  to?: string;
}

/** What a hub holding `self` should do, given the live peers' loads. Pure; see the file comment for the rules. */
export function rebalancePlan(self: HubLoad, peers: readonly HubLoad[], maxMovesPerRound: number): RebalancePlan {
  if (peers.length === 0) return { moves: 0 };
  const total = peers.reduce((n, p) => n + p.nodes, self.nodes);
  const fair = Math.ceil(total / (peers.length + 1));
  const slack = Math.max(1, Math.floor(fair * 0.1));
  if (self.nodes <= fair + slack) return { moves: 0 };
  const least = [...peers].sort((a, b) => a.nodes - b.nodes || a.identity.localeCompare(b.identity))[0]!;
  const moves = Math.min(self.nodes - fair, Math.max(1, fair - least.nodes), maxMovesPerRound);
  return moves > 0 ? { moves, to: least.peerUrl } : { moves: 0 };
}

export interface HubBalancerOptions {
  client: KubeClient;
  /** This server's id (the Lease's name suffix): lowercase letters, digits, '-'. */
  identity: string;
  /** `https://host:port` peers and moved nodes reach this hub at. */
  peerUrl: string;
  /** The nodes connected to this hub, oldest session first. */
  nodes: () => string[];
  /** Ask one node to move to `peerUrl`. */
  move: (node: string, peerUrl: string) => void;
  log: Logger;
  publishIntervalMs?: number;
  leaseDurationSeconds?: number;
  now?: () => number;
}

interface ObservedPeer {
  load: HubLoad;
  resourceVersion: string;
  /** When this server saw the Lease change (its own clock); undefined until it changed once while watched. */
  renewedAt?: number;
}

const leasePath = (name?: string) => `/apis/coordination.k8s.io/v1/namespaces/${HUB_LEASE_NAMESPACE}/leases${name ? `/${name}` : ''}`;

export class HubBalancer {
  private readonly peers = new Map<string, ObservedPeer>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastMovesAt: number | undefined;
  private lastCount = 0;
  private grewAt = Number.NEGATIVE_INFINITY;
  private readonly publishMs: number;
  private readonly durationS: number;
  private readonly now: () => number;
  private readonly leaseName: string;
  /** Nodes asked to move (for metrics and tests). */
  moved = 0;

  constructor(private readonly o: HubBalancerOptions) {
    this.publishMs = o.publishIntervalMs ?? 5_000;
    this.durationS = o.leaseDurationSeconds ?? 15;
    this.now = o.now ?? Date.now;
    this.leaseName = `${HUB_LEASE_PREFIX}${o.identity}`;
  }

  start(): void {
    const round = async () => {
      if (this.stopped) return;
      const startedAt = this.now();
      try {
        await this.round();
      } catch (err) {
        this.o.log.warn({ err: String(err) }, 'hub load round failed; retrying');
      }
      if (!this.stopped) this.timer = setTimeout(() => void round(), Math.max(0, startedAt + this.publishMs - this.now()));
    };
    void round();
  }

  /** One round: publish this hub's count, read the peers', move nodes if this hub holds too many. Exposed for tests. */
  async round(): Promise<void> {
    const count = this.o.nodes().length;
    if (count > this.lastCount) this.grewAt = this.now();
    this.lastCount = count;
    await this.publish(count);
    await this.observePeers();
    // Nodes arriving means another hub is failing (or nodes come back, or were sent here): its Lease may still look
    // live for up to two rounds, and sending nodes to it would only bounce them back. Wait until arrivals settle.
    if (this.now() - this.grewAt < 3 * this.publishMs) return;
    const live = this.livePeers();
    // Counts taken before the last moves landed would make this hub move too many: wait until every peer's Lease
    // changed in the round after the one following the moves (the moved nodes had a publish period to arrive).
    if (this.lastMovesAt !== undefined && live.some((p) => (p.renewedAt ?? 0) < this.lastMovesAt! + 1.5 * this.publishMs)) return;
    const nodes = this.o.nodes();
    const plan = rebalancePlan({ identity: this.o.identity, peerUrl: this.o.peerUrl, nodes: nodes.length }, live.map((p) => p.load), Math.max(10, Math.ceil(nodes.length * 0.02)));
    if (!plan.moves || !plan.to) return;
    const chosen = nodes.slice(0, plan.moves);
    this.o.log.info({ moving: chosen.length, to: plan.to, held: nodes.length, peers: live.map((p) => `${p.load.peerUrl}=${p.load.nodes}`) }, 'rebalancing: asking nodes to move to a less-loaded hub');
    for (const node of chosen) this.o.move(node, plan.to);
    this.moved += chosen.length;
    this.lastMovesAt = this.now();
  }

  /** Peers seen renewing within two publish intervals (one missed renewal is tolerated, two are not). */
  livePeers(): ObservedPeer[] {
    const now = this.now();
    return [...this.peers.values()].filter((p) => p.renewedAt !== undefined && now - p.renewedAt <= 2 * this.publishMs);
  }

  private async publish(count: number): Promise<void> {
    const metadata = {
      name: this.leaseName,
      namespace: HUB_LEASE_NAMESPACE,
      labels: { [HUB_LEASE_LABEL]: 'true' },
      annotations: { [PEER_URL_ANNOTATION]: this.o.peerUrl, [CONNECTED_NODES_ANNOTATION]: String(count) },
    };
    const spec = { holderIdentity: this.o.identity, leaseDurationSeconds: this.durationS, renewTime: microTime(new Date(this.now())) };
    try {
      const current = await this.o.client.request<V1Lease>('GET', leasePath(this.leaseName));
      await this.o.client.request('PUT', leasePath(this.leaseName), {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { ...metadata, resourceVersion: current.metadata?.resourceVersion }, spec,
      });
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.code !== 404) throw err;
      await this.o.client.request('POST', leasePath(), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec });
    }
  }

  private async observePeers(): Promise<void> {
    const list = await this.o.client.request<{ items: V1Lease[] }>('GET', `${leasePath()}?labelSelector=${encodeURIComponent(`${HUB_LEASE_LABEL}=true`)}`);
    const seen = new Set<string>();
    for (const lease of list.items) {
      const identity = lease.spec?.holderIdentity ?? '';
      const peerUrl = lease.metadata?.annotations?.[PEER_URL_ANNOTATION];
      const nodes = Number(lease.metadata?.annotations?.[CONNECTED_NODES_ANNOTATION]);
      if (!identity || identity === this.o.identity || !peerUrl || !Number.isInteger(nodes) || nodes < 0) continue;
      seen.add(identity);
      const rv = lease.metadata?.resourceVersion ?? '';
      const before = this.peers.get(identity);
      const renewedAt = before === undefined ? undefined : before.resourceVersion !== rv ? this.now() : before.renewedAt;
      this.peers.set(identity, { load: { identity, peerUrl, nodes }, resourceVersion: rv, renewedAt });
    }
    for (const id of [...this.peers.keys()]) if (!seen.has(id)) this.peers.delete(id);
  }

  /** Stops publishing and removes this hub's Lease, so peers stop counting it at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.o.client.request('DELETE', leasePath(this.leaseName)).catch(() => undefined);
  }
}
