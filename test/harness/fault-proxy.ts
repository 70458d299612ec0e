/**
 * A fault-injecting TCP proxy on loopback: one listener per link (one link per edge node), so a
 * suite can break the cloud↔edge connection of one node at a time while the rest of the fleet
 * keeps working.
 *
 * Faults, all switchable at runtime:
 *   cut       – close the listener (new connections get ECONNREFUSED) and destroy existing ones
 *   drop      – black hole: connections are accepted and read, but nothing is forwarded, so only
 *               application keepalives can notice (the proxy still ACKs at TCP level, as a
 *               broken middlebox would)
 *   reset     – send RST on every existing connection (new ones still work)
 *   delay     – add latency per direction
 *   throttle  – limit bytes/s per direction, shared by all connections of the link
 *   heal      – clear every fault
 *
 * Directions are named from the dialer's point of view: `up` = client → target (edge → hub),
 * `down` = target → client (hub → edge). Byte counters count what was actually delivered.
 */
import net from 'node:net';
import { once } from 'node:events';

export interface LinkTarget {
  host: string;
  port: number;
}

export interface LinkCounters {
  /** bytes delivered client → target (edge → hub) */
  upBytes: number;
  /** bytes delivered target → client (hub → edge) */
  downBytes: number;
  /** bytes read but discarded while the link was a black hole */
  droppedBytes: number;
  /** connections accepted since the last counter reset */
  accepted: number;
  /** connections open right now (not reset by resetCounters) */
  active: number;
}

export type Direction = 'up' | 'down';

/** Pause reading from a socket when this many bytes wait in one direction's queue (backpressure). */
const HIGH_WATER = 1 << 20;
/** With throttling, bytes are released in slices of at most 1/20 s worth so the rate stays smooth. */
const THROTTLE_SLICES_PER_SECOND = 20;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Token bucket shared by all connections of one link and direction. */
class RateLimiter {
  private bytesPerSecond: number | null = null;
  private nextFreeAt = 0;

  set(rate: number | null): void {
    if (rate !== null && !(rate > 0)) throw new Error(`throttle rate must be > 0 bytes/s, got ${rate}`);
    this.bytesPerSecond = rate;
    this.nextFreeAt = 0;
  }

  get rate(): number | null {
    return this.bytesPerSecond;
  }

  /** Largest slice the caller should send in one go. */
  sliceSize(): number {
    if (this.bytesPerSecond === null) return Number.POSITIVE_INFINITY;
    return Math.max(1, Math.floor(this.bytesPerSecond / THROTTLE_SLICES_PER_SECOND));
  }

  /** Reserve `n` bytes; returns how long to wait before sending them. */
  reserve(n: number): number {
    if (this.bytesPerSecond === null) return 0;
    const now = performance.now();
    const start = Math.max(now, this.nextFreeAt);
    this.nextFreeAt = start + (n / this.bytesPerSecond) * 1000;
    return start - now;
  }
}

interface QueuedChunk {
  data: Buffer;
  releaseAt: number;
}

/** Moves bytes one way between two sockets, applying the link's delay, throttle and drop settings. */
class Pump {
  private queue: QueuedChunk[] = [];
  private queuedBytes = 0;
  private running = false;
  private sourceEnded = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly link: FaultLink,
    private readonly direction: Direction,
    private readonly source: net.Socket,
    private readonly dest: net.Socket,
  ) {
    source.on('data', (data: Buffer) => this.onData(data));
    source.on('end', () => {
      this.sourceEnded = true;
      this.kick();
    });
  }

  private onData(data: Buffer): void {
    if (this.link.isDropping()) {
      this.link.countDropped(data.length);
      return;
    }
    // A clean link (no delay, no throttle, nothing queued or in flight here) forwards at once: a simulator shard
    // moves every frame of thousands of nodes through here, and the queue, timers and async loop below are
    // only needed while a fault is set. Backpressure: pause the source until the destination drains.
    if (!this.running && this.queue.length === 0 && this.link.delayOf(this.direction) === 0 && this.link.limiter(this.direction).rate === null && !this.dest.destroyed) {
      this.link.countDelivered(this.direction, data.length);
      if (!this.dest.write(data)) {
        this.source.pause();
        this.dest.once('drain', () => this.source.resume());
      }
      return;
    }
    this.queue.push({ data, releaseAt: performance.now() + this.link.delayOf(this.direction) });
    this.queuedBytes += data.length;
    if (this.queuedBytes > HIGH_WATER) this.source.pause();
    this.kick();
  }

  private kick(): void {
    if (this.wake) {
      const w = this.wake;
      this.wake = null;
      w();
    }
    if (!this.running) void this.run();
  }

  /** Abandon queued bytes (used when the link turns into a black hole). */
  discardQueued(): void {
    for (const c of this.queue) this.link.countDropped(c.data.length);
    this.queue = [];
    this.queuedBytes = 0;
    if (this.source.isPaused()) this.source.resume();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.dest.destroyed) {
        const head = this.queue[0];
        if (!head) {
          if (this.sourceEnded) {
            this.dest.end();
            return;
          }
          return;
        }
        const wait = head.releaseAt - performance.now();
        if (wait > 0) {
          // timers may fire a fraction of a millisecond early: sleep, then re-check everything
          await sleep(Math.ceil(wait));
          continue;
        }
        const limiter = this.link.limiter(this.direction);
        const slice = head.data.subarray(0, Math.min(head.data.length, limiter.sliceSize()));
        const throttleWait = limiter.reserve(slice.length);
        if (throttleWait > 0) await sleep(throttleWait);
        if (this.queue[0] !== head || this.dest.destroyed) continue;
        if (this.link.isDropping()) {
          this.discardQueued();
          continue;
        }
        if (slice.length === head.data.length) this.queue.shift();
        else head.data = head.data.subarray(slice.length);
        this.queuedBytes -= slice.length;
        this.link.countDelivered(this.direction, slice.length);
        const flushed = this.dest.write(slice);
        if (this.queuedBytes <= HIGH_WATER && this.source.isPaused()) this.source.resume();
        if (!flushed) await Promise.race([once(this.dest, 'drain'), once(this.dest, 'close')]);
      }
    } catch {
      // a socket died mid-write: the connection's close handler tears both sides down
    } finally {
      this.running = false;
    }
  }
}

/** One proxied connection: the accepted client socket and its upstream socket. */
interface ProxiedConnection {
  client: net.Socket;
  upstream: net.Socket | null;
  pumps: Pump[];
}

export class FaultLink {
  private server: net.Server | null = null;
  private listenPort = 0;
  private readonly connections = new Set<ProxiedConnection>();
  private cutActive = false;
  private dropping = false;
  private readonly delays: Record<Direction, number> = { up: 0, down: 0 };
  private readonly limiters: Record<Direction, RateLimiter> = { up: new RateLimiter(), down: new RateLimiter() };
  private stats: LinkCounters = { upBytes: 0, downBytes: 0, droppedBytes: 0, accepted: 0, active: 0 };
  private closed = false;

  constructor(
    readonly name: string,
    private target: LinkTarget,
    private readonly bindHost: string,
  ) {}

  /** Start listening; `port` 0 picks a free one. */
  async listen(port = 0): Promise<number> {
    // allowHalfOpen: the pumps forward FIN themselves, after the queued bytes went out.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    server.on('error', () => {}); // per-connection errors are handled per socket
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A deep accept queue: one link carries thousands of hollow nodes in bench:fleet, all redialling after a cut.
      server.listen({ host: this.bindHost, port, exclusive: true, backlog: 4096 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.listenPort = (server.address() as net.AddressInfo).port;
    return this.listenPort;
  }

  /** The port clients dial (stays the same across cut/heal). */
  get port(): number {
    return this.listenPort;
  }

  get host(): string {
    return this.bindHost;
  }

  /** `host:port` for clients. */
  get address(): string {
    return `${this.bindHost}:${this.listenPort}`;
  }

  /** Point the link at another upstream (e.g. a server restarted on a new port). Existing connections stay. */
  retarget(target: LinkTarget): void {
    this.target = { ...target };
  }

  /** Refuse new connections and destroy existing ones until heal(). */
  async cut(): Promise<void> {
    if (this.cutActive) return;
    this.cutActive = true;
    const server = this.server;
    this.server = null;
    // server.close() only calls back once every connection is gone, so destroy them first
    const closing = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const c of [...this.connections]) this.destroyConnection(c, false);
    await closing;
  }

  /** Black hole: keep connections open and accept new ones, forward nothing. */
  drop(): void {
    this.dropping = true;
    for (const c of this.connections) for (const p of c.pumps) p.discardQueued();
  }

  /** Send RST on every open connection. The listener keeps accepting. */
  reset(): void {
    for (const c of [...this.connections]) this.destroyConnection(c, true);
  }

  /** Extra one-way latency in ms; `down` defaults to `up`. */
  delay(upMs: number, downMs: number = upMs): void {
    if (!(upMs >= 0) || !(downMs >= 0)) throw new Error(`delay must be >= 0 ms, got ${upMs}/${downMs}`);
    this.delays.up = upMs;
    this.delays.down = downMs;
  }

  /** Limit each direction to `bytesPerSecond` (null lifts the limit); `down` defaults to `up`. */
  throttle(upBytesPerSecond: number | null, downBytesPerSecond: number | null = upBytesPerSecond): void {
    this.limiters.up.set(upBytesPerSecond);
    this.limiters.down.set(downBytesPerSecond);
  }

  /** Clear every fault: accept again, forward again, no delay, no throttle. */
  async heal(): Promise<void> {
    this.dropping = false;
    this.delay(0);
    this.throttle(null);
    if (this.cutActive && !this.closed) {
      await this.listen(this.listenPort);
      this.cutActive = false;
    }
  }

  get faults(): { cut: boolean; drop: boolean; delayMs: Record<Direction, number>; throttle: Record<Direction, number | null> } {
    return {
      cut: this.cutActive,
      drop: this.dropping,
      delayMs: { ...this.delays },
      throttle: { up: this.limiters.up.rate, down: this.limiters.down.rate },
    };
  }

  counters(): LinkCounters {
    return { ...this.stats, active: this.connections.size };
  }

  /** Zero the byte and connection counters (suites measure one phase at a time). */
  resetCounters(): void {
    this.stats = { upBytes: 0, downBytes: 0, droppedBytes: 0, accepted: 0, active: 0 };
  }

  /** Stop listening and destroy every connection. */
  async close(): Promise<void> {
    this.closed = true;
    const server = this.server;
    this.server = null;
    // server.close() only calls back once every connection is gone, so destroy them first
    const closing = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const c of [...this.connections]) this.destroyConnection(c, false);
    await closing;
  }

  // --- used by Pump -------------------------------------------------------------------------
  isDropping(): boolean {
    return this.dropping;
  }
  delayOf(d: Direction): number {
    return this.delays[d];
  }
  limiter(d: Direction): RateLimiter {
    return this.limiters[d];
  }
  countDelivered(d: Direction, n: number): void {
    if (d === 'up') this.stats.upBytes += n;
    else this.stats.downBytes += n;
  }
  countDropped(n: number): void {
    this.stats.droppedBytes += n;
  }

  // --- connection handling ------------------------------------------------------------------
  private accept(client: net.Socket): void {
    this.stats.accepted++;
    client.setNoDelay(true);
    const conn: ProxiedConnection = { client, upstream: null, pumps: [] };
    this.connections.add(conn);
    const teardown = () => this.destroyConnection(conn, false);
    client.on('error', teardown);
    client.on('close', teardown);
    // Upstream is dialled even while dropping: a black hole looks like a live TCP peer to the client.
    const upstream = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    upstream.setNoDelay(true);
    conn.upstream = upstream;
    upstream.on('error', teardown);
    upstream.on('close', teardown);
    conn.pumps.push(new Pump(this, 'up', client, upstream), new Pump(this, 'down', upstream, client));
  }

  private destroyConnection(conn: ProxiedConnection, rst: boolean): void {
    if (!this.connections.delete(conn)) return;
    for (const s of [conn.client, conn.upstream]) {
      if (!s || s.destroyed) continue;
      if (rst && typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
      else s.destroy();
    }
  }
}

/** A set of links, one per node, each with its own loopback listener. */
export class FaultProxy {
  private readonly links = new Map<string, FaultLink>();

  constructor(private readonly bindHost = '127.0.0.1') {}

  /** Create a link named `name` forwarding to `target`; returns it once it listens. */
  async addLink(name: string, target: LinkTarget, listenPort = 0): Promise<FaultLink> {
    if (this.links.has(name)) throw new Error(`fault proxy: link ${name} already exists`);
    const link = new FaultLink(name, target, this.bindHost);
    await link.listen(listenPort);
    this.links.set(name, link);
    return link;
  }

  link(name: string): FaultLink {
    const l = this.links.get(name);
    if (!l) throw new Error(`fault proxy: no link named ${name}`);
    return l;
  }

  all(): FaultLink[] {
    return [...this.links.values()];
  }

  /** Sum of all links' counters. */
  totals(): LinkCounters {
    return { ...NO_TRAFFIC, ...sumCounters([...this.links.values()].map((l) => l.counters())) };
  }

  resetCounters(): void {
    for (const l of this.links.values()) l.resetCounters();
  }

  async cutAll(): Promise<void> {
    await Promise.all(this.all().map((l) => l.cut()));
  }

  async healAll(): Promise<void> {
    await Promise.all(this.all().map((l) => l.heal()));
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((l) => l.close()));
    this.links.clear();
  }
}

/** Field-by-field sum of counter records (links of one proxy, or proxies of several processes). */
export function sumCounters<T extends object>(records: readonly T[]): Partial<T> {
  const total: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) if (typeof v === 'number') total[k] = (total[k] ?? 0) + v;
  return total as Partial<T>;
}

/** All-zero link counters (the sum of no links). */
export const NO_TRAFFIC: LinkCounters = { upBytes: 0, downBytes: 0, droppedBytes: 0, accepted: 0, active: 0 };
