/**
 * One APIService per served group/version, as kube-aggregator's autoregister controller keeps them: built-in
 * groups labelled `kube-aggregator.kubernetes.io/automanaged: onstart`, custom resources' groups `true`, with
 * upstream's group/version priorities, status Available=True (Local). Automanaged ones whose group/version is no
 * longer served (a deleted CRD) are removed; APIServices users create are left alone (Kedge does not proxy them).
 */
import type { KubeObject } from '../apimachinery/object.js';
import { StatusError } from '../apimachinery/status.js';
import type { Logger } from '../common/logger.js';
import type { WatchCacheFeed } from '../apimachinery/watchcache.js';
import type { ObjectStore } from './objects.js';
import type { Registry, ResourceDef, StrategyContext } from './registry.js';
import { apiServicePriority } from './api-priorities.js';

export const AUTOMANAGED_LABEL = 'kube-aggregator.kubernetes.io/automanaged';

function desiredApiServices(registry: Registry): Map<string, KubeObject> {
  const out = new Map<string, KubeObject>();
  const groups = registry.groups();
  for (const g of groups) {
    g.versions.forEach((v, i) => {
      const gv = g.name ? `${g.name}/${v}` : v;
      const defs = registry.resourcesIn(g.name, v);
      const custom = defs.length > 0 && defs.every((d: ResourceDef) => d.source === 'crd');
      const { groupPriorityMinimum, versionPriority } = apiServicePriority(gv, custom, i);
      const name = g.name ? `${v}.${g.name}` : v;
      out.set(name, {
        apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService',
        metadata: { name, labels: { [AUTOMANAGED_LABEL]: custom ? 'true' : 'onstart' } },
        spec: { group: g.name || undefined, version: v, groupPriorityMinimum, versionPriority },
      } as KubeObject);
    });
  }
  return out;
}

/** Keeps the automanaged APIServices equal to the served groups; returns a stop function. */
export function startApiServiceRegistration(o: {
  registry: Registry; objects: ObjectStore; feed: WatchCacheFeed; systemContext: () => StrategyContext; log: Logger;
}): { synced: Promise<void>; stop: () => void } {
  const def = o.registry.get('apiregistration.k8s.io', 'v1', 'apiservices')!;
  let running: Promise<void> = Promise.resolve();
  let again = false;
  let stopped = false;
  const available = () => [{ type: 'Available', status: 'True', lastTransitionTime: new Date().toISOString(), reason: 'Local', message: 'Local APIServices are always available' }];
  const syncOnce = async () => {
    const want = desiredApiServices(o.registry);
    for (const [name, obj] of want) {
      try {
        const cur = await o.objects.get(def, '', name).then((r) => r.obj as KubeObject & { spec?: unknown; status?: { conditions?: unknown[] } }, () => undefined);
        if (!cur) {
          await o.objects.create(def, obj, o.systemContext());
        } else if (cur.metadata?.labels?.[AUTOMANAGED_LABEL] && JSON.stringify(cur.spec) !== JSON.stringify((obj as { spec: unknown }).spec)) {
          await o.objects.update(def, '', name, o.systemContext(), (c) => ({ ...c, spec: (obj as { spec: unknown }).spec } as KubeObject));
        }
        const now = await o.objects.get(def, '', name);
        const st = (now.obj as { status?: { conditions?: unknown[] }; spec?: { service?: unknown } });
        if (!st.spec?.service && !(st.status?.conditions ?? []).length) {
          await o.objects.update(def, '', name, { ...o.systemContext(), subresource: 'status' }, (c) => ({ ...c, status: { conditions: available() } } as KubeObject));
        }
      } catch (err) {
        if (!(err instanceof StatusError && (err.code === 409 || err.code === 404))) o.log.warn({ err: String((err as Error).message ?? err), apiservice: name }, 'apiservice registration');
      }
    }
    // Automanaged APIServices of groups no longer served (a deleted CRD) go away.
    const listed = await o.feed.cache('/registry/apiregistration.k8s.io/apiservices/');
    for (const item of listed.snapshot()) {
      const name = item.obj.metadata?.name;
      if (!name || want.has(name) || !item.obj.metadata?.labels?.[AUTOMANAGED_LABEL]) continue;
      await o.objects.delete(def, '', name, { dryRun: false }, o.systemContext()).catch(() => undefined);
    }
  };
  const trigger = (): Promise<void> => {
    if (stopped) return running;
    again = true;
    running = running.then(async () => {
      if (!again || stopped) return;
      again = false;
      await syncOnce().catch((err) => o.log.warn({ err: String(err) }, 'apiservice registration'));
    });
    return running;
  };
  const off = o.registry.onChange(() => { void trigger(); });
  return { synced: trigger(), stop: () => { stopped = true; off(); } };
}
