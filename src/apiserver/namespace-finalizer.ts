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
      for (const def of this.d.registry.namespacedStorage()) {
        const cache = await this.d.feed.cache(storagePrefix(def));
        for (const item of cache.snapshot(`${storagePrefix(def)}${ns}/`)) {
          remaining++;
          if (item.obj.metadata?.deletionTimestamp && (item.obj.metadata.finalizers ?? []).length) continue;
          try {
            const r = await this.d.objects.delete(def, ns, item.obj.metadata!.name!, { gracePeriodSeconds: 0, propagationPolicy: 'Background', dryRun: false }, this.d.systemContext(ns));
            if (r.deleted) remaining--;
          } catch (err) {
            if (err instanceof StatusError && err.code === 404) remaining--;
            else throw err;
          }
        }
      }
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
