/** core/v1 pods: defaults (as upstream's SetDefaults_Pod + DefaultTolerationSeconds), validation, table, fields. */
import type { KubeObject } from '../../apimachinery/object.js';
import { nowTimestamp } from '../../apimachinery/object.js';
import type { ResourceDef } from '../registry.js';
import { validatePodSpec } from '../validation.js';
import { podQosClass } from '../../common/qos.js';
import { humanDuration } from '../table.js';
import { age, builtin, col, get, str, table, type Obj } from './helpers.js';

/** Container defaults; `:latest` or untagged images are pulled Always, others IfNotPresent. */
function defaultContainer(c: Obj): void {
  if (!c.imagePullPolicy && typeof c.image === 'string') {
    const ref = c.image.includes('@') ? null : c.image.split('/').pop()!;
    const tag = ref && ref.includes(':') ? ref.split(':').pop() : ref ? '' : 'digest';
    c.imagePullPolicy = tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
  }
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  c.resources ??= {};
  for (const p of (c.ports ?? []) as Obj[]) p.protocol ??= 'TCP';
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe] as Obj[]) {
    if (!probe) continue;
    probe.timeoutSeconds ??= 1; probe.periodSeconds ??= 10; probe.successThreshold ??= 1; probe.failureThreshold ??= 3;
    if (probe.httpGet) probe.httpGet.scheme ??= 'HTTP';
  }
}

/** Pod spec defaults shared by pods and pod templates. */
export function defaultPodSpec(s: Obj): void {
  s.restartPolicy ??= 'Always';
  s.terminationGracePeriodSeconds ??= 30;
  s.dnsPolicy ??= 'ClusterFirst';
  s.securityContext ??= {};
  s.schedulerName ??= 'default-scheduler';
  for (const c of (s.containers ?? []) as Obj[]) defaultContainer(c);
  for (const c of (s.initContainers ?? []) as Obj[]) defaultContainer(c);
  for (const v of (s.volumes ?? []) as Obj[]) {
    if (v.configMap) v.configMap.defaultMode ??= 420;
    if (v.secret) v.secret.defaultMode ??= 420;
    if (v.emptyDir === null) v.emptyDir = {};
  }
}

/** SetDefaults_Pod: a container that limits a resource without requesting it requests its limit (pods only, not templates). */
function defaultRequestsFromLimits(c: Obj): void {
  const limits = c.resources?.limits;
  if (!limits || typeof limits !== 'object') return;
  const requests = (c.resources.requests ??= {}) as Obj;
  for (const [name, value] of Object.entries(limits as Obj)) requests[name] ??= value;
}

function defaultPod(pod: KubeObject): void {
  const s = ((pod as Obj).spec ??= {}) as Obj;
  defaultPodSpec(s);
  for (const c of [...((s.containers ?? []) as Obj[]), ...((s.initContainers ?? []) as Obj[])]) defaultRequestsFromLimits(c);
  s.serviceAccountName ??= s.serviceAccount ?? 'default';
  s.serviceAccount ??= s.serviceAccountName;
  s.enableServiceLinks ??= true;
  s.preemptionPolicy ??= 'PreemptLowerPriority';
  s.priority ??= 0;
  // DefaultTolerationSeconds admission: tolerate not-ready/unreachable (300 s) unless the pod says otherwise.
  const tol = (s.tolerations ??= []) as Obj[];
  for (const [key, seconds] of [['node.kubernetes.io/not-ready', defaultTolerations.notReadySeconds], ['node.kubernetes.io/unreachable', defaultTolerations.unreachableSeconds]] as const) {
    if (!tol.some((t) => t.key === key && (t.effect === 'NoExecute' || !t.effect))) {
      tol.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: seconds });
    }
  }
}

/**
 * kube-apiserver's --default-not-ready-toleration-seconds / --default-unreachable-toleration-seconds (the
 * DefaultTolerationSeconds admission plugin's two settings): process-wide, as the flags are.
 */
export const defaultTolerations = { notReadySeconds: 300, unreachableSeconds: 300 };

/** kubectl's STATUS column logic for pods (printPod). */
export function podStatusReason(p: Obj): { reason: string; ready: number; total: number; restarts: number; lastRestart?: number } {
  const status = (p.status ?? {}) as Obj;
  let reason: string = status.reason || status.phase || 'Pending';
  const total = ((p.spec?.containers ?? []) as Obj[]).length;
  let ready = 0;
  let restarts = 0;
  let initializing = false;
  let lastRestart: number | undefined;
  const noteRestart = (c: Obj) => {
    const at = c.lastState?.terminated?.finishedAt;
    if (c.restartCount && at) { const t = new Date(at).getTime(); if (!lastRestart || t > lastRestart) lastRestart = t; }
  };
  const inits = (status.initContainerStatuses ?? []) as Obj[];
  inits.forEach((c, i) => {
    restarts += c.restartCount ?? 0;
    noteRestart(c);
    if (initializing) return;
    const t = c.state?.terminated;
    if (t && t.exitCode === 0) return;
    if (t) {
      reason = t.reason ? `Init:${t.reason}` : t.signal ? `Init:Signal:${t.signal}` : `Init:ExitCode:${t.exitCode}`;
      initializing = true;
    } else if (c.state?.waiting?.reason && c.state.waiting.reason !== 'PodInitializing') {
      reason = `Init:${c.state.waiting.reason}`;
      initializing = true;
    } else if (!c.started && !c.ready) {
      reason = `Init:${i}/${((p.spec?.initContainers ?? []) as Obj[]).length}`;
      initializing = true;
    }
  });
  if (!initializing) {
    let hasRunning = false;
    const cs = [...((status.containerStatuses ?? []) as Obj[])].reverse();
    for (const c of cs) {
      restarts += c.restartCount ?? 0;
      noteRestart(c);
      const st = c.state ?? {};
      if (st.waiting?.reason) reason = st.waiting.reason;
      else if (st.terminated?.reason) reason = st.terminated.reason;
      else if (st.terminated) reason = st.terminated.signal ? `Signal:${st.terminated.signal}` : `ExitCode:${st.terminated.exitCode}`;
      else if (c.ready && st.running) { hasRunning = true; ready++; }
    }
    if (reason === 'Completed' && hasRunning) {
      const readyCond = ((status.conditions ?? []) as Obj[]).find((c) => c.type === 'Ready');
      reason = readyCond?.status === 'True' ? 'Running' : 'NotReady';
    }
  }
  if (p.metadata?.deletionTimestamp) reason = status.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return { reason, ready, total, restarts, lastRestart };
}

export const podsDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'pods', kind: 'Pod', singular: 'pod', namespaced: true,
  shortNames: ['po'], categories: ['all'],
  subresources: ['status', 'binding', 'eviction', 'log', 'exec', 'attach', 'portforward', 'proxy'],
  returnDeletedObject: true,
  tracksGeneration: true,
  strategy: {
    defaults: defaultPod,
    prepareForCreate(obj) {
      const s = (obj as Obj).spec as Obj;
      (obj as Obj).status = { phase: 'Pending', qosClass: podQosClass(s) };
    },
    validate: (obj) => validatePodSpec((obj as Obj).spec, 'spec'),
    validateUpdate(obj, old) {
      const errs = validatePodSpec((obj as Obj).spec, 'spec');
      const n = { ...((obj as Obj).spec as Obj) };
      const o = { ...((old as Obj).spec as Obj) };
      // Only images, activeDeadlineSeconds, tolerations (additions) and a first nodeName may change upstream.
      const strip = (s: Obj) => JSON.stringify({
        ...s, containers: (s.containers ?? []).map((c: Obj) => ({ ...c, image: undefined })),
        initContainers: (s.initContainers ?? []).map((c: Obj) => ({ ...c, image: undefined })),
        activeDeadlineSeconds: undefined, tolerations: undefined, nodeName: undefined,
      });
      if (strip(n) !== strip(o) || (o.nodeName && n.nodeName !== o.nodeName)) {
        errs.push({ type: 'Forbidden', field: 'spec', detail: 'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)' });
      }
      return errs;
    },
    gracePeriodSeconds(obj, requested) {
      const s = (obj as Obj).spec ?? {};
      const phase = (obj as Obj).status?.phase;
      // Unscheduled or finished pods have no kubelet to wait for: delete at once, as upstream does.
      if (!s.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
      return requested ?? s.terminationGracePeriodSeconds ?? 30;
    },
  },
  fields: {
    'spec.nodeName': (o) => (o as Obj).spec?.nodeName ?? '',
    'spec.restartPolicy': (o) => (o as Obj).spec?.restartPolicy,
    'spec.schedulerName': (o) => (o as Obj).spec?.schedulerName,
    'spec.serviceAccountName': (o) => (o as Obj).spec?.serviceAccountName,
    'spec.hostNetwork': (o) => String((o as Obj).spec?.hostNetwork ?? false),
    'status.phase': (o) => (o as Obj).status?.phase,
    'status.podIP': (o) => (o as Obj).status?.podIP ?? '',
    'status.nominatedNodeName': (o) => (o as Obj).status?.nominatedNodeName ?? '',
  },
  table: table(
    [col('Ready'), col('Status'), col('Restarts', 'string'), col('Age'), col('IP', 'string', 1), col('Node', 'string', 1), col('Nominated Node', 'string', 1), col('Readiness Gates', 'string', 1)],
    (p, now) => {
      const r = podStatusReason(p);
      const gates = (p.spec?.readinessGates ?? []) as Obj[];
      const conds = (p.status?.conditions ?? []) as Obj[];
      const gatesText = gates.length ? `${gates.filter((g) => conds.some((c) => c.type === g.conditionType && c.status === 'True')).length}/${gates.length}` : '<none>';
      // kubectl shows when the last restart happened: `2 (5m ago)`.
      const restarts = r.restarts && r.lastRestart ? `${r.restarts} (${humanDuration(now - r.lastRestart)} ago)` : String(r.restarts);
      return [`${r.ready}/${r.total}`, r.reason, restarts, age(p, now), str(p.status?.podIP), str(p.spec?.nodeName), str(p.status?.nominatedNodeName), gatesText];
    },
  ),
});

/** pods/binding: assign a node once (upstream: Conflict if already assigned). */
export function bindPod(pod: Obj, nodeName: string): string | null {
  if (pod.spec?.nodeName) return `pod ${pod.metadata.name} is already assigned to node "${pod.spec.nodeName}"`;
  if (pod.metadata?.deletionTimestamp) return `pod ${pod.metadata.name} is being deleted, cannot be assigned to a host`;
  pod.spec.nodeName = nodeName;
  const status = (pod.status ??= {}) as Obj;
  const conds = ((status.conditions ??= []) as Obj[]).filter((c) => c.type !== 'PodScheduled');
  conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: nowTimestamp() });
  status.conditions = conds;
  return null;
}

export { get };
