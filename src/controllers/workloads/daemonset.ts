import type { V1DaemonSet, V1Node, V1Pod, V1Toleration } from '@kubernetes/client-node';
import { errorCode, isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { Expectations } from '../util/expectations.js';
import { controllerRefOf, isControlledBy, isPodActive, isPodAvailable, isPodReady, ownerRef, podFromTemplate, scaledValue, templateHash } from '../util/pods.js';
import { findUntoleratedTaint, nodeSelectorTermMatches } from '../util/selectors.js';

export const RevisionHashLabel = 'controller-revision-hash';

/** Tolerations upstream adds to every DaemonSet pod, so daemons survive node conditions (and disconnects). */
export function daemonTolerations(ds: V1DaemonSet): V1Toleration[] {
  const t: V1Toleration[] = [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  ];
  if (ds.spec?.template?.spec?.hostNetwork) t.push({ key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' });
  const own = ds.spec?.template?.spec?.tolerations ?? [];
  return [...own, ...t.filter((x) => !own.some((o) => o.key === x.key && o.effect === x.effect))];
}

/** Should a daemon pod run on this node? nodeSelector, required node affinity, and taints vs tolerations. */
export function nodeShouldRunDaemon(ds: V1DaemonSet, node: V1Node): boolean {
  const spec = ds.spec?.template?.spec;
  const labels = node.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const req = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (req && !req.nodeSelectorTerms.some((t) => nodeSelectorTermMatches(t, node.metadata!.name!, labels))) return false;
  // The unreachable NoSchedule taint does not stop daemons: upstream tolerates unreachable/not-ready for them.
  const tolerations = [...daemonTolerations(ds), { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoSchedule' }];
  return !findUntoleratedTaint(node.spec?.taints, tolerations, ['NoSchedule', 'NoExecute']);
}

export function daemonTemplateHash(ds: V1DaemonSet): string {
  return templateHash(ds.spec?.template, ds.status?.collisionCount ?? 0);
}

/**
 * DaemonSet: one pod per eligible node, pinned with node affinity on metadata.name (placed by the scheduler,
 * as upstream since 1.12). RollingUpdate replaces old-revision pods while at most maxUnavailable nodes lack an
 * available up-to-date daemon; OnDelete only replaces pods the user deleted.
 */
export class DaemonSetController implements Controller {
  readonly name = 'daemonset';
  private readonly runner: QueueRunner;
  private readonly expectations = new Expectations();

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const dss = this.ctx.informers.get<V1DaemonSet>('daemonsets');
    const pods = this.ctx.informers.get<V1Pod>('pods');
    const nodes = this.ctx.informers.get<V1Node>('nodes');
    const q = this.runner.queue;
    dss.onAdd((d) => q.add(keyOf(d)));
    dss.onUpdate((d) => q.add(keyOf(d)));
    const owner = (p: V1Pod) => {
      const r = controllerRefOf(p);
      return r?.kind === 'DaemonSet' ? `${p.metadata!.namespace}/${r.name}` : undefined;
    };
    pods.onAdd((p) => { const k = owner(p); if (k) { this.expectations.observedAdd(k); q.add(k); } });
    pods.onUpdate((p) => { const k = owner(p); if (k) q.add(k); });
    pods.onDelete((p) => { const k = owner(p); if (k) { this.expectations.observedDelete(k); q.add(k); } });
    const all = () => { for (const d of dss.list()) q.add(keyOf(d)); };
    // Node label/taint changes alter eligibility; heartbeats do not, but re-checking is cheap (dedup'd queue).
    nodes.onAdd(all);
    nodes.onDelete(all);
    const last = new Map<string, string>();
    nodes.onUpdate((n) => {
      const sig = JSON.stringify([n.metadata?.labels, n.spec?.taints]);
      if (last.get(n.metadata!.name!) !== sig) all();
      last.set(n.metadata!.name!, sig);
    });
    this.runner.run();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    const ds = this.ctx.informers.get<V1DaemonSet>('daemonsets').get(name, namespace);
    if (!ds) return;
    const nodes = this.ctx.informers.get<V1Node>('nodes').list();
    const owned = this.ctx.informers.get<V1Pod>('pods').list(namespace).filter((p) => isControlledBy(p, ds.metadata?.uid));
    const hash = daemonTemplateHash(ds);
    const byNode = new Map<string, V1Pod[]>();
    const targetNode = (p: V1Pod): string | undefined =>
      p.spec?.nodeName ??
      p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms?.[0]?.matchFields?.[0]?.values?.[0];
    for (const p of owned) {
      if (!isPodActive(p)) continue;
      const n = targetNode(p);
      if (!n) continue;
      let l = byNode.get(n);
      if (!l) byNode.set(n, (l = []));
      l.push(p);
    }
    const minReady = ds.spec?.minReadySeconds ?? 0;
    const toCreate: string[] = [];
    const toDelete: V1Pod[] = [];
    const eligible = nodes.filter((n) => nodeShouldRunDaemon(ds, n));
    const eligibleNames = new Set(eligible.map((n) => n.metadata!.name!));
    for (const n of eligible) {
      const ps = byNode.get(n.metadata!.name!) ?? [];
      if (ps.length === 0) toCreate.push(n.metadata!.name!);
      else if (ps.length > 1) toDelete.push(...ps.slice(1));
    }
    for (const [n, ps] of byNode) if (!eligibleNames.has(n)) toDelete.push(...ps);
    // Rolling update: replace old-revision daemons within the maxUnavailable budget.
    const strategy = ds.spec?.updateStrategy?.type ?? 'RollingUpdate';
    if (strategy === 'RollingUpdate') {
      const maxUnavailable = Math.max(1, scaledValue(ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable as number | string | undefined, eligible.length, true, 1));
      let unavailable = 0;
      const old: V1Pod[] = [];
      for (const n of eligible) {
        const p = (byNode.get(n.metadata!.name!) ?? [])[0];
        if (!p || !isPodAvailable(p, minReady)) unavailable++;
        if (p && p.metadata?.labels?.[RevisionHashLabel] !== hash) old.push(p);
      }
      // Unavailable old pods go first: replacing them costs no availability.
      old.sort((a, b) => Number(isPodAvailable(a, minReady)) - Number(isPodAvailable(b, minReady)));
      for (const p of old) {
        if (!isPodAvailable(p, minReady)) toDelete.push(p);
        else if (unavailable < maxUnavailable) {
          toDelete.push(p);
          unavailable++;
        }
      }
    }
    if (!ds.metadata?.deletionTimestamp && this.expectations.satisfied(key)) {
      this.expectations.expect(key, toCreate.length, toDelete.length);
      const results = await Promise.allSettled([
        ...toCreate.map((n) => this.createDaemon(ds, n, hash)),
        ...toDelete.map(async (p) => {
          await this.ctx.api.delete({ apiVersion: 'v1', kind: 'Pod', namespace: namespace!, name: p.metadata!.name! }, { uid: p.metadata?.uid });
          this.ctx.events.event({ ...ds, apiVersion: 'apps/v1', kind: 'DaemonSet' }, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata!.name}`);
        }),
      ]);
      const failed = results.filter((r) => r.status === 'rejected' && !isNotFound(r.reason));
      if (failed.length) {
        this.expectations.forget(key);
        throw (failed[0] as PromiseRejectedResult).reason;
      }
    }
    const scheduled = eligible.filter((n) => (byNode.get(n.metadata!.name!) ?? []).length > 0);
    const current = (n: V1Node) => (byNode.get(n.metadata!.name!) ?? [])[0];
    const status = {
      desiredNumberScheduled: eligible.length,
      currentNumberScheduled: scheduled.length,
      numberMisscheduled: [...byNode.keys()].filter((n) => !eligibleNames.has(n)).length,
      numberReady: eligible.filter((n) => { const p = current(n); return p ? isPodReady(p) : false; }).length,
      numberAvailable: eligible.filter((n) => { const p = current(n); return p ? isPodAvailable(p, minReady) : false; }).length,
      updatedNumberScheduled: eligible.filter((n) => current(n)?.metadata?.labels?.[RevisionHashLabel] === hash).length,
      numberUnavailable: 0,
      observedGeneration: ds.metadata?.generation,
    };
    status.numberUnavailable = status.desiredNumberScheduled - status.numberAvailable;
    const cur = (ds.status ?? {}) as Record<string, unknown>;
    if (Object.entries(status).some(([k, v]) => (cur[k] ?? 0) !== (v ?? 0))) {
      try {
        await this.ctx.api.patchStatus({ apiVersion: 'apps/v1', kind: 'DaemonSet', namespace: namespace!, name }, { status });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  private async createDaemon(ds: V1DaemonSet, nodeName: string, hash: string): Promise<void> {
    const pod = podFromTemplate(ds.spec!.template, ds.metadata!.namespace!, ownerRef(ds, 'apps/v1', 'DaemonSet'), { generateName: `${ds.metadata!.name}-` }, { [RevisionHashLabel]: hash });
    const spec = pod.spec!;
    spec.tolerations = daemonTolerations(ds);
    // Pin to the node through required node affinity on metadata.name (replacing any such term).
    const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [{}];
    spec.affinity = {
      ...(spec.affinity ?? {}),
      nodeAffinity: {
        ...(spec.affinity?.nodeAffinity ?? {}),
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: terms.map((t) => ({ ...t, matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] })),
        },
      },
    };
    try {
      const created = await this.ctx.api.create(pod);
      this.ctx.events.event({ ...ds, apiVersion: 'apps/v1', kind: 'DaemonSet' }, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata?.name}`);
    } catch (err) {
      this.ctx.events.event({ ...ds, apiVersion: 'apps/v1', kind: 'DaemonSet' }, 'Warning', 'FailedCreate', `Error creating: ${String((err as Error).message)}`);
      if (errorCode(err) !== 409) throw err;
    }
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
