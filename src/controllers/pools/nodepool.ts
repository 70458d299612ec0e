/**
 * NodePool controller (OpenYurt's nodepool controller): membership is the node label apps.openyurt.io/nodepool.
 * Two queues: pool keys (status: ready/unready counts and the member list) and node keys (the pool's labels,
 * annotations and taints put on each member, and taken off again when it leaves or the pool stops asking for
 * them). What was applied is recorded on the node (OpenYurt's previous-attributes annotation), so removal never
 * touches a label, annotation or taint the pool did not put there.
 *
 * A node that leaves a pool takes its pool-pinned workload with it: pods on it whose nodeSelector pins them to
 * another pool (apps.openyurt.io/nodepool, as YurtAppSet workloads are pinned) are deleted, and their controllers
 * place replacements in their own pool, while the new pool's workloads may now land on the node. (A nodeSelector
 * is only checked at scheduling upstream; pool membership is what the workload is about, so Kedge acts on it.)
 */
import type { V1Node, V1Pod, V1Taint } from '@kubernetes/client-node';
import { isNotFound } from '../client.js';
import { QueueRunner, type Controller, type ControllerContext } from '../controller.js';
import { canonicalJson } from '../util/pods.js';
import { NODEPOOL_LABEL, type NodePool } from './types.js';
import { CUSTOM_RESOURCES } from '../custom-resources.js';

/** What the pool last applied to a node (OpenYurt keeps the same record under this key). */
export const PREVIOUS_ATTRIBUTES_ANNOTATION = 'nodepool.openyurt.io/previous-attributes';
const NP = CUSTOM_RESOURCES.nodepools;

interface Attributes { labels?: Record<string, string>; annotations?: Record<string, string>; taints?: V1Taint[] }

const taintId = (t: V1Taint) => `${t.key}\u0000${t.effect}`;

function isNodeReady(n: V1Node): boolean {
  return (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function parseAttributes(raw: string | undefined): Attributes {
  if (!raw) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    return v && typeof v === 'object' ? (v as Attributes) : {};
  } catch {
    return {};
  }
}

/**
 * The merge patch that moves a node from what the pool applied before (`prev`) to what it asks now (`want`).
 * Returns undefined when nothing changes.
 */
export function attributePatch(node: V1Node, prev: Attributes, want: Attributes): object | undefined {
  const md = node.metadata ?? {};
  const labels: Record<string, string | null> = {};
  const annotations: Record<string, string | null> = {};
  for (const k of Object.keys(prev.labels ?? {})) if (!(want.labels && k in want.labels) && md.labels?.[k] !== undefined) labels[k] = null;
  for (const [k, v] of Object.entries(want.labels ?? {})) if (md.labels?.[k] !== v) labels[k] = v;
  for (const k of Object.keys(prev.annotations ?? {})) if (!(want.annotations && k in want.annotations) && md.annotations?.[k] !== undefined) annotations[k] = null;
  for (const [k, v] of Object.entries(want.annotations ?? {})) if (md.annotations?.[k] !== v) annotations[k] = v;
  const record = Object.keys(want.labels ?? {}).length + Object.keys(want.annotations ?? {}).length + (want.taints?.length ?? 0) > 0 ? canonicalJson(want) : undefined;
  if ((md.annotations?.[PREVIOUS_ATTRIBUTES_ANNOTATION] ?? undefined) !== record) annotations[PREVIOUS_ATTRIBUTES_ANNOTATION] = record ?? null;

  const current = node.spec?.taints ?? [];
  const prevIds = new Set((prev.taints ?? []).map(taintId));
  const wantTaints = want.taints ?? [];
  const wantIds = new Set(wantTaints.map(taintId));
  // Keep every taint the pool did not apply (lifecycle, user), replace the pool's own with what it wants now.
  const kept = current.filter((t) => !prevIds.has(taintId(t)) && !wantIds.has(taintId(t)));
  const taints = [...kept, ...wantTaints.map((t) => ({ key: t.key, ...(t.value !== undefined ? { value: t.value } : {}), effect: t.effect }))];
  const taintsChanged = canonicalJson(current.map((t) => [t.key, t.value ?? '', t.effect]).sort()) !== canonicalJson(taints.map((t) => [t.key, t.value ?? '', t.effect]).sort());

  if (!Object.keys(labels).length && !Object.keys(annotations).length && !taintsChanged) return undefined;
  return {
    metadata: {
      // Taints are a list: replace it only on top of the version it was computed from.
      ...(taintsChanged ? { resourceVersion: md.resourceVersion } : {}),
      ...(Object.keys(labels).length ? { labels } : {}),
      ...(Object.keys(annotations).length ? { annotations } : {}),
    },
    ...(taintsChanged ? { spec: { taints } } : {}),
  };
}

export class NodePoolController implements Controller {
  readonly name = 'nodepool';
  private readonly pools: QueueRunner;
  private readonly nodes: QueueRunner;
  /** node name → pool it is in; pool → member node names (kept from node events: no scans). */
  private readonly poolOf = new Map<string, string>();
  private readonly members = new Map<string, Set<string>>();
  private readonly readiness = new Map<string, boolean>();
  /** Nodes whose pool changed since they were first seen: their pods pinned elsewhere are to be moved. */
  private readonly moved = new Set<string>();

  constructor(private readonly ctx: ControllerContext) {
    this.pools = new QueueRunner('nodepool', ctx, (k) => this.syncPool(k));
    this.nodes = new QueueRunner('nodepool-nodes', ctx, (k) => this.syncNode(k));
  }

  start(): void {
    const pools = this.ctx.informers.get<NodePool>('nodepools');
    const nodes = this.ctx.informers.get<V1Node>('nodes');
    this.ctx.informers.get<V1Pod>('pods');
    const specOf = new Map<string, string>();
    const onPool = (p: NodePool) => {
      const name = p.metadata!.name!;
      this.pools.queue.add(name);
      const sig = canonicalJson([p.spec?.labels, p.spec?.annotations, p.spec?.taints]);
      if (specOf.get(name) === sig) return;
      specOf.set(name, sig);
      for (const n of this.members.get(name) ?? []) this.nodes.queue.add(n);
    };
    pools.onAdd(onPool);
    pools.onUpdate(onPool);
    pools.onDelete((p) => {
      specOf.delete(p.metadata!.name!);
      for (const n of this.members.get(p.metadata!.name!) ?? []) this.nodes.queue.add(n);
    });
    const onNode = (n: V1Node, gone = false) => {
      const name = n.metadata!.name!;
      const pool = gone ? undefined : n.metadata?.labels?.[NODEPOOL_LABEL];
      const was = this.poolOf.get(name);
      const ready = !gone && isNodeReady(n);
      if (was !== pool) {
        if (this.readiness.has(name) && !gone) this.moved.add(name);
        if (was !== undefined) { this.members.get(was)?.delete(name); this.pools.queue.add(was); }
        if (pool !== undefined) {
          let set = this.members.get(pool);
          if (!set) this.members.set(pool, (set = new Set()));
          set.add(name);
          this.pools.queue.add(pool);
          this.poolOf.set(name, pool);
        } else this.poolOf.delete(name);
      } else if (pool !== undefined && this.readiness.get(name) !== ready) {
        this.pools.queue.add(pool);
      }
      if (gone) this.readiness.delete(name);
      else this.readiness.set(name, ready);
      if (!gone) this.nodes.queue.add(name);
    };
    nodes.onAdd((n) => onNode(n));
    nodes.onUpdate((n) => onNode(n));
    nodes.onDelete((n) => onNode(n, true));
    this.pools.run();
    this.nodes.run();
  }

  async stop(): Promise<void> {
    await Promise.all([this.pools.stop(), this.nodes.stop()]);
  }

  private async syncPool(name: string): Promise<void> {
    const pool = this.ctx.informers.get<NodePool>('nodepools').get(name);
    if (!pool || pool.metadata?.deletionTimestamp) return;
    const names = [...(this.members.get(name) ?? [])].sort();
    let ready = 0;
    for (const n of names) if (this.readiness.get(n)) ready++;
    const status = { readyNodeNum: ready, unreadyNodeNum: names.length - ready, nodes: names };
    const cur = pool.status ?? {};
    if (cur.readyNodeNum === status.readyNodeNum && cur.unreadyNodeNum === status.unreadyNodeNum && canonicalJson(cur.nodes ?? []) === canonicalJson(names)) return;
    try {
      await this.ctx.api.patchStatus({ apiVersion: `${NP.group}/${NP.version}`, kind: NP.kind, name }, { status: { ...status, nodes: names.length ? names : null } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Delete the pods on `node` that are pinned to a pool other than `pool` (O(pods), only after a move). */
  private async moveWorkloads(node: string, pool: string | undefined): Promise<void> {
    const stray = this.ctx.informers.get<V1Pod>('pods').list().filter((p) => {
      const pinned = p.spec?.nodeSelector?.[NODEPOOL_LABEL];
      return p.spec?.nodeName === node && pinned !== undefined && pinned !== pool && !p.metadata?.deletionTimestamp;
    });
    for (const p of stray) {
      try {
        await this.ctx.api.delete({ apiVersion: 'v1', kind: 'Pod', namespace: p.metadata!.namespace, name: p.metadata!.name! }, { uid: p.metadata!.uid });
        this.ctx.events.event(p, 'Normal', 'NodePoolChanged', `node ${node} left nodepool ${p.spec!.nodeSelector![NODEPOOL_LABEL]}; the pod moves with its pool`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  private async syncNode(name: string): Promise<void> {
    const node = this.ctx.informers.get<V1Node>('nodes').get(name);
    if (!node || node.metadata?.deletionTimestamp) return;
    const poolName = node.metadata?.labels?.[NODEPOOL_LABEL];
    const pool = poolName ? this.ctx.informers.get<NodePool>('nodepools').get(poolName) : undefined;
    // The pool label itself is membership, never an attribute the pool may set or take away.
    const { [NODEPOOL_LABEL]: _membership, ...labels } = pool?.spec?.labels ?? {};
    const want: Attributes = pool ? { labels, annotations: { ...(pool.spec?.annotations ?? {}) }, taints: pool.spec?.taints ?? [] } : {};
    const prev = parseAttributes(node.metadata?.annotations?.[PREVIOUS_ATTRIBUTES_ANNOTATION]);
    if (this.moved.has(name)) {
      await this.moveWorkloads(name, poolName);
      this.moved.delete(name);
    }
    const patch = attributePatch(node, prev, want);
    if (!patch) return;
    try {
      await this.ctx.api.patch({ apiVersion: 'v1', kind: 'Node', name }, patch);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
