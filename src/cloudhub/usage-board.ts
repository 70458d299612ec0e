/**
 * The resource usage edge nodes report over their links (protocol v6 `usage`), kept for the control plane's metrics
 * scraper (src/apiserver/resource-metrics): one report per node and interval instead of a scrape through the tunnel
 * (a Unix-socket connection, a CONNECT, a tunnel stream and an HTTP exchange on both threads and on the node).
 *
 * Node authorization, as for pod status: a node reports only pods bound to it (`spec.nodeName` in the hub cache);
 * figures for any other pod are dropped, so a node cannot make `kubectl top` show usage for another node's pods.
 * A node reporting faster than half the interval it was given has the extra reports dropped (cheap to ignore).
 * A node whose session ended stays "reporting" for one interval (a reconnect, even a whole fleet's after a network
 * cut, costs no scrape through the tunnel); past that it is not, so the scraper asks its kubelet through the tunnel,
 * which fails at once for an offline node and drops it (metrics-server's "offline nodes are absent", one round later).
 */
import type { ResourceSample, UsageEntry, UsagePage } from '../common/resource-metrics.js';
import type { PodLookup } from './status-writer.js';

export type UsageVerdict = { ok: true; droppedPods: number } | { ok: false; reason: 'too-frequent' };

export class UsageBoard {
  private seq = 0;
  private readonly byNode = new Map<string, UsageEntry & { seq: number; endedMs?: number }>();

  constructor(
    /** How often edges are asked to report (`kedge server --metric-resolution`). */
    readonly intervalMs: number,
    private readonly podLookup: PodLookup,
    private readonly now: () => number = Date.now,
  ) {}

  record(node: string, sample: ResourceSample): UsageVerdict {
    const receivedMs = this.now();
    const last = this.byNode.get(node);
    if (last && receivedMs - last.receivedMs < this.intervalMs / 2) return { ok: false, reason: 'too-frequent' };
    const bound = new Map<string, boolean>();
    const isBound = (namespace: string, pod: string): boolean => {
      const k = `${namespace}/${pod}`;
      let yes = bound.get(k);
      if (yes === undefined) bound.set(k, (yes = this.podLookup(namespace, pod)?.spec?.nodeName === node));
      return yes;
    };
    const pods = sample.pods.filter((p) => isBound(p.namespace, p.pod));
    const containers = sample.containers.filter((c) => isBound(c.namespace, c.pod));
    const droppedPods = [...bound.values()].filter((b) => !b).length;
    this.byNode.set(node, { node, receivedMs, sample: { ...sample, pods, containers }, seq: ++this.seq });
    return { ok: true, droppedPods };
  }

  /** The node's session ended: it counts as reporting for one more interval, in case it comes back. */
  sessionEnded(node: string): void {
    const e = this.byNode.get(node);
    if (e) e.endedMs = this.now();
  }

  /** The node has a session again. */
  sessionStarted(node: string): void {
    const e = this.byNode.get(node);
    if (e) delete e.endedMs;
  }

  /** Reports received after `since` (0: all held). */
  since(since: number): UsagePage {
    const entries: UsageEntry[] = [];
    const reporting: string[] = [];
    const now = this.now();
    const recent = now - 2.5 * this.intervalMs;
    for (const e of this.byNode.values()) {
      if (e.endedMs !== undefined && e.endedMs < recent) {
        this.byNode.delete(e.node); // gone for good as far as this hub knows
        continue;
      }
      if (e.seq > since) entries.push({ node: e.node, receivedMs: e.receivedMs, sample: e.sample });
      if (e.receivedMs >= recent && (e.endedMs === undefined || now - e.endedMs < this.intervalMs)) reporting.push(e.node);
    }
    return { seq: this.seq, entries, reporting };
  }
}
