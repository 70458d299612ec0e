/**
 * EtcdStore: the Store contract on an etcd v3 cluster, letting the engine do the work (docs/design/datastores.md).
 *
 *  - Revisions are etcd's own, one-to-one: a Kedge revision is the etcd revision minus one, because etcd numbers
 *    its empty keyspace 1 and the contract numbers an empty store 0 (its first write 1).
 *  - Writes are single transactions: create = Txn(create_revision(key) == 0 → Put), update/delete compare the
 *    key's version or mod_revision; a failed compare reads the key in the same Txn to name the error.
 *  - Reads at a revision, pagination (limit + count), compaction and its errors are etcd's Range/Compact.
 *  - Watches are etcd watches (one per Kedge watcher, multiplexed on the client's stream), started at the
 *    watcher's own revision so etcd itself says when it was compacted; events queue per watcher (watch-queue.ts).
 *
 * Client: the `etcd3` package (on @grpc/grpc-js): it brings the multi-endpoint connection pool with failover,
 * TLS client certificates, password auth and the multiplexed watch stream; we use its raw KV RPCs, not its
 * convenience builders, so every request is exactly the etcd call we mean.
 */
import { Etcd3, type IOptions, type IKeyValue, type IResponseHeader, type Watcher as EtcdWatcher } from 'etcd3';
import { createLogger, type Logger } from '../common/logger.js';
import { prefixRange } from './key-range.js';
import { PushedWatchQueue } from './watch-queue.js';
import {
  CompactedError,
  ConflictError,
  FutureRevisionError,
  KeyExistsError,
  KeyNotFoundError,
  StorageError,
  StoreClosedError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type ReadOptions,
  type Store,
  type WatchEvent,
  type WatchHandlers,
  type WatchOptions,
  type Watcher,
} from './types.js';

export interface EtcdStoreOptions {
  /** Client URLs, `http://host:2379` or `https://…` (several: the client fails over between them). */
  endpoints: string[];
  /** PEM: CA to verify the servers; client certificate and key for etcd's --client-cert-auth. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** etcd's password auth (user from the endpoint URL's userinfo). */
  auth?: { username: string; password: string };
  /** Live events one watcher may have queued before it gets WatchOverflowError (default 10000). */
  watchBufferLimit?: number;
  /** Per-request deadline, ms (default 15000). */
  requestTimeoutMs?: number;
  logger?: Logger;
}

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const num = (v: string | number | undefined | null): number => Number(v ?? 0);
/**
 * etcd numbers its empty keyspace 1 (the first write gets 2); the contract numbers it 0 (the first write gets 1).
 * So a Kedge revision is the etcd revision minus one, everywhere: one-to-one, order-preserving.
 */
const kedgeRev = (etcdRevision: number): number => Math.max(0, etcdRevision - 1);
const etcdRev = (kedgeRevision: number): number => kedgeRevision + 1;
/** A read revision: 0 (latest) stays 0. */
const etcdReadRev = (kedgeRevision: number): number => (kedgeRevision > 0 ? etcdRev(kedgeRevision) : 0);
const isCompacted = (err: unknown): boolean => /required revision has been compacted/.test(String((err as Error)?.message));
const isFuture = (err: unknown): boolean => /required revision is a future revision/.test(String((err as Error)?.message));

function toKv(kv: IKeyValue): KeyValue {
  return { key: kv.key.toString('utf8'), value: kv.value.toString('utf8'), createRevision: kedgeRev(num(kv.create_revision)), modRevision: kedgeRev(num(kv.mod_revision)) };
}

/** Connect and check the cluster answers (fails with StorageError naming the endpoints otherwise). */
export async function openEtcdStore(options: EtcdStoreOptions): Promise<EtcdStore> {
  const store = new EtcdStore(options);
  try {
    await store.init();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw new StorageError(`cannot reach etcd at ${options.endpoints.join(',')}: ${(err as Error).message}`);
  }
  return store;
}

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly log: Logger;
  private readonly watchers = new Set<EtcdWatch>();
  /** Highest compaction point known to this process (ours, or learnt from etcd). */
  private compacted = 0;
  private closed = false;

  constructor(private readonly options: EtcdStoreOptions) {
    this.log = options.logger ?? createLogger('storage');
    const timeout = options.requestTimeoutMs ?? 15_000;
    const clientOptions: IOptions = {
      hosts: options.endpoints,
      dialTimeout: timeout,
      // An unpaginated list of 10,000 pods is ~12 MB, past gRPC's default 4 MiB receive limit; kube-apiserver lifts
      // it on its etcd client too. (etcd bounds requests itself: --max-request-bytes, 1.5 MiB by default.)
      grpcOptions: { 'grpc.max_receive_message_length': -1 },
      // Streams (watch) have no deadline; unary calls do, so a dead endpoint fails over instead of hanging.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      // The library's default fault handling stays: a call that fails as unavailable is retried (up to 3 times)
      // on another endpoint, behind a per-host circuit breaker. That is the failover between etcd members; a
      // retried Txn is still guarded by its compare, so it cannot apply twice against a changed key.
    };
    if (options.tls) {
      clientOptions.credentials = {
        rootCertificate: options.tls.ca ?? Buffer.alloc(0),
        ...(options.tls.key ? { privateKey: options.tls.key } : {}),
        ...(options.tls.cert ? { certChain: options.tls.cert } : {}),
      };
    }
    if (options.auth) clientOptions.auth = options.auth;
    this.client = new Etcd3(clientOptions);
  }

  /** @internal openEtcdStore: one round trip, and learn how far etcd was compacted. */
  async init(): Promise<void> {
    const head = await this.headRevision();
    this.compacted = await this.searchCompacted(0, kedgeRev(head));
  }

  async currentRevision(): Promise<number> {
    return kedgeRev(await this.headRevision());
  }

  async compactedRevision(): Promise<number> {
    this.check();
    // Another process (a second kedge server) may have compacted further: one probe tells, a search finds where.
    if (!(await this.readableAt(this.compacted))) {
      this.compacted = await this.searchCompacted(this.compacted, kedgeRev(await this.headRevision()));
    }
    return this.compacted;
  }

  async get(key: string, opts: ReadOptions = {}): Promise<KeyValue | null> {
    const res = await this.range({ key: enc(key), revision: etcdReadRev(opts.revision ?? 0) }, opts.revision ?? 0);
    return res.kvs.length ? toKv(res.kvs[0]!) : null;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const { start, end } = prefixRange(prefix);
    const from = opts.startAfter !== undefined && opts.startAfter >= start ? opts.startAfter + '\0' : start;
    const revision = opts.revision ?? 0;
    const res = await this.range(
      { key: enc(from === '' ? '\0' : from), range_end: end === null ? enc('\0') : enc(end), revision: etcdReadRev(revision), limit: opts.limit ?? 0 },
      revision,
    );
    const items = res.kvs.map(toKv);
    const remaining = num(res.count) - items.length;
    return { items, revision: revision || kedgeRev(num(res.header.revision)), more: remaining > 0, remaining };
  }

  async count(prefix: string): Promise<number> {
    const { start, end } = prefixRange(prefix);
    const res = await this.range({ key: enc(start === '' ? '\0' : start), range_end: end === null ? enc('\0') : enc(end), count_only: true }, 0);
    return num(res.count);
  }

  async create(key: string, value: string): Promise<KeyValue> {
    const res = await this.txn({
      compare: [{ key: enc(key), target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: enc(key), value: enc(value) } }],
      failure: [],
    });
    if (!res.succeeded) throw new KeyExistsError(key);
    const rev = kedgeRev(num(res.header.revision));
    return { key, value, createRevision: rev, modRevision: rev };
  }

  async update(key: string, value: string, expectedModRevision?: number): Promise<KeyValue> {
    const res = await this.txn({
      compare: [this.expectation(key, expectedModRevision)],
      success: [{ request_put: { key: enc(key), value: enc(value), prev_kv: true } }],
      failure: [{ request_range: { key: enc(key) } }],
    });
    if (!res.succeeded) this.throwFailedCompare(key, expectedModRevision, res.responses[0]?.response_range?.kvs ?? []);
    const prev = res.responses[0]!.response_put!.prev_kv!;
    return { key, value, createRevision: kedgeRev(num(prev.create_revision)), modRevision: kedgeRev(num(res.header.revision)) };
  }

  async delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    const res = await this.txn({
      compare: [this.expectation(key, expectedModRevision)],
      success: [{ request_delete_range: { key: enc(key), prev_kv: true } }],
      failure: [{ request_range: { key: enc(key) } }],
    });
    if (!res.succeeded) this.throwFailedCompare(key, expectedModRevision, res.responses[0]?.response_range?.kvs ?? []);
    const prev = res.responses[0]!.response_delete_range!.prev_kvs[0]!;
    return { ...toKv(prev), modRevision: kedgeRev(num(res.header.revision)) };
  }

  watch(prefix: string, opts: WatchOptions, handlers: WatchHandlers): Watcher {
    this.check();
    if (opts.fromRevision < this.compacted) throw new CompactedError(opts.fromRevision, this.compacted);
    const watch = new EtcdWatch(this, prefix, opts.fromRevision, handlers, this.options.watchBufferLimit ?? 10_000, (w) => this.watchers.delete(w));
    this.watchers.add(watch);
    watch.start();
    return watch;
  }

  async compact(revision: number): Promise<void> {
    this.check();
    try {
      await this.client.kv.compact({ revision: etcdRev(revision), physical: false });
      if (revision > this.compacted) this.compacted = revision;
    } catch (err) {
      if (isCompacted(err)) {
        // Compacting backwards (or to where another server already compacted) is a no-op.
        await this.compactedRevision();
        return;
      }
      if (isFuture(err)) throw new FutureRevisionError(revision, await this.currentRevision());
      throw this.wrap(err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watchers]) w.fail(new StoreClosedError());
    this.client.close();
  }

  /** @internal EtcdWatch: a fresh etcd watcher on the keys of `prefix`, starting at `startRevision`. */
  etcdWatcher(prefix: string, startRevision: number): EtcdWatcher {
    const { start, end } = prefixRange(prefix);
    return this.client
      .watch()
      .inRange({ start: start === '' ? '\0' : start, end: end ?? '\0' })
      .withPreviousKV()
      .startRevision(String(startRevision))
      .watcher();
  }

  /** @internal EtcdWatch: compaction learnt from a cancelled watch. */
  async learnCompaction(): Promise<number> {
    return this.closed ? this.compacted : this.compactedRevision().catch(() => this.compacted);
  }

  get logger(): Logger {
    return this.log;
  }

  private expectation(key: string, expected?: number) {
    return expected === undefined
      ? { key: enc(key), target: 'Version' as const, result: 'Greater' as const, version: 0 }
      : { key: enc(key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: etcdRev(expected) };
  }

  private throwFailedCompare(key: string, expected: number | undefined, current: IKeyValue[]): never {
    if (current.length === 0) throw new KeyNotFoundError(key);
    throw new ConflictError(key, expected ?? 0, kedgeRev(num(current[0]!.mod_revision)));
  }

  private async headRevision(): Promise<number> {
    this.check();
    const res = await this.client.kv.range({ key: enc('\0'), count_only: true }).catch((err: unknown) => {
      throw this.wrap(err);
    });
    return num(res.header.revision);
  }

  private async range(req: Parameters<Etcd3['kv']['range']>[0], revision: number) {
    this.check();
    try {
      return await this.client.kv.range(req);
    } catch (err) {
      if (isCompacted(err)) throw new CompactedError(revision, await this.compactedRevision());
      if (isFuture(err)) throw new FutureRevisionError(revision, await this.currentRevision());
      throw this.wrap(err);
    }
  }

  private async txn(req: Parameters<Etcd3['kv']['txn']>[0]) {
    this.check();
    try {
      return await this.client.kv.txn(req);
    } catch (err) {
      throw this.wrap(err);
    }
  }

  /** Is the state at (Kedge) `revision` still readable (not compacted away)? */
  private async readableAt(revision: number): Promise<boolean> {
    try {
      await this.client.kv.range({ key: enc('\0'), count_only: true, revision: etcdRev(revision) });
      return true;
    } catch (err) {
      if (isCompacted(err)) return false;
      if (isFuture(err)) return true;
      throw this.wrap(err);
    }
  }

  /** etcd has no call that reports its compaction point: the lowest readable revision in (known, head] is it. */
  private async searchCompacted(known: number, head: number): Promise<number> {
    if (await this.readableAt(known)) return known;
    let lo = known; // not readable
    let hi = head; // readable
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await this.readableAt(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  private check(): void {
    if (this.closed) throw new StoreClosedError();
  }

  private wrap(err: unknown): Error {
    if (err instanceof StorageError) return err;
    return new StorageError(`etcd: ${(err as Error)?.message ?? String(err)}`);
  }
}

/** One Kedge watcher: an etcd watcher feeding a bounded queue, re-created from its own cursor if the stream drops. */
class EtcdWatch implements Watcher {
  private current: EtcdWatcher | null = null;
  private readonly queue: PushedWatchQueue;

  constructor(
    private readonly store: EtcdStore,
    private readonly prefix: string,
    fromRevision: number,
    handlers: WatchHandlers,
    bufferLimit: number,
    detach: (w: EtcdWatch) => void,
  ) {
    this.queue = new PushedWatchQueue(fromRevision, handlers, bufferLimit, () => {
      detach(this);
      this.stopEtcdWatcher();
    });
  }

  start(): void {
    if (this.queue.closed) return;
    // Start at the cursor itself (not after it): etcd then reports compaction exactly when the contract
    // requires (cursor < compacted), and the event at the cursor, already seen, is dropped by the queue.
    const watcher = this.store.etcdWatcher(this.prefix, etcdRev(this.queue.cursor));
    this.current = watcher;
    watcher.on('data', (res: { header: IResponseHeader; events: EtcdEvent[] }) => {
      if (this.current !== watcher) return;
      const hole = firstWithoutPrevKv(res.events, this.queue.cursor);
      if (hole >= 0) {
        // etcd sends an update or delete without prev_kv when compaction removed the revision before it during the
        // replay. kube-apiserver ends such a watch with an error; here it ends as overtaken by compaction (410), after
        // the events before the hole, so the watcher relists instead of getting a delete without its last value.
        this.queue.push(res.events.slice(0, hole).map(toEvent), 0);
        this.stopEtcdWatcher();
        void this.endAtHole(kedgeRev(num(res.events[hole]!.kv.mod_revision)));
        return;
      }
      // A response's header revision is etcd's head, which a replay batch (1,000 revisions at most) may not have
      // reached: only an empty response (progress) says everything up to it was sent.
      this.queue.push(res.events.map(toEvent), res.events.length ? 0 : kedgeRev(num(res.header.revision)));
    });
    watcher.on('error', (err: Error) => {
      if (this.current !== watcher) return;
      // etcd already dropped this watch (the library removed it too): cancelling it again would make etcd answer
      // for an id the library no longer knows, which it throws about.
      this.current = null;
      void this.onCancelled(err);
    });
    // The library would resume from the last *header* revision it saw, which during a replay is ahead of the
    // events received; resume from our own cursor instead.
    watcher.on('disconnected', () => {
      if (this.current !== watcher) return;
      this.store.logger.warn({ prefix: this.prefix, cursor: this.queue.cursor }, 'etcd watch stream lost; re-watching from the cursor');
      this.stopEtcdWatcher();
      setTimeout(() => this.start(), 200).unref();
    });
  }

  cancel(): void {
    this.queue.cancel();
  }

  fail(err: Error): void {
    this.queue.fail(err);
  }

  deliveredThrough(): number {
    return this.queue.deliveredThrough();
  }

  private async onCancelled(err: Error): Promise<void> {
    const cursor = this.queue.cursor;
    const compacted = await this.store.learnCompaction();
    this.queue.fail(cursor < compacted ? new CompactedError(cursor, compacted) : new StorageError(`etcd watch ended: ${err.message}`));
  }

  private async endAtHole(revision: number): Promise<void> {
    const cursor = this.queue.cursor;
    const compacted = await this.store.learnCompaction();
    this.queue.fail(
      compacted >= revision - 1
        ? new CompactedError(cursor, compacted)
        : new StorageError(`etcd watch: the event at revision ${revision} came without its previous value`),
    );
  }

  private stopEtcdWatcher(): void {
    const w = this.current;
    this.current = null;
    if (w) void w.cancel().catch(() => undefined);
  }
}

type EtcdEvent = { type: string; kv: IKeyValue; prev_kv?: IKeyValue };

const isDeleteEvent = (e: EtcdEvent): boolean => String(e.type).toLowerCase() === 'delete';

/**
 * Index of the first update or delete after revision `after` (Kedge's) that lacks its previous value (every watch here
 * asks for prev_kv), or -1. The event at the cursor itself is replayed by a restarted etcd watch and dropped by the
 * queue; its previous revision may be compacted legitimately.
 */
export function firstWithoutPrevKv(events: readonly EtcdEvent[], after: number): number {
  return events.findIndex((e) => !e.prev_kv && kedgeRev(num(e.kv.mod_revision)) > after && (isDeleteEvent(e) || num(e.kv.version) > 1));
}

function toEvent(e: EtcdEvent): WatchEvent {
  const revision = kedgeRev(num(e.kv.mod_revision));
  const prevKv = e.prev_kv ? toKv(e.prev_kv) : undefined;
  if (isDeleteEvent(e)) {
    // etcd's delete event carries only the key; the contract wants the last value, which prev_kv holds.
    const last = prevKv ?? { key: e.kv.key.toString('utf8'), value: '', createRevision: 0, modRevision: 0 };
    return { type: 'delete', kv: { ...last, modRevision: revision }, prevKv, revision };
  }
  const kv = toKv(e.kv);
  // version counts writes to this incarnation of the key: 1 is its creation.
  return num(e.kv.version) > 1 ? { type: 'update', kv, prevKv, revision } : { type: 'create', kv, revision };
}
