/**
 * A hollow edge node: the real EdgeAgent (hub client, sync, local SQLite store, status reporter,
 * node heartbeats, pod manager) with only the container runtime replaced by the in-process
 * FakeRuntime. Same code paths and wire protocol as `kedge edge run`; thousands fit in one process.
 * A load generator only — never a stand-in in functional acceptance tests.
 */
import type { HubResolver } from '../edge/hubs.js';
import { EdgeAgent } from '../edge/agent.js';
import type { EdgeCredentials } from '../edge/config.js';
import { podManagerFactory } from '../edge/podmanager/index.js';
import { FakeRuntime } from '../runtime/fake.js';
import { syntheticNodeUsage } from '../edge/kubelet/node-usage.js';
import os from 'node:os';
import type { Logger } from '../common/logger.js';

export interface HollowNodeOptions {
  nodeName: string;
  /** Where the agent keeps its store; put a fleet on tmpfs (/dev/shm) to simulate many nodes' disks. */
  dataDir: string;
  hubUrl: string;
  /** Resolves a hub name to all its addresses (tests inject one; default: the system resolver). */
  resolveHub?: HubResolver;
  credentials: EdgeCredentials;
  log: Logger;
  /** Lease renewal period (default 10 s, as a real node). */
  heartbeatIntervalMs?: number;
  /**
   * Pod manager relist of the (fake) runtime (default 60 s; a real node uses 1 s). The relist only finds
   * changes made behind the agent's back (a container dying), which the fake runtime never makes on its own;
   * pods arriving or changing in the store wake the pod manager at once through its store watch either way.
   * At 1–5 s, 10,000 nodes × 10 pods cost the simulator ~2 cores of relists that change nothing.
   */
  podSyncIntervalMs?: number;
  /** Reconnect backoff: real nodes use jittered exponential backoff; the same applies here. */
  backoff?: { initialMs: number; maxMs: number };
  deadAfterMs?: number;
  labels?: Record<string, string>;
}

/** What a bench observes at a node: each object persisted in its store, and each catch-up finished. */
export interface HollowNodeObserver {
  applied?(node: HollowNode, key: string, kind: 'upsert' | 'delete', at: number): void;
  synced?(node: HollowNode, at: number): void;
  connected?(node: HollowNode, at: number): void;
  disconnected?(node: HollowNode, at: number): void;
}

export const HOLLOW_POD_SYNC_MS = 60_000;

/**
 * Every hollow node reports the same machine (this host's size, read once): without a fixed capacity each
 * node status report reads /proc through os.cpus(), ~1 ms each, thousands of times a minute in one process.
 */
const HOLLOW_CAPACITY = { cpu: String(os.cpus().length), memory: `${Math.floor(os.totalmem() / 1024)}Ki`, ephemeralStorage: '10Gi' };

/**
 * SQLite page cache of each hollow node's store, KiB. The agent's default (32 MiB, filled by every page written
 * and never given back) let each store grow with every status write; measured on 150 stores after 300 status
 * writes each: 990 KiB → 475 KiB RSS per store. Evicted pages are read back from tmpfs.
 */
export const HOLLOW_STORE_CACHE_KIB = 128;

/**
 * WAL pages of each hollow node's store before SQLite checkpoints it, and the size the -wal file is cut back to
 * afterwards. SQLite's default (1,000 pages, the file never shrinking below 64 MiB) let every store's WAL grow to
 * ~2.3 MiB with 10 pods and up to 4 MiB later: on tmpfs that is RAM outside the simulator's RSS, ~23–40 GiB for
 * 10,000 nodes. 64 pages (256 KiB) bounds it; a checkpoint then copies at most 64 pages (on tmpfs, no fsync cost).
 */
export const HOLLOW_STORE_WAL_PAGES = 64;

/** A hollow node's /stats and /metrics/resource: a fixed-size machine running its in-process containers. */
function hollowNodeUsage(runtime: FakeRuntime) {
  return syntheticNodeUsage({
    capacityBytes: 8 * 1024 ** 3,
    baseNanoCores: 50_000_000,
    baseWorkingSetBytes: 300 * 1024 ** 2,
    pods: async () => {
      let nanoCores = 0;
      let workingSetBytes = 0;
      for (const s of await runtime.listContainerStats()) {
        nanoCores += s.cpu?.usageNanoCores?.value ?? 0;
        workingSetBytes += s.memory?.workingSetBytes?.value ?? 0;
      }
      return { nanoCores, workingSetBytes };
    },
  });
}

export class HollowNode {
  readonly agent: EdgeAgent;
  readonly runtime = new FakeRuntime();
  private connectedFlag = false;
  private syncedOnce = false;
  private syncWaiters: (() => void)[] = [];

  constructor(
    readonly opts: HollowNodeOptions,
    private readonly observer: HollowNodeObserver = {},
  ) {
    this.agent = new EdgeAgent({
      nodeName: opts.nodeName,
      dataDir: opts.dataDir,
      hubUrl: opts.hubUrl,
      ...(opts.resolveHub ? { resolveHub: opts.resolveHub } : {}),
      credentials: opts.credentials,
      podManager: podManagerFactory({ runtime: this.runtime, syncIntervalMs: opts.podSyncIntervalMs ?? HOLLOW_POD_SYNC_MS, nodeIP: '127.0.0.1', imageGc: false }),
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 10_000,
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
      ...(opts.deadAfterMs !== undefined ? { deadAfterMs: opts.deadAfterMs } : {}),
      labels: { 'kedge.io/hollow': 'true', ...opts.labels },
      capacity: HOLLOW_CAPACITY,
      storeCacheSizeKiB: HOLLOW_STORE_CACHE_KIB,
      storeWalPages: HOLLOW_STORE_WAL_PAGES,
      log: opts.log.child({ node: opts.nodeName }),
      nodeUsage: hollowNodeUsage(this.runtime),
    });
  }

  get name(): string {
    return this.opts.nodeName;
  }

  get connected(): boolean {
    return this.connectedFlag;
  }

  /** True once the node finished at least one catch-up with the hub since start. */
  get synced(): boolean {
    return this.syncedOnce;
  }

  async start(): Promise<void> {
    await this.agent.start();
    const hub = this.agent.hub;
    hub.on('applied', (key, kind) => this.observer.applied?.(this, key, kind, performance.now()));
    hub.on('synced', () => {
      this.syncedOnce = true;
      for (const w of this.syncWaiters.splice(0)) w();
      this.observer.synced?.(this, performance.now());
    });
    hub.on('connected', () => {
      this.connectedFlag = true;
      this.observer.connected?.(this, performance.now());
    });
    hub.on('disconnected', () => {
      this.connectedFlag = false;
      this.observer.disconnected?.(this, performance.now());
    });
  }

  /** Resolves true once the node has synced (now or later), false after `timeoutMs` without. */
  whenSynced(timeoutMs: number): Promise<boolean> {
    if (this.syncedOnce) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.syncWaiters.push(done);
    });
  }

  /** Pods the fake runtime is running right now (sandboxes ready). */
  runningPods(): number {
    let n = 0;
    for (const s of this.runtime.sandboxes.values()) if (s.state === 'SANDBOX_READY') n++;
    return n;
  }

  async stop(): Promise<void> {
    await this.agent.stop();
  }
}
