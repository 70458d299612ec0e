import type { V1Deployment, V1Pod, V1PodDisruptionBudget, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node';
import { labelSelectorMatches } from '../util/selectors.js';
import { isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { controllerRefOf, isPodReady } from '../util/pods.js';

/** An eviction recorded in status.disruptedPods that the pod's deletion never confirmed is forgotten after this (upstream's DeletionTimeout). */
const DISRUPTED_POD_TIMEOUT_MS = 2 * 60_000;

type IntOrString = number | string | undefined | null;

/** A percentage of `total`, rounded up (upstream's GetScaledValueFromIntOrPercent with roundUp). */
export function scaledValue(v: IntOrString, total: number): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(String(v ?? ''));
  return m ? Math.ceil((Number(m[1]) * total) / 100) : 0;
}

export interface BudgetCounts { expectedPods: number; desiredHealthy: number }

/**
 * expectedPods and desiredHealthy as upstream's disruption controller computes them: an integer minAvailable counts
 * the selected pods; a percentage, or maxUnavailable, counts the replicas their controllers want.
 */
export function budgetCounts(pdb: V1PodDisruptionBudget, podCount: number, controllerReplicas: () => number | undefined): BudgetCounts | { error: string } {
  const s = pdb.spec ?? {};
  if (s.maxUnavailable !== undefined && s.maxUnavailable !== null) {
    const expected = controllerReplicas();
    if (expected === undefined) return { error: 'found no controllers for pods of this budget' };
    return { expectedPods: expected, desiredHealthy: Math.max(0, expected - scaledValue(s.maxUnavailable as IntOrString, expected)) };
  }
  if (typeof s.minAvailable === 'number') return { expectedPods: podCount, desiredHealthy: s.minAvailable };
  if (typeof s.minAvailable === 'string') {
    const expected = controllerReplicas();
    if (expected === undefined) return { error: 'found no controllers for pods of this budget' };
    return { expectedPods: expected, desiredHealthy: scaledValue(s.minAvailable, expected) };
  }
  return { expectedPods: podCount, desiredHealthy: 0 };
}

/**
 * Disruption controller: keeps each PodDisruptionBudget's status (currentHealthy, desiredHealthy, expectedPods,
 * disruptionsAllowed, the DisruptionAllowed condition, disruptedPods) from the pods it selects, so the API
 * server's pods/eviction can decide without recomputing.
 */
export class DisruptionController implements Controller {
  readonly name = 'disruption';
  private readonly runner: QueueRunner;

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const pdbs = this.ctx.informers.get<V1PodDisruptionBudget>('poddisruptionbudgets');
    const pods = this.ctx.informers.get<V1Pod>('pods');
    const q = this.runner.queue;
    pdbs.onAdd((p) => q.add(keyOf(p)));
    pdbs.onUpdate((p) => q.add(keyOf(p)));
    const budgetsOf = (p: V1Pod) => {
      for (const b of pdbs.list(p.metadata?.namespace)) if (this.selects(b, p)) q.add(keyOf(b));
    };
    for (const on of [pods.onAdd, pods.onUpdate, pods.onDelete]) on.call(pods, budgetsOf);
    // Controllers' replica counts matter for percentages and maxUnavailable.
    for (const r of ['replicasets', 'deployments', 'statefulsets'] as const) {
      this.ctx.informers.get(r).onUpdate((o) => { for (const b of pdbs.list(o.metadata?.namespace)) q.add(keyOf(b)); });
    }
    this.runner.run();
  }

  private selects(pdb: V1PodDisruptionBudget, pod: V1Pod): boolean {
    const sel = pdb.spec?.selector;
    if (sel === undefined || sel === null) return false; // policy/v1: a null selector selects nothing, {} everything
    try { return labelSelectorMatches(sel, pod.metadata?.labels ?? {}); } catch { return false; }
  }

  /** Replicas wanted by the distinct controllers of these pods (a ReplicaSet owned by a Deployment counts as the Deployment). */
  private controllerReplicas(pods: V1Pod[]): number | undefined {
    const seen = new Map<string, number>();
    for (const p of pods) {
      const ref = controllerRefOf(p);
      if (!ref) return undefined;
      const ns = p.metadata!.namespace!;
      if (ref.kind === 'ReplicaSet') {
        const rs = this.ctx.informers.get<V1ReplicaSet>('replicasets').get(ref.name, ns);
        const dref = rs && controllerRefOf(rs);
        if (dref?.kind === 'Deployment') {
          const d = this.ctx.informers.get<V1Deployment>('deployments').get(dref.name, ns);
          if (!d) return undefined;
          seen.set(d.metadata!.uid!, d.spec?.replicas ?? 1);
        } else if (rs) seen.set(rs.metadata!.uid!, rs.spec?.replicas ?? 1);
        else return undefined;
      } else if (ref.kind === 'StatefulSet') {
        const s = this.ctx.informers.get<V1StatefulSet>('statefulsets').get(ref.name, ns);
        if (!s) return undefined;
        seen.set(s.metadata!.uid!, s.spec?.replicas ?? 1);
      } else return undefined;
    }
    return [...seen.values()].reduce((a, b) => a + b, 0);
  }

  private async sync(key: string): Promise<void | { requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    const pdb = this.ctx.informers.get<V1PodDisruptionBudget>('poddisruptionbudgets').get(name, namespace);
    if (!pdb || pdb.metadata?.deletionTimestamp) return;
    const pods = this.ctx.informers.get<V1Pod>('pods').list(namespace).filter((p) => this.selects(pdb, p));
    const now = Date.now();
    // An eviction the server recorded stays counted as disrupted until the pod's deletion is seen (or times out).
    const disrupted: Record<string, string> = {};
    let recheckMs: number | undefined;
    for (const [pod, at] of Object.entries((pdb.status?.disruptedPods ?? {}) as unknown as Record<string, string>)) {
      const p = pods.find((x) => x.metadata?.name === pod);
      const age = now - new Date(at).getTime();
      if (!p || p.metadata?.deletionTimestamp || age > DISRUPTED_POD_TIMEOUT_MS) continue;
      disrupted[pod] = at;
      recheckMs = Math.min(recheckMs ?? Infinity, DISRUPTED_POD_TIMEOUT_MS - age + 1000);
    }
    const healthy = pods.filter((p) => !p.metadata?.deletionTimestamp && !disrupted[p.metadata!.name!] && isPodReady(p)).length;
    const counts = budgetCounts(pdb, pods.length, () => this.controllerReplicas(pods));
    const ts = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
    const prevCond = (pdb.status?.conditions ?? []).find((c) => c.type === 'DisruptionAllowed');
    let status: Record<string, unknown>;
    if ('error' in counts) {
      this.ctx.events.event({ ...pdb, apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }, 'Warning', 'CalculateExpectedPodCountFailed', `Failed to calculate the number of expected pods: ${counts.error}`);
      status = {
        observedGeneration: pdb.metadata?.generation, disruptionsAllowed: 0, currentHealthy: healthy, desiredHealthy: 0, expectedPods: 0, disruptedPods: null,
        conditions: [{ type: 'DisruptionAllowed', status: 'False', reason: 'SyncFailed', message: counts.error, observedGeneration: pdb.metadata?.generation, lastTransitionTime: prevCond?.status === 'False' && prevCond.reason === 'SyncFailed' ? prevCond.lastTransitionTime : ts }],
      };
    } else {
      const allowed = Math.max(0, healthy - counts.desiredHealthy);
      const condStatus = allowed > 0 ? 'True' : 'False';
      status = {
        observedGeneration: pdb.metadata?.generation, disruptionsAllowed: allowed, currentHealthy: healthy, desiredHealthy: counts.desiredHealthy,
        expectedPods: counts.expectedPods, disruptedPods: Object.keys(disrupted).length ? disrupted : null,
        conditions: [{
          type: 'DisruptionAllowed', status: condStatus, reason: allowed > 0 ? 'SufficientPods' : 'InsufficientPods', message: '',
          observedGeneration: pdb.metadata?.generation, lastTransitionTime: prevCond?.status === condStatus ? prevCond.lastTransitionTime : ts,
        }],
      };
    }
    const cur = (pdb.status ?? {}) as Record<string, unknown>;
    const changed = ['observedGeneration', 'disruptionsAllowed', 'currentHealthy', 'desiredHealthy', 'expectedPods'].some((k) => cur[k] !== status[k])
      || JSON.stringify(cur.disruptedPods ?? null) !== JSON.stringify(status.disruptedPods)
      || JSON.stringify((cur.conditions as unknown[] | undefined)?.map((c) => (c as { status: string; reason: string }).status + (c as { reason: string }).reason)) !== JSON.stringify((status.conditions as Array<{ status: string; reason: string }>).map((c) => c.status + c.reason));
    if (changed) {
      try {
        await this.ctx.api.patchStatus({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', namespace: namespace!, name }, { status });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return recheckMs === undefined ? undefined : { requeueAfterMs: recheckMs };
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
