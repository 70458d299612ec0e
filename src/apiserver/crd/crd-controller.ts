/**
 * Serves custom resources while their CRD exists: installs the CRD strategy (defaulting,
 * validation, status conditions, cleanup finalizer) on the registry's CustomResourceDefinition
 * resource, and keeps the registry in step with the stored CRDs (at start-up and on every
 * change, through the watch cache). On CRD deletion it deletes the custom resources, then
 * releases the `customresourcecleanup.apiextensions.k8s.io` finalizer, as upstream does.
 */
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import type { KubeObject } from '../../apimachinery/object.js';
import type { WatchCacheFeed } from '../../apimachinery/watchcache.js';
import { StatusError } from '../../apimachinery/status.js';
import type { ObjectStore } from '../objects.js';
import { storagePrefix, type Registry, type ResourceDef, type StrategyContext, type Strategy } from '../registry.js';
import { defaultCrd, validateCrd, validateCrdUpdate } from './crd-validation.js';
import { isEstablished, updateCrdStatus } from './crd-status.js';
import { customResourceDefs, customResourceStoragePrefix } from './custom-resources.js';
import { validateApiApproval } from './api-approval.js';

type Crd = V1CustomResourceDefinition;
export const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

function usableSpec(crd: Crd): boolean {
  const spec = crd.spec as Partial<Crd['spec']> | undefined;
  return !!spec && typeof spec.names?.plural === 'string' && typeof spec.names?.kind === 'string' && Array.isArray(spec.versions);
}

export interface CrdControllerDeps {
  registry: Registry;
  objects: ObjectStore;
  feed: WatchCacheFeed;
  log: Logger;
  systemContext: (ns?: string) => StrategyContext;
}

export class CrdController {
  /** CRD name → resources it registered. */
  private served = new Map<string, ResourceDef[]>();
  private crds = new Map<string, Crd>();
  private stopWatch: () => void = () => {};
  private stopped = false;
  private cleaning = new Set<string>();
  private retries = new Set<NodeJS.Timeout>();
  private shadowWarned = new Set<string>();

  constructor(private readonly d: CrdControllerDeps) {}

  private crdDef(): ResourceDef {
    const def = this.d.registry.get('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
    if (!def) throw new Error('CustomResourceDefinition resource is not registered');
    return def;
  }

  /** Put the CRD strategy on the registry's CustomResourceDefinition resource. */
  install(): void {
    const def = this.crdDef();
    this.d.registry.add({ ...def, strategy: this.strategy(def.strategy) });
  }

  private strategy(base: Strategy): Strategy {
    const others = (name: string | undefined): Crd[] => [...this.crds.values()].filter((c) => c.metadata?.name !== name);
    return {
      ...base,
      defaults: (obj) => defaultCrd(obj as unknown as Crd),
      prepareForCreate: (obj) => {
        const crd = obj as unknown as Crd;
        crd.status = undefined;
        // A malformed spec is rejected by validate() right after; compute status only for a usable one.
        if (usableSpec(crd)) updateCrdStatus(crd, others(crd.metadata?.name));
        const md = (crd.metadata ??= {});
        md.finalizers = [...new Set([...(md.finalizers ?? []), CRD_CLEANUP_FINALIZER])];
      },
      prepareForUpdate: (obj, old, ctx) => {
        if (ctx.subresource !== '') return;
        const crd = obj as unknown as Crd;
        crd.status = structuredClone((old as unknown as Crd).status);
        if (usableSpec(crd)) updateCrdStatus(crd, others(crd.metadata?.name));
      },
      validate: (obj) => [...validateCrd(obj as unknown as Crd), ...validateApiApproval(obj as unknown as Crd)],
      validateUpdate: (obj, old, ctx) => (ctx.subresource === 'status' ? []
        : [...validateCrdUpdate(obj as unknown as Crd, old as unknown as Crd), ...validateApiApproval(obj as unknown as Crd, old as unknown as Crd)]),
    };
  }

  /** Register the custom resources of every stored CRD, then follow changes. */
  async start(): Promise<void> {
    const cache = await this.d.feed.cache(storagePrefix(this.crdDef()));
    this.stopWatch = cache.watchFrom(this.d.feed.revision, {
      onEvent: (ev) => {
        if (ev.type === 'DELETED') this.forget(ev.obj as unknown as Crd);
        else this.sync(ev.obj as unknown as Crd);
        return !this.stopped;
      },
    });
    for (const item of cache.snapshot()) this.sync(item.obj as unknown as Crd);
  }

  stop(): void {
    this.stopped = true;
    this.stopWatch();
    for (const t of this.retries) clearTimeout(t);
  }

  /** The custom resource definitions currently served for a CRD (tests, diagnostics). */
  servedFor(crdName: string): ResourceDef[] {
    return this.served.get(crdName) ?? [];
  }

  /** Never let one bad stored CRD break the watch that serves all the others. */
  private sync(crd: Crd): void {
    try {
      this.syncOne(crd);
    } catch (err) {
      this.d.log.error({ err, crd: crd.metadata?.name }, 'cannot serve custom resource definition');
    }
  }

  /**
   * The built-in resource a CRD names (same group and plural, or the same storage prefix), if any. Upstream
   * serves built-ins before custom resources, so such a CRD is accepted but never takes over: here it is
   * not served at all (any of its versions would share the built-in's storage), and deleting it deletes
   * nothing but the CRD.
   */
  private shadowedBuiltin(crd: Crd): ResourceDef | undefined {
    const prefix = customResourceStoragePrefix(crd);
    return this.d.registry.all().find((d) => d.source !== 'crd'
      && ((d.group === crd.spec.group && d.resource === crd.spec.names.plural) || storagePrefix(d) === prefix));
  }

  private syncOne(crd: Crd): void {
    const name = crd.metadata?.name ?? '';
    this.crds.set(name, crd);
    const builtin = this.shadowedBuiltin(crd);
    if (builtin) {
      this.unserve(name);
      if (!this.shadowWarned.has(name)) {
        this.shadowWarned.add(name);
        this.d.log.warn({ crd: name, builtin: `${builtin.resource}.${builtin.group || 'core'}` }, 'CustomResourceDefinition names a built-in resource: the built-in keeps being served, the CRD serves nothing');
      }
      if (crd.metadata?.deletionTimestamp) this.cleanup(crd);
      return;
    }
    if (!isEstablished(crd)) return this.unserve(name);
    const defs = customResourceDefs(crd);
    const previous = this.served.get(name) ?? [];
    const id = (d: ResourceDef) => `${d.group}/${d.version}/${d.resource}`;
    // The registry keeps registration order and discovery prefers the first version, so when the
    // set of versions changes, re-register all of them in priority order (synchronously: no gap).
    if (previous.map(id).join() !== defs.map(id).join()) for (const p of previous) this.d.registry.remove(p.group, p.version, p.resource);
    for (const def of defs) this.d.registry.add(def);
    this.served.set(name, defs);
    if (crd.metadata?.deletionTimestamp) this.cleanup(crd);
  }

  private forget(crd: Crd): void {
    const name = crd.metadata?.name ?? '';
    this.crds.delete(name);
    this.shadowWarned.delete(name);
    this.unserve(name);
  }

  private unserve(name: string): void {
    for (const p of this.served.get(name) ?? []) this.d.registry.remove(p.group, p.version, p.resource);
    this.served.delete(name);
  }

  /** Delete every custom resource of a terminating CRD, then drop the cleanup finalizer. */
  private cleanup(crd: Crd): void {
    const name = crd.metadata?.name ?? '';
    if (this.cleaning.has(name) || !(crd.metadata?.finalizers ?? []).includes(CRD_CLEANUP_FINALIZER)) return;
    this.cleaning.add(name);
    void this.deleteAll(crd)
      .then(async (remaining) => {
        if (remaining > 0) return this.retryLater(name);
        const crdDef = this.crdDef();
        await this.d.objects.update(crdDef, '', name, this.d.systemContext(), (cur) => {
          const md = cur.metadata!;
          md.finalizers = (md.finalizers ?? []).filter((f) => f !== CRD_CLEANUP_FINALIZER);
          delete md.resourceVersion;
          return cur;
        });
      })
      .catch((err: unknown) => {
        if (err instanceof StatusError && err.code === 404) return;
        this.d.log.warn({ err, crd: name }, 'custom resource cleanup failed; retrying');
        this.retryLater(name);
      })
      .finally(() => this.cleaning.delete(name));
  }

  private retryLater(name: string): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.retries.delete(t);
      const crd = this.crds.get(name);
      if (crd) this.cleanup(crd);
    }, 1000);
    t.unref();
    this.retries.add(t);
  }

  /** Returns how many custom resources still exist (e.g. held by finalizers). */
  private async deleteAll(crd: Crd): Promise<number> {
    // The objects under a built-in's prefix are the built-in's (every Role, for roles.rbac.authorization.k8s.io).
    if (this.shadowedBuiltin(crd)) return 0;
    const def = (this.served.get(crd.metadata?.name ?? '') ?? [])[0] ?? customResourceDefs(crd)[0];
    if (!def) return 0;
    const prefix = customResourceStoragePrefix(crd);
    const cache = await this.d.feed.cache(prefix);
    let remaining = 0;
    for (const item of cache.snapshot()) {
      const obj = item.obj as KubeObject;
      const ns = obj.metadata?.namespace ?? '';
      try {
        const { deleted } = await this.d.objects.delete(def, ns, obj.metadata?.name ?? '', { dryRun: false }, this.d.systemContext(ns));
        if (!deleted) remaining++;
      } catch (err) {
        if (!(err instanceof StatusError && err.code === 404)) throw err;
      }
    }
    return remaining;
  }
}
