/**
 * In-process watch fan-out for a store whose history lives in a readable log (SQLite, read synchronously;
 * PostgreSQL, read asynchronously).
 *
 * Every watcher moves through two phases:
 *  - replay: it reads history from the log in chunks, after its cursor, until the cursor reaches
 *    the committed revision. Events published meanwhile are ignored, because they are in the log
 *    and will be read from there: no gap, no duplicate.
 *  - live: events handed to publish() right after each commit are queued and delivered.
 * The switch happens synchronously at the moment the cursor equals the committed revision, and
 * commits publish synchronously too, so nothing can slip between the two phases.
 *
 * Slow consumers never block writers: delivery stops while a handler's promise is pending, and
 * live events queue per watcher up to a bound; past it the watcher gets WatchOverflowError.
 */
import {
  CompactedError,
  WatchOverflowError,
  type WatchEvent,
  type WatchHandlers,
  type Watcher,
} from './types.js';
import { deliverEvent } from './watch-queue.js';

export interface HistorySource {
  /**
   * Committed events with revision > afterRevision (and at most committedRevision()) on keys with the prefix,
   * ascending, at most `limit`. A remote log (PostgreSQL) answers with a promise; it may reject with
   * CompactedError when compaction overtook afterRevision.
   */
  readEvents(prefix: string, afterRevision: number, limit: number): WatchEvent[] | Promise<WatchEvent[]>;
  committedRevision(): number;
  compactedRevision(): number;
}

export interface WatchHubOptions {
  /** Live events a watcher may have queued before it is cut off. */
  bufferLimit: number;
  /** Events read from the log per replay step. */
  replayChunk: number;
}

export class WatchHub {
  private readonly watchers = new Set<HubWatcher>();

  constructor(
    private readonly source: HistorySource,
    private readonly options: WatchHubOptions,
  ) {}

  /** Throws CompactedError synchronously when history after fromRevision is no longer complete. */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Watcher {
    const compacted = this.source.compactedRevision();
    if (fromRevision < compacted) throw new CompactedError(fromRevision, compacted);
    const watcher = new HubWatcher(prefix, fromRevision, handlers, this.source, this.options, (w) =>
      this.watchers.delete(w),
    );
    this.watchers.add(watcher);
    watcher.start();
    return watcher;
  }

  /** Hand over the events of one commit, in revision order, right after it committed. */
  publish(events: WatchEvent[]): void {
    if (events.length === 0) return;
    for (const watcher of [...this.watchers]) watcher.offer(events);
  }

  /** End every watcher with this error (store closing). */
  failAll(err: Error): void {
    for (const watcher of [...this.watchers]) watcher.fail(err);
  }

  get size(): number {
    return this.watchers.size;
  }
}

class HubWatcher implements Watcher {
  private mode: 'replay' | 'live' = 'replay';
  /** Every event at or below this revision has been queued or delivered (or did not match). */
  private cursor: number;
  private lastDelivered: number;
  private queue: WatchEvent[] = [];
  private head = 0;
  private waiting = false;
  private done = false;

  constructor(
    private readonly prefix: string,
    fromRevision: number,
    private readonly handlers: WatchHandlers,
    private readonly source: HistorySource,
    private readonly options: WatchHubOptions,
    private readonly detach: (w: HubWatcher) => void,
  ) {
    this.cursor = fromRevision;
    this.lastDelivered = fromRevision;
  }

  start(): void {
    if (this.cursor >= this.source.committedRevision()) {
      // Nothing to replay: go live now, before any further commit can publish.
      this.mode = 'live';
      return;
    }
    // Replay later so the caller holds the Watcher handle before the first event arrives;
    // commits in between are read from the log, so this costs no events.
    setImmediate(() => this.advance());
  }

  deliveredThrough(): number {
    // Queued events are not delivered yet: everything before the next one is (the cursor covers the rest).
    return this.head < this.queue.length ? this.queue[this.head]!.revision - 1 : this.cursor;
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.queue = [];
    this.detach(this);
  }

  fail(err: Error): void {
    if (this.done) return;
    this.cancel();
    try {
      this.handlers.onError(err);
    } catch {
      // A failing error handler must not break the store's commit path.
    }
  }

  offer(events: WatchEvent[]): void {
    if (this.done || this.mode !== 'live') return;
    for (const event of events) {
      if (event.revision <= this.cursor) continue;
      this.cursor = event.revision;
      if (event.kv.key.startsWith(this.prefix)) this.queue.push(event);
    }
    this.advance();
    // Only what the consumer left undelivered counts against its bound.
    if (this.queue.length - this.head > this.options.bufferLimit) {
      this.fail(new WatchOverflowError(this.lastDelivered, this.options.bufferLimit));
    }
  }

  /**
   * Deliver what is queued; in replay, refill from the log until caught up, then go live.
   * At most one chunk is read per call, so replaying a long history yields to other work
   * (writers, requests) between chunks instead of holding the event loop.
   */
  private advance(): void {
    let refilled = false;
    while (!this.done && !this.waiting) {
      if (this.head < this.queue.length) {
        this.deliver(this.queue[this.head++]!);
        continue;
      }
      this.queue = [];
      this.head = 0;
      if (this.mode === 'live') return;
      if (refilled) {
        setImmediate(() => this.advance());
        return;
      }
      this.refillFromLog();
      refilled = true;
    }
  }

  private refillFromLog(): void {
    const compacted = this.source.compactedRevision();
    if (this.cursor < compacted) {
      this.fail(new CompactedError(this.cursor, compacted));
      return;
    }
    const committed = this.source.committedRevision();
    if (this.cursor >= committed) {
      this.mode = 'live';
      return;
    }
    const chunk = this.source.readEvents(this.prefix, this.cursor, this.options.replayChunk);
    if (Array.isArray(chunk)) {
      this.takeChunk(chunk, committed);
      return;
    }
    // Asynchronous read: hold delivery (`waiting`) until it answers. Events published meanwhile are ignored, as
    // in any replay: they are in the log, and the next refill reads them.
    this.waiting = true;
    chunk.then(
      (events) => {
        this.waiting = false;
        if (this.done) return;
        this.takeChunk(events, committed);
        this.advance();
      },
      (err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))),
    );
  }

  private takeChunk(chunk: WatchEvent[], committed: number): void {
    this.queue = chunk;
    this.head = 0;
    // A short chunk means the log holds nothing more for us up to `committed`.
    this.cursor = chunk.length < this.options.replayChunk ? committed : chunk[chunk.length - 1]!.revision;
  }

  private deliver(event: WatchEvent): void {
    this.lastDelivered = event.revision;
    deliverEvent(this.handlers, event, this);
  }

  /** @internal deliverEvent: the handler's promise is pending (true) or settled (false). */
  setWaiting(waiting: boolean): void {
    this.waiting = waiting;
    if (!waiting) this.advance();
  }
}
