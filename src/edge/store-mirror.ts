/**
 * An in-memory copy of one prefix of the edge's local store (list, then watch from the list's revision; a watch
 * that ends is replaced by a relist that also drops what vanished meanwhile). Node-local consumers that answer
 * from the store at packet rate (the DNS server, a service proxy) read this copy instead of SQLite.
 * Values are parsed once per write; a value that is not JSON is skipped with a warning (it cannot be served).
 */
import type { Logger } from '../common/logger.js';
import type { Store, Watcher } from '../storage/types.js';

export interface StoreMirrorOptions {
  store: Store;
  /** Key prefix, e.g. `/registry/services/`. */
  prefix: string;
  log: Logger;
  /** Called after each applied change (key, new value or null when deleted), and once after every (re)list. */
  onChange?: (key: string, value: unknown | null) => void;
  /** Delay before relisting after a watch ended (default 500 ms). */
  relistDelayMs?: number;
}

export class StoreMirror<T> {
  readonly items = new Map<string, T>();
  private watcher: Watcher | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: StoreMirrorOptions) {}

  /** Resolves once the first list is loaded. */
  async start(): Promise<void> {
    await this.load();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watcher?.cancel();
  }

  private async load(): Promise<void> {
    const list = await this.o.store.list(this.o.prefix);
    const present = new Set<string>();
    for (const kv of list.items) {
      present.add(kv.key);
      this.accept(kv.key, kv.value, false);
    }
    for (const key of [...this.items.keys()]) if (!present.has(key)) this.items.delete(key);
    this.o.onChange?.('', null);
    this.watcher = this.o.store.watch(this.o.prefix, { fromRevision: list.revision }, {
      onEvent: (ev) => this.accept(ev.kv.key, ev.type === 'delete' ? null : ev.kv.value, true),
      onError: (err) => {
        if (this.stopped) return;
        this.o.log.warn({ err: err.message, prefix: this.o.prefix }, 'store mirror: watch ended, relisting');
        this.scheduleRelist();
      },
    });
  }

  private scheduleRelist(): void {
    this.timer = setTimeout(() => {
      if (this.stopped) return;
      this.load().catch((err: unknown) => {
        this.o.log.error({ err: String(err), prefix: this.o.prefix }, 'store mirror: relist failed; retrying');
        this.scheduleRelist();
      });
    }, this.o.relistDelayMs ?? 500);
    this.timer.unref();
  }

  private accept(key: string, raw: string | null, notify: boolean): void {
    if (raw === null) {
      this.items.delete(key);
      if (notify) this.o.onChange?.(key, null);
      return;
    }
    let value: T;
    try {
      value = JSON.parse(raw) as T;
    } catch {
      this.o.log.warn({ key }, 'store mirror: value is not JSON; skipped');
      return;
    }
    this.items.set(key, value);
    if (notify) this.o.onChange?.(key, value);
  }
}
