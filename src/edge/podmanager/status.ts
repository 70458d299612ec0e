/**
 * V1PodStatus from what the runtime shows (sandbox, container instances) plus what the pod manager
 * knows (waiting reasons like ErrImagePull or CrashLoopBackOff, probe results), with the kubelet's
 * phase and condition rules.
 */
import type { V1Container, V1ContainerState, V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import type { ContainerStatus } from '../../runtime/types.js';
import { qosClass } from './resources.js';
import { KUBELET_POD_CONDITIONS, READINESS_GATES_NOT_READY, readinessGatesMessage } from '../../common/pod-status.js';

/** One runtime container instance of a pod container (attempt = restart count). */
export interface Instance extends ContainerStatus {
  kind: 'init' | 'regular';
}

export interface PodObservation {
  sandboxReady: boolean;
  podIP?: string;
  hostIP?: string;
  /** Container name → instances, newest first. */
  instances: Map<string, Instance[]>;
  /** Container name → why it is waiting (set by the reconciler). */
  waiting: Map<string, { reason: string; message: string }>;
  /** Container id → probe view. */
  probes: Map<string, { ready: boolean; started: boolean }>;
  /** Condition type → last status and transition time, kept across reports. */
  transitions: Map<string, { status: string; time: string }>;
  startTime: string;
}

const iso = (ns: number) => new Date(Math.floor(ns / 1e6)).toISOString().replace(/\.\d{3}Z$/, 'Z');

function terminated(i: Instance): V1ContainerState {
  const reason = i.reason || (i.exitCode === 0 ? 'Completed' : 'Error');
  return {
    terminated: {
      exitCode: i.exitCode,
      reason,
      message: i.message || undefined,
      startedAt: i.startedAt ? (iso(i.startedAt) as unknown as Date) : undefined,
      finishedAt: i.finishedAt ? (iso(i.finishedAt) as unknown as Date) : undefined,
      containerID: `containerd://${i.id}`,
    },
  };
}

function containerStatus(c: V1Container, obs: PodObservation, init: boolean): V1ContainerStatus {
  const inst = obs.instances.get(c.name) ?? [];
  const cur = inst[0];
  const prev = inst[1];
  const waiting = obs.waiting.get(c.name);
  const s: V1ContainerStatus = { name: c.name, image: c.image ?? '', imageID: '', ready: false, restartCount: cur?.metadata.attempt ?? 0, started: false, state: {} };
  if (cur) {
    s.containerID = `containerd://${cur.id}`;
    s.imageID = cur.imageRef;
  }
  if (cur?.state === 'CONTAINER_RUNNING') {
    const p = obs.probes.get(cur.id);
    s.state = { running: { startedAt: iso(cur.startedAt) as unknown as Date } };
    s.started = p?.started ?? true;
    s.ready = !init && (p?.ready ?? true) && s.started;
    if (prev && prev.state === 'CONTAINER_EXITED') s.lastState = terminated(prev);
  } else if (cur?.state === 'CONTAINER_EXITED') {
    if (waiting) {
      s.state = { waiting: { reason: waiting.reason, message: waiting.message || undefined } };
      s.lastState = terminated(cur);
    } else {
      s.state = terminated(cur);
      if (prev && prev.state === 'CONTAINER_EXITED') s.lastState = terminated(prev);
    }
  } else {
    s.state = { waiting: { reason: waiting?.reason ?? (init ? 'PodInitializing' : 'ContainerCreating'), message: waiting?.message || undefined } };
    if (cur && prev) s.lastState = terminated(prev);
  }
  if (!init && !s.state.waiting && !s.state.running && !s.state.terminated) s.state = { waiting: { reason: 'ContainerCreating' } };
  return s;
}

export function buildPodStatus(pod: V1Pod, obs: PodObservation, now = new Date()): V1PodStatus {
  const spec = pod.spec!;
  const policy = spec.restartPolicy ?? 'Always';
  const initStatuses = (spec.initContainers ?? []).map((c) => containerStatus(c, obs, true));
  const statuses = spec.containers.map((c) => containerStatus(c, obs, false));
  const initDone = initStatuses.every((s) => s.state?.terminated?.exitCode === 0);
  const initFailed = policy === 'Never' && initStatuses.some((s) => (s.state?.terminated?.exitCode ?? 0) !== 0 || (s.lastState?.terminated && s.state?.waiting));

  let phase: string;
  const running = statuses.filter((s) => s.state?.running).length;
  const term = statuses.filter((s) => s.state?.terminated);
  const restarting = statuses.filter((s) => s.state?.waiting && s.lastState?.terminated).length;
  if (initFailed) phase = 'Failed';
  else if (!initDone) phase = 'Pending';
  else if (term.length === statuses.length && policy !== 'Always') phase = term.every((s) => s.state!.terminated!.exitCode === 0) ? 'Succeeded' : policy === 'Never' ? 'Failed' : 'Running';
  else if (running > 0 || restarting > 0 || term.length > 0) phase = 'Running';
  else phase = 'Pending';

  const containersReady = statuses.every((s) => s.ready);
  const cond = (type: string, ok: boolean, reason?: string, message?: string): V1PodCondition => {
    const status = ok ? 'True' : 'False';
    const prev = obs.transitions.get(type);
    const time = prev && prev.status === status ? prev.time : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    obs.transitions.set(type, { status, time });
    const c: V1PodCondition = { type, status, lastProbeTime: null as unknown as undefined, lastTransitionTime: time as unknown as Date };
    if (!ok && reason) c.reason = reason;
    if (!ok && message) c.message = message;
    return c;
  };
  const notReady = statuses.filter((s) => !s.ready).map((s) => s.name);
  const notReadyMsg = `containers with unready status: [${notReady.join(' ')}]`;
  const finished = phase === 'Succeeded' || phase === 'Failed';
  // Readiness gates count as the kubelet counts them, against the conditions others set on the pod.
  const others = (pod.status?.conditions ?? []).filter((c) => !KUBELET_POD_CONDITIONS.includes(c.type));
  const gatesMessage = containersReady && !finished ? readinessGatesMessage(spec.readinessGates, others) : undefined;
  const readyReason = finished ? 'PodCompleted' : gatesMessage ? READINESS_GATES_NOT_READY : 'ContainersNotReady';
  const readyMessage = finished ? undefined : gatesMessage ?? notReadyMsg;
  const conditions: V1PodCondition[] = [
    cond('PodReadyToStartContainers', obs.sandboxReady),
    cond('Initialized', initDone, 'ContainersNotInitialized', `containers with incomplete status: [${initStatuses.filter((s) => s.state?.terminated?.exitCode !== 0).map((s) => s.name).join(' ')}]`),
    cond('Ready', containersReady && !finished && !gatesMessage, readyReason, readyMessage),
    cond('ContainersReady', containersReady && !finished, finished ? 'PodCompleted' : 'ContainersNotReady', finished ? undefined : notReadyMsg),
    cond('PodScheduled', true),
    // Not the edge's: carried as the pod has them (the hub keeps the cloud's current ones when it writes).
    ...others,
  ];
  const status: V1PodStatus = {
    phase,
    conditions,
    hostIP: obs.hostIP,
    hostIPs: obs.hostIP ? [{ ip: obs.hostIP }] : undefined,
    podIP: obs.podIP,
    podIPs: obs.podIP ? [{ ip: obs.podIP }] : undefined,
    startTime: obs.startTime as unknown as Date,
    containerStatuses: statuses,
    qosClass: qosClass(pod),
  };
  if (initStatuses.length) status.initContainerStatuses = initStatuses;
  return status;
}
