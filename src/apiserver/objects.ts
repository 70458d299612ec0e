/**
 * Object lifecycle over the store, with upstream's generic-registry semantics: create (generateName, uid,
 * creationTimestamp, generation), guaranteed update (optimistic concurrency, status vs spec, generation bumps,
 * no-op detection), and deletion (graceful deletion, finalizers, orphan/foreground propagation).
 */
import { randomUUID, randomInt } from 'node:crypto';
import type { Store, KeyValue } from '../storage/types.js';
import { ConflictError, KeyExistsError, KeyNotFoundError } from '../storage/types.js';
import { clone, decodeKv, encodeForStore, nowTimestamp, type KubeObject } from '../apimachinery/object.js';
import {
  alreadyExists, badRequest, conflict, conflictModified, forbidden, invalid, notFound, type FieldError, type GroupResource,
} from '../apimachinery/status.js';
import type { WatchCacheFeed } from '../apimachinery/watchcache.js';
import { groupVersion, storagePrefix, type ResourceDef, type StrategyContext } from './registry.js';
import { validateObjectMeta, validateObjectMetaUpdate } from './validation.js';

export function keyFor(def: ResourceDef, namespace: string, name: string): string {
  return storagePrefix(def) + (def.namespaced ? `${namespace}/${name}` : name);
}

export function grOf(def: ResourceDef): GroupResource {
  return { group: def.group, resource: def.resource };
}

/** Upstream's generateName suffix alphabet (no vowels, no confusable characters). */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function generateNameSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  return s;
}

/** Set apiVersion/kind to the served version (versions of one resource share storage, conversion "None"). */
export function asServed(def: ResourceDef, obj: KubeObject): KubeObject {
  const apiVersion = groupVersion(def);
  if (obj.apiVersion === apiVersion && obj.kind === def.kind) return obj;
  if (def.convert) return { ...def.convert.fromStorage(obj), apiVersion, kind: def.kind };
  return { ...obj, apiVersion, kind: def.kind };
}

/** The store value for an object in its served shape (converted back when the version's shape differs). */
function encode(def: ResourceDef, obj: KubeObject): string {
  return encodeForStore(def.convert ? def.convert.toStorage(obj) : obj);
}

/** Everything except metadata and status: a change here bumps metadata.generation. */
function specOf(obj: KubeObject): string {
  const { metadata: _m, status: _s, ...rest } = obj;
  return JSON.stringify(rest);
}

export interface NamespaceGate {
  namespaceState(namespace: string): Promise<'active' | 'missing' | 'terminating'>;
}

export interface ObjectStoreDeps {
  store: Store;
  feed: WatchCacheFeed;
  namespaces: NamespaceGate;
  /** Extra validation for every write (e.g. schema engineer's strict field checks, CRD schemas). */
  admit?: (def: ResourceDef, obj: KubeObject, old: KubeObject | null, ctx: StrategyContext) => void | Promise<void>;
  /** Admission of a DELETE (the admission webhooks), given the object as stored and the request's options. */
  admitDelete?: (def: ResourceDef, old: KubeObject, opts: DeleteOptions, ctx: StrategyContext) => void | Promise<void>;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun: boolean;
  /** Skip DELETE admission: the eviction subresource was admitted as its own CREATE (upstream's ValidateAllObjectFunc). */
  skipAdmission?: boolean;
}

export class ObjectStore {
  constructor(private readonly deps: ObjectStoreDeps) {}

  async get(def: ResourceDef, ns: string, name: string): Promise<{ obj: KubeObject; kv: KeyValue }> {
    const kv = await this.deps.store.get(keyFor(def, ns, name));
    if (!kv) throw notFound(grOf(def), name);
    return { obj: asServed(def, decodeKv(kv)), kv };
  }

  private validateCreate(def: ResourceDef, obj: KubeObject, ctx: StrategyContext): void {
    const errs: FieldError[] = [
      ...validateObjectMeta(obj, def.nameValidation ?? 'subdomain', def.namespaced),
      ...(def.strategy.validate?.(obj, ctx) ?? []),
    ];
    if (errs.length) throw invalid(def.kind, def.group, obj.metadata?.name ?? '', errs);
  }

  async create(def: ResourceDef, input: KubeObject, ctx: StrategyContext): Promise<KubeObject> {
    const obj = clone(input);
    obj.apiVersion = groupVersion(def);
    obj.kind = def.kind;
    const md = (obj.metadata ??= {});
    if (md.resourceVersion) throw badRequest('resourceVersion should not be set on objects to be created');
    if (def.namespaced) {
      if (md.namespace && ctx.namespace && md.namespace !== ctx.namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      md.namespace = md.namespace || ctx.namespace;
    } else {
      delete md.namespace;
    }
    // Upstream's SimpleNameGenerator keeps at most 58 characters of the prefix, so the name fits a DNS label (63).
    if (!md.name && md.generateName) md.name = md.generateName.slice(0, 58) + generateNameSuffix();
    md.uid = randomUUID();
    md.creationTimestamp = nowTimestamp() as unknown as Date;
    delete md.deletionTimestamp;
    delete md.deletionGracePeriodSeconds;
    if (def.tracksGeneration !== false) md.generation = 1;
    else delete md.generation;
    if (def.subresources?.includes('status') && !def.virtual) delete obj.status;
    def.strategy.defaults?.(obj);
    this.validateCreate(def, obj, ctx);
    if (def.namespaced) {
      const state = await this.deps.namespaces.namespaceState(md.namespace!);
      if (state === 'missing') throw notFound({ group: '', resource: 'namespaces' }, md.namespace!);
      if (state === 'terminating') throw forbidden(grOf(def), md.name!, `unable to create new content in namespace ${md.namespace} because it is being terminated`);
    }
    await this.deps.admit?.(def, obj, null, ctx);
    await def.strategy.prepareForCreate?.(obj, ctx);
    if (ctx.dryRun) {
      await def.strategy.abortCreate?.(obj);
      return obj;
    }
    let kv: KeyValue;
    try {
      kv = await this.deps.store.create(keyFor(def, md.namespace ?? '', md.name!), encode(def, obj));
    } catch (err) {
      await def.strategy.abortCreate?.(obj);
      if (err instanceof KeyExistsError) throw alreadyExists(grOf(def), md.name!);
      throw err;
    }
    await this.settle(kv.modRevision);
    await def.strategy.afterCreate?.(obj);
    return asServed(def, decodeKv(kv));
  }

  /** Writes are acknowledged once the watch cache has them, so a following list sees them (read-your-writes). */
  private async settle(rev: number): Promise<void> {
    try { await this.deps.feed.waitFresh(rev); } catch { /* the write is durable; the cache will catch up */ }
  }

  /**
   * Read-modify-write with optimistic concurrency. `mutate` gets a private copy of the current object; if the
   * result carries a resourceVersion different from the stored one, that is the client's precondition → 409.
   * Without one, store conflicts (a concurrent writer) are retried transparently.
   */
  async update(
    def: ResourceDef, ns: string, name: string, ctx: StrategyContext,
    mutate: (cur: KubeObject) => KubeObject | Promise<KubeObject>,
    opts: { createIfMissing?: () => KubeObject } = {},
  ): Promise<{ obj: KubeObject; created: boolean }> {
    const key = keyFor(def, ns, name);
    for (let attempt = 0; ; attempt++) {
      // First attempt: the current object from the watch cache, when it has it (no SQLite read). The cache may
      // lag the store, so anything that depends on the copy being the latest — a conflict, the client's
      // resourceVersion not matching, a no-op — is decided again from the store before it is answered.
      const cached = attempt === 0 && !ctx.dryRun ? this.fromCache(def, key) : undefined;
      const kv = cached ?? (await this.deps.store.get(key));
      if (!kv) {
        if (opts.createIfMissing) return { obj: await this.create(def, opts.createIfMissing(), ctx), created: true };
        throw notFound(grOf(def), name);
      }
      // Private copies of the current object are decoded from the stored text again: cheaper than a deep clone.
      const decodeCurrent = () => asServed(def, decodeKv(kv));
      const cur = decodeCurrent();
      const next = await mutate(decodeCurrent());
      const wantedRv = next.metadata?.resourceVersion;
      if (wantedRv && wantedRv !== String(kv.modRevision)) {
        if (cached && !(await this.stillCurrent(kv))) continue;
        throw conflictModified(grOf(def), name);
      }
      const obj = this.prepareUpdate(def, next, cur, ctx, decodeCurrent);
      def.strategy.defaults?.(obj);
      await def.strategy.prepareForUpdate?.(obj, cur, ctx);
      const errs = [
        ...validateObjectMetaUpdate(obj, cur),
        ...validateObjectMeta(obj, def.nameValidation ?? 'subdomain', def.namespaced).filter((e) => e.field !== 'metadata.name'),
        ...(def.strategy.validateUpdate?.(obj, cur, ctx) ?? def.strategy.validate?.(obj, ctx) ?? []),
      ];
      if (errs.length) throw invalid(def.kind, def.group, name, errs);
      await this.deps.admit?.(def, obj, cur, ctx);
      if (def.tracksGeneration !== false && specOf(obj) !== specOf(cur)) {
        obj.metadata!.generation = (cur.metadata?.generation ?? 0) + 1;
      }
      const value = encode(def, obj);
      if (value === encode(def, cur)) {
        if (cached && !(await this.stillCurrent(kv))) continue;
        return { obj: cur, created: false };
      }
      const finalized = obj.metadata?.deletionTimestamp && !(obj.metadata.finalizers?.length) && !def.strategy.pendingFinalization?.(obj);
      if (ctx.dryRun) return { obj: { ...obj, metadata: { ...obj.metadata, resourceVersion: String(kv.modRevision) } }, created: false };
      try {
        if (finalized) {
          const gone = await this.deps.store.delete(key, kv.modRevision);
          await this.settle(gone.modRevision);
          await def.strategy.afterDelete?.(obj);
          return { obj: { ...obj, metadata: { ...obj.metadata, resourceVersion: String(gone.modRevision) } }, created: false };
        }
        const written = await this.deps.store.update(key, value, kv.modRevision);
        await this.settle(written.modRevision);
        // The stored text is `value`, i.e. obj serialized: answer with obj rather than parsing it back.
        (obj.metadata ??= {}).resourceVersion = String(written.modRevision);
        return { obj, created: false };
      } catch (err) {
        if (err instanceof ConflictError) {
          if ((wantedRv && !cached) || attempt > 20) throw conflictModified(grOf(def), name);
          continue;
        }
        if (err instanceof KeyNotFoundError) {
          if (cached) continue;
          throw notFound(grOf(def), name);
        }
        throw err;
      }
    }
  }

  /** Whether the store still holds `kv`'s revision of its key (a cached copy was not stale). */
  private async stillCurrent(kv: KeyValue): Promise<boolean> {
    return (await this.deps.store.get(kv.key))?.modRevision === kv.modRevision;
  }

  /** The watch cache's copy of `key` as a store value (its text carries the resourceVersion, which decoding overwrites alike). */
  private fromCache(def: ResourceDef, key: string): KeyValue | undefined {
    const item = this.deps.feed.peek(storagePrefix(def))?.get(key);
    return item && { key, value: item.raw, modRevision: item.revision, createRevision: 0 };
  }

  /** What the writer may change: system metadata is kept; status and spec split by subresource. */
  private prepareUpdate(def: ResourceDef, next: KubeObject, cur: KubeObject, ctx: StrategyContext, copyOfCurrent: () => KubeObject = () => clone(cur)): KubeObject {
    let obj: KubeObject;
    const hasStatus = def.subresources?.includes('status');
    if (ctx.subresource === 'status' || ctx.subresource === 'approval') {
      obj = copyOfCurrent();
      if (next.status === undefined) delete obj.status;
      else obj.status = next.status;
    } else {
      obj = next;
      // Internal subresources (binding, finalize, scale) write exactly what their handler computed.
      if (hasStatus && ctx.subresource === '') {
        if (cur.status === undefined) delete obj.status;
        else obj.status = cur.status;
      }
    }
    obj.apiVersion = cur.apiVersion;
    obj.kind = cur.kind;
    const md = (obj.metadata ??= {});
    const old = cur.metadata ?? {};
    md.name = old.name;
    if (def.namespaced) md.namespace = old.namespace;
    md.uid = old.uid;
    md.creationTimestamp = old.creationTimestamp;
    if (old.deletionTimestamp) md.deletionTimestamp = old.deletionTimestamp;
    else delete md.deletionTimestamp;
    if (old.deletionGracePeriodSeconds !== undefined) md.deletionGracePeriodSeconds = old.deletionGracePeriodSeconds;
    else delete md.deletionGracePeriodSeconds;
    if (old.generation !== undefined) md.generation = old.generation;
    else delete md.generation;
    if (md.managedFields === undefined && old.managedFields !== undefined) md.managedFields = old.managedFields;
    delete md.resourceVersion;
    return obj;
  }

  /**
   * Delete with upstream's rules: preconditions; graceful deletion (deletionTimestamp + grace period, the object
   * stays until its owner finishes); finalizers (object stays until they are removed); propagationPolicy Orphan /
   * Foreground add the `orphan` / `foregroundDeletion` finalizer for the garbage collector.
   * Returns the object and whether it is gone now.
   */
  async delete(def: ResourceDef, ns: string, name: string, opts: DeleteOptions, ctx: StrategyContext): Promise<{ obj: KubeObject; deleted: boolean }> {
    const key = keyFor(def, ns, name);
    let admittedRevision = 0;
    for (let attempt = 0; ; attempt++) {
      const kv = await this.deps.store.get(key);
      if (!kv) throw notFound(grOf(def), name);
      const cur = asServed(def, decodeKv(kv));
      const md = cur.metadata ?? {};
      if (opts.preconditions?.uid && opts.preconditions.uid !== md.uid) {
        throw conflict(grOf(def), name, `Precondition failed: UID in precondition: ${opts.preconditions.uid}, UID in object meta: ${md.uid ?? ''}`);
      }
      if (opts.preconditions?.resourceVersion && opts.preconditions.resourceVersion !== md.resourceVersion) {
        throw conflict(grOf(def), name, `Precondition failed: ResourceVersion in precondition: ${opts.preconditions.resourceVersion}, ResourceVersion in meta: ${md.resourceVersion ?? ''}`);
      }
      def.strategy.beforeDelete?.(cur);
      // Admission sees each revision once: a retry after a conflict asks again only if the object changed.
      if (!opts.skipAdmission && this.deps.admitDelete && admittedRevision !== kv.modRevision) {
        await this.deps.admitDelete(def, cur, opts, ctx);
        admittedRevision = kv.modRevision;
      }
      const next = clone(cur);
      const nmd = next.metadata!;
      const finalizers = new Set(nmd.finalizers ?? []);
      if (opts.propagationPolicy === 'Orphan') { finalizers.add('orphan'); finalizers.delete('foregroundDeletion'); }
      if (opts.propagationPolicy === 'Foreground') { finalizers.add('foregroundDeletion'); finalizers.delete('orphan'); }
      if (opts.propagationPolicy === 'Background') { finalizers.delete('orphan'); finalizers.delete('foregroundDeletion'); }
      const alreadyDeleting = !!md.deletionTimestamp;
      const grace = def.strategy.gracePeriodSeconds?.(cur, opts.gracePeriodSeconds) ?? 0;
      let keep: boolean;
      if (alreadyDeleting) {
        // Still finalizing, or still inside its grace period (unless the client shortens it to 0: force).
        keep = finalizers.size > 0 || !!def.strategy.pendingFinalization?.(cur) || (grace > 0 && opts.gracePeriodSeconds === undefined);
      } else {
        keep = finalizers.size > 0 || grace > 0 || !!def.strategy.pendingFinalization?.(cur);
        if (keep) {
          nmd.deletionTimestamp = nowTimestamp(new Date(Date.now() + grace * 1000)) as unknown as Date;
          nmd.deletionGracePeriodSeconds = grace;
        }
      }
      if (keep) {
        nmd.finalizers = [...finalizers];
        if (!nmd.finalizers.length) delete nmd.finalizers;
        if (def.resource === 'namespaces') {
          const status = ((next.status as Record<string, unknown> | undefined) ??= {});
          status.phase = 'Terminating';
        }
        const value = encode(def, next);
        if (ctx.dryRun) return { obj: next, deleted: false };
        if (value === encode(def, cur)) return { obj: cur, deleted: false };
        try {
          const written = await this.deps.store.update(key, value, kv.modRevision);
          await this.settle(written.modRevision);
          return { obj: asServed(def, decodeKv(written)), deleted: false };
        } catch (err) {
          if (err instanceof ConflictError && attempt < 20) continue;
          throw err;
        }
      }
      if (ctx.dryRun) return { obj: cur, deleted: true };
      try {
        const gone = await this.deps.store.delete(key, kv.modRevision);
        await this.settle(gone.modRevision);
        await def.strategy.afterDelete?.(cur);
        return { obj: asServed(def, decodeKv(gone)), deleted: true };
      } catch (err) {
        if (err instanceof ConflictError && attempt < 20) continue;
        if (err instanceof KeyNotFoundError) throw notFound(grOf(def), name);
        throw err;
      }
    }
  }
}

export { forbidden };
