/**
 * One shard of the fleet benchmark's hollow nodes: a child process (forked by shard-pool.ts over IPC) that owns
 * a slice of the nodes, its own FaultProxy link to the hub and its own Fleet. Why processes: each hollow node
 * holds ~6 descriptors (SQLite db/wal/shm, its socket, the proxy's two), and one process may open at most
 * 20,000 on this machine, so one process tops out near 3,000 nodes.
 *
 * The shard mints its own node certificates from the cluster CA (read from the server's data dir): 10,000
 * certificates are not shipped over IPC. Applied events are forwarded to the parent in batches, timestamped in
 * epoch milliseconds (performance.timeOrigin + performance.now()) so latencies compare across processes.
 */
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import path from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { Fleet } from '../../src/sim/fleet.js';
import { HollowCredentialMinter } from '../../src/sim/credentials.js';
import { ensureCertificateAuthority, pkiDir } from '../../src/pki/index.js';
import { issueBoundNodeCredentials, registerNode } from './hollow-identity.js';
import { KubeHttp } from './kube-http.js';
import type { EdgeCredentials } from '../../src/edge/config.js';
import { FaultProxy, type FaultLink, type LinkCounters } from '../../test/harness/fault-proxy.js';

export interface ShardInit {
  index: number;
  hubPort: number;
  /** The server's data dir: the cluster CA is read from its pki dir. */
  serverDataDir: string;
  /** Parent of the shards' folders (shard-N, removed on destroy) of node data dirs. */
  baseDir: string;
  heartbeatMs: number;
  /** Nodes of this shard joining at once. */
  startConcurrency: number;
  startGateMs: number;
  /** A node name of the same byte length as every node's: the certificate template. */
  templateName: string;
  /**
   * Whether each node is registered through the server's admin kubeconfig (in the server's data dir) before it
   * dials, as the hub's join would; the hub accepts only certificates bound to their registered Node. Off only
   * for plumbing tests without a server (certificates then carry a placeholder binding).
   */
  registerNodes?: boolean;
}

export type ShardRequest =
  | { op: 'init'; init: ShardInit }
  | { op: 'grow'; names: string[] }
  | { op: 'status' }
  | { op: 'cut' }
  | { op: 'heal' }
  | { op: 'resetCounters' }
  | { op: 'counters' }
  | { op: 'usage' }
  | { op: 'resetLoopDelay' }
  | { op: 'loopDelay' }
  | { op: 'heapSnapshot'; file: string }
  | { op: 'profileStart' }
  | { op: 'profileStop'; file: string }
  | { op: 'destroyFleet' }
  | { op: 'exit' };

export interface ShardStatus {
  started: number;
  connected: number;
  connectedAndSynced: number;
  synced: number;
  /** 'synced' events seen since the shard started (catch-ups finished, reconnects included). */
  syncEvents: number;
}
export interface ShardUsage {
  memory: NodeJS.MemoryUsage;
  cpu: NodeJS.CpuUsage;
  /** Open descriptors of this process (from /proc/self/fd; -1 where unknown). */
  fds: number;
}
/** [node, key, epoch ms] of an upsert persisted in a node's store. */
export type AppliedEvent = [node: string, key: string, at: number];
export type ShardReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
export type ShardEvent = { applied: AppliedEvent[] };
export type { LinkCounters };

/** Applied events are held this long before a batch goes to the parent (one IPC message per batch). */
const APPLIED_BATCH_MS = 50;

class Shard {
  private proxy = new FaultProxy();
  private link: FaultLink | undefined;
  private fleet: Fleet | undefined;
  private credentials: ((name: string) => Promise<EdgeCredentials>) | undefined;
  private init: ShardInit | undefined;
  private syncEvents = 0;
  private batch: AppliedEvent[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });

  async handle(r: ShardRequest): Promise<unknown> {
    switch (r.op) {
      case 'init':
        return this.start(r.init);
      case 'grow':
        return this.grow(r.names);
      case 'status':
        return this.status();
      case 'cut':
        return this.need(this.link).cut();
      case 'heal':
        return this.need(this.link).heal();
      case 'resetCounters':
        return this.proxy.resetCounters();
      case 'counters':
        return this.proxy.totals();
      case 'usage':
        return { memory: process.memoryUsage(), cpu: process.cpuUsage(), fds: openFds() } satisfies ShardUsage;
      case 'resetLoopDelay':
        return this.loopDelay.reset();
      case 'loopDelay':
        return { p99Ms: this.loopDelay.percentile(99) / 1e6, maxMs: this.loopDelay.max / 1e6 };
      case 'heapSnapshot':
        return writeHeapSnapshot(r.file);
      case 'profileStart':
        return this.profileStart();
      case 'profileStop':
        return this.profileStop(r.file);
      case 'destroyFleet':
        return this.destroyFleet();
      case 'exit':
        await this.close();
        setImmediate(() => process.exit(0));
        return null;
    }
  }

  /** A CPU profile of this shard over a window the parent chooses (the steady state), via the inspector. */
  private profiler: Session | undefined;

  private async profileStart(): Promise<null> {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    this.profiler = session;
    return null;
  }

  private async profileStop(file: string): Promise<string> {
    const session = this.need(this.profiler);
    this.profiler = undefined;
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    await writeFile(file, JSON.stringify(profile));
    return file;
  }

  private need<T>(x: T | undefined): T {
    if (x === undefined) throw new Error('shard not initialised');
    return x;
  }

  private async start(init: ShardInit): Promise<number> {
    this.init = init;
    this.loopDelay.enable();
    this.link = await this.proxy.addLink('hub', { host: '127.0.0.1', port: init.hubPort });
    const ca = await ensureCertificateAuthority(pkiDir(init.serverDataDir));
    // Each hollow node is registered as the hub's join would (the hub never creates a Node from a status report).
    const api = init.registerNodes === false ? undefined : await KubeHttp.fromKubeconfig(path.join(init.serverDataDir, 'admin.kubeconfig'), 8);
    const register = async (name: string) => (api ? registerNode(api, name) : { uid: '00000000-0000-4000-8000-000000000000', generation: 1 });
    const template = await register(init.templateName);
    const minter = new HollowCredentialMinter({
      ...(await issueBoundNodeCredentials(ca, init.templateName, template)),
      caKeyPem: ca.keyPem,
      nodeName: init.templateName,
      uid: template.uid,
    });
    this.credentials = async (nodeName) => {
      const binding = await register(nodeName);
      return minter.fits(nodeName) && binding.generation === template.generation ? minter.mint(nodeName, binding.uid) : issueBoundNodeCredentials(ca, nodeName, binding);
    };
    return process.pid;
  }

  private async grow(names: string[]): Promise<number> {
    const init = this.need(this.init);
    this.fleet ??= new Fleet({
      hubUrl: `https://127.0.0.1:${this.need(this.link).port}`,
      // a folder per shard: Fleet.destroy removes its baseDir, which must not pull the floor from under another shard
      baseDir: path.join(init.baseDir, `shard-${init.index}`),
      credentials: this.need(this.credentials),
      startConcurrency: init.startConcurrency,
      startGateMs: init.startGateMs,
      node: { heartbeatIntervalMs: init.heartbeatMs },
      observer: {
        applied: (node, key, kind, at) => {
          if (kind === 'upsert') this.queueApplied([node.name, key, performance.timeOrigin + at]);
        },
        synced: () => {
          this.syncEvents++;
        },
      },
    });
    const added = await this.fleet.grow(names.length, names);
    return added.length;
  }

  private queueApplied(e: AppliedEvent): void {
    this.batch.push(e);
    this.batchTimer ??= setTimeout(() => this.flushApplied(), APPLIED_BATCH_MS);
  }

  private flushApplied(): void {
    this.batchTimer = undefined;
    if (this.batch.length === 0) return;
    const applied = this.batch;
    this.batch = [];
    process.send?.({ applied } satisfies ShardEvent);
  }

  private status(): ShardStatus {
    const nodes = this.fleet?.nodes.filter(Boolean) ?? [];
    let connected = 0;
    let synced = 0;
    let both = 0;
    for (const n of nodes) {
      if (n.connected) connected++;
      if (n.synced) synced++;
      if (n.connected && n.synced) both++;
    }
    return { started: nodes.length, connected, synced, connectedAndSynced: both, syncEvents: this.syncEvents };
  }

  private async destroyFleet(): Promise<void> {
    const f = this.fleet;
    this.fleet = undefined;
    await f?.destroy();
  }

  async close(): Promise<void> {
    this.flushApplied();
    await this.destroyFleet().catch(() => {});
    await this.proxy.close().catch(() => {});
  }
}

function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

if (process.send) {
  const shard = new Shard();
  process.on('message', (m: { id: number } & ShardRequest) => {
    shard.handle(m).then(
      (result) => process.send?.({ id: m.id, ok: true, result: result ?? null } satisfies ShardReply),
      (e: unknown) => process.send?.({ id: m.id, ok: false, error: (e as Error).stack ?? String(e) } satisfies ShardReply),
    );
  });
  // The parent orchestrates shutdown (Ctrl-C reaches the whole process group): ignore SIGINT here, and
  // leave when the parent is gone (IPC closed), whatever the reason.
  process.on('SIGINT', () => {});
  process.on('disconnect', () => {
    void shard.close().finally(() => process.exit(0));
  });
}
