/**
 * The arithmetic of upstream's horizontal pod autoscaler, as pure functions: replica proposals from resource
 * utilization (tolerance 0.1, missing and unready pods counted against the direction of the change), recommendation
 * stabilization and the scale rate limits, with and without spec.behavior.
 */

/** kube-controller-manager's --horizontal-pod-autoscaler-tolerance. */
export const TOLERANCE = 0.1;
/** --horizontal-pod-autoscaler-downscale-stabilization, used when the HPA has no behavior. */
export const DEFAULT_DOWNSCALE_STABILIZATION_MS = 5 * 60_000;

export interface PodSample {
  name: string;
  /** Sum of the pod's containers' usage of the resource (millicores for cpu, bytes for memory). */
  usage?: number;
  /** Sum of the containers' requests; undefined when a container has none (upstream: an error). */
  request?: number;
  /** Not ready, or started too recently for its CPU to count (upstream's unready set for cpu). */
  unready: boolean;
}

export interface UtilizationProposal {
  replicas: number;
  /** Average utilization of the measured ready pods, percent (status.currentMetrics). */
  utilization: number;
  /** Average usage of those pods (same unit as PodSample.usage). */
  averageUsage: number;
}

/**
 * GetResourceReplicas: the replica count that would bring average utilization to `targetUtilization` percent.
 * `currentReplicas` is the target's scale. Throws when a pod has no request for the resource.
 */
export function replicasForUtilization(samples: PodSample[], currentReplicas: number, targetUtilization: number, resource: string): UtilizationProposal {
  const measured = samples.filter((s) => s.usage !== undefined && !s.unready);
  const missing = samples.filter((s) => s.usage === undefined);
  const unready = samples.filter((s) => s.usage !== undefined && s.unready);
  for (const s of samples) if (s.request === undefined || s.request === 0) throw new Error(`missing request for ${resource} in pod ${s.name}`);
  if (!measured.length) throw new Error(`did not receive metrics for targeted pods (pods might be unready)`);
  const usage = measured.reduce((a, s) => a + s.usage!, 0);
  const requests = measured.reduce((a, s) => a + s.request!, 0);
  const utilization = Math.trunc((usage * 100) / requests);
  const ratio = (usage * 100) / requests / targetUtilization;
  const averageUsage = usage / measured.length;
  const rebalanceUnready = unready.length > 0 && ratio > 1;
  if (!missing.length && !rebalanceUnready) {
    if (Math.abs(1 - ratio) <= TOLERANCE) return { replicas: currentReplicas, utilization, averageUsage };
    return { replicas: Math.ceil(ratio * measured.length), utilization, averageUsage };
  }
  // Missing pods count as using 100% of their request when scaling down, 0% when scaling up; unready pods as 0%.
  let u = usage;
  let r = requests;
  for (const s of missing) { r += s.request!; if (ratio < 1) u += s.request!; }
  if (rebalanceUnready) for (const s of unready) r += s.request!;
  const newRatio = (u * 100) / r / targetUtilization;
  if (Math.abs(1 - newRatio) <= TOLERANCE || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1)) return { replicas: currentReplicas, utilization, averageUsage };
  const counted = measured.length + missing.length + (rebalanceUnready ? unready.length : 0);
  const proposal = Math.ceil(newRatio * counted);
  // Never scale in the opposite direction of the raw ratio.
  if ((newRatio < 1 && proposal > currentReplicas) || (newRatio > 1 && proposal < currentReplicas)) return { replicas: currentReplicas, utilization, averageUsage };
  return { replicas: proposal, utilization, averageUsage };
}

export interface Recommendation { at: number; replicas: number }
export interface ScaleEvent { at: number; change: number }

export interface ScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: Array<{ type: 'Pods' | 'Percent'; value: number; periodSeconds: number }>;
}

export interface Limits { min: number; max: number }

/** Without behavior: scale-down stabilized over 5 minutes; scale-up capped at max(2 × current, 4) (upstream's normalizeDesiredReplicas). */
export function normalizeWithoutBehavior(history: Recommendation[], now: number, current: number, proposal: number, limits: Limits): { replicas: number; limited?: string } {
  let stabilized = proposal;
  for (const r of history) if (r.at > now - DEFAULT_DOWNSCALE_STABILIZATION_MS && r.replicas > stabilized) stabilized = r.replicas;
  const scaleUpLimit = Math.max(2 * current, 4);
  const max = Math.min(limits.max, scaleUpLimit);
  if (stabilized > max) return { replicas: max, limited: max === limits.max ? 'TooManyReplicas' : 'ScaleUpLimit' };
  if (stabilized < limits.min) return { replicas: limits.min, limited: 'TooFewReplicas' };
  return { replicas: stabilized };
}

function changeInPeriod(events: ScaleEvent[], now: number, periodSeconds: number): number {
  return events.filter((e) => e.at > now - periodSeconds * 1000).reduce((a, e) => a + e.change, 0);
}

/** With behavior: both windows stabilize, then the policies bound the rate (upstream's normalizeDesiredReplicasWithBehaviors). */
export function normalizeWithBehavior(
  history: Recommendation[], now: number, current: number, proposal: number, limits: Limits,
  up: ScalingRules, down: ScalingRules, upEvents: ScaleEvent[], downEvents: ScaleEvent[],
): { replicas: number; limited?: string } {
  // Stabilization: the recommendation is bounded by the extremes seen within each direction's window.
  let upFloor = proposal;
  let downCeil = proposal;
  for (const r of [...history, { at: now, replicas: proposal }]) {
    if (r.at > now - up.stabilizationWindowSeconds * 1000) upFloor = Math.min(upFloor, r.replicas);
    if (r.at > now - down.stabilizationWindowSeconds * 1000) downCeil = Math.max(downCeil, r.replicas);
  }
  let desired = current;
  if (upFloor > current) desired = upFloor;
  else if (downCeil < current) desired = downCeil;
  if (desired > current) {
    if (up.selectPolicy === 'Disabled') return { replicas: current, limited: 'ScaleUpDisabled' };
    const limitsPer = up.policies.map((p) => {
      const base = current - changeInPeriod(upEvents, now, p.periodSeconds);
      return p.type === 'Pods' ? base + p.value : Math.ceil(base * (1 + p.value / 100));
    });
    const rate = up.selectPolicy === 'Min' ? Math.min(...limitsPer) : Math.max(...limitsPer);
    const cap = Math.min(rate, limits.max);
    if (desired > cap) return { replicas: Math.max(cap, current), limited: cap === limits.max ? 'TooManyReplicas' : 'ScaleUpLimit' };
  } else if (desired < current) {
    if (down.selectPolicy === 'Disabled') return { replicas: current, limited: 'ScaleDownDisabled' };
    const limitsPer = down.policies.map((p) => {
      const base = current + changeInPeriod(downEvents, now, p.periodSeconds);
      return p.type === 'Pods' ? base - p.value : Math.ceil(base * (1 - p.value / 100));
    });
    const rate = down.selectPolicy === 'Min' ? Math.max(...limitsPer) : Math.min(...limitsPer);
    const floor = Math.max(rate, limits.min);
    if (desired < floor) return { replicas: Math.min(floor, current), limited: floor === limits.min ? 'TooFewReplicas' : 'ScaleDownLimit' };
  }
  if (desired > limits.max) return { replicas: limits.max, limited: 'TooManyReplicas' };
  if (desired < limits.min) return { replicas: limits.min, limited: 'TooFewReplicas' };
  return { replicas: desired };
}
