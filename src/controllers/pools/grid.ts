/**
 * SuperEdge's application-grid controller: for a DeploymentGrid / StatefulSetGrid, one workload per distinct
 * value of the node label named by spec.gridUniqKey (a NodeUnit), named `<grid>-<value>`, placed with a
 * nodeSelector on that label and built from the value's template (spec.templates[value] → spec.templatePool, else
 * spec.defaultTemplateName, where "default" or unset means spec.template). For a ServiceGrid, one Service
 * `<grid>-svc` from spec.template, carrying SuperEdge's `topologyKeys` annotation (["<gridUniqKey>"]) so
 * node-local proxies can keep its traffic within the caller's NodeUnit.
 *
 * Node events cost O(labels changed): a per-key count of nodes per value is kept, and a grid is enqueued only
 * when a value of its key appears or disappears.
 */
import type { KubernetesObject, V1Deployment, V1Node, V1StatefulSet } from '@kubernetes/client-node';
import { apiErrorMessage, isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { CUSTOM_RESOURCES, type CustomResourceName } from '../custom-resources.js';
import type { ResourceName } from '../informers.js';
import { canonicalJson, controllerRefOf, ownerRef } from '../util/pods.js';
import { controlledBy, syncOwnedObjects, type OwnedObject } from './owned-workloads.js';
import { GRID_SELECTOR_LABEL, GRID_UNIQ_KEY_LABEL, TOPOLOGY_KEYS_ANNOTATION, type GridSpec, type WorkloadGrid } from './types.js';

interface GridKind {
  resource: Extract<CustomResourceName, 'deploymentgrids' | 'statefulsetgrids' | 'servicegrids'>;
  owned: Extract<ResourceName, 'deployments' | 'statefulsets' | 'services'>;
  ownedKind: 'Deployment' | 'StatefulSet' | 'Service';
  ownedApiVersion: string;
}

const GRID_KINDS: readonly GridKind[] = [
  { resource: 'deploymentgrids', owned: 'deployments', ownedKind: 'Deployment', ownedApiVersion: 'apps/v1' },
  { resource: 'statefulsetgrids', owned: 'statefulsets', ownedKind: 'StatefulSet', ownedApiVersion: 'apps/v1' },
  { resource: 'servicegrids', owned: 'services', ownedKind: 'Service', ownedApiVersion: 'v1' },
];

/** The workload template a NodeUnit (label value) gets. */
export function templateFor(spec: GridSpec, value: string): Record<string, unknown> | undefined {
  const pool = spec.templatePool ?? {};
  const assigned = spec.templates?.[value];
  if (assigned && pool[assigned]) return pool[assigned];
  const def = spec.defaultTemplateName;
  if (!def || def === 'default') return spec.template;
  return pool[def] ?? spec.template;
}

/** A DeploymentGrid's / StatefulSetGrid's workload for one value of its gridUniqKey. */
export function gridWorkload(grid: WorkloadGrid, kind: 'Deployment' | 'StatefulSet', value: string): OwnedObject | undefined {
  const spec = grid.spec ?? {};
  const tpl = templateFor(spec, value);
  if (!tpl || !spec.gridUniqKey) return undefined;
  const out = structuredClone(tpl) as { template?: { metadata?: Record<string, unknown>; spec?: { nodeSelector?: Record<string, string> } } };
  const podSpec = ((out.template ??= {}).spec ??= {});
  podSpec.nodeSelector = { ...(podSpec.nodeSelector ?? {}), [spec.gridUniqKey]: value };
  const name = grid.metadata!.name!;
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: {
      name: `${name}-${value}`,
      namespace: grid.metadata!.namespace,
      labels: { [GRID_SELECTOR_LABEL]: name, [GRID_UNIQ_KEY_LABEL]: spec.gridUniqKey },
    },
    spec: out,
  };
}

/** A ServiceGrid's Service. */
export function gridService(grid: WorkloadGrid): OwnedObject | undefined {
  const key = grid.spec?.gridUniqKey;
  if (!key) return undefined;
  const name = grid.metadata!.name!;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: `${name}-svc`,
      namespace: grid.metadata!.namespace,
      labels: { [GRID_SELECTOR_LABEL]: name, [GRID_UNIQ_KEY_LABEL]: key },
      annotations: { [TOPOLOGY_KEYS_ANNOTATION]: JSON.stringify([key]) },
    },
    spec: structuredClone(grid.spec?.template ?? {}),
  };
}

export class GridController implements Controller {
  readonly name = 'grid';
  private readonly runner: QueueRunner;
  /** label key → value → number of nodes carrying it; node → its labels as last seen. */
  private readonly values = new Map<string, Map<string, number>>();
  private readonly nodeLabels = new Map<string, Record<string, string>>();

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  /** Distinct values of a node label across the cluster's nodes. */
  valuesOf(key: string): string[] {
    return [...(this.values.get(key)?.keys() ?? [])].sort();
  }

  start(): void {
    const q = this.runner.queue;
    const gridKey = (k: GridKind, g: KubernetesObject) => `${k.resource}/${keyOf(g)}`;
    for (const k of GRID_KINDS) {
      const grids = this.ctx.informers.get<WorkloadGrid>(k.resource);
      grids.onAdd((g) => q.add(gridKey(k, g)));
      grids.onUpdate((g) => q.add(gridKey(k, g)));
      const owned = this.ctx.informers.get<KubernetesObject>(k.owned);
      const kind = CUSTOM_RESOURCES[k.resource].kind;
      const onOwned = (o: KubernetesObject) => {
        const r = controllerRefOf(o);
        if (r?.kind === kind && r.apiVersion?.startsWith('superedge.io/')) q.add(`${k.resource}/${o.metadata!.namespace}/${r.name}`);
      };
      owned.onAdd(onOwned);
      owned.onUpdate(onOwned);
      owned.onDelete(onOwned);
    }
    const nodes = this.ctx.informers.get<V1Node>('nodes');
    const onNode = (n: V1Node, gone: boolean) => {
      const name = n.metadata!.name!;
      const before = this.nodeLabels.get(name) ?? {};
      const after = gone ? {} : { ...(n.metadata?.labels ?? {}) };
      const changedKeys = new Set<string>();
      for (const [k, v] of Object.entries(before)) if (after[k] !== v) { this.count(k, v, -1) && changedKeys.add(k); }
      for (const [k, v] of Object.entries(after)) if (before[k] !== v) { this.count(k, v, +1) && changedKeys.add(k); }
      if (gone) this.nodeLabels.delete(name);
      else this.nodeLabels.set(name, after);
      if (changedKeys.size === 0) return;
      for (const k of GRID_KINDS) {
        if (k.resource === 'servicegrids') continue;
        for (const g of this.ctx.informers.get<WorkloadGrid>(k.resource).list()) if (changedKeys.has(g.spec?.gridUniqKey ?? '')) q.add(gridKey(k, g));
      }
    };
    nodes.onAdd((n) => onNode(n, false));
    nodes.onUpdate((n) => onNode(n, false));
    nodes.onDelete((n) => onNode(n, true));
    this.runner.run();
  }

  /** Adjusts a value's node count; true when the value appeared or disappeared. */
  private count(key: string, value: string, delta: number): boolean {
    let m = this.values.get(key);
    if (!m) this.values.set(key, (m = new Map()));
    const n = (m.get(value) ?? 0) + delta;
    if (n <= 0) m.delete(value);
    else m.set(value, n);
    if (m.size === 0) this.values.delete(key);
    return n <= 0 || n === delta;
  }

  async stop(): Promise<void> {
    await this.runner.stop();
  }

  private async sync(key: string): Promise<void> {
    const slash = key.indexOf('/');
    const kind = GRID_KINDS.find((k) => k.resource === key.slice(0, slash))!;
    const { namespace, name } = splitKey(key.slice(slash + 1));
    const grid = this.ctx.informers.get<WorkloadGrid>(kind.resource).get(name, namespace);
    if (!grid || grid.metadata?.deletionTimestamp) return;
    const cr = CUSTOM_RESOURCES[kind.resource];
    const ref = ownerRef(grid, `${cr.group}/${cr.version}`, cr.kind);
    let want: OwnedObject[];
    if (kind.ownedKind === 'Service') {
      const svc = gridService(grid);
      want = svc ? [svc] : [];
    } else {
      want = this.valuesOf(grid.spec?.gridUniqKey ?? '')
        .map((v) => gridWorkload(grid, kind.ownedKind as 'Deployment' | 'StatefulSet', v))
        .filter((w): w is OwnedObject => !!w);
    }
    for (const w of want) w.metadata!.ownerReferences = [ref];
    const have = controlledBy(this.ctx.informers.get<KubernetesObject>(kind.owned).list(namespace), grid.metadata!.uid)
      .map((o) => ({ ...o, apiVersion: kind.ownedApiVersion, kind: kind.ownedKind }));
    const res = await syncOwnedObjects(this.ctx.api, want, have);
    for (const c of res.conflicts) this.ctx.events.event(grid as never, 'Warning', 'WorkloadConflict', `a ${kind.ownedKind} named ${c} exists and is not controlled by this ${cr.kind}`);
    if (kind.ownedKind !== 'Service') await this.updateStates(grid, kind, have as Array<V1Deployment | V1StatefulSet>);
    if (res.errors[0]) {
      this.ctx.events.event(grid as never, 'Warning', 'DispatchFailed', apiErrorMessage(res.errors[0]));
      throw res.errors[0];
    }
  }

  /** status.states: each NodeUnit's workload status, as SuperEdge reports it. */
  private async updateStates(grid: WorkloadGrid, kind: GridKind, have: Array<V1Deployment | V1StatefulSet>): Promise<void> {
    const prefix = `${grid.metadata!.name}-`;
    const states: Record<string, unknown> = {};
    for (const w of have) if (w.metadata!.name!.startsWith(prefix) && w.status) states[w.metadata!.name!.slice(prefix.length)] = w.status;
    const prev = grid.status?.states ?? {};
    if (canonicalJson(prev) === canonicalJson(states)) return;
    const patch: Record<string, unknown> = { ...states };
    for (const k of Object.keys(prev)) if (!(k in states)) patch[k] = null;
    const cr = CUSTOM_RESOURCES[kind.resource];
    try {
      await this.ctx.api.patchStatus({ apiVersion: `${cr.group}/${cr.version}`, kind: cr.kind, namespace: grid.metadata!.namespace, name: grid.metadata!.name! }, { status: { states: patch } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

