/** apps/v1 workloads and batch/v1 jobs: defaults, validation of templates/selectors, tables, scale subresource. */
import type { FieldError } from '../../apimachinery/status.js';
import type { KubeObject } from '../../apimachinery/object.js';
import { labelSelectorFromObject } from '../../apimachinery/labels.js';
import type { ResourceDef, Strategy } from '../registry.js';
import { validatePodSpec } from '../validation.js';
import { defaultPodSpec } from './pods.js';
import { age, builtin, col, containersImages, selectorString, table, type Obj } from './helpers.js';

function validateTemplate(o: Obj, requireSelector = true): FieldError[] {
  const s = (o.spec ?? {}) as Obj;
  const errs: FieldError[] = [];
  if (requireSelector) {
    if (!s.selector) errs.push({ type: 'Required', field: 'spec.selector' });
    else if (!Object.keys(s.selector.matchLabels ?? {}).length && !(s.selector.matchExpressions ?? []).length) {
      errs.push({ type: 'Invalid', field: 'spec.selector', value: s.selector, detail: 'empty selector is invalid for deployment' });
    }
  }
  const labels = s.template?.metadata?.labels ?? {};
  if (s.selector && requireSelector) {
    try {
      if (!labelSelectorFromObject(s.selector).matches(labels)) {
        errs.push({ type: 'Invalid', field: 'spec.template.metadata.labels', value: labels, detail: '`selector` does not match template `labels`' });
      }
    } catch (e) {
      errs.push({ type: 'Invalid', field: 'spec.selector', value: s.selector, detail: (e as Error).message });
    }
  }
  errs.push(...validatePodSpec(s.template?.spec, 'spec.template.spec'));
  if (s.replicas !== undefined && (!Number.isInteger(s.replicas) || s.replicas < 0)) {
    errs.push({ type: 'Invalid', field: 'spec.replicas', value: s.replicas, detail: 'must be greater than or equal to 0' });
  }
  return errs;
}

function selectorImmutable(obj: KubeObject, old: KubeObject): FieldError[] {
  const n = (obj as Obj).spec?.selector;
  const o = (old as Obj).spec?.selector;
  if (JSON.stringify(n) !== JSON.stringify(o)) return [{ type: 'Invalid', field: 'spec.selector', value: n, detail: 'field is immutable' }];
  return [];
}

function workloadStrategy(defaults: (s: Obj) => void, requireSelector = true): Strategy {
  return {
    defaults(obj) {
      const s = ((obj as Obj).spec ??= {}) as Obj;
      defaults(s);
      if (s.template) {
        s.template.metadata ??= {};
        s.template.spec ??= {};
        defaultPodSpec(s.template.spec);
      }
    },
    prepareForCreate(obj) { (obj as Obj).status = {}; },
    validate: (obj) => validateTemplate(obj as Obj, requireSelector),
    validateUpdate: (obj, old) => [...validateTemplate(obj as Obj, requireSelector), ...selectorImmutable(obj, old)],
  };
}

const rollingUpdate = (s: Obj, kind: 'deployment' | 'daemonset' | 'statefulset') => {
  if (kind === 'deployment') {
    if (!s.strategy?.type) s.strategy = { ...(s.strategy ?? {}), type: 'RollingUpdate' };
    if (s.strategy.type === 'RollingUpdate') s.strategy.rollingUpdate = { maxUnavailable: '25%', maxSurge: '25%', ...(s.strategy.rollingUpdate ?? {}) };
  } else if (kind === 'daemonset') {
    if (!s.updateStrategy?.type) s.updateStrategy = { ...(s.updateStrategy ?? {}), type: 'RollingUpdate' };
    if (s.updateStrategy.type === 'RollingUpdate') s.updateStrategy.rollingUpdate = { maxUnavailable: 1, maxSurge: 0, ...(s.updateStrategy.rollingUpdate ?? {}) };
  } else {
    if (!s.updateStrategy?.type) s.updateStrategy = { ...(s.updateStrategy ?? {}), type: 'RollingUpdate' };
    if (s.updateStrategy.type === 'RollingUpdate') s.updateStrategy.rollingUpdate = { partition: 0, ...(s.updateStrategy.rollingUpdate ?? {}) };
  }
};

const num = (v: unknown) => (typeof v === 'number' ? v : 0);

export const deploymentsDef: ResourceDef = builtin({
  group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', singular: 'deployment', namespaced: true,
  shortNames: ['deploy'], categories: ['all'], subresources: ['status', 'scale'],
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.spec.selector' },
  strategy: workloadStrategy((s) => {
    s.replicas ??= 1;
    rollingUpdate(s, 'deployment');
    s.revisionHistoryLimit ??= 10;
    s.progressDeadlineSeconds ??= 600;
  }),
  table: table([col('Ready'), col('Up-to-date', 'integer'), col('Available', 'integer'), col('Age'), col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    (d, now) => [`${num(d.status?.readyReplicas)}/${num(d.spec?.replicas)}`, num(d.status?.updatedReplicas), num(d.status?.availableReplicas), age(d, now),
      ...containersImages(d.spec?.template?.spec), selectorString(d.spec?.selector)]),
});

export const replicaSetsDef: ResourceDef = builtin({
  group: 'apps', version: 'v1', resource: 'replicasets', kind: 'ReplicaSet', singular: 'replicaset', namespaced: true,
  shortNames: ['rs'], categories: ['all'], subresources: ['status', 'scale'],
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.spec.selector' },
  strategy: workloadStrategy((s) => { s.replicas ??= 1; }),
  table: table([col('Desired', 'integer'), col('Current', 'integer'), col('Ready', 'integer'), col('Age'), col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    (r, now) => [num(r.spec?.replicas), num(r.status?.replicas), num(r.status?.readyReplicas), age(r, now), ...containersImages(r.spec?.template?.spec), selectorString(r.spec?.selector)]),
});

export const daemonSetsDef: ResourceDef = builtin({
  group: 'apps', version: 'v1', resource: 'daemonsets', kind: 'DaemonSet', singular: 'daemonset', namespaced: true,
  shortNames: ['ds'], categories: ['all'], subresources: ['status'],
  strategy: workloadStrategy((s) => { rollingUpdate(s, 'daemonset'); s.revisionHistoryLimit ??= 10; }),
  table: table([col('Desired', 'integer'), col('Current', 'integer'), col('Ready', 'integer'), col('Up-to-date', 'integer'), col('Available', 'integer'), col('Node Selector'), col('Age'),
    col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
  (d, now) => [num(d.status?.desiredNumberScheduled), num(d.status?.currentNumberScheduled), num(d.status?.numberReady), num(d.status?.updatedNumberScheduled),
    num(d.status?.numberAvailable), Object.entries(d.spec?.template?.spec?.nodeSelector ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>', age(d, now),
    ...containersImages(d.spec?.template?.spec), selectorString(d.spec?.selector)]),
});

export const statefulSetsDef: ResourceDef = builtin({
  group: 'apps', version: 'v1', resource: 'statefulsets', kind: 'StatefulSet', singular: 'statefulset', namespaced: true,
  shortNames: ['sts'], categories: ['all'], subresources: ['status', 'scale'],
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.spec.selector' },
  strategy: workloadStrategy((s) => {
    s.replicas ??= 1;
    s.podManagementPolicy ??= 'OrderedReady';
    rollingUpdate(s, 'statefulset');
    s.revisionHistoryLimit ??= 10;
    s.persistentVolumeClaimRetentionPolicy ??= { whenDeleted: 'Retain', whenScaled: 'Retain' };
  }),
  table: table([col('Ready'), col('Age'), col('Containers', 'string', 1), col('Images', 'string', 1)],
    (s, now) => [`${num(s.status?.readyReplicas)}/${num(s.spec?.replicas)}`, age(s, now), ...containersImages(s.spec?.template?.spec)]),
});

function jobStatus(j: Obj): string {
  const conds = (j.status?.conditions ?? []) as Obj[];
  const has = (t: string) => conds.some((c) => c.type === t && c.status === 'True');
  if (has('Complete')) return 'Complete';
  if (has('Failed')) return 'Failed';
  if (j.metadata?.deletionTimestamp) return 'Terminating';
  if (has('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  if (has('FailureTarget')) return 'FailureTarget';
  if (j.spec?.suspend) return 'Suspended';
  return 'Running';
}

function jobDuration(j: Obj, now: number): string {
  const start = j.status?.startTime;
  if (!start) return '';
  const end = j.status?.completionTime ? new Date(j.status.completionTime).getTime() : now;
  return age({ metadata: { creationTimestamp: start } } as never, end);
}

/** SetDefaults_Job: a Job without labels takes its pod template's. */
function defaultJobLabels(job: Obj): void {
  const templateLabels = job.spec?.template?.metadata?.labels;
  if (templateLabels && Object.keys(templateLabels).length && !Object.keys(job.metadata?.labels ?? {}).length) {
    (job.metadata ??= {}).labels = { ...templateLabels };
  }
}

export const jobsDef: ResourceDef = builtin({
  group: 'batch', version: 'v1', resource: 'jobs', kind: 'Job', singular: 'job', namespaced: true, categories: ['all'], subresources: ['status'],
  strategy: {
    defaults(obj) {
      const o = obj as Obj;
      const s = (o.spec ??= {}) as Obj;
      s.parallelism ??= 1;
      s.backoffLimit ??= 6;
      s.completionMode ??= 'NonIndexed';
      s.suspend ??= false;
      s.podReplacementPolicy ??= 'TerminatingOrFailed';
      if (s.completions === undefined) s.completions = 1;
      s.template ??= {};
      s.template.metadata ??= {};
      s.template.spec ??= {};
      defaultPodSpec(s.template.spec);
      defaultJobLabels(o);
    },
    prepareForCreate(obj) {
      const o = obj as Obj;
      const s = o.spec as Obj;
      o.status = {};
      // Upstream generates the selector from the uid unless manualSelector is set.
      if (!s.manualSelector) {
        const uid = o.metadata.uid;
        const labels = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': o.metadata.name, 'controller-uid': uid, 'job-name': o.metadata.name };
        s.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
        s.template.metadata.labels = { ...(s.template.metadata.labels ?? {}), ...labels };
      }
      // Upstream's storage defaults a Job's labels from its template whenever it decodes one, so a Job read back
      // carries the generated labels too (`kubectl get job -o yaml`, `kubectl get jobs -l job-name=…`).
      defaultJobLabels(o);
    },
    validate(obj) {
      const s = ((obj as Obj).spec ?? {}) as Obj;
      const errs = validatePodSpec(s.template?.spec, 'spec.template.spec');
      const rp = s.template?.spec?.restartPolicy;
      if (rp && rp !== 'Never' && rp !== 'OnFailure') errs.push({ type: 'NotSupported', field: 'spec.template.spec.restartPolicy', value: rp, supported: ['OnFailure', 'Never'] });
      return errs;
    },
    validateUpdate(obj, old) {
      const errs: FieldError[] = [];
      const n = (obj as Obj).spec ?? {};
      const o = (old as Obj).spec ?? {};
      if (JSON.stringify(n.template) !== JSON.stringify(o.template) && !n.suspend) {
        errs.push({ type: 'Invalid', field: 'spec.template', value: n.template, detail: 'field is immutable' });
      }
      if (JSON.stringify(n.selector) !== JSON.stringify(o.selector)) errs.push({ type: 'Invalid', field: 'spec.selector', value: n.selector, detail: 'field is immutable' });
      return errs;
    },
  },
  table: table([col('Status'), col('Completions'), col('Duration'), col('Age'), col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    (j, now) => [jobStatus(j), `${num(j.status?.succeeded)}/${j.spec?.completions ?? 1}`, jobDuration(j, now), age(j, now), ...containersImages(j.spec?.template?.spec), selectorString(j.spec?.selector)]),
});

/**
 * core/v1 ReplicationController: served and validated (kubectl's default prune allow-list names it, so
 * `kubectl apply --prune` needs it), with upstream's defaulting of selector and labels from the template.
 * Reconciled by the `replicationcontroller` controller (src/controllers/workloads/replicaset.ts, as a ReplicaSet).
 */
export const replicationControllersDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'replicationcontrollers', kind: 'ReplicationController', singular: 'replicationcontroller', namespaced: true,
  shortNames: ['rc'], categories: ['all'], subresources: ['status', 'scale'],
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' },
  strategy: {
    defaults(obj) {
      const o = obj as Obj;
      const s = (o.spec ??= {}) as Obj;
      s.replicas ??= 1;
      const labels = s.template?.metadata?.labels;
      if (labels && !Object.keys(s.selector ?? {}).length) s.selector = { ...labels };
      if (labels && !Object.keys(o.metadata?.labels ?? {}).length) o.metadata = { ...(o.metadata ?? {}), labels: { ...labels } };
      if (s.template) { s.template.metadata ??= {}; s.template.spec ??= {}; defaultPodSpec(s.template.spec); }
    },
    prepareForCreate(obj) { (obj as Obj).status = { replicas: 0 }; },
    validate(obj) {
      const s = ((obj as Obj).spec ?? {}) as Obj;
      const errs: FieldError[] = [];
      if (!s.template) errs.push({ type: 'Required', field: 'spec.template' });
      else errs.push(...validatePodSpec(s.template.spec, 'spec.template.spec'));
      if (!Object.keys(s.selector ?? {}).length) errs.push({ type: 'Required', field: 'spec.selector' });
      if (s.replicas !== undefined && (!Number.isInteger(s.replicas) || s.replicas < 0)) errs.push({ type: 'Invalid', field: 'spec.replicas', value: s.replicas, detail: 'must be greater than or equal to 0' });
      return errs;
    },
  },
  table: table([col('Desired', 'integer'), col('Current', 'integer'), col('Ready', 'integer'), col('Age'), col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    (r, now) => [num(r.spec?.replicas), num(r.status?.replicas), num(r.status?.readyReplicas), age(r, now), ...containersImages(r.spec?.template?.spec),
      Object.entries(r.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>']),
});
