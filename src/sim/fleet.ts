/**
 * A fleet of hollow nodes in one process: started a few at a time (as real nodes would trickle in),
 * observed through one observer, stopped together. Credentials come from the caller (the bench
 * mints node certificates from the cluster CA; a real node would join with a token).
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { createLogger, type Logger } from '../common/logger.js';
import type { EdgeCredentials } from '../edge/config.js';
import { HollowNode, type HollowNodeObserver, type HollowNodeOptions } from './hollow-node.js';

export interface FleetOptions {
  hubUrl: string | ((index: number) => string);
  /** Node names are `${prefix}-${index}` (zero-padded). */
  namePrefix?: string;
  /** Parent of every node's data dir. */
  baseDir: string;
  credentials: (nodeName: string) => Promise<EdgeCredentials>;
  observer?: HollowNodeObserver;
  /** Nodes starting at the same time (default 20). */
  startConcurrency?: number;
  /**
   * Hold a start slot until the node has synced once (at most this long), so `startConcurrency` bounds the
   * nodes *joining* at once (dial, TLS, hello, first catch-up), not only the ones being constructed. Without
   * it every node dials within seconds and a 10,000-node join is one handshake stampede. Default 0 (no gate).
   */
  startGateMs?: number;
  /** Per-node agent settings shared by the fleet. */
  node?: Pick<HollowNodeOptions, 'heartbeatIntervalMs' | 'podSyncIntervalMs' | 'backoff' | 'deadAfterMs' | 'labels'>;
  /** Log level of the agents (default warn: thousands of nodes at info drown everything). */
  logLevel?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Fleet {
  readonly nodes: HollowNode[] = [];
  private readonly log: Logger;
  private readonly byName = new Map<string, HollowNode>();

  constructor(private readonly o: FleetOptions) {
    this.log = createLogger('sim', o.logLevel ?? process.env.KEDGE_SIM_LOG_LEVEL ?? 'warn');
  }

  nodeName(index: number): string {
    return `${this.o.namePrefix ?? 'hollow'}-${String(index).padStart(5, '0')}`;
  }

  node(name: string): HollowNode | undefined {
    return this.byName.get(name);
  }

  /**
   * Add and start `count` more nodes; resolves when every agent has started (not necessarily connected).
   * `names` (one per node) overrides the generated names: a fleet split over several processes gets each
   * process's slice of one global naming.
   */
  async grow(count: number, names?: readonly string[]): Promise<HollowNode[]> {
    if (names && names.length !== count) throw new Error(`fleet.grow: ${count} nodes but ${names.length} names`);
    const first = this.nodes.length;
    const added: HollowNode[] = [];
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        const index = first + i;
        const nodeName = names?.[i] ?? this.nodeName(index);
        const dataDir = path.join(this.o.baseDir, nodeName);
        await mkdir(dataDir, { recursive: true });
        const hubUrl = typeof this.o.hubUrl === 'function' ? this.o.hubUrl(index) : this.o.hubUrl;
        const node = new HollowNode(
          { nodeName, dataDir, hubUrl, credentials: await this.o.credentials(nodeName), log: this.log, ...this.o.node },
          this.o.observer,
        );
        this.nodes[index] = node;
        this.byName.set(nodeName, node);
        await node.start();
        added.push(node);
        if (this.o.startGateMs) await node.whenSynced(this.o.startGateMs);
      }
    };
    await Promise.all(Array.from({ length: Math.min(count, this.o.startConcurrency ?? 20) }, worker));
    return added;
  }

  connectedCount(): number {
    return this.nodes.filter((n) => n.connected).length;
  }

  /** Wait (bounded) until `pred` holds; returns whether it did. */
  async waitFor(pred: () => boolean, timeoutMs: number, pollMs = 100): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (pred()) return true;
      await sleep(pollMs);
    }
    return pred();
  }

  async stop(): Promise<void> {
    const nodes = this.nodes.splice(0);
    this.byName.clear();
    // stop in batches: thousands of simultaneous store closes and socket teardowns starve the loop
    for (let i = 0; i < nodes.length; i += 100) await Promise.all(nodes.slice(i, i + 100).map((n) => n.stop().catch(() => {})));
  }

  /** Stop and remove every node's data dir. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.o.baseDir, { recursive: true, force: true });
  }
}
