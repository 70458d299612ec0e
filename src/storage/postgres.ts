/**
 * PostgresStore: the Store contract on PostgreSQL (`pg`), shared by every kedge server pointed at the database.
 *
 *  - One revision log table (an index per key) plus a current-state index and a meta row (postgres-schema.ts);
 *    revisions are allocated under the meta row's lock, so transactions commit in revision order.
 *  - Writes: group commit as in SqliteStore (everything queued in one event-loop turn is one transaction), sent
 *    as one call of kedge_apply(jsonb): one round trip per batch, each write with its own revision and outcome.
 *  - Reads at a revision: the newest log row per key at or below it; every read is one statement, so the meta
 *    row (head, compaction point) and the rows come from the same snapshot.
 *  - Watch: WatchHub over the log. A tailer publishes new log rows in revision order: this process's own
 *    batches directly after commit; other servers' rows when PostgreSQL NOTIFYs (LISTEN kedge_log), with a
 *    slow poll as the fallback when the notification connection is down.
 */
import pg from 'pg';
import { createLogger, type Logger } from '../common/logger.js';
import { prefixRange } from './key-range.js';
import { SCHEMA_LOCK_ID, SCHEMA_SQL, type ApplyOp, type ApplyResult } from './postgres-schema.js';
import { WatchHub, type HistorySource } from './watch-hub.js';
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

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/db?sslmode=… (pg's connection string: sslmode, sslrootcert, … apply). */
  connectionString: string;
  /** Connections for reads and writes (default 10); one more is held for LISTEN. */
  poolSize?: number;
  /** Most writes per transaction (default 1000). */
  maxBatchSize?: number;
  /** false: no LISTEN; watchers learn of other servers' writes by polling only (for measuring the difference). */
  notify?: boolean;
  /** How often the log is polled for other servers' writes, ms (default 1000 with notify, 50 without). */
  pollIntervalMs?: number;
  /** Live events one watcher may have queued before it gets WatchOverflowError (default 10000). */
  watchBufferLimit?: number;
  /** Events read per step when a watcher replays history (default 1000). */
  replayChunkSize?: number;
  /** Log rows deleted per compaction statement (default 10000). */
  compactionChunk?: number;
  logger?: Logger;
}

const EVENT_TYPE = ['create', 'update', 'delete'] as const;
const num = (v: unknown): number => Number(v ?? 0);

interface PendingWrite {
  op: ApplyOp;
  resolve(kv: KeyValue): void;
  reject(err: Error): void;
}

interface LogRow {
  revision: string;
  key: string;
  type: number;
  value: string;
  create_revision: string;
  prev_revision: string;
  prev_value: string | null;
}

function rowToEvent(r: LogRow): WatchEvent {
  const revision = num(r.revision);
  const type = EVENT_TYPE[r.type]!;
  const kv: KeyValue = { key: r.key, value: r.value, createRevision: num(r.create_revision), modRevision: revision };
  if (type === 'create') return { type, kv, revision };
  const prevKv: KeyValue = { key: r.key, value: r.prev_value ?? '', createRevision: kv.createRevision, modRevision: num(r.prev_revision) };
  return { type, kv, prevKv, revision };
}

/** Connect, create the schema if missing, and start following the log. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const store = new PostgresStore(options);
  try {
    await store.init();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw new StorageError(`cannot open the PostgreSQL datastore at ${redactUrl(options.connectionString)}: ${(err as Error).message}`);
  }
  return store;
}

/** The connection string without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  private readonly log: Logger;
  private readonly hub: WatchHub;
  private listener: pg.Client | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private queued: PendingWrite[] = [];
  private flushing: Promise<void> | null = null;
  private flushScheduled = false;
  /** The tailer has published every log row up to here. */
  private head = 0;
  private compacted = 0;
  private tailing: Promise<void> | null = null;
  private tailAgain = false;
  private closed = false;

  constructor(private readonly options: PostgresStoreOptions) {
    this.log = options.logger ?? createLogger('storage');
    this.pool = new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 10 });
    // An idle pooled connection that dies (server restart) must not crash the process; the next query reconnects.
    this.pool.on('error', (err) => this.log.warn({ err: err.message }, 'postgres connection lost'));
    const history: HistorySource = {
      readEvents: (prefix, after, limit) => this.readEvents(prefix, after, limit),
      committedRevision: () => this.head,
      compactedRevision: () => this.compacted,
    };
    this.hub = new WatchHub(history, { bufferLimit: options.watchBufferLimit ?? 10_000, replayChunk: options.replayChunkSize ?? 1000 });
  }

  /** @internal openPostgresStore */
  async init(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_ID]);
      await client.query(SCHEMA_SQL);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    const meta = await this.meta();
    this.head = meta.revision;
    this.compacted = meta.compacted;
    if (this.options.notify !== false) await this.listen().catch((err: Error) => this.log.warn({ err: err.message }, 'LISTEN failed; watchers poll'));
    const poll = this.options.pollIntervalMs ?? (this.options.notify === false ? 50 : 1000);
    this.pollTimer = setInterval(() => this.tail(), poll);
    this.pollTimer.unref();
  }

  // ---- the log as WatchHub reads it ----

  /** @internal WatchHub: events after `afterRevision` up to what the tailer published, for one prefix. */
  async readEvents(prefix: string, afterRevision: number, limit: number): Promise<WatchEvent[]> {
    const { start, end } = prefixRange(prefix);
    const res = await this.query<LogRow & { compacted: string }>(
      `SELECT m.compacted, x.* FROM kedge_meta m LEFT JOIN LATERAL (
         SELECT l.revision, l.key, l.type, l.value, l.create_revision, l.prev_revision, p.value AS prev_value
         FROM kedge_log l LEFT JOIN kedge_log p ON p.revision = l.prev_revision
         WHERE l.revision > $1 AND l.revision <= $2 AND l.key >= $3 AND ($4::text IS NULL OR l.key < $4)
         ORDER BY l.revision LIMIT $5) x ON true ORDER BY x.revision`,
      [afterRevision, this.head, start, end, limit],
    );
    const compacted = num(res.rows[0]?.compacted);
    if (afterRevision < compacted) throw new CompactedError(afterRevision, compacted);
    return res.rows.filter((r) => r.revision !== null).map(rowToEvent);
  }

  // ---- Store ----

  async currentRevision(): Promise<number> {
    return (await this.meta()).revision;
  }

  async compactedRevision(): Promise<number> {
    const { compacted } = await this.meta();
    if (compacted > this.compacted) this.compacted = compacted;
    return compacted;
  }

  async get(key: string, opts: ReadOptions = {}): Promise<KeyValue | null> {
    const revision = opts.revision ?? 0;
    const res = revision
      ? await this.query<{ head: string; compacted: string; key: string | null; value: string; type: number; create_revision: string; revision: string }>(
          `SELECT m.revision AS head, m.compacted, x.* FROM kedge_meta m LEFT JOIN LATERAL (
             SELECT key, value, type, create_revision, revision FROM kedge_log
             WHERE key = $1 AND revision <= $2 ORDER BY revision DESC LIMIT 1) x ON true`,
          [key, revision],
        )
      : await this.query<{ head: string; compacted: string; key: string | null; value: string; type: number; create_revision: string; revision: string }>(
          `SELECT m.revision AS head, m.compacted, x.* FROM kedge_meta m LEFT JOIN LATERAL (
             SELECT kv.key, l.value, 0 AS type, kv.create_revision, kv.mod_revision AS revision
             FROM kedge_kv kv JOIN kedge_log l ON l.revision = kv.mod_revision WHERE kv.key = $1) x ON true`,
          [key],
        );
    const row = res.rows[0]!;
    this.checkReadRevision(revision, num(row.head), num(row.compacted));
    if (row.key === null || row.type === 2) return null;
    return { key: row.key, value: row.value, createRevision: num(row.create_revision), modRevision: num(row.revision) };
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const { start, end } = prefixRange(prefix);
    const revision = opts.revision ?? 0;
    const after = opts.startAfter ?? '';
    const limit = opts.limit ? opts.limit : null;
    type Row = { head: string; compacted: string; key: string | null; value: string; create_revision: string; revision: string; total: string };
    const res = revision
      ? await this.query<Row>(
          `SELECT m.revision AS head, m.compacted, x.* FROM kedge_meta m LEFT JOIN LATERAL (
             SELECT key, value, create_revision, revision, count(*) OVER () AS total FROM (
               SELECT DISTINCT ON (key) key, value, type, create_revision, revision FROM kedge_log
               WHERE key >= $1 AND ($2::text IS NULL OR key < $2) AND key > $3 AND revision <= $5
               ORDER BY key, revision DESC) y
             WHERE type <> 2 ORDER BY key LIMIT $4) x ON true ORDER BY x.key`,
          [start, end, after, limit, revision],
        )
      : await this.query<Row>(
          `SELECT m.revision AS head, m.compacted, x.* FROM kedge_meta m LEFT JOIN LATERAL (
             SELECT kv.key, l.value, kv.create_revision, kv.mod_revision AS revision, count(*) OVER () AS total
             FROM kedge_kv kv JOIN kedge_log l ON l.revision = kv.mod_revision
             WHERE kv.key >= $1 AND ($2::text IS NULL OR kv.key < $2) AND kv.key > $3
             ORDER BY kv.key LIMIT $4) x ON true ORDER BY x.key`,
          [start, end, after, limit],
        );
    const head = num(res.rows[0]!.head);
    this.checkReadRevision(revision, head, num(res.rows[0]!.compacted));
    const rows = res.rows.filter((r) => r.key !== null);
    const items = rows.map((r) => ({ key: r.key!, value: r.value, createRevision: num(r.create_revision), modRevision: num(r.revision) }));
    const remaining = rows.length ? num(rows[0]!.total) - items.length : 0;
    return { items, revision: revision || head, more: remaining > 0, remaining };
  }

  async count(prefix: string): Promise<number> {
    const { start, end } = prefixRange(prefix);
    const res = await this.query<{ n: string }>('SELECT count(*) AS n FROM kedge_kv WHERE key >= $1 AND ($2::text IS NULL OR key < $2)', [start, end]);
    return num(res.rows[0]!.n);
  }

  create(key: string, value: string): Promise<KeyValue> {
    return this.enqueue({ t: 'c', k: key, v: value });
  }

  update(key: string, value: string, expectedModRevision?: number): Promise<KeyValue> {
    return this.enqueue({ t: 'u', k: key, v: value, ...(expectedModRevision !== undefined ? { e: expectedModRevision } : {}) });
  }

  delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    return this.enqueue({ t: 'd', k: key, ...(expectedModRevision !== undefined ? { e: expectedModRevision } : {}) });
  }

  watch(prefix: string, opts: WatchOptions, handlers: WatchHandlers): Watcher {
    this.check();
    return this.hub.watch(prefix, opts.fromRevision, handlers);
  }

  async compact(revision: number): Promise<void> {
    this.check();
    const res = await this.query<{ compacted: string }>(
      'UPDATE kedge_meta SET compacted = $1 WHERE compacted < $1 AND revision >= $1 RETURNING compacted',
      [revision],
    );
    if (res.rowCount === 0) {
      const meta = await this.meta();
      if (revision > meta.revision) throw new FutureRevisionError(revision, meta.revision);
      return; // compacting backwards is a no-op
    }
    if (revision > this.compacted) this.compacted = revision;
    // The bound is committed first, so readers refuse revisions below it before their rows go. Rows are deleted
    // in chunks (writers interleave); candidates start at 0 each time, since a row kept earlier may be superseded
    // now. A crash midway leaves only rows nobody can reach.
    const chunk = this.options.compactionChunk ?? 10_000;
    for (let lo = 0; lo < revision; lo += chunk) {
      await this.query(
        `DELETE FROM kedge_log l WHERE l.revision > $1 AND l.revision <= $2 AND (l.type = 2 OR EXISTS (
           SELECT 1 FROM kedge_log n WHERE n.key = l.key AND n.revision > l.revision AND n.revision <= $3))`,
        [lo, Math.min(lo + chunk, revision), revision],
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Writes already queued still commit.
    while (this.flushing || this.queued.length) {
      if (!this.flushing) this.flush();
      await this.flushing;
    }
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.hub.failAll(new StoreClosedError());
    await this.tailing?.catch(() => undefined);
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  // ---- writes ----

  private enqueue(op: ApplyOp): Promise<KeyValue> {
    if (this.closed) return Promise.reject(new StoreClosedError());
    return new Promise<KeyValue>((resolve, reject) => {
      this.queued.push({ op, resolve, reject });
      if (!this.flushing && !this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          if (!this.flushing) this.flush();
        });
      }
    });
  }

  /** One batch in flight at a time: writes arriving meanwhile form the next batch. */
  private flush(): void {
    const batch = this.queued.splice(0, this.options.maxBatchSize ?? 1000);
    if (batch.length === 0) return;
    this.flushing = this.commit(batch).finally(() => {
      this.flushing = null;
      if (this.queued.length) this.flush();
    });
  }

  private async commit(batch: PendingWrite[]): Promise<void> {
    let results: ApplyResult[];
    try {
      const res = await this.query<{ results: ApplyResult[] }>('SELECT kedge_apply($1::jsonb) AS results', [JSON.stringify(batch.map((w) => w.op))]);
      results = res.rows[0]!.results;
    } catch (err) {
      const failure = err instanceof StorageError ? err : new StorageError(`postgres write failed: ${(err as Error).message}`);
      for (const w of batch) w.reject(failure);
      return;
    }
    const events: WatchEvent[] = [];
    const outcomes: (() => void)[] = [];
    batch.forEach((w, i) => {
      const r = results[i]!;
      const { op } = w;
      if (r.err === 'exists') return outcomes.push(() => w.reject(new KeyExistsError(op.k)));
      if (r.err === 'notfound') return outcomes.push(() => w.reject(new KeyNotFoundError(op.k)));
      if (r.err === 'conflict') return outcomes.push(() => w.reject(new ConflictError(op.k, op.e ?? 0, num(r.a))));
      const revision = num(r.r);
      let event: WatchEvent;
      if (op.t === 'c') {
        event = { type: 'create', kv: { key: op.k, value: op.v!, createRevision: revision, modRevision: revision }, revision };
      } else {
        const prevKv: KeyValue = { key: op.k, value: r.pv ?? '', createRevision: num(r.c), modRevision: num(r.p) };
        const kv: KeyValue = op.t === 'u' ? { ...prevKv, value: op.v!, modRevision: revision } : { ...prevKv, modRevision: revision };
        event = { type: op.t === 'u' ? 'update' : 'delete', kv, prevKv, revision };
      }
      events.push(event);
      outcomes.push(() => w.resolve(event.kv));
    });
    // Watchers see the batch before its writers continue (the contract's ordering), after any earlier revision.
    if (events.length) await this.publishOwn(events);
    for (const settle of outcomes) settle();
  }

  // ---- following the log ----

  /** Our own batch: publish it directly if it follows what was published, else read the log up to it. */
  private async publishOwn(events: WatchEvent[]): Promise<void> {
    const first = events[0]!.revision;
    const last = events[events.length - 1]!.revision;
    if (this.head === first - 1 && !this.tailing) {
      this.head = last;
      this.hub.publish(events);
      return;
    }
    while (this.head < last && !this.closed) await this.tail();
  }

  /** Publish log rows after `head` (other servers' writes); one reader at a time, re-run if asked meanwhile. */
  private tail(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.tailing) {
      this.tailAgain = true;
      return this.tailing;
    }
    this.tailing = (async () => {
      do {
        this.tailAgain = false;
        try {
          await this.readNewRows();
        } catch (err) {
          if (!this.closed) this.log.warn({ err: (err as Error).message }, 'reading the postgres log failed; retrying');
          return;
        }
      } while (this.tailAgain && !this.closed);
    })().finally(() => {
      this.tailing = null;
    });
    return this.tailing;
  }

  private async readNewRows(): Promise<void> {
    for (;;) {
      const after = this.head;
      const res = await this.query<LogRow & { head: string; compacted: string }>(
        `SELECT m.revision AS head, m.compacted, x.* FROM kedge_meta m LEFT JOIN LATERAL (
           SELECT l.revision, l.key, l.type, l.value, l.create_revision, l.prev_revision, p.value AS prev_value
           FROM kedge_log l LEFT JOIN kedge_log p ON p.revision = l.prev_revision
           WHERE l.revision > $1 ORDER BY l.revision LIMIT 1000) x ON true ORDER BY x.revision`,
        [after],
      );
      if (this.closed) return;
      const first = res.rows[0]!;
      const compacted = num(first.compacted);
      if (compacted > this.compacted) this.compacted = compacted;
      const head = num(first.head);
      // Our own batches may have been published while this read was in flight.
      const events = res.rows.filter((r) => r.revision !== null && num(r.revision) > this.head).map(rowToEvent);
      if (events.length) {
        if (events[0]!.revision !== this.head + 1) {
          // Impossible while revisions commit in order; refuse to publish a gap rather than hide it.
          if (this.head >= compacted) throw new StorageError(`postgres log gap after revision ${this.head} (next row ${events[0]!.revision})`);
          this.overtakenByCompaction(compacted);
        }
        this.head = events[events.length - 1]!.revision;
        this.hub.publish(events);
      } else if (head > this.head && res.rows.every((r) => r.revision === null)) {
        if (this.head < compacted) this.overtakenByCompaction(compacted);
        this.head = head;
      }
      if (this.head >= head || res.rows.length < 1000) return;
    }
  }

  /**
   * This process fell so far behind that compaction removed log rows it had not published yet: every watcher is at
   * or below `head`, so every one of them would miss events. They end with CompactedError (clients re-list: 410).
   */
  private overtakenByCompaction(compacted: number): void {
    this.log.warn({ publishedThrough: this.head, compacted }, 'compaction overtook the postgres log tailer; ending watchers');
    this.hub.failAll(new CompactedError(this.head, compacted));
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.connectionString });
    client.on('error', (err) => {
      if (this.closed || this.listener !== client) return;
      this.log.warn({ err: err.message }, 'postgres LISTEN connection lost; polling until it is back');
      this.listener = null;
      void client.end().catch(() => undefined);
      setTimeout(() => {
        if (!this.closed) void this.listen().catch(() => undefined);
      }, 1000).unref();
    });
    client.on('notification', () => void this.tail());
    await client.connect();
    await client.query('LISTEN kedge_log');
    if (this.closed) {
      await client.end();
      return;
    }
    this.listener = client;
    void this.tail(); // anything committed before LISTEN took effect
  }

  // ---- helpers ----

  private async meta(): Promise<{ revision: number; compacted: number }> {
    const res = await this.query<{ revision: string; compacted: string }>('SELECT revision, compacted FROM kedge_meta WHERE id = 1');
    return { revision: num(res.rows[0]!.revision), compacted: num(res.rows[0]!.compacted) };
  }

  private checkReadRevision(revision: number, head: number, compacted: number): void {
    if (!revision) return;
    if (revision > head) throw new FutureRevisionError(revision, head);
    if (revision < compacted) throw new CompactedError(revision, compacted);
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    this.check();
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw new StorageError(`postgres: ${(err as Error).message}`);
    }
  }

  private check(): void {
    if (this.closed) throw new StoreClosedError();
  }
}
