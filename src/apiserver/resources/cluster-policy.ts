/**
 * Policy objects that shape what pods may ask for: core/v1 ResourceQuota and LimitRange, scheduling.k8s.io/v1
 * PriorityClass (with the two built-in system classes), node.k8s.io/v1 RuntimeClass.
 */
import type { FieldError } from '../../apimachinery/status.js';
import { tryParseQuantity } from '../../common/quantity.js';
import type { ResourceDef } from '../registry.js';
import { validateNameValue } from '../validation.js';
import { age, builtin, col, table, type Obj } from './helpers.js';

function validateQuantities(map: unknown, field: string, errs: FieldError[]): void {
  if (!map || typeof map !== 'object') return;
  for (const [k, v] of Object.entries(map as Obj)) {
    const q = tryParseQuantity(v);
    if (!q) errs.push({ type: 'Invalid', field: `${field}[${k}]`, value: v, detail: 'must be a valid quantity' });
    else if (q.mantissa < 0n) errs.push({ type: 'Invalid', field: `${field}[${k}]`, value: v, detail: 'must be greater than or equal to 0' });
  }
}

/** `pods: 1/10, requests.cpu: 0/1` for the REQUEST column, `limits.*` in LIMIT, as kubectl prints quota usage. */
function quotaColumns(q: Obj): [string, string] {
  const hard = (q.status?.hard ?? q.spec?.hard ?? {}) as Record<string, string>;
  const used = (q.status?.used ?? {}) as Record<string, string>;
  const req: string[] = [];
  const lim: string[] = [];
  for (const k of Object.keys(hard).sort()) (k.startsWith('limits.') ? lim : req).push(`${k}: ${used[k] ?? '0'}/${hard[k]}`);
  return [req.join(', '), lim.join(', ')];
}

export const resourceQuotasDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'resourcequotas', kind: 'ResourceQuota', singular: 'resourcequota', namespaced: true,
  shortNames: ['quota'], subresources: ['status'], tracksGeneration: false,
  strategy: {
    prepareForCreate(obj) { delete (obj as Obj).status; },
    validate(obj) {
      const o = obj as Obj;
      const errs: FieldError[] = [];
      validateQuantities(o.spec?.hard, 'spec.hard', errs);
      validateQuantities(o.status?.hard, 'status.hard', errs);
      validateQuantities(o.status?.used, 'status.used', errs);
      for (const [i, s] of ((o.spec?.scopes ?? []) as string[]).entries()) {
        const scopes = ['BestEffort', 'CrossNamespacePodAffinity', 'NotBestEffort', 'NotTerminating', 'PriorityClass', 'Terminating'];
        if (!scopes.includes(s)) errs.push({ type: 'NotSupported', field: `spec.scopes[${i}]`, value: s, supported: scopes });
      }
      return errs;
    },
  },
  table: table([col('Age'), col('Request'), col('Limit')], (q, now) => [age(q, now), ...quotaColumns(q)]),
});

export const limitRangesDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'limitranges', kind: 'LimitRange', singular: 'limitrange', namespaced: true, shortNames: ['limits'], tracksGeneration: false,
  strategy: {
    // Upstream's SetDefaults_LimitRangeItem for Container items: max → default limit, the default limit (else min) →
    // default request.
    defaults(obj) {
      for (const l of (((obj as Obj).spec?.limits ?? []) as Obj[])) {
        if (l?.type !== 'Container') continue;
        for (const [k, v] of Object.entries((l.max ?? {}) as Obj)) if (l.default?.[k] === undefined) (l.default ??= {})[k] = v;
        for (const [k, v] of Object.entries((l.default ?? {}) as Obj)) if (l.defaultRequest?.[k] === undefined) (l.defaultRequest ??= {})[k] = v;
        for (const [k, v] of Object.entries((l.min ?? {}) as Obj)) if (l.defaultRequest?.[k] === undefined) (l.defaultRequest ??= {})[k] = v;
      }
    },
    validate(obj) {
      const errs: FieldError[] = [];
      const kinds = ['Container', 'PersistentVolumeClaim', 'Pod'];
      ((((obj as Obj).spec?.limits ?? []) as Obj[])).forEach((l, i) => {
        if (!kinds.includes(l.type)) errs.push({ type: 'NotSupported', field: `spec.limits[${i}].type`, value: l.type ?? '', supported: kinds });
        for (const f of ['max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio']) validateQuantities(l[f], `spec.limits[${i}].${f}`, errs);
        if (l.type === 'Pod' && (l.default || l.defaultRequest)) errs.push({ type: 'Forbidden', field: `spec.limits[${i}].default`, detail: 'may not be specified when `type` is \'Pod\'' });
      });
      return errs;
    },
  },
  table: table([{ name: 'Created At', type: 'date' }], (l) => [l.metadata?.creationTimestamp ?? '']),
});

/** Upstream's HighestUserDefinablePriority and the two classes the API server creates at start. */
export const HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000;
export const SYSTEM_PRIORITY_CLASSES = [
  { name: 'system-node-critical', value: 2_000_001_000, description: 'Used for system critical pods that must not be moved from their current node.' },
  { name: 'system-cluster-critical', value: 2_000_000_000, description: 'Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.' },
];

function validatePriorityClass(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const name = o.metadata?.name ?? '';
  const system = SYSTEM_PRIORITY_CLASSES.find((c) => c.name === name);
  if (system) {
    if (o.value !== system.value) errs.push({ type: 'Forbidden', field: 'metadata.name', detail: `priority class ${name} is reserved for system use` });
  } else {
    if (name.startsWith('system-')) errs.push({ type: 'Forbidden', field: 'metadata.name', detail: "priority class names with 'system-' prefix are reserved" });
    if (typeof o.value === 'number' && o.value > HIGHEST_USER_DEFINABLE_PRIORITY) {
      errs.push({ type: 'Forbidden', field: 'value', detail: `maximum allowed value of a user defined priority is ${HIGHEST_USER_DEFINABLE_PRIORITY}` });
    }
  }
  if (!Number.isInteger(o.value)) errs.push({ type: 'Required', field: 'value' });
  if (!['Never', 'PreemptLowerPriority'].includes(o.preemptionPolicy)) errs.push({ type: 'NotSupported', field: 'preemptionPolicy', value: o.preemptionPolicy ?? '', supported: ['Never', 'PreemptLowerPriority'] });
  return errs;
}

export const priorityClassesDef: ResourceDef = builtin({
  group: 'scheduling.k8s.io', version: 'v1', resource: 'priorityclasses', kind: 'PriorityClass', singular: 'priorityclass', namespaced: false,
  shortNames: ['pc'], tracksGeneration: false,
  strategy: {
    defaults(obj) { (obj as Obj).preemptionPolicy ??= 'PreemptLowerPriority'; },
    validate: (o) => validatePriorityClass(o as Obj),
    validateUpdate(n, o) {
      const errs = validatePriorityClass(n as Obj);
      if ((n as Obj).value !== (o as Obj).value) errs.push({ type: 'Forbidden', field: 'value', detail: 'may not be changed in an update.' });
      if ((n as Obj).preemptionPolicy !== (o as Obj).preemptionPolicy) errs.push({ type: 'Invalid', field: 'preemptionPolicy', value: (n as Obj).preemptionPolicy, detail: 'field is immutable' });
      return errs;
    },
  },
  table: table([col('Value', 'integer'), col('Global-Default', 'boolean'), col('Age'), col('PreemptionPolicy')], (p, now) => [
    p.value ?? 0, p.globalDefault === true, age(p, now), p.preemptionPolicy ?? 'PreemptLowerPriority']),
});

function validateRuntimeClass(o: Obj): FieldError[] {
  const h = o.handler;
  if (!h) return [{ type: 'Required', field: 'handler' }];
  return validateNameValue(String(h), 'label').map((detail) => ({ type: 'Invalid' as const, field: 'handler', value: h, detail }));
}

export const runtimeClassesDef: ResourceDef = builtin({
  group: 'node.k8s.io', version: 'v1', resource: 'runtimeclasses', kind: 'RuntimeClass', singular: 'runtimeclass', namespaced: false, tracksGeneration: false,
  strategy: {
    validate: (obj) => validateRuntimeClass(obj as Obj),
    validateUpdate(n, o) {
      const errs = validateRuntimeClass(n as Obj);
      if ((n as Obj).handler !== (o as Obj).handler) errs.push({ type: 'Invalid', field: 'handler', value: (n as Obj).handler, detail: 'field is immutable' });
      return errs;
    },
  },
  table: table([col('Handler'), col('Age')], (r, now) => [r.handler ?? '', age(r, now)]),
});

