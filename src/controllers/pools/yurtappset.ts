/**
 * YurtAppSet controller (OpenYurt's yurtappset controller, v1beta1): one Deployment or StatefulSet per selected
 * NodePool, named `<yurtappset>-<pool>`, pinned to the pool with a nodeSelector on apps.openyurt.io/nodepool and
 * tolerating the pool's taints, labelled apps.openyurt.io/ref-yurtappset and apps.openyurt.io/pool-name, owned
 * by the YurtAppSet (deleting it deletes them through the garbage collector). Tweaks apply in order: replicas,
 * containerImages, then JSON patches on the workload object.
 *
 * Cost: a reconcile is O(pools + the set's own workloads), from informer caches; a NodePool event touches only
 * the YurtAppSets that select (or selected) it, and status-only NodePool updates (node counts) touch none.
 */
import jsonpatch from 'fast-json-patch';
import type { KubernetesObject, V1Deployment, V1StatefulSet, V1Toleration } from '@kubernetes/client-node';
import { apiErrorMessage, isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { CUSTOM_RESOURCES } from '../custom-resources.js';
import { canonicalJson, controllerRefOf, ownerRef, templateHash } from '../util/pods.js';
import { labelSelectorMatches } from '../util/selectors.js';
import { controlledBy, syncOwnedObjects, type OwnedObject } from './owned-workloads.js';
import {
  NODEPOOL_LABEL, POOL_NAME_LABEL, YURTAPPSET_REF_LABEL,
  type NodePool, type WorkloadTemplateSpec, type WorkloadTweak, type YurtAppSet, type YurtAppSetCondition,
} from './types.js';

const YAS = CUSTOM_RESOURCES.yurtappsets;
const YAS_API_VERSION = `${YAS.group}/${YAS.version}`;
type Workload = V1Deployment | V1StatefulSet;

/** The pools a YurtAppSet selects: named in spec.pools or matching spec.nodepoolSelector, among those that exist. */
export function selectedPools(yas: YurtAppSet, pools: readonly NodePool[]): { selected: NodePool[]; missing: string[] } {
  const named = new Set(yas.spec?.pools ?? []);
  const sel = yas.spec?.nodepoolSelector;
  const selected = pools.filter((p) => named.has(p.metadata!.name!) || (sel && labelSelectorMatches(sel, p.metadata?.labels ?? {})));
  const exists = new Set(pools.map((p) => p.metadata!.name!));
  return { selected: selected.sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!)), missing: [...named].filter((n) => !exists.has(n)) };
}

function tweakApplies(t: WorkloadTweak, pool: NodePool): boolean {
  if (t.pools?.includes(pool.metadata!.name!)) return true;
  return !!t.nodepoolSelector && labelSelectorMatches(t.nodepoolSelector, pool.metadata?.labels ?? {});
}

/** Tolerations for a pool's taints (OpenYurt's workloads tolerate their own pool). */
export function poolTolerations(pool: NodePool): V1Toleration[] {
  return (pool.spec?.taints ?? []).map((t) => ({ key: t.key, operator: 'Equal', ...(t.value !== undefined ? { value: t.value } : {}), effect: t.effect }));
}

/** The workload a YurtAppSet wants in one pool (without owner bookkeeping). */
export function workloadForPool(yas: YurtAppSet, pool: NodePool): Workload {
  const wt = yas.spec?.workload?.workloadTemplate ?? {};
  const isDeployment = !!wt.deploymentTemplate;
  const tpl: WorkloadTemplateSpec = structuredClone((wt.deploymentTemplate ?? wt.statefulSetTemplate)!);
  const poolName = pool.metadata!.name!;
  const yasName = yas.metadata!.name!;
  const spec = tpl.spec as Record<string, unknown> & { template?: { metadata?: { labels?: Record<string, string> }; spec?: Record<string, unknown> }; selector?: { matchLabels?: Record<string, string> } };
  // Each pool's pods carry the pool name, in the template and the selector, so pools' workloads never select each other's pods.
  const podMeta = ((spec.template ??= {}).metadata ??= {});
  podMeta.labels = { ...(podMeta.labels ?? {}), [POOL_NAME_LABEL]: poolName };
  spec.selector = { ...(spec.selector ?? {}), matchLabels: { ...(spec.selector?.matchLabels ?? {}), [POOL_NAME_LABEL]: poolName } };
  const podSpec = (spec.template.spec ??= {}) as { nodeSelector?: Record<string, string>; tolerations?: V1Toleration[] };
  podSpec.nodeSelector = { ...(podSpec.nodeSelector ?? {}), [NODEPOOL_LABEL]: poolName };
  const own = podSpec.tolerations ?? [];
  const extra = poolTolerations(pool).filter((t) => !own.some((o) => o.key === t.key && o.effect === t.effect));
  if (extra.length) podSpec.tolerations = [...own, ...extra];
  let obj: Workload = {
    apiVersion: 'apps/v1',
    kind: isDeployment ? 'Deployment' : 'StatefulSet',
    metadata: {
      name: `${yasName}-${poolName}`,
      namespace: yas.metadata!.namespace,
      labels: { ...(tpl.metadata?.labels ?? {}), [YURTAPPSET_REF_LABEL]: yasName, [POOL_NAME_LABEL]: poolName },
      ...(tpl.metadata?.annotations ? { annotations: { ...tpl.metadata.annotations } } : {}),
    },
    spec: spec as never,
  };
  for (const t of yas.spec?.workload?.workloadTweaks ?? []) {
    if (!tweakApplies(t, pool)) continue;
    if (typeof t.tweaks?.replicas === 'number') (obj.spec as { replicas?: number }).replicas = t.tweaks.replicas;
    for (const ci of t.tweaks?.containerImages ?? []) {
      const ps = obj.spec!.template!.spec!;
      for (const c of [...(ps.containers ?? []), ...(ps.initContainers ?? [])]) if (c.name === ci.name) c.image = ci.targetImage;
    }
    if (t.tweaks?.patches?.length) {
      const ops = t.tweaks.patches.map((p) => ({ op: p.operation, path: p.path, ...(p.operation !== 'remove' ? { value: p.value } : {}) }));
      obj = jsonpatch.applyPatch(obj, ops as jsonpatch.Operation[], false, false).newDocument;
    }
  }
  return obj;
}

function readyOf(w: Workload): boolean {
  const want = w.spec?.replicas ?? 1;
  const st = w.status ?? {};
  return (st.observedGeneration ?? 0) >= (w.metadata?.generation ?? 0) && (st.readyReplicas ?? 0) >= want && (st.replicas ?? 0) === want;
}

function updatedOf(w: Workload): boolean {
  const want = w.spec?.replicas ?? 1;
  const st = w.status as { observedGeneration?: number; updatedReplicas?: number } | undefined;
  return (st?.observedGeneration ?? 0) >= (w.metadata?.generation ?? 0) && (st?.updatedReplicas ?? 0) >= want;
}

function condition(type: string, ok: boolean, reason: string, message: string, prev: YurtAppSetCondition[] | undefined): YurtAppSetCondition {
  const status = ok ? 'True' : 'False';
  const old = prev?.find((c) => c.type === type);
  const lastTransitionTime = old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return { type, status, reason, message, lastTransitionTime };
}

export class YurtAppSetController implements Controller {
  readonly name = 'yurtappset';
  private readonly runner: QueueRunner;

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const sets = this.ctx.informers.get<YurtAppSet>('yurtappsets');
    const pools = this.ctx.informers.get<NodePool>('nodepools');
    const q = this.runner.queue;
    sets.onAdd((s) => q.add(keyOf(s)));
    sets.onUpdate((s) => q.add(keyOf(s)));
    // Workloads: their status feeds the set's status; a deleted one is recreated.
    const owner = (w: KubernetesObject) => {
      const r = controllerRefOf(w);
      return r?.kind === YAS.kind && r.apiVersion?.startsWith(`${YAS.group}/`) ? `${w.metadata!.namespace}/${r.name}` : undefined;
    };
    for (const r of ['deployments', 'statefulsets'] as const) {
      const inf = this.ctx.informers.get<Workload>(r);
      const onW = (w: Workload) => { const k = owner(w); if (k) q.add(k); };
      inf.onAdd(onW);
      inf.onUpdate(onW);
      inf.onDelete(onW);
    }
    // A pool matters to a set when it appears, disappears, or its labels/taints change (not its node counts).
    const seen = new Map<string, string>();
    const onPool = (p: NodePool, gone: boolean) => {
      const name = p.metadata!.name!;
      const sig = gone ? undefined : canonicalJson([p.metadata?.labels, p.spec?.taints]);
      const before = seen.get(name);
      if (sig === before) return;
      if (sig === undefined) seen.delete(name);
      else seen.set(name, sig);
      for (const s of sets.list()) {
        const named = s.spec?.pools?.includes(name);
        const selector = s.spec?.nodepoolSelector;
        // A selector may start or stop matching: either way the set must look again.
        if (named || selector) q.add(keyOf(s));
      }
    };
    pools.onAdd((p) => onPool(p, false));
    pools.onUpdate((p) => onPool(p, false));
    pools.onDelete((p) => onPool(p, true));
    this.runner.run();
  }

  async stop(): Promise<void> {
    await this.runner.stop();
  }

  private async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const yas = this.ctx.informers.get<YurtAppSet>('yurtappsets').get(name, namespace);
    if (!yas || yas.metadata?.deletionTimestamp) return;
    const { selected, missing } = selectedPools(yas, this.ctx.informers.get<NodePool>('nodepools').list());
    const isDeployment = !!yas.spec?.workload?.workloadTemplate?.deploymentTemplate;
    const resource = isDeployment ? 'deployments' : 'statefulsets';
    const owned = controlledBy(this.ctx.informers.get<Workload>(resource).list(namespace), yas.metadata!.uid);
    const other = controlledBy(this.ctx.informers.get<Workload>(isDeployment ? 'statefulsets' : 'deployments').list(namespace), yas.metadata!.uid);
    const ref = ownerRef(yas, YAS_API_VERSION, YAS.kind);
    const want: OwnedObject[] = [];
    const failed = new Set<string>();
    for (const p of selected) {
      try {
        const w = workloadForPool(yas, p);
        w.metadata!.ownerReferences = [ref];
        want.push(w);
      } catch (err) {
        // A JSON patch tweak that does not apply (a path that does not exist): that pool's workload is left as it is.
        failed.add(`${yas.metadata!.name}-${p.metadata!.name}`);
        this.ctx.events.event(yas as never, 'Warning', 'TweakFailed', `nodepool ${p.metadata!.name}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    // A template switched between Deployment and StatefulSet leaves workloads of the other kind: delete them.
    const kept = owned.filter((o) => !failed.has(o.metadata!.name!));
    const res = await syncOwnedObjects(this.ctx.api, want, kept.map((o) => ({ ...o, apiVersion: 'apps/v1', kind: isDeployment ? 'Deployment' : 'StatefulSet' })));
    const cleanup = await syncOwnedObjects(this.ctx.api, [], other.map((o) => ({ ...o, apiVersion: 'apps/v1', kind: isDeployment ? 'StatefulSet' : 'Deployment' })));
    for (const c of res.conflicts) this.ctx.events.event(yas as never, 'Warning', 'WorkloadConflict', `a ${isDeployment ? 'Deployment' : 'StatefulSet'} named ${c} exists and is not controlled by this YurtAppSet`);
    if (res.created) this.ctx.events.event(yas as never, 'Normal', 'AppDispatched', `created ${res.created} workload(s)`);
    await this.updateStatus(yas, selected, missing, owned, res.errors.length + cleanup.errors.length === 0 && res.conflicts.length === 0 && failed.size === 0);
    const err = res.errors[0] ?? cleanup.errors[0];
    if (err) {
      this.ctx.events.event(yas as never, 'Warning', 'DispatchFailed', apiErrorMessage(err));
      throw err;
    }
  }

  private async updateStatus(yas: YurtAppSet, selected: NodePool[], missing: string[], owned: Workload[], dispatched: boolean): Promise<void> {
    const wanted = new Set(selected.map((p) => `${yas.metadata!.name}-${p.metadata!.name}`));
    const current = owned.filter((w) => wanted.has(w.metadata!.name!) && !w.metadata?.deletionTimestamp);
    const ready = current.filter(readyOf).length;
    const updated = current.filter(updatedOf).length;
    const prev = yas.status?.conditions;
    const poolsMsg = missing.length ? `nodepools not found: ${missing.join(', ')}` : '';
    const conditions: YurtAppSetCondition[] = [
      condition('PoolFound', selected.length > 0, selected.length > 0 ? 'PoolFound' : 'PoolNotFound',
        selected.length > 0 ? `${selected.length} nodepool(s) selected${poolsMsg ? `; ${poolsMsg}` : ''}` : `no nodepool matches pools or nodepoolSelector${poolsMsg ? `; ${poolsMsg}` : ''}`, prev),
      condition('AppDispatched', dispatched && current.length === selected.length, dispatched ? 'Dispatched' : 'DispatchFailed',
        `${current.length}/${selected.length} workloads exist`, prev),
      condition('AppUpdated', updated === selected.length, updated === selected.length ? 'Updated' : 'Updating', `${updated}/${selected.length} workloads updated`, prev),
      condition('AppReady', ready === selected.length && selected.length > 0, ready === selected.length ? 'Ready' : 'NotReady', `${ready}/${selected.length} workloads ready`, prev),
    ];
    const status = {
      observedGeneration: yas.metadata?.generation,
      currentRevision: templateHash(yas.spec),
      totalWorkloads: selected.length,
      readyWorkloads: ready,
      updatedWorkloads: updated,
      conditions,
    };
    const strip = (cs: YurtAppSetCondition[] | undefined) => (cs ?? []).map(({ lastTransitionTime: _t, ...c }) => c);
    const cur = yas.status ?? {};
    if (canonicalJson({ ...cur, conditions: strip(cur.conditions) }) === canonicalJson({ ...status, conditions: strip(conditions) })) return;
    try {
      await this.ctx.api.patchStatus({ apiVersion: YAS_API_VERSION, kind: YAS.kind, namespace: yas.metadata!.namespace, name: yas.metadata!.name! }, { status });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
