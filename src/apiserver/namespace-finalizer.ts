/**
 * A tiny built-in namespace finalizer so `kubectl delete namespace` completes even without the controller
 * manager: when a namespace is Terminating it deletes everything inside, then removes the `kubernetes` entry
 * from spec.finalizers (the object then disappears). Objects with their own finalizers hold it back, as upstream.
 * The controller manager's namespace controller may do the same work; both are idempotent.
 */
import type { Logger } from '../common/logger.js';
import { StatusError } from '../apimachinery/status.js';
import type { WatchCacheFeed } from '../apimachinery/watchcache.js';
import type { ObjectStore } from './objects.js';
import { storagePrefix, type Registry, type StrategyContext } from './registry.js';
import type { Obj } from './resources/helpers.js';

export class NamespaceFinalizer {
  private busy = new Set<string>();
  private firstPass = new Set<string>();
  private retry = new Map<string, NodeJS.Timeout>();
  private stopWatch: () => void = () => {};
  private stopped = false;

  constructor(private readonly d: { registry: Registry; objects: ObjectStore; feed: WatchCacheFeed; log: Logger; systemContext: (ns?: string) => StrategyContext; graceMs?: number }) {}

  async start(): Promise<void> {
    const nsDef = this.d.registry.get('', 'v1', 'namespaces')!;
    const cache = await this.d.feed.cache(storagePrefix(nsDef));
    this.stopWatch = cache.watchFrom(this.d.feed.revision, {
      onEvent: (ev) => { if (ev.type !== 'DELETED') this.consider(ev.obj as Obj); return !this.stopped; },
    });
    for (const item of cache.snapshot()) this.consider(item.obj as Obj);
  }

  stop(): void {
    this.stopped = true;
    this.stopWatch();
    for (const t of this.retry.values()) clearTimeout(t);
  }

  /**
   * What holds the namespace back, as upstream's namespace deleter reports it in status.conditions
   * (`kubectl describe ns` / `get ns -o yaml` show why a namespace stays Terminating). Written only when it changes.
   */
  private async reportRemaining(ns: string, left: Map<string, number>, finalizers: Map<string, number>): Promise<void> {
    const want = namespaceDeletionConditions(left, finalizers);
    const nsDef = this.d.registry.get('', 'v1', 'namespaces')!;
    const current = (await this.d.feed.cache(storagePrefix(nsDef))).get(`${storagePrefix(nsDef)}${ns}`)?.obj as Obj | undefined;
    const same = (a: Obj | undefined, b: Obj) => a?.status === b.status && a?.reason === b.reason && a?.message === b.message;
    if (want.every((w) => same(((current?.status?.conditions ?? []) as Obj[]).find((h) => h.type === w.type), w))) return;
    const now = new Date().toISOString();
    await this.d.objects.update(nsDef, '', ns, { ...this.d.systemContext(), subresource: 'status' }, (cur) => {
      const c = cur as Obj;
      const have = (c.status?.conditions ?? []) as Obj[];
      const conditions = want.map((w) => {
        const old = have.find((h) => h.type === w.type);
        return { ...w, lastTransitionTime: old?.status === w.status ? old.lastTransitionTime : now };
      });
      c.status = { ...(c.status ?? {}), conditions: [...have.filter((h) => !want.some((w) => w.type === h.type)), ...conditions] };
      delete c.metadata.resourceVersion;
      return cur;
    });
  }

  private consider(ns: Obj): void {
    const name = ns.metadata?.name as string;
    if (!ns.metadata?.deletionTimestamp || !(ns.spec?.finalizers ?? []).includes('kubernetes')) return;
    if (this.busy.has(name) || this.stopped) return;
    this.busy.add(name);
    // A short grace before emptying: clients deleting a namespace together with its contents (`kubectl delete -f`)
    // get to delete those objects themselves instead of racing us into NotFound errors.
    const delay = this.firstPass.has(name) ? 0 : this.d.graceMs ?? 2000;
    this.firstPass.add(name);
    setTimeout(() => { void this.finalize(name).finally(() => this.busy.delete(name)); }, delay).unref();
  }

  private async finalize(ns: string): Promise<void> {
    let remaining = 0;
    try {
      const left = new Map<string, number>();
      const finalizers = new Map<string, number>();
      for (const def of this.d.registry.namespacedStorage()) {
        const cache = await this.d.feed.cache(storagePrefix(def));
        for (const item of cache.snapshot(`${storagePrefix(def)}${ns}/`)) {
          const md = item.obj.metadata;
          let gone = false;
          if (!(md?.deletionTimestamp && (md.finalizers ?? []).length)) {
            try {
              gone = (await this.d.objects.delete(def, ns, md!.name!, { gracePeriodSeconds: 0, propagationPolicy: 'Background', dryRun: false }, this.d.systemContext(ns))).deleted;
            } catch (err) {
              if (err instanceof StatusError && err.code === 404) gone = true;
              else throw err;
            }
          }
          if (gone) continue;
          remaining++;
          const resource = def.group ? `${def.resource}.${def.group}` : def.resource;
          left.set(resource, (left.get(resource) ?? 0) + 1);
          for (const f of md?.finalizers ?? []) finalizers.set(f, (finalizers.get(f) ?? 0) + 1);
        }
      }
      if (remaining > 0) await this.reportRemaining(ns, left, finalizers);
      if (remaining === 0) {
        const nsDef = this.d.registry.get('', 'v1', 'namespaces')!;
        await this.d.objects.update(nsDef, '', ns, { ...this.d.systemContext(), subresource: 'finalize' }, (cur) => {
          const c = cur as Obj;
          c.spec = { ...(c.spec ?? {}), finalizers: ((c.spec?.finalizers ?? []) as string[]).filter((f) => f !== 'kubernetes') };
          delete c.metadata.resourceVersion;
          return cur;
        });
        this.firstPass.delete(ns);
        return;
      }
    } catch (err) {
      if (err instanceof StatusError && err.code === 404) { this.firstPass.delete(ns); return; }
      this.d.log.warn({ err, ns }, 'namespace cleanup failed; retrying');
    }
    if (this.stopped) return;
    // Something is still finalizing: look again shortly.
    clearTimeout(this.retry.get(ns));
    this.retry.set(ns, setTimeout(() => {
      this.retry.delete(ns);
      void this.d.feed.cache('/registry/core/namespaces/').then((c) => { const it = c.get(`/registry/core/namespaces/${ns}`); if (it) this.consider(it.obj as Obj); });
    }, 1000));
  }
}

/** The deletion conditions upstream's namespace deleter sets (all five), for what is left and its finalizers. */
export function namespaceDeletionConditions(left: Map<string, number>, finalizers: Map<string, number>): { type: string; status: string; reason: string; message: string }[] {
  const list = (m: Map<string, number>, what: (k: string, n: number) => string) => [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => what(k, n)).join(', ');
  return [
    { type: 'NamespaceDeletionDiscoveryFailure', status: 'False', reason: 'ResourcesDiscovered', message: 'All resources successfully discovered' },
    { type: 'NamespaceDeletionGroupVersionParsingFailure', status: 'False', reason: 'ParsedGroupVersions', message: 'All legacy kube types successfully parsed' },
    { type: 'NamespaceDeletionContentFailure', status: 'False', reason: 'ContentDeleted', message: 'All content successfully deleted, may be waiting on finalization' },
    left.size
      ? { type: 'NamespaceContentRemaining', status: 'True', reason: 'SomeResourcesRemain', message: `Some resources are remaining: ${list(left, (r, n) => `${r} has ${n} resource instances`)}` }
      : { type: 'NamespaceContentRemaining', status: 'False', reason: 'ContentRemoved', message: 'All content successfully removed' },
    finalizers.size
      ? { type: 'NamespaceFinalizersRemaining', status: 'True', reason: 'SomeFinalizersRemain', message: `Some content in the namespace has finalizers remaining: ${list(finalizers, (f, n) => `${f} in ${n} resource instances`)}` }
      : { type: 'NamespaceFinalizersRemaining', status: 'False', reason: 'ContentHasNoFinalizers', message: 'All content-preserving finalizers finished' },
  ];
}
