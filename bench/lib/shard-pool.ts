/**
 * The parent side of a sharded hollow-node fleet: K child processes (fleet-shard.ts, forked with this
 * process's execArgv, i.e. `--import tsx`), each owning every K-th node of one global naming, its own fault
 * proxy link and its own Fleet. Requests go over IPC and are answered per shard; the pool sums the answers.
 * Applied events arrive in batches with epoch-millisecond timestamps; `onApplied` gets them converted to
 * this process's performance.now() clock, so they compare with `now()` taken here.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AppliedEvent, LinkCounters, ShardEvent, ShardInit, ShardReply, ShardRequest, ShardStatus, ShardUsage } from './fleet-shard.js';
import { NO_TRAFFIC, sumCounters } from '../../test/harness/fault-proxy.js';

const SHARD_ENTRY = fileURLToPath(new URL('./fleet-shard.ts', import.meta.url));

class ShardProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited: string | undefined;

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
    onApplied: (events: AppliedEvent[]) => void,
  ) {
    child.on('message', (m: ShardReply | ShardEvent) => {
      if ('applied' in m) return onApplied(m.applied);
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`shard ${index}: ${m.error}`));
    });
    child.on('exit', (code, signal) => {
      this.exited = `shard ${index} exited (code ${code}, signal ${signal})`;
      for (const p of this.pending.values()) p.reject(new Error(this.exited));
      this.pending.clear();
    });
  }

  request<T>(r: ShardRequest): Promise<T> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, ...r }, (e) => {
        if (e && this.pending.delete(id)) reject(e);
      });
    });
  }

  get alive(): boolean {
    return this.exited === undefined;
  }
}

export interface PoolUsage {
  /** Per shard, in shard order. */
  shards: ShardUsage[];
  /** Sum over shards. */
  memory: NodeJS.MemoryUsage;
  cpuMicros: number;
}

export class ShardPool {
  private constructor(private readonly shards: ShardProcess[]) {}

  /** Fork `count` shards and initialise each (its proxy link, its CA-minted credentials). */
  static async start(count: number, init: Omit<ShardInit, 'index'>, onApplied: (node: string, key: string, at: number) => void): Promise<ShardPool> {
    const deliver = (events: AppliedEvent[]) => {
      for (const [node, key, epochMs] of events) onApplied(node, key, epochMs - performance.timeOrigin);
    };
    const shards = Array.from({ length: count }, (_, i) => {
      // the shards' stdout goes to stderr: this process's stdout ends with the report's JSON line
      const child = fork(SHARD_ENTRY, [], { execArgv: process.execArgv, stdio: ['ignore', 2, 2, 'ipc'] });
      return new ShardProcess(i, child, deliver);
    });
    const pool = new ShardPool(shards);
    try {
      await Promise.all(shards.map((s) => s.request({ op: 'init', init: { ...init, index: s.index } })));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  get size(): number {
    return this.shards.length;
  }

  get pids(): number[] {
    return this.shards.map((s) => s.child.pid ?? -1);
  }

  private all<T>(r: ShardRequest): Promise<T[]> {
    return Promise.all(this.shards.map((s) => s.request<T>(r)));
  }

  /** Start nodes `names` (in global order): name i goes to shard i % K. Resolves when every shard's have started. */
  async grow(names: readonly string[]): Promise<void> {
    const K = this.shards.length;
    await Promise.all(this.shards.map((s) => s.request({ op: 'grow', names: names.filter((_, i) => i % K === s.index) })));
  }

  async status(): Promise<ShardStatus> {
    return { started: 0, connected: 0, connectedAndSynced: 0, synced: 0, syncEvents: 0, ...sumCounters(await this.all<ShardStatus>({ op: 'status' })) };
  }

  async cut(): Promise<void> {
    await this.all({ op: 'cut' });
  }

  async heal(): Promise<void> {
    await this.all({ op: 'heal' });
  }

  async resetCounters(): Promise<void> {
    await this.all({ op: 'resetCounters' });
  }

  /** Link counters summed over the shards' proxies. */
  async counters(): Promise<LinkCounters> {
    return { ...NO_TRAFFIC, ...sumCounters(await this.all<LinkCounters>({ op: 'counters' })) };
  }

  async usage(): Promise<PoolUsage> {
    const shards = await this.all<ShardUsage>({ op: 'usage' });
    const memory: NodeJS.MemoryUsage = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
    let cpuMicros = 0;
    for (const u of shards) {
      for (const k of Object.keys(memory) as (keyof NodeJS.MemoryUsage)[]) memory[k] += u.memory[k];
      cpuMicros += u.cpu.user + u.cpu.system;
    }
    return { shards, memory, cpuMicros };
  }

  async resetLoopDelay(): Promise<void> {
    await this.all({ op: 'resetLoopDelay' });
  }

  /** The worst shard's event-loop delay (p99 and max of the shards' own). */
  async loopDelay(): Promise<{ p99Ms: number; maxMs: number }> {
    const ds = await this.all<{ p99Ms: number; maxMs: number }>({ op: 'loopDelay' });
    return { p99Ms: Math.max(...ds.map((d) => d.p99Ms)), maxMs: Math.max(...ds.map((d) => d.maxMs)) };
  }

  /** One heap snapshot per shard: `${file}.shardN.heapsnapshot`. Returns the files written. */
  async heapSnapshots(file: string): Promise<string[]> {
    return Promise.all(this.shards.map((s) => s.request<string>({ op: 'heapSnapshot', file: `${file.replace(/\.heapsnapshot$/, '')}.shard${s.index}.heapsnapshot` })));
  }

  /** Start a CPU profile in every shard (`profileStop` writes them). */
  async profileStart(): Promise<void> {
    await this.all({ op: 'profileStart' });
  }

  /** Stop the shards' CPU profiles: `${file}.shardN.cpuprofile`. Returns the files written. */
  async profileStop(file: string): Promise<string[]> {
    return Promise.all(this.shards.map((s) => s.request<string>({ op: 'profileStop', file: `${file.replace(/\.cpuprofile$/, '')}.shard${s.index}.cpuprofile` })));
  }

  /** Stop every node and remove their data dirs; the shards (and their proxies) stay up for another grow. */
  async destroyFleet(): Promise<void> {
    await this.all({ op: 'destroyFleet' });
  }

  /** Ask each shard to stop its nodes and exit (bounded), then kill whatever is left. */
  async close(timeoutMs = 60_000): Promise<void> {
    await Promise.all(
      this.shards.map(async (s) => {
        if (!s.alive) return;
        const exited = new Promise<void>((r) => s.child.once('exit', () => r()));
        const timer = setTimeout(() => s.child.kill('SIGKILL'), timeoutMs);
        await s.request({ op: 'exit' }).catch(() => {});
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
