/**
 * Which parts of a pod's status a node owns, as the kubelet's status manager rules it (mergePodStatus), and the
 * kubelet's Ready condition with readiness gates (GeneratePodReadyCondition). Shared by the edge's pod manager,
 * which computes the status, and the cloud hub, which writes it: a node's report replaces only the conditions the
 * kubelet owns; conditions others set (readiness gates' conditions, DisruptionTarget, custom controllers' types)
 * survive, and Ready stays False while a readiness gate's condition is missing or not True.
 */
import type { V1PodCondition, V1PodReadinessGate, V1PodStatus } from '@kubernetes/client-node';

/** kubetypes.PodConditionsByKubelet: the condition types a node writes and replaces. */
export const KUBELET_POD_CONDITIONS: readonly string[] = ['PodScheduled', 'Ready', 'Initialized', 'ContainersReady', 'PodReadyToStartContainers'];
/** Set by others, replaced by a node only when it moves the pod to a terminal phase (kubelet: shared conditions). */
const SHARED_POD_CONDITIONS: readonly string[] = ['DisruptionTarget'];

export const READINESS_GATES_NOT_READY = 'ReadinessGatesNotReady';

const isTerminal = (phase: string | undefined): boolean => phase === 'Succeeded' || phase === 'Failed';

/**
 * Why the readiness gates keep a pod not Ready (upstream's message), or undefined when every gate's condition is
 * True. `conditions` are the pod's current conditions, including those others set.
 */
export function readinessGatesMessage(gates: V1PodReadinessGate[] | undefined, conditions: V1PodCondition[] | undefined): string | undefined {
  const messages: string[] = [];
  for (const gate of gates ?? []) {
    const c = (conditions ?? []).find((x) => x.type === gate.conditionType);
    if (!c) messages.push(`corresponding condition of pod readiness gate ${JSON.stringify(gate.conditionType)} does not exist.`);
    else if (c.status !== 'True') messages.push(`the status of pod readiness gate ${JSON.stringify(gate.conditionType)} is not "True", but ${c.status}`);
  }
  return messages.length ? messages.join(', ') : undefined;
}

/**
 * The Ready condition with readiness gates counted: a Ready=True (all containers ready) turns False with reason
 * ReadinessGatesNotReady while a gate is unmet; a Ready=False keeps its own reason (containers come first, as
 * upstream). `transitionTime` is used when the status flips relative to `ready`.
 */
export function gateReadyCondition(ready: V1PodCondition, gates: V1PodReadinessGate[] | undefined, conditions: V1PodCondition[] | undefined, transitionTime: () => string): V1PodCondition {
  if (ready.status !== 'True') return ready;
  const message = readinessGatesMessage(gates, conditions);
  if (!message) return ready;
  return { ...ready, status: 'False', reason: READINESS_GATES_NOT_READY, message, lastTransitionTime: transitionTime() as unknown as Date };
}

/**
 * The status to store when a node reports `reported` for a pod whose stored status is `current`: the node's
 * status, except the conditions it does not own, which are kept from `current`, and fields others own
 * (nominatedNodeName: the scheduler's; resourceClaimStatuses: the resource claim controller's). Ready is
 * re-evaluated against the readiness gates with the merged conditions, so a gate set after the node computed its
 * report still holds Ready back.
 */
export function mergeNodePodStatus(current: V1PodStatus | undefined, reported: V1PodStatus, gates: V1PodReadinessGate[] | undefined, now: () => string): V1PodStatus {
  const old = current ?? {};
  const conditions: V1PodCondition[] = (old.conditions ?? []).filter((c) => !KUBELET_POD_CONDITIONS.includes(c.type));
  const toTerminal = !isTerminal(old.phase) && isTerminal(reported.phase);
  for (const c of reported.conditions ?? []) {
    if (KUBELET_POD_CONDITIONS.includes(c.type)) {
      conditions.push(c);
    } else if (SHARED_POD_CONDITIONS.includes(c.type) && toTerminal) {
      const i = conditions.findIndex((x) => x.type === c.type);
      if (i >= 0) conditions[i] = c;
      else conditions.push(c);
    }
  }
  const readyAt = conditions.findIndex((c) => c.type === 'Ready');
  if (readyAt >= 0) {
    const before = (old.conditions ?? []).find((c) => c.type === 'Ready');
    const transition = () => (before?.status === 'False' ? (before.lastTransitionTime as unknown as string) : now());
    conditions[readyAt] = gateReadyCondition(conditions[readyAt]!, gates, conditions, transition);
  }
  const merged: V1PodStatus = { ...reported, conditions };
  if (old.nominatedNodeName !== undefined) merged.nominatedNodeName = old.nominatedNodeName;
  else delete merged.nominatedNodeName;
  if (old.resourceClaimStatuses !== undefined) merged.resourceClaimStatuses = old.resourceClaimStatuses;
  else delete merged.resourceClaimStatuses;
  return merged;
}

/**
 * What a node's report says about a pod in the terms others may contradict: the phase and the status of each
 * condition the kubelet owns. The hub records it per pod when it writes a node's report; a later change of the
 * cloud's copy to a different signature was made by someone else (upstream's node lifecycle controller marks the
 * pods of a lost node not Ready), so the hub sends that copy to the node and the node, whose signature of its last
 * report differs, reports again: after a reconnect the cloud shows the edge's truth.
 */
export function reportedStatusSignature(status: V1PodStatus | undefined): string {
  const parts = [status?.phase ?? ''];
  for (const type of KUBELET_POD_CONDITIONS) parts.push(status?.conditions?.find((c) => c.type === type)?.status ?? '');
  return parts.join('|');
}
