/**
 * A list-watch cache (an informer) over Kedge's own API client (kube-client.ts), caching lean objects.
 *
 * Semantics are client-node's ListWatch's (which the hub and the controllers were first written against): start()
 * lists, reconciles the cache with the list (delete for what vanished, add for what is new, update for what changed
 * resourceVersion), then watches from the list's resourceVersion. A watch the server ends is resumed from the last
 * resourceVersion seen; a 410 Gone relists; any other failure emits 'error' and stops: the owner restarts it with
 * its own backoff (src/controllers/informers.ts, src/cloudhub/cache.ts).
 *
 * Lean: objects are cached without `metadata.managedFields` (server-side apply bookkeeping, ~1.3 KiB of a ~5 KiB
 * pod that no long-running Kedge client reads) and with their short strings shared (string-pool.ts). An update that
 * omits managedFields keeps the stored ones (as upstream), so objects read from such a cache can still be PUT.
 */
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { sharedStrings } from './string-pool.js';
import { KubeApiError, type KubeClient, type WatchEvent, type WatchHandle } from './kube-client.js';

/** Drops `metadata.managedFields` in place (the object was decoded for this cache alone). */
export function withoutManagedFields<T extends KubernetesObject>(obj: T): T {
  const meta = obj?.metadata as (KubernetesObject['metadata'] & { managedFields?: unknown }) | undefined;
  if (!meta || meta.managedFields === undefined) return obj;
  // Rest/spread (not `delete`) keeps the metadata object in V8's compact fast-property form.
  const { managedFields: _dropped, ...rest } = meta;
  obj.metadata = rest;
  return obj;
}

/**
 * An object as the cache keeps it: without managedFields, and its short strings shared with equal ones already
 * cached (string-pool.ts). The object was decoded for this cache alone, so it is changed in place.
 */
export function leanObject<T extends KubernetesObject>(obj: T): T {
  return sharedStrings.internAll(withoutManagedFields(obj));
}

/**
 * How far an informer has seen the cluster: the revision of each list it makes and of each watch event or bookmark
 * it receives (bookmarks are asked for only when this is given). Called after the informer's handlers ran.
 */
export interface InformerProgress {
  /** A list at `revision` is about to be delivered as add/update/delete events (a relist after 410 included). */
  listing(revision: number): void;
  /** The list's events were delivered; watch events follow. */
  listed(): void;
  /** A watch event or bookmark at `revision` was handled. */
  watched(revision: number): void;
}

/** A resourceVersion as a revision number (NaN for an opaque one: some API servers are not backed by etcd). */
export function revisionOf(rv: string | undefined): number {
  return rv !== undefined && /^[0-9]+$/.test(rv) ? Number(rv) : Number.NaN;
}

export type InformerEvent = 'add' | 'update' | 'delete';
type ObjectCallback<T> = (obj: T) => void;
type ErrorCallback = (err: unknown) => void;

/** Read access to an informer's cache (client-node's ObjectCache shape). */
export interface ObjectCache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): T[];
}

/**
 * A read-only view of one resource's cache plus change notifications: what controllers consume, whoever owns the
 * informer behind it (the controllers' own factory, or the cloud hub's cache in `kedge cloud`, which shares its
 * informers so the process lists and watches each resource once). Each onX returns its unsubscribe.
 */
export interface SharedInformer<T extends KubernetesObject> extends ObjectCache<T> {
  onAdd(cb: (obj: T) => void): () => void;
  onUpdate(cb: (obj: T) => void): () => void;
  onDelete(cb: (obj: T) => void): () => void;
  /** True once the first list has been loaded (and until a list or watch error, until the next list). */
  synced(): boolean;
}

/** Informers owned elsewhere, by collection path (e.g. /api/v1/pods); undefined where there is none. */
export type InformerLookup = (path: string) => SharedInformer<KubernetesObject> | undefined;

/** A SharedInformer view of a LeanInformer whose synced state its owner tracks. */
export function informerView<T extends KubernetesObject>(inf: LeanInformer<T>, synced: () => boolean): SharedInformer<T> {
  const subscribe = (event: InformerEvent) => (cb: (obj: T) => void) => {
    inf.on(event, cb);
    return () => inf.off(event, cb);
  };
  return { get: (name, ns) => inf.get(name, ns), list: (ns) => inf.list(ns), onAdd: subscribe('add'), onUpdate: subscribe('update'), onDelete: subscribe('delete'), synced };
}

export class LeanInformer<T extends KubernetesObject = KubernetesObject> implements ObjectCache<T> {
  /** namespace ('' for cluster-scoped) → name → object. */
  private objects = new Map<string, Map<string, T>>();
  private readonly callbacks: Record<InformerEvent, Array<ObjectCallback<T>>> = { add: [], update: [], delete: [] };
  private readonly errorCallbacks: ErrorCallback[] = [];
  private resourceVersion = '';
  private stopped = true;
  private current?: WatchHandle;

  /**
   * `path` is the collection (e.g. /api/v1/pods); `query` adds selectors to both the list and the watch; `progress`
   * hears the revisions delivered (the watch then asks for bookmarks).
   */
  constructor(
    private readonly client: KubeClient, private readonly path: string, private readonly query: Record<string, string> = {},
    private readonly progress?: InformerProgress,
  ) {}

  on(event: InformerEvent, cb: ObjectCallback<T>): void;
  on(event: 'error', cb: ErrorCallback): void;
  on(event: InformerEvent | 'error', cb: ObjectCallback<T> | ErrorCallback): void {
    if (event === 'error') this.errorCallbacks.push(cb as ErrorCallback);
    else this.callbacks[event].push(cb as ObjectCallback<T>);
  }

  /** Removes a callback added with on(). */
  off(event: InformerEvent, cb: ObjectCallback<T>): void {
    const list = this.callbacks[event];
    const i = list.indexOf(cb);
    if (i >= 0) list.splice(i, 1);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(namespace ?? '')?.get(name);
  }

  list(namespace?: string): T[] {
    if (namespace) return [...(this.objects.get(namespace)?.values() ?? [])];
    const all: T[] = [];
    for (const byName of this.objects.values()) for (const o of byName.values()) all.push(o);
    return all;
  }

  /** Lists (unless resuming) and opens the watch; resolves once both are done or an error was emitted. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.abort();
    this.current = undefined;
  }

  private emitError(err: unknown): void {
    for (const cb of this.errorCallbacks.slice()) cb(err);
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    if (!this.resourceVersion) {
      let list: KubernetesListObject<T>;
      try {
        list = await this.client.request<KubernetesListObject<T>>('GET', this.withQuery(this.path, this.query));
      } catch (err) {
        this.emitError(err);
        return;
      }
      if (this.stopped) return;
      this.progress?.listing(revisionOf(list.metadata?.resourceVersion));
      this.replace((list.items ?? []).map((o) => leanObject(o)));
      this.resourceVersion = list.metadata?.resourceVersion ?? '';
      this.progress?.listed();
    }
    const query = this.progress ? { ...this.query, allowWatchBookmarks: 'true' } : this.query;
    const handle = this.client.watch(this.path, { ...query, resourceVersion: this.resourceVersion }, (ev) => this.onEvent(ev));
    this.current = handle;
    handle.done.then(
      () => {
        if (this.current === handle) void this.run();
      },
      (err: unknown) => {
        if (this.current !== handle || this.stopped) return;
        if (err instanceof KubeApiError && err.code === 410) {
          this.resourceVersion = '';
          void this.run();
          return;
        }
        this.current = undefined;
        this.emitError(err);
      },
    );
  }

  private withQuery(path: string, query: Record<string, string>): string {
    const qs = new URLSearchParams(query).toString();
    return qs ? `${path}?${qs}` : path;
  }

  private onEvent(ev: WatchEvent): void {
    const obj = ev.object as T & { code?: number };
    switch (ev.type) {
      case 'ERROR':
        // 410 Gone as an event: relist when the server ends this stream.
        if (obj?.code === 410) this.resourceVersion = '';
        return;
      case 'ADDED':
      case 'MODIFIED':
        this.upsert(leanObject(obj));
        break;
      case 'DELETED':
        this.remove(leanObject(obj));
        break;
      case 'BOOKMARK':
        break;
    }
    this.resourceVersion = obj?.metadata?.resourceVersion ?? this.resourceVersion;
    this.progress?.watched(revisionOf(obj?.metadata?.resourceVersion));
  }

  /** The cache becomes `items`: what vanished is deleted, what is new added, what changed updated. */
  private replace(items: T[]): void {
    const fresh = new Map<string, Map<string, T>>();
    for (const o of items) {
      const ns = o.metadata?.namespace ?? '';
      let byName = fresh.get(ns);
      if (!byName) fresh.set(ns, (byName = new Map()));
      byName.set(o.metadata?.name ?? '', o);
    }
    for (const [ns, byName] of this.objects) {
      for (const [name, old] of byName) {
        if (fresh.get(ns)?.has(name)) continue;
        byName.delete(name);
        for (const cb of this.callbacks.delete.slice()) cb(old);
      }
      if (byName.size === 0) this.objects.delete(ns);
    }
    for (const o of items) this.upsert(o);
  }

  private upsert(obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    let byName = this.objects.get(ns);
    if (!byName) this.objects.set(ns, (byName = new Map()));
    const name = obj.metadata?.name ?? '';
    const found = byName.get(name);
    // A relist re-delivers unchanged objects: the cached copy stays, and nothing changed to report.
    if (found && found.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    byName.set(name, obj);
    for (const cb of (found ? this.callbacks.update : this.callbacks.add).slice()) cb(obj);
  }

  private remove(obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    const byName = this.objects.get(ns);
    const name = obj.metadata?.name ?? '';
    const found = byName?.get(name);
    if (!byName || !found) return;
    byName.delete(name);
    if (byName.size === 0) this.objects.delete(ns);
    for (const cb of this.callbacks.delete.slice()) cb(obj);
  }
}
