/**
 * client-node's informer (ListWatch) caching objects without `metadata.managedFields`. Server-side apply
 * bookkeeping is ~1.3 KiB of a ~5 KiB cached pod; long-running clients that never apply (controllers, the cloud
 * hub) hold one copy of every pod, so at 100,000 pods that is ~130 MiB per cache for nothing. An update that
 * omits managedFields keeps the stored ones (as upstream), so objects read from such a cache can still be PUT.
 */
import { sharedStrings } from './string-pool.js';
import { ListWatch, Watch, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';

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

/** Like client-node's `makeInformer`, caching lean objects (`leanObject`): what is listed and watched is trimmed before it is cached or handed to a handler. */
export function leanInformer(kc: KubeConfig, path: string, list: () => Promise<KubernetesListObject<KubernetesObject>>): Informer<KubernetesObject> & ObjectCache<KubernetesObject> {
  const watch = new Watch(kc);
  const lean: Pick<Watch, 'watch'> = {
    watch: (p, query, callback, done) =>
      watch.watch(p, query, (phase, obj, raw) => callback(phase, phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? leanObject(obj as KubernetesObject) : obj, raw), done),
  };
  return new ListWatch(path, lean as Watch, () => list().then((l) => ({ ...l, items: l.items.map(leanObject) })), false);
}
