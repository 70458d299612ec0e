/**
 * The revisioned object store contract shared by every backend (SQLite today; etcd and
 * PostgreSQL later) and by every consumer (the API server, and the edge agent's local store).
 *
 * Semantics follow etcd's MVCC model, because that is what the Kubernetes API machinery is
 * built on: one cluster-wide revision counter, bumped by every successful write; each key
 * remembers the revision that created it and the one that last modified it; history can be
 * read and watched until it is compacted away.
 */

export interface KeyValue {
  key: string;
  /** Opaque to the store: the API server keeps JSON text here. */
  value: string;
  /** Revision of the write that created this incarnation of the key. */
  createRevision: number;
  /** Revision of the last write to the key (the Kubernetes resourceVersion). */
  modRevision: number;
}

export type WatchEventType = 'create' | 'update' | 'delete';

export interface WatchEvent {
  type: WatchEventType;
  /** For 'delete', the key's last value, with modRevision set to the deleting revision. */
  kv: KeyValue;
  /** The value before this write; absent for 'create'. */
  prevKv?: KeyValue;
  /** Revision of this event; equals kv.modRevision. */
  revision: number;
}

export interface ReadOptions {
  /** Read the state as of this revision; 0 or absent means the latest. */
  revision?: number;
}

export interface ListOptions extends ReadOptions {
  /** At most this many items; 0 or absent means no limit. */
  limit?: number;
  /** Return only keys strictly greater than this one (pagination cursor). */
  startAfter?: string;
}

export interface ListResult {
  items: KeyValue[];
  /** The revision the list was read at (pass it back to continue a paginated list consistently). */
  revision: number;
  /** Keys remain after the last returned item. */
  more: boolean;
  /** How many keys remain after the returned ones (for remainingItemCount). */
  remaining: number;
}

export interface WatchOptions {
  /** Deliver events with revision strictly greater than this. */
  fromRevision: number;
}

export interface Watcher {
  cancel(): void;
  /**
   * A revision this watcher has been delivered through: every matching event at or below it has been handed to
   * onEvent. A watch bookmark may carry it (a client resuming from it misses nothing); the store's current
   * revision may not while a replay or a queue is still behind.
   */
  deliveredThrough(): number;
}

export interface WatchHandlers {
  /**
   * Events arrive in revision order, each exactly once per watcher. Returning a promise applies
   * backpressure: the store delivers nothing more to this watcher until it settles, buffering up to
   * a bounded number of events; a watcher that falls further behind gets WatchOverflowError.
   */
  onEvent(event: WatchEvent): void | Promise<void>;
  /** Called once if the watch cannot continue (e.g. CompactedError); no events follow. */
  onError(err: Error): void;
}

export interface Store {
  /** The revision of the newest write (0 for an empty store). */
  currentRevision(): Promise<number>;
  /**
   * History before this revision has been compacted away (as in etcd): reads at a revision below it
   * fail with CompactedError, the state at exactly this revision stays readable, and watches need
   * fromRevision >= it (they deliver events after fromRevision).
   */
  compactedRevision(): Promise<number>;

  get(key: string, opts?: ReadOptions): Promise<KeyValue | null>;
  /** Keys with the given prefix, in key order. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  count(prefix: string): Promise<number>;

  /** Fails with KeyExistsError if the key exists. */
  create(key: string, value: string): Promise<KeyValue>;
  /**
   * Replace the value. With expectedModRevision, fails with ConflictError unless the key's
   * current modRevision matches. Fails with KeyNotFoundError if the key is absent.
   */
  update(key: string, value: string, expectedModRevision?: number): Promise<KeyValue>;
  /** Returns the deleted key's last value with modRevision = the delete's revision. */
  delete(key: string, expectedModRevision?: number): Promise<KeyValue>;

  /** Watch keys with the prefix. Throws (or reports via onError) CompactedError if fromRevision was compacted away. */
  watch(prefix: string, opts: WatchOptions, handlers: WatchHandlers): Watcher;

  /** Forget history before `revision`: the state at `revision` and everything after it stay readable. */
  compact(revision: number): Promise<void>;

  close(): Promise<void>;
}

export class StorageError extends Error {
  constructor(message?: string) {
    super(message);
    // Logs and test output then say "CompactedError: ..." rather than "Error: ...".
    this.name = new.target.name;
  }
}

export class KeyExistsError extends StorageError {
  constructor(readonly key: string) {
    super(`key already exists: ${key}`);
  }
}

export class KeyNotFoundError extends StorageError {
  constructor(readonly key: string) {
    super(`key not found: ${key}`);
  }
}

export class ConflictError extends StorageError {
  constructor(readonly key: string, readonly expected: number, readonly actual: number) {
    super(`revision conflict on ${key}: expected ${expected}, found ${actual}`);
  }
}

export class CompactedError extends StorageError {
  constructor(readonly requested: number, readonly compacted: number) {
    super(`revision ${requested} has been compacted (compacted through ${compacted})`);
  }
}

export class FutureRevisionError extends StorageError {
  constructor(readonly requested: number, readonly current: number) {
    super(`revision ${requested} is newer than the current revision ${current}`);
  }
}

/** The watcher fell too far behind the writers (its bounded buffer overflowed); re-watch from its last revision. */
export class WatchOverflowError extends StorageError {
  constructor(readonly lastDeliveredRevision: number, readonly limit: number) {
    super(`watcher fell more than ${limit} events behind after revision ${lastDeliveredRevision}; re-watch from there`);
  }
}

/** The store was closed; the operation was not performed. */
export class StoreClosedError extends StorageError {
  constructor() {
    super('store is closed');
  }
}
