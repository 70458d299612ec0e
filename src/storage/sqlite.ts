/**
 * SqliteStore: the embedded, single-process backend of the revisioned store (better-sqlite3, WAL).
 *
 * Layout (see README.md for the reasoning):
 *  - kv:   the current state as an index: one small row per live key (key, create_revision,
 *          mod_revision); the value is the log row at mod_revision, so each write stores its
 *          value once (half the bytes written per commit compared with copying it into kv).
 *  - log:  one row per write (revision PK), written in the same transaction as kv; serves every
 *          value, reads at a past revision, watch replay and prevKv. Compaction keeps, per key, the newest row at or
 *          below the compacted revision, so state at any later revision stays reconstructible.
 *  - meta: the current revision (it survives even when compaction removes the newest log rows)
 *          and the compacted revision.
 *
 * Writes go through group commit: every write queued before the next turn of the event loop is
 * applied in one transaction (one fsync), each with its own revision and its own outcome, and
 * promises settle only after COMMIT returned. Watchers are then fed synchronously (WatchHub).
 *
 * WAL checkpoints run inside commits on the writer's thread (SQLite's autocheckpoint, default) or, with
 * `checkpoint: 'background'`, on a worker thread with its own connection (checkpointer.ts); then a lock
 * file (writer-lock.ts) replaces SQLite's exclusive locking mode as the single-writer guard, and the
 * writer bounds the WAL itself (boundWal).
 */
import { closeSync, fdatasync, fstatSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { createLogger, type Logger } from '../common/logger.js';
import { BackgroundCheckpointer } from './checkpointer.js';
import { prefixRange } from './key-range.js';
import { acquireWriterLock, type WriterLock } from './writer-lock.js';
import { WatchHub } from './watch-hub.js';
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

export { startAutoCompaction, type AutoCompaction, type AutoCompactionOptions } from './auto-compaction.js';

export interface SqliteStoreOptions {
  /**
   * 'full' (default): the WAL is fsynced at every commit, so an acknowledged write survives power
   * loss, as etcd promises. Group commit pays that fsync once per batch, not once per write.
   * 'normal': no fsync at commit; acknowledged writes survive a process crash but the newest may be
   * lost on power failure. For caches that can be rebuilt (e.g. an edge node's copy of cloud state).
   */
  synchronous?: 'full' | 'normal';
  /**
   * With synchronous 'full' on a file (default true): SQLite commits without syncing and the
   * store fdatasyncs the WAL on libuv's thread pool, settling writes (and showing them to readers
   * and watchers) only once that returned. Same guarantee as SQLite's FULL, but the event loop
   * keeps serving requests during the fsync instead of blocking in it. false: SQLite's own FULL.
   */
  asyncFsync?: boolean;
  /** Tests only: replaces the WAL fdatasync of asyncFsync mode (lets a test hold writes un-synced). */
  syncWal?: () => Promise<void>;
  /** Most writes committed in one transaction (default 2000). 1 disables group commit. */
  maxBatchSize?: number;
  /**
   * Least time between the starts of two commits, ms (default 0: commit at the next turn of the event loop).
   * Above 0, writes arriving at a steady rate (heartbeats) gather into fewer, larger transactions: each
   * commit writes every page it touched (b-tree leaves, index, meta) to the WAL however few writes it holds.
   */
  commitIntervalMs?: number;
  /** Live events one watcher may have queued before it gets WatchOverflowError (default 10000). */
  watchBufferLimit?: number;
  /** Events read per step when a watcher replays history (default 1000). */
  replayChunkSize?: number;
  /**
   * Take SQLite's exclusive lock for the life of the store (default true): the in-memory revision
   * counter is only right if this process is the database's only writer, so a second opener
   * fails fast instead of silently corrupting revisions.
   */
  exclusive?: boolean;
  /** Revisions compacted per transaction, so writers interleave with a large compaction (default 10000). */
  compactionChunk?: number;
  /**
   * SQLite's page cache for this store, KiB (default 32768). It fills with every page written or read and is
   * never given back, so thousands of small stores in one process (the hollow-node simulator) cap it low.
   */
  cacheSizeKiB?: number;
  /**
   * 'inline' mode: checkpoint when the WAL reaches this many pages (SQLite's wal_autocheckpoint, default 1000),
   * and truncate the -wal file back to that size after each checkpoint (journal_size_limit, default 64 MiB).
   * Thousands of small stores on tmpfs (the hollow-node simulator) keep each WAL at a few hundred KiB instead
   * of ~4 MiB of RAM apiece.
   */
  walAutocheckpointPages?: number;
  /**
   * Who copies the WAL into the database file (a checkpoint: page copies and two fsyncs).
   * 'inline' (default): SQLite's autocheckpoint, inside the commit that crosses 1,000 WAL pages, on the
   * writer's thread; the file is held with SQLite's exclusive locking mode.
   * 'background' (a file store only; `:memory:` stays inline): a worker thread with its own connection
   * checkpoints every `checkpointIntervalMs`, so the writer's thread never fsyncs for it. Single-writer
   * safety then comes from a lock on `<path>-writer.lock` instead of exclusive locking mode. Costs a thread
   * (a few MiB) per store: for the API server's one store, not for thousands of hollow-node stores.
   */
  checkpoint?: 'inline' | 'background';
  /** 'background': pause between checkpointer rounds, ms (default 500). */
  checkpointIntervalMs?: number;
  /** 'background': WAL frames left after a round's PASSIVE checkpoints that make it RESTART the WAL (default 8192). */
  checkpointRestartFrames?: number;
  /**
   * 'background': the -wal file size past which the writer checkpoints (TRUNCATE) inline after all, with a
   * warning, because the checkpointer is stalled or falling behind (default 128 MiB).
   */
  walLimitBytes?: number;
  /** Where warnings go (checkpointer trouble); default a pino logger named 'storage'. */
  logger?: Logger;
}

/** Counters for metrics and tests (what group commit actually did). */
export interface SqliteStoreStats {
  /** Transactions committed by the write path (one per batch). */
  commits: number;
  /** Writes that succeeded / failed their checks. */
  writes: number;
  failedWrites: number;
  largestBatch: number;
  /** Wall time of the last batch's transaction, COMMIT (and with blocking FULL, its fsync) included. */
  lastCommitMs: number;
  /** asyncFsync mode: WAL syncs done, and how long the last one took. */
  syncs: number;
  lastSyncMs: number;
  watchers: number;
  /** 'background' while the checkpointer thread runs; 'inline' otherwise (also after that thread failed). */
  checkpointMode: 'inline' | 'background';
  /** Background checkpointer rounds that copied frames, and RESTARTs among them. */
  backgroundCheckpoints: number;
  checkpointRestarts: number;
  /** Inline checkpoints the writer ran because the -wal file passed `walLimitBytes`. */
  inlineCheckpoints: number;
  /** Size of the -wal file when the writer last looked (background mode: at most every 100 ms), bytes. */
  walBytes: number;
  /** Commits put off because the checkpointer held SQLite's writer lock (retried a millisecond later). */
  busyRetries: number;
  checkpointerErrors: number;
}

/** Open (creating if needed) a store at `path`; ':memory:' gives a throwaway store for tests. */
export async function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const store = new SqliteStore(path, options);
  try {
    await store.startCheckpointer();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw new StorageError(`cannot start the checkpointer for ${path}: ${(err as Error).message}`);
  }
  return store;
}

const isBusy = (err: unknown): boolean => /^SQLITE_BUSY/.test(String((err as { code?: unknown }).code ?? ''));
const isFilePath = (path: string): boolean => path !== '' && path !== ':memory:' && !path.startsWith('file:');

const enum RowType {
  Create = 0,
  Update = 1,
  Delete = 2,
}
const EVENT_TYPE = ['create', 'update', 'delete'] as const;

/** The latest state of keys: kv joined to the log row holding each key's current value. */
const LATEST =
  'SELECT kv.key AS key, log.value AS value, kv.create_revision AS create_revision, kv.mod_revision AS mod_revision ' +
  'FROM kv JOIN log ON log.revision = kv.mod_revision';

interface KvRow {
  key: string;
  value: string;
  create_revision: number;
  mod_revision: number;
}
interface LogRow {
  revision: number;
  key: string;
  type: RowType;
  value: string;
  create_revision: number;
  prev_mod_revision: number;
  prev_value: string | null;
}

type WriteOp =
  | { kind: 'create'; key: string; value: string }
  | { kind: 'update'; key: string; value: string; expected?: number }
  | { kind: 'delete'; key: string; expected?: number };

/** A committed batch whose outcomes are held until the WAL sync that covers it returns. */
interface CommittedBatch {
  revision: number;
  writes: PendingWrite[];
  outcomes: Outcome[];
}

interface PendingWrite {
  op: WriteOp;
  resolve(kv: KeyValue): void;
  reject(err: Error): void;
}

type Outcome = { ok: true; kv: KeyValue; event: WatchEvent } | { ok: false; err: Error };

/** 1 was a development layout with values copied into kv; it is refused rather than migrated. */
const SCHEMA_VERSION = 2;
const SCHEMA = `
-- kv holds no values (they are in log at mod_revision): its rows stay tiny, so key-range scans and
-- COUNT(*) walk a compact b-tree, and each write stores its KB-sized value only once.
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
  revision INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  type INTEGER NOT NULL,
  value TEXT NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_mod_revision INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS log_by_key ON log (key, revision);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0);
`;

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly hub: WatchHub;
  private readonly maxBatchSize: number;
  private readonly compactionChunk: number;
  /** Revision of the newest write committed to SQLite (the next write gets revision + 1). */
  private revision: number;
  /**
   * Revision of the newest durable write: what readers, watchers and currentRevision() see.
   * Equals `revision` except in asyncFsync mode while a WAL sync is under way.
   */
  private visible: number;
  private readonly syncWal: (() => Promise<void>) | null = null;
  private walFd: number | null = null;
  private awaitingSync: CommittedBatch[] = [];
  private syncing = false;
  private syncIdleWaiters: (() => void)[] = [];
  private broken: Error | null = null;
  private compacted: number;
  private pending: PendingWrite[] = [];
  private flushScheduled = false;
  private readonly commitIntervalMs: number;
  private lastCommitStartedAt = -Infinity;
  private closed = false;
  private compaction: Promise<void> = Promise.resolve();
  private readonly statements = new Map<string, Database.Statement>();
  private readonly counters = {
    commits: 0, writes: 0, failedWrites: 0, largestBatch: 0, lastCommitMs: 0, syncs: 0, lastSyncMs: 0,
    inlineCheckpoints: 0, walBytes: 0, busyRetries: 0,
  };
  private readonly path: string;
  /** 'background' requested on a file: no exclusive locking mode, the checkpointer thread may hold locks. */
  private readonly background: boolean;
  private readonly options: SqliteStoreOptions;
  private writerLock: WriterLock | null = null;
  private checkpointer: BackgroundCheckpointer | null = null;
  private checkpointerErrors = 0;
  /** Descriptor of the -wal file for its size (background mode); the sync descriptor when there is one. */
  private walStatFd: number | null = null;
  private log: Logger | null = null;
  private lastWalWarningAt = 0;
  private lastWalCheckAt = -Infinity;

  private readonly selectKv: Database.Statement<[string], KvRow>;
  private readonly insertKv: Database.Statement<[string, number, number]>;
  private readonly updateKv: Database.Statement<[number, string]>;
  private readonly deleteKv: Database.Statement<[string]>;
  private readonly insertLog: Database.Statement<[number, string, RowType, string, number, number]>;
  private readonly setMeta: Database.Statement<[number, string]>;
  private readonly selectAtRevision: Database.Statement<[string, number], LogRow>;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.maxBatchSize = Math.max(1, options.maxBatchSize ?? 2000);
    this.compactionChunk = Math.max(1, options.compactionChunk ?? 10000);
    this.commitIntervalMs = Math.max(0, options.commitIntervalMs ?? 0);
    this.path = path;
    this.options = options;
    this.background = options.checkpoint === 'background' && isFilePath(path);
    const exclusive = options.exclusive ?? true;
    if (this.background && exclusive) {
      try {
        this.writerLock = acquireWriterLock(path);
      } catch (err) {
        const hint = isBusy(err) ? ' (another process, or another store in this one, has it open)' : '';
        throw new StorageError(`cannot open store at ${path}: ${(err as Error).message}${hint}`);
      }
    }
    try {
      this.db = new Database(path, { timeout: 200 });
    } catch (err) {
      this.writerLock?.release();
      throw new StorageError(`cannot open store at ${path}: ${(err as Error).message}`);
    }
    try {
      if (exclusive && !this.background) this.db.pragma('locking_mode = EXCLUSIVE');
      const wal = this.db.pragma('journal_mode = WAL', { simple: true }) === 'wal';
      this.db.pragma('synchronous = FULL');
      // After a checkpoint, shrink a WAL that a burst of writes grew, instead of keeping it on disk.
      this.db.pragma('journal_size_limit = 67108864');
      if (options.walAutocheckpointPages && !this.background) {
        const pages = Math.max(16, Math.floor(options.walAutocheckpointPages));
        this.db.pragma(`wal_autocheckpoint = ${pages}`);
        this.db.pragma(`journal_size_limit = ${pages * (this.db.pragma('page_size', { simple: true }) as number)}`);
      }
      // Room for the current state of a typical cluster in SQLite's own page cache (filled lazily).
      this.db.pragma(`cache_size = -${Math.max(16, Math.floor(options.cacheSizeKiB ?? 32768))}`);
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version !== 0 && version !== SCHEMA_VERSION) {
        throw new Error(`schema version ${version} is not this Kedge's (${SCHEMA_VERSION}); start from an empty data dir`);
      }
      this.db.exec(SCHEMA);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      // Decided after the first write transaction above, which created the -wal file.
      const full = options.synchronous !== 'normal';
      if (options.syncWal) {
        this.syncWal = options.syncWal;
      } else if (full && wal && (options.asyncFsync ?? true)) {
        this.syncWal = this.openWalSync(path);
      }
      // With our own WAL sync, SQLite need not sync at commit (NORMAL still syncs around checkpoints).
      this.db.pragma(`synchronous = ${full && !this.syncWal ? 'FULL' : 'NORMAL'}`);
      if (this.background) {
        // The checkpointer thread copies the WAL; the writer only bounds it (boundWal).
        this.db.pragma('wal_autocheckpoint = 0');
        this.walStatFd = this.walFd ?? openSync(`${path}-wal`, 'r');
        // Never sleep on the writer's thread for a lock the checkpointer holds: commits retry instead.
        this.db.pragma('busy_timeout = 0');
      }
    } catch (err) {
      this.db.close();
      if (this.walFd !== null) closeSync(this.walFd);
      if (this.walStatFd !== null && this.walStatFd !== this.walFd) closeSync(this.walStatFd);
      this.writerLock?.release();
      const busy = (err as { code?: string }).code === 'SQLITE_BUSY';
      const hint = busy ? ' (another process, or another store in this one, has it open)' : '';
      throw new StorageError(`cannot open store at ${path}: ${(err as Error).message}${hint}`);
    }
    this.revision = this.readMeta('revision');
    this.visible = this.revision;
    this.compacted = this.readMeta('compacted');

    this.selectKv = this.db.prepare(`${LATEST} WHERE kv.key = ?`);
    this.insertKv = this.db.prepare('INSERT INTO kv (key, create_revision, mod_revision) VALUES (?, ?, ?)');
    this.updateKv = this.db.prepare('UPDATE kv SET mod_revision = ? WHERE key = ?');
    this.deleteKv = this.db.prepare('DELETE FROM kv WHERE key = ?');
    this.insertLog = this.db.prepare(
      'INSERT INTO log (revision, key, type, value, create_revision, prev_mod_revision) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.setMeta = this.db.prepare('UPDATE meta SET value = ? WHERE name = ?');
    this.selectAtRevision = this.db.prepare(
      'SELECT revision, key, type, value, create_revision, prev_mod_revision, NULL AS prev_value FROM log ' +
        'WHERE key = ? AND revision <= ? ORDER BY revision DESC LIMIT 1',
    );

    this.hub = new WatchHub(
      {
        readEvents: (prefix, after, limit) => this.readEvents(prefix, after, limit),
        committedRevision: () => this.visible,
        compactedRevision: () => this.compacted,
      },
      { bufferLimit: options.watchBufferLimit ?? 10000, replayChunk: options.replayChunkSize ?? 1000 },
    );
  }

  // ---- reads -------------------------------------------------------------------------------

  async currentRevision(): Promise<number> {
    this.assertOpen();
    return this.visible;
  }

  async compactedRevision(): Promise<number> {
    this.assertOpen();
    return this.compacted;
  }

  async get(key: string, opts: ReadOptions = {}): Promise<KeyValue | null> {
    this.assertOpen();
    const at = this.readRevision(opts.revision);
    if (at === null) {
      const row = this.selectKv.get(key);
      return row ? kvFromRow(row) : null;
    }
    const row = this.selectAtRevision.get(key, at);
    if (!row || row.type === RowType.Delete) return null;
    return { key: row.key, value: row.value, createRevision: row.create_revision, modRevision: row.revision };
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.assertOpen();
    const at = this.readRevision(opts.revision);
    const limit = opts.limit && opts.limit > 0 ? Math.floor(opts.limit) : 0;
    let source: string;
    let countSql: string;
    let sourceParams: (string | number)[];
    if (at === null) {
      // Latest state: walk kv in key order, fetching each value from the log by revision.
      const { where, params } = rangeClause(prefix, opts.startAfter, 'kv.key');
      source = `${LATEST} WHERE ${where} ORDER BY kv.key`;
      countSql = `SELECT COUNT(*) AS n FROM kv WHERE ${where}`;
      sourceParams = params;
    } else {
      // A past state: the newest log row per key at or below `at`. The inner query runs on the
      // (key, revision) index alone and yields keys in order, so only the winning rows are
      // fetched and no sort of whole rows is needed.
      const { where, params } = rangeClause(prefix, opts.startAfter);
      const newest = `(SELECT key, MAX(revision) AS revision FROM log WHERE ${where} AND revision <= ? GROUP BY key ORDER BY key)
        AS newest JOIN log AS l ON l.revision = newest.revision WHERE l.type != ${RowType.Delete}`;
      source = `SELECT l.key, l.value, l.create_revision, l.revision AS mod_revision FROM ${newest} ORDER BY newest.key`;
      countSql = `SELECT COUNT(*) AS n FROM ${newest}`;
      sourceParams = [...params, at];
    }
    const rows = this.statement(`${source} LIMIT ?`).all(...sourceParams, limit || -1) as KvRow[];
    let remaining = 0;
    if (limit && rows.length === limit) {
      remaining = (this.statement(countSql).get(...sourceParams) as { n: number }).n - rows.length;
    }
    return { items: rows.map(kvFromRow), revision: at ?? this.visible, more: remaining > 0, remaining };
  }

  async count(prefix: string): Promise<number> {
    this.assertOpen();
    if (this.revision !== this.visible) {
      // Writes await their sync: count the visible revision from the log, as list would.
      const { where, params } = rangeClause(prefix, undefined);
      const sql = `SELECT COUNT(*) AS n FROM (SELECT MAX(revision) AS revision FROM log WHERE ${where} AND revision <= ? GROUP BY key)
        AS newest JOIN log AS l ON l.revision = newest.revision WHERE l.type != ${RowType.Delete}`;
      return (this.statement(sql).get(...params, this.visible) as { n: number }).n;
    }
    const { where, params } = rangeClause(prefix, undefined);
    return (this.statement(`SELECT COUNT(*) AS n FROM kv WHERE ${where}`).get(...params) as { n: number }).n;
  }

  /**
   * null means "the latest state, straight from kv"; otherwise read this revision from the log.
   * kv may run ahead of the visible revision while a WAL sync is under way; reads then go to the
   * log at the visible revision, so nobody sees a write before it is durable and acknowledged.
   */
  private readRevision(requested: number | undefined): number | null {
    const caughtUp = this.revision === this.visible;
    if (!requested) return caughtUp ? null : this.visible;
    if (requested > this.visible) throw new FutureRevisionError(requested, this.visible);
    if (requested < this.compacted) throw new CompactedError(requested, this.compacted);
    return requested === this.visible && caughtUp ? null : requested;
  }

  private readEvents(prefix: string, after: number, limit: number): WatchEvent[] {
    const { where, params } = rangeClause(prefix, undefined, 'l.key');
    const rows = this.statement(
      `SELECT l.revision, l.key, l.type, l.value, l.create_revision, l.prev_mod_revision, p.value AS prev_value
       FROM log l LEFT JOIN log p ON p.revision = l.prev_mod_revision
       WHERE l.revision > ? AND l.revision <= ? AND ${where} ORDER BY l.revision LIMIT ?`,
    ).all(after, this.visible, ...params, limit) as LogRow[];
    return rows.map(eventFromLogRow);
  }

  // ---- writes ------------------------------------------------------------------------------

  create(key: string, value: string): Promise<KeyValue> {
    return this.enqueue({ kind: 'create', key, value });
  }

  update(key: string, value: string, expectedModRevision?: number): Promise<KeyValue> {
    return this.enqueue({ kind: 'update', key, value, expected: expectedModRevision });
  }

  delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    return this.enqueue({ kind: 'delete', key, expected: expectedModRevision });
  }

  private enqueue(op: WriteOp): Promise<KeyValue> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new StoreClosedError());
    if (typeof op.key !== 'string' || op.key.length === 0) {
      return Promise.reject(new StorageError('key must be a non-empty string'));
    }
    if (op.kind !== 'delete' && typeof op.value !== 'string') {
      return Promise.reject(new StorageError(`value for ${op.key} must be a string`));
    }
    return new Promise<KeyValue>((resolve, reject) => {
      this.pending.push({ op, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * setImmediate (not a microtask): writes arriving from every I/O callback of this loop turn
   * join the same batch.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const wait = this.lastCommitStartedAt + this.commitIntervalMs - performance.now();
    if (wait > 0) setTimeout(() => this.flush(), wait);
    else setImmediate(() => this.flush());
  }

  /** Commit one batch of queued writes: one transaction, one revision and one outcome per write. */
  private flush(): void {
    this.flushScheduled = false;
    // While a WAL sync runs, writes keep queueing and commit together once it returns: one
    // transaction per sync, and the event loop serves requests meanwhile.
    if (this.syncing || this.closed || this.pending.length === 0) return;
    this.commitBatch(this.pending.splice(0, this.maxBatchSize));
    // More than one batch's worth queued: let readers and I/O in between.
    if (this.pending.length > 0 && !this.syncing) this.scheduleFlush();
  }

  /** Flush again shortly: the checkpointer holds SQLite's writer lock for the last frames of a RESTART. */
  private retryFlushSoon(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setTimeout(() => this.flush(), 1);
  }

  /** false when the batch was put back in the queue because the writer lock was busy (background mode). */
  private commitBatch(batch: PendingWrite[]): boolean {
    let revision = this.revision;
    let outcomes: Outcome[] = [];
    let began = false;
    const apply = this.db.transaction(() => {
      began = true;
      outcomes = [];
      revision = this.revision;
      for (const { op } of batch) {
        const outcome = this.applyWrite(op, revision + 1);
        if (outcome.ok) revision++;
        outcomes.push(outcome);
      }
      if (revision !== this.revision) this.setMeta.run(revision, 'revision');
    });
    const started = performance.now();
    this.lastCommitStartedAt = started;
    try {
      apply.immediate();
    } catch (err) {
      if (this.background && !began && isBusy(err)) {
        // BEGIN IMMEDIATE found the writer lock taken (a RESTART checkpoint): nothing ran, try again soon.
        this.pending.unshift(...batch);
        this.counters.busyRetries++;
        this.retryFlushSoon();
        return false;
      }
      // The transaction rolled back: nothing of this batch is stored, so every write fails.
      const failure = new StorageError(`commit failed: ${(err as Error).message}`);
      for (const write of batch) write.reject(failure);
      return true;
    }
    this.revision = revision;
    this.counters.commits++;
    this.counters.lastCommitMs = performance.now() - started;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, batch.length);
    if (this.background) this.boundWal();
    const committed = { revision, writes: batch, outcomes };
    if (!this.syncWal) {
      this.settle([committed]);
      return true;
    }
    this.awaitingSync.push(committed);
    this.startSync();
    return true;
  }

  /**
   * Background mode: a stalled or slow checkpointer must not let the WAL grow without limit (disk, and
   * reads that search a longer WAL index). Past `walLimitBytes` the writer checkpoints inline after all.
   * The file's size is its high-water mark (a rewound WAL is reused from its start, and journal_size_limit
   * trims it to 64 MiB), so the limit sits above that trim.
   */
  private boundWal(): void {
    // fstat costs ~6 µs; at 1,000 commits/s once per 100 ms is plenty for a bound this coarse.
    const checkedAt = performance.now();
    if (checkedAt - this.lastWalCheckAt < 100) return;
    this.lastWalCheckAt = checkedAt;
    const size = fstatSync(this.walStatFd!).size;
    this.counters.walBytes = size;
    const limit = this.options.walLimitBytes ?? 128 * 1024 * 1024;
    if (size <= limit) return;
    const started = performance.now();
    let result: unknown;
    try {
      result = (this.db.pragma('wal_checkpoint(TRUNCATE)') as unknown[])[0];
    } catch (err) {
      result = (err as Error).message;
    }
    this.counters.inlineCheckpoints++;
    this.counters.walBytes = fstatSync(this.walStatFd!).size;
    // Every commit retries while the WAL stays past the limit; one warning per 10 s says so.
    const now = Date.now();
    if (now - this.lastWalWarningAt < 10_000) return;
    this.lastWalWarningAt = now;
    this.logger().warn(
      { path: this.path, walBytes: size, limitBytes: limit, after: this.counters.walBytes, ms: Math.round(performance.now() - started), result, inlineCheckpoints: this.counters.inlineCheckpoints, checkpointer: this.checkpointer?.stats() ?? null },
      'WAL past its limit: checkpointed on the writer thread (background checkpointer stalled or behind)',
    );
  }

  private logger(): Logger {
    this.log ??= this.options.logger ?? createLogger('storage');
    return this.log;
  }

  /** Start the background checkpointer thread ('background' mode on a file; a no-op otherwise). */
  async startCheckpointer(): Promise<void> {
    if (!this.background || this.checkpointer || this.closed) return;
    this.checkpointer = await BackgroundCheckpointer.start(this.path, {
      intervalMs: Math.max(1, this.options.checkpointIntervalMs ?? 500),
      restartFrames: Math.max(1, this.options.checkpointRestartFrames ?? 8192),
      onRoundError: (message) => {
        this.checkpointerErrors++;
        this.logger().warn({ path: this.path, err: message }, 'background WAL checkpoint failed; retrying next round');
      },
      onFailure: (err) => {
        if (this.closed) return;
        // Without its thread the store is still correct; it only checkpoints on the writer's thread again.
        this.checkpointer = null;
        this.checkpointerErrors++;
        this.db.pragma('wal_autocheckpoint = 1000');
        this.logger().error({ path: this.path, err: err.message }, 'WAL checkpointer thread failed; checkpointing inline from now on');
      },
    });
  }

  /**
   * One WAL sync at a time; it covers every batch committed before it started, and batches
   * committed meanwhile wait for the next one (group commit at the fsync level).
   */
  private startSync(): void {
    if (this.syncing || this.awaitingSync.length === 0 || this.broken) return;
    this.syncing = true;
    const covered = this.awaitingSync;
    this.awaitingSync = [];
    const started = performance.now();
    this.syncWal!().then(
      () => {
        this.syncing = false;
        this.counters.syncs++;
        this.counters.lastSyncMs = performance.now() - started;
        this.settle(covered);
        this.startSync();
        if (this.pending.length > 0) this.scheduleFlush();
        this.notifyIfSyncIdle();
      },
      (err: unknown) => {
        // The kernel could not make committed data durable: what is on disk is now unknown, so
        // this store stops (as PostgreSQL does on fsync failure) rather than guess.
        this.syncing = false;
        this.broken = new StorageError(`WAL sync failed, store stopped: ${(err as Error).message}`);
        for (const b of [...covered, ...this.awaitingSync]) for (const w of b.writes) w.reject(this.broken);
        for (const w of this.pending) w.reject(this.broken);
        this.awaitingSync = [];
        this.pending = [];
        this.hub.failAll(this.broken);
        this.notifyIfSyncIdle();
      },
    );
  }

  private notifyIfSyncIdle(): void {
    if (this.syncing || this.awaitingSync.length > 0) return;
    const waiters = this.syncIdleWaiters;
    this.syncIdleWaiters = [];
    for (const w of waiters) w();
  }

  /** Make durable batches visible: advance the visible revision, settle writes, feed watchers. */
  private settle(batches: CommittedBatch[]): void {
    if (batches.length === 0) return;
    this.visible = batches[batches.length - 1]!.revision;
    const events: WatchEvent[] = [];
    for (const { writes, outcomes } of batches) {
      writes.forEach((write, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) {
          this.counters.writes++;
          events.push(outcome.event);
          write.resolve(outcome.kv);
        } else {
          this.counters.failedWrites++;
          write.reject(outcome.err);
        }
      });
    }
    this.hub.publish(events);
  }

  /** The WAL fdatasync, run on libuv's thread pool through our own descriptor of the -wal file. */
  private openWalSync(path: string): (() => Promise<void>) | null {
    if (path === '' || path === ':memory:' || path.startsWith('file:')) return null;
    try {
      this.walFd = openSync(`${path}-wal`, 'r');
    } catch {
      return null; // no WAL file to sync: fall back to SQLite's own FULL
    }
    const fd = this.walFd;
    return () => new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  }

  /** Check and apply one write inside the open transaction; a failed check writes nothing. */
  private applyWrite(op: WriteOp, revision: number): Outcome {
    const current = this.selectKv.get(op.key);
    if (op.kind === 'create') {
      if (current) return { ok: false, err: new KeyExistsError(op.key) };
      this.insertKv.run(op.key, revision, revision);
      this.insertLog.run(revision, op.key, RowType.Create, op.value, revision, 0);
      const kv = { key: op.key, value: op.value, createRevision: revision, modRevision: revision };
      return { ok: true, kv, event: { type: 'create', kv, revision } };
    }
    if (!current) return { ok: false, err: new KeyNotFoundError(op.key) };
    if (op.expected !== undefined && op.expected !== current.mod_revision) {
      return { ok: false, err: new ConflictError(op.key, op.expected, current.mod_revision) };
    }
    const prevKv = kvFromRow(current);
    if (op.kind === 'update') {
      this.updateKv.run(revision, op.key);
      this.insertLog.run(revision, op.key, RowType.Update, op.value, current.create_revision, current.mod_revision);
      const kv = { key: op.key, value: op.value, createRevision: current.create_revision, modRevision: revision };
      return { ok: true, kv, event: { type: 'update', kv, prevKv, revision } };
    }
    this.deleteKv.run(op.key);
    this.insertLog.run(revision, op.key, RowType.Delete, current.value, current.create_revision, current.mod_revision);
    const kv = { ...prevKv, modRevision: revision };
    return { ok: true, kv, event: { type: 'delete', kv, prevKv, revision } };
  }

  // ---- watch -------------------------------------------------------------------------------

  watch(prefix: string, opts: WatchOptions, handlers: WatchHandlers): Watcher {
    this.assertOpen();
    return this.hub.watch(prefix, Math.max(0, opts.fromRevision ?? 0), handlers);
  }

  // ---- compaction --------------------------------------------------------------------------

  compact(revision: number): Promise<void> {
    // Serialized: two compactions never interleave their chunks.
    const run = this.compaction.then(() => this.compactNow(revision));
    this.compaction = run.catch(() => undefined);
    return run;
  }

  private async compactNow(target: number): Promise<void> {
    this.assertOpen();
    if (target > this.visible) throw new FutureRevisionError(target, this.visible);
    const from = this.compacted;
    if (target <= from) return;
    // Publish the new bound first: from here on nobody reads below it, so rows can be deleted in
    // several transactions without any reader seeing a half-compacted history.
    await this.writeRetryingBusy(() => this.setMeta.run(target, 'compacted'));
    this.compacted = target;
    // A row is dropped if it is a delete or a newer row at or below the target supersedes it.
    // Chunks go in ascending revision order, so a delete row goes no earlier than the rows it
    // superseded: a reader at the target never sees a deleted key come back, even mid-way (or
    // after a crash mid-way).
    const prune = this.statement(
      `DELETE FROM log WHERE revision > ? AND revision <= ? AND (type = ${RowType.Delete} OR EXISTS (
         SELECT 1 FROM log newer WHERE newer.key = log.key AND newer.revision > log.revision AND newer.revision <= ?))`,
    );
    // The first chunk starts at 0, not at the previous bound: rows kept by earlier compactions (the
    // newest per key) may be superseded by now.
    let low = 0;
    let high = Math.min(from + this.compactionChunk, target);
    while (!this.closed) {
      await this.writeRetryingBusy(() => prune.run(low, high, target));
      if (high >= target) break;
      low = high;
      high = Math.min(high + this.compactionChunk, target);
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** A write outside the batch path (compaction): in background mode the checkpointer may hold the writer lock a moment. */
  private async writeRetryingBusy(write: () => unknown): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        write();
        return;
      } catch (err) {
        if (!this.background || !isBusy(err) || attempt >= 5000) throw err;
        this.counters.busyRetries++;
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  }

  stats(): SqliteStoreStats {
    const c = this.checkpointer?.stats();
    return {
      ...this.counters,
      watchers: this.hub.size,
      checkpointMode: this.checkpointer ? 'background' : 'inline',
      backgroundCheckpoints: c?.rounds ?? 0,
      checkpointRestarts: c?.restarts ?? 0,
      checkpointerErrors: this.checkpointerErrors + (c?.errors ?? 0),
    };
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Commits what is already queued, ends every watcher with StoreClosedError, closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    // The checkpointer goes first: then nobody else can hold the writer lock while the queue is committed.
    const checkpointer = this.checkpointer;
    this.checkpointer = null;
    await checkpointer?.stop();
    if (this.closed) return;
    for (let busy = 0; this.pending.length > 0 && !this.broken && busy < 1000; ) {
      if (!this.commitBatch(this.pending.splice(0, this.maxBatchSize))) busy++;
    }
    this.closed = true;
    for (const w of this.pending.splice(0)) w.reject(new StoreClosedError());
    // Queued writes were committed above; let their WAL sync finish so they settle normally.
    if (this.syncing || this.awaitingSync.length > 0) {
      await new Promise<void>((resolve) => {
        this.syncIdleWaiters.push(resolve);
        this.startSync();
      });
    }
    await this.compaction;
    this.hub.failAll(new StoreClosedError());
    if (this.walFd !== null) closeSync(this.walFd);
    if (this.walStatFd !== null && this.walStatFd !== this.walFd) closeSync(this.walStatFd);
    this.db.close();
    this.writerLock?.release();
  }

  private assertOpen(): void {
    if (this.broken) throw this.broken;
    if (this.closed) throw new StoreClosedError();
  }

  private readMeta(name: string): number {
    const row = this.db.prepare('SELECT value FROM meta WHERE name = ?').get(name) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  /** Prepared statements for SQL built from a few fixed shapes, cached by text. */
  private statement(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }
}

function kvFromRow(row: KvRow): KeyValue {
  return { key: row.key, value: row.value, createRevision: row.create_revision, modRevision: row.mod_revision };
}

function eventFromLogRow(row: LogRow): WatchEvent {
  const type = EVENT_TYPE[row.type]!;
  const kv = { key: row.key, value: row.value, createRevision: row.create_revision, modRevision: row.revision };
  if (type === 'create') return { type, kv, revision: row.revision };
  // A delete row keeps the last value itself; an update's previous value is the row it replaced.
  const prevValue = type === 'delete' ? row.value : (row.prev_value ?? '');
  const prevKv = { key: row.key, value: prevValue, createRevision: row.create_revision, modRevision: row.prev_mod_revision };
  return { type, kv, prevKv, revision: row.revision };
}

/** WHERE clause (and its parameters) selecting keys with the prefix, strictly after `startAfter`. */
function rangeClause(prefix: string, startAfter: string | undefined, column = 'key'): { where: string; params: string[] } {
  const range = prefixRange(prefix);
  const parts: string[] = [];
  const params: string[] = [];
  if (startAfter !== undefined && startAfter >= range.start) {
    parts.push(`${column} > ?`);
    params.push(startAfter);
  } else {
    parts.push(`${column} >= ?`);
    params.push(range.start);
  }
  if (range.end !== null) {
    parts.push(`${column} < ?`);
    params.push(range.end);
  }
  return { where: parts.join(' AND '), params };
}
