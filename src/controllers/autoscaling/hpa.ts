import type { V1LabelSelector, V1Pod, V2HorizontalPodAutoscaler, V2HPAScalingRules } from '@kubernetes/client-node';
import type { KubeClient } from '../../common/kube-client.js';
import { milliValueOf, integerValueOf } from '../../common/quantity.js';
import { apiErrorMessage, isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { isPodReady } from '../util/pods.js';
import { labelSelectorMatches } from '../util/selectors.js';
import {
  normalizeWithBehavior, normalizeWithoutBehavior, replicasForUtilization, type PodSample, type Recommendation, type ScaleEvent, type ScalingRules,
} from './replicas.js';

/** kube-controller-manager's --horizontal-pod-autoscaler-sync-period. */
export const HPA_SYNC_PERIOD_MS = 15_000;

export interface PodMetricsItem { metadata?: { name?: string }; containers?: Array<{ name: string; usage?: Record<string, string> }> }

/** What the autoscaler reads and writes beyond the shared KubeApi: the scale subresource and metrics.k8s.io. */
export interface ScaleApi {
  setScale(namespace: string, ref: { apiVersion: string; kind: string; name: string }, replicas: number): Promise<void>;
  podMetrics(namespace: string): Promise<PodMetricsItem[]>;
}

const PLURALS: Record<string, string> = { Deployment: 'deployments', ReplicaSet: 'replicasets', StatefulSet: 'statefulsets', ReplicationController: 'replicationcontrollers' };

export function makeScaleApi(client: KubeClient): ScaleApi {
  return {
    async setScale(namespace, ref, replicas) {
      const base = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
      const plural = PLURALS[ref.kind] ?? `${ref.kind.toLowerCase()}s`;
      await client.request('PATCH', `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(ref.name)}/scale`, { spec: { replicas } }, 'application/merge-patch+json');
    },
    async podMetrics(namespace) {
      const list = await client.request<{ items?: PodMetricsItem[] }>('GET', `/apis/metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(namespace)}/pods`);
      return list.items ?? [];
    },
  };
}

interface ScaleTarget { spec?: { replicas?: number; selector?: V1LabelSelector } }

const now = () => Date.now();
const ts = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');

function rules(r: V2HPAScalingRules | undefined, up: boolean): ScalingRules {
  return {
    stabilizationWindowSeconds: r?.stabilizationWindowSeconds ?? (up ? 0 : 300),
    selectPolicy: (r?.selectPolicy as ScalingRules['selectPolicy']) ?? 'Max',
    policies: (r?.policies as ScalingRules['policies']) ?? (up ? [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] : [{ type: 'Percent', value: 100, periodSeconds: 15 }]),
  };
}

interface Condition { type: string; status: string; reason: string; message: string; lastTransitionTime?: string }

/**
 * HorizontalPodAutoscaler (autoscaling/v2) on metrics.k8s.io: Resource metrics (cpu, memory) with Utilization or
 * AverageValue targets, every 15 s; upstream's tolerance, stabilization and rate limits (replicas.ts); writes the
 * target's scale subresource and the HPA's status and conditions. Pods/Object/External metrics need a custom
 * metrics API, which Kedge does not serve: such metrics set ScalingActive=False (FailedGetPodsMetric …).
 */
export class HorizontalPodAutoscalerController implements Controller {
  readonly name = 'horizontalpodautoscaling';
  private readonly runner: QueueRunner;
  private readonly recommendations = new Map<string, Recommendation[]>();
  private readonly upEvents = new Map<string, ScaleEvent[]>();
  private readonly downEvents = new Map<string, ScaleEvent[]>();

  constructor(private readonly ctx: ControllerContext, private readonly scale: ScaleApi, private readonly syncPeriodMs = HPA_SYNC_PERIOD_MS) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const hpas = this.ctx.informers.get<V2HorizontalPodAutoscaler>('horizontalpodautoscalers');
    hpas.onAdd((h) => this.runner.queue.add(keyOf(h)));
    hpas.onUpdate((h) => this.runner.queue.add(keyOf(h)));
    hpas.onDelete((h) => { const k = keyOf(h); this.recommendations.delete(k); this.upEvents.delete(k); this.downEvents.delete(k); });
    this.runner.run();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    const hpa = this.ctx.informers.get<V2HorizontalPodAutoscaler>('horizontalpodautoscalers').get(name, namespace);
    if (!hpa?.spec || hpa.metadata?.deletionTimestamp) return;
    const spec = hpa.spec;
    const ns = namespace!;
    const ref = spec.scaleTargetRef;
    const hpaRef = { ...hpa, apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler' };
    const conditions: Condition[] = [];
    const target = await this.ctx.api.get<ScaleTarget & { apiVersion: string; kind: string }>({ apiVersion: ref.apiVersion ?? 'apps/v1', kind: ref.kind, namespace: ns, name: ref.name }).catch((err) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (!target) {
      conditions.push({ type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message: `the HPA controller was unable to get the target's current scale: ${ref.kind.toLowerCase()}s.${(ref.apiVersion ?? '').split('/')[0]} "${ref.name}" not found` });
      this.ctx.events.event(hpaRef, 'Warning', 'FailedGetScale', conditions[0]!.message);
      await this.writeStatus(hpa, { currentReplicas: hpa.status?.currentReplicas ?? 0, desiredReplicas: hpa.status?.desiredReplicas ?? 0, conditions });
      return { requeueAfterMs: this.syncPeriodMs };
    }
    const current = target.spec?.replicas ?? 1;
    const min = spec.minReplicas ?? 1;
    const max = spec.maxReplicas;
    let desired = current;
    let reason = '';
    const currentMetrics: unknown[] = [];
    let limited: string | undefined;
    if (current === 0 && min !== 0) {
      conditions.push({ type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled', message: 'scaling is disabled since the replica count of the target is zero' });
      desired = 0;
    } else if (current > max) {
      desired = max; reason = 'Current number of replicas above Spec.MaxReplicas'; limited = 'TooManyReplicas';
    } else if (current < min) {
      desired = min; reason = 'Current number of replicas below Spec.MinReplicas'; limited = 'TooFewReplicas';
    } else {
      const computed = await this.computeReplicas({ ...hpa, spec }, ns, current, target.spec?.selector, currentMetrics, conditions);
      if (computed === undefined) {
        await this.writeStatus(hpa, { currentReplicas: current, desiredReplicas: hpa.status?.desiredReplicas ?? current, currentMetrics, conditions });
        return { requeueAfterMs: this.syncPeriodMs };
      }
      const t = now();
      const history = (this.recommendations.get(key) ?? []).filter((r) => r.at > t - 60 * 60_000);
      const norm = spec.behavior
        ? normalizeWithBehavior(history, t, current, computed.replicas, { min, max }, rules(spec.behavior.scaleUp, true), rules(spec.behavior.scaleDown, false), this.upEvents.get(key) ?? [], this.downEvents.get(key) ?? [])
        : normalizeWithoutBehavior(history, t, current, computed.replicas, { min, max });
      history.push({ at: t, replicas: computed.replicas });
      this.recommendations.set(key, history.slice(-100));
      desired = norm.replicas;
      limited = norm.limited;
      reason = desired > current ? `${computed.metric} above target` : 'All metrics below target';
    }
    conditions.push(limited
      ? { type: 'ScalingLimited', status: 'True', reason: limited, message: limited === 'TooManyReplicas' ? 'the desired replica count is more than the maximum replica count' : limited === 'TooFewReplicas' ? 'the desired replica count is less than the minimum replica count' : 'the desired replica count is increasing faster than the maximum scale rate' }
      : { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange', message: 'the desired count is within the acceptable range' });
    let lastScaleTime = hpa.status?.lastScaleTime as unknown as string | undefined;
    if (desired !== current) {
      try {
        await this.scale.setScale(ns, { apiVersion: ref.apiVersion ?? 'apps/v1', kind: ref.kind, name: ref.name }, desired);
      } catch (err) {
        const msg = `failed to rescale ${ref.kind}/${ref.name}: ${apiErrorMessage(err)}`;
        this.ctx.events.event(hpaRef, 'Warning', 'FailedRescale', msg);
        conditions.unshift({ type: 'AbleToScale', status: 'False', reason: 'FailedUpdateScale', message: `the HPA controller was unable to update the target scale: ${apiErrorMessage(err)}` });
        await this.writeStatus(hpa, { currentReplicas: current, desiredReplicas: desired, currentMetrics, conditions });
        return { requeueAfterMs: this.syncPeriodMs };
      }
      const t = now();
      const events = desired > current ? this.upEvents : this.downEvents;
      events.set(key, [...(events.get(key) ?? []).filter((e) => e.at > t - 30 * 60_000), { at: t, change: Math.abs(desired - current) }]);
      lastScaleTime = ts(t);
      this.ctx.events.event(hpaRef, 'Normal', 'SuccessfulRescale', `New size: ${desired}; reason: ${reason}`);
      conditions.unshift({ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: `the HPA controller was able to update the target scale to ${desired}` });
    } else {
      conditions.unshift({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale', message: 'recommended size matches current size' });
    }
    await this.writeStatus(hpa, { currentReplicas: current, desiredReplicas: desired, currentMetrics, conditions, lastScaleTime });
    return { requeueAfterMs: this.syncPeriodMs };
  }

  /** The largest proposal over the HPA's metrics, or undefined when none could be computed (conditions say why). */
  private async computeReplicas(hpa: V2HorizontalPodAutoscaler & { spec: NonNullable<V2HorizontalPodAutoscaler['spec']> }, ns: string, current: number, selector: V1LabelSelector | undefined, currentMetrics: unknown[], conditions: Condition[]): Promise<{ replicas: number; metric: string } | undefined> {
    const pods = this.ctx.informers.get<V1Pod>('pods').list(ns).filter((p) => selector && labelSelectorMatches(selector, p.metadata?.labels ?? {})
      && !p.metadata?.deletionTimestamp && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded');
    let metrics: PodMetricsItem[] | undefined;
    const spec = hpa.spec;
    let best: { replicas: number; metric: string } | undefined;
    let failure: Condition | undefined;
    for (const m of spec.metrics ?? []) {
      const res = m.type === 'Resource' ? m.resource : undefined;
      if (!res) {
        failure = { type: 'ScalingActive', status: 'False', reason: `FailedGet${m.type}Metric`, message: `the HPA was unable to compute the replica count: unable to get metric of type ${m.type}: no custom or external metrics API is served` };
        continue;
      }
      try {
        metrics ??= await this.scale.podMetrics(ns);
        const byPod = new Map(metrics.map((x) => [x.metadata?.name ?? '', x]));
        const isCpu = res.name === 'cpu';
        const value = (q: string | undefined) => (q === undefined ? 0 : isCpu ? milliValueOf(q) : integerValueOf(q));
        const samples: PodSample[] = pods.map((p) => {
          const pm = byPod.get(p.metadata!.name!);
          const containers = p.spec?.containers ?? [];
          const missingRequest = containers.some((c) => c.resources?.requests?.[res.name] === undefined);
          return {
            name: p.metadata!.name!,
            usage: pm ? (pm.containers ?? []).reduce((a, c) => a + value(c.usage?.[res.name]), 0) : undefined,
            request: missingRequest ? undefined : containers.reduce((a, c) => a + value(c.resources!.requests![res.name]), 0),
            unready: isCpu && !isPodReady(p),
          };
        });
        if (!samples.length) throw new Error('no pods match the target\'s selector');
        let proposal: number;
        if (res.target.type === 'Utilization') {
          const out = replicasForUtilization(samples, current, res.target.averageUtilization ?? 80, res.name);
          proposal = out.replicas;
          currentMetrics.push({ type: 'Resource', resource: { name: res.name, current: { averageUtilization: out.utilization, averageValue: isCpu ? `${Math.round(out.averageUsage)}m` : String(Math.round(out.averageUsage)) } } });
        } else {
          const measured = samples.filter((s) => s.usage !== undefined);
          if (!measured.length) throw new Error('did not receive metrics for targeted pods');
          const total = measured.reduce((a, s) => a + s.usage!, 0);
          const targetAvg = value(String(res.target.averageValue ?? res.target.value ?? '0'));
          const ratio = total / measured.length / targetAvg;
          proposal = Math.abs(1 - ratio) <= 0.1 ? current : Math.ceil(total / targetAvg);
          currentMetrics.push({ type: 'Resource', resource: { name: res.name, current: { averageValue: isCpu ? `${Math.round(total / measured.length)}m` : String(Math.round(total / measured.length)) } } });
        }
        const metric = res.target.type === 'Utilization' ? `${res.name} resource utilization (percentage of request)` : `${res.name} resource`;
        if (!best || proposal > best.replicas) best = { replicas: proposal, metric };
      } catch (err) {
        const msg = apiErrorMessage(err);
        failure = { type: 'ScalingActive', status: 'False', reason: 'FailedGetResourceMetric', message: `the HPA was unable to compute the replica count: failed to get ${res.name} utilization: ${msg}` };
        this.ctx.events.event({ ...hpa, apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler' }, 'Warning', 'FailedGetResourceMetric', `failed to get ${res.name} utilization: ${msg}`);
      }
    }
    if (!best) {
      conditions.push({ type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale', message: 'the HPA controller was able to get the target\'s current scale' });
      conditions.push(failure ?? { type: 'ScalingActive', status: 'False', reason: 'InvalidMetricSourceType', message: 'no metrics' });
      return undefined;
    }
    conditions.push({ type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: `the HPA was able to successfully calculate a replica count from ${best.metric}` });
    return best;
  }

  private async writeStatus(hpa: V2HorizontalPodAutoscaler, s: { currentReplicas: number; desiredReplicas: number; currentMetrics?: unknown[]; conditions: Condition[]; lastScaleTime?: string }): Promise<void> {
    const prev = (hpa.status?.conditions ?? []) as Condition[];
    const at = ts(now());
    const conditions = s.conditions.map((c) => {
      const p = prev.find((x) => x.type === c.type);
      return { ...c, lastTransitionTime: p && p.status === c.status ? p.lastTransitionTime : at };
    });
    const status = {
      observedGeneration: hpa.metadata?.generation, currentReplicas: s.currentReplicas, desiredReplicas: s.desiredReplicas,
      currentMetrics: s.currentMetrics?.length ? s.currentMetrics : null, conditions, lastScaleTime: s.lastScaleTime ?? hpa.status?.lastScaleTime ?? null,
    };
    const cur: NonNullable<V2HorizontalPodAutoscaler['status']> = hpa.status ?? { desiredReplicas: 0 };
    const same = cur.currentReplicas === status.currentReplicas && cur.desiredReplicas === status.desiredReplicas && cur.observedGeneration === status.observedGeneration
      && JSON.stringify(cur.currentMetrics ?? null) === JSON.stringify(status.currentMetrics)
      && JSON.stringify((cur.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message])) === JSON.stringify(conditions.map((c) => [c.type, c.status, c.reason, c.message]))
      && String(cur.lastScaleTime ?? '') === String(status.lastScaleTime ?? '');
    if (same) return;
    try {
      await this.ctx.api.patchStatus({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', namespace: hpa.metadata!.namespace!, name: hpa.metadata!.name! }, { status });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
