/**
 * autoscaling/v2 (stored) and autoscaling/v1 HorizontalPodAutoscaler. v1 is a conversion of the stored v2 object,
 * as upstream's: the CPU utilization target maps to targetCPUUtilizationPercentage, everything v1 cannot express
 * travels in the `autoscaling.alpha.kubernetes.io/*` annotations, so a v1 round trip loses nothing.
 */
import type { KubeObject } from '../../apimachinery/object.js';
import type { FieldError } from '../../apimachinery/status.js';
import type { ResourceDef } from '../registry.js';
import { age, builtin, col, table, type Obj } from './helpers.js';

export const HPA_ANNOTATIONS = {
  metrics: 'autoscaling.alpha.kubernetes.io/metrics',
  currentMetrics: 'autoscaling.alpha.kubernetes.io/current-metrics',
  conditions: 'autoscaling.alpha.kubernetes.io/conditions',
  behavior: 'autoscaling.alpha.kubernetes.io/behavior',
} as const;

/** Upstream's default: 80% average CPU utilization when no metric is given. */
export const DEFAULT_CPU_UTILIZATION = 80;

const METRIC_TYPES = ['ContainerResource', 'External', 'Object', 'Pods', 'Resource'];
const TARGET_TYPES = ['AverageValue', 'Utilization', 'Value'];

function defaultRules(rules: Obj | undefined, up: boolean): Obj {
  const r = { ...(rules ?? {}) };
  r.stabilizationWindowSeconds ??= up ? 0 : 300;
  r.selectPolicy ??= 'Max';
  r.policies ??= up
    ? [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }]
    : [{ type: 'Percent', value: 100, periodSeconds: 15 }];
  return r;
}

/** SetDefaults_HorizontalPodAutoscaler (v2): minReplicas 1, CPU 80% when no metrics, behavior filled in only when given. */
export function defaultHpaV2(o: Obj): void {
  const s = (o.spec ??= {}) as Obj;
  s.minReplicas ??= 1;
  if (!(s.metrics ?? []).length) {
    s.metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: DEFAULT_CPU_UTILIZATION } } }];
  }
  if (s.behavior) s.behavior = { scaleUp: defaultRules(s.behavior.scaleUp, true), scaleDown: defaultRules(s.behavior.scaleDown, false) };
}

function validateTarget(t: Obj | undefined, field: string, errs: FieldError[]): void {
  if (!t) { errs.push({ type: 'Required', field, detail: 'must specify a metric target' }); return; }
  if (!TARGET_TYPES.includes(t.type)) { errs.push({ type: 'NotSupported', field: `${field}.type`, value: t.type ?? '', supported: TARGET_TYPES }); return; }
  if (t.type === 'Utilization' && !(Number.isInteger(t.averageUtilization) && t.averageUtilization > 0)) {
    errs.push({ type: 'Invalid', field: `${field}.averageUtilization`, value: t.averageUtilization ?? 0, detail: 'must be greater than 0' });
  }
  if (t.type === 'AverageValue' && (t.averageValue === undefined || t.averageValue === null)) errs.push({ type: 'Required', field: `${field}.averageValue`, detail: 'must set averageValue when type is AverageValue' });
  if (t.type === 'Value' && (t.value === undefined || t.value === null)) errs.push({ type: 'Required', field: `${field}.value`, detail: 'must set value when type is Value' });
}

export function validateHpaV2(o: Obj): FieldError[] {
  const s = (o.spec ?? {}) as Obj;
  const errs: FieldError[] = [];
  const ref = (s.scaleTargetRef ?? {}) as Obj;
  if (!ref.kind) errs.push({ type: 'Required', field: 'spec.scaleTargetRef.kind' });
  if (!ref.name) errs.push({ type: 'Required', field: 'spec.scaleTargetRef.name' });
  if (s.minReplicas !== undefined && s.minReplicas !== null && !(Number.isInteger(s.minReplicas) && s.minReplicas >= 1)) {
    errs.push({ type: 'Invalid', field: 'spec.minReplicas', value: s.minReplicas, detail: 'must be greater than or equal to 1' });
  }
  if (!(Number.isInteger(s.maxReplicas) && s.maxReplicas >= 1)) errs.push({ type: 'Invalid', field: 'spec.maxReplicas', value: s.maxReplicas ?? 0, detail: 'must be greater than 0' });
  else if (typeof s.minReplicas === 'number' && s.maxReplicas < s.minReplicas) errs.push({ type: 'Invalid', field: 'spec.maxReplicas', value: s.maxReplicas, detail: 'must be greater than or equal to `minReplicas`' });
  ((s.metrics ?? []) as Obj[]).forEach((m, i) => {
    const f = `spec.metrics[${i}]`;
    if (!METRIC_TYPES.includes(m.type)) { errs.push({ type: 'NotSupported', field: `${f}.type`, value: m.type ?? '', supported: METRIC_TYPES }); return; }
    const key = m.type.charAt(0).toLowerCase() + m.type.slice(1);
    const src = m[key] as Obj | undefined;
    if (!src) { errs.push({ type: 'Required', field: `${f}.${key}`, detail: `must populate information for the given metric source (${key})` }); return; }
    if ((m.type === 'Resource' || m.type === 'ContainerResource') && !src.name) errs.push({ type: 'Required', field: `${f}.${key}.name`, detail: 'must specify a resource name' });
    if (m.type === 'ContainerResource' && !src.container) errs.push({ type: 'Required', field: `${f}.${key}.container`, detail: 'must specify a container' });
    if ((m.type === 'Pods' || m.type === 'Object' || m.type === 'External') && !src.metric?.name) errs.push({ type: 'Required', field: `${f}.${key}.metric.name`, detail: 'must specify a metric name' });
    validateTarget(src.target, `${f}.${key}.target`, errs);
  });
  for (const dir of ['scaleUp', 'scaleDown']) {
    const r = s.behavior?.[dir] as Obj | undefined;
    if (!r) continue;
    const w = r.stabilizationWindowSeconds;
    if (w !== undefined && (!Number.isInteger(w) || w < 0 || w > 3600)) errs.push({ type: 'Invalid', field: `spec.behavior.${dir}.stabilizationWindowSeconds`, value: w, detail: w < 0 ? 'must be greater than or equal to zero' : 'must be less than or equal to 3600' });
    if (r.selectPolicy && !['Disabled', 'Max', 'Min'].includes(r.selectPolicy)) errs.push({ type: 'NotSupported', field: `spec.behavior.${dir}.selectPolicy`, value: r.selectPolicy, supported: ['Disabled', 'Max', 'Min'] });
    ((r.policies ?? []) as Obj[]).forEach((p, i) => {
      const f = `spec.behavior.${dir}.policies[${i}]`;
      if (!['Pods', 'Percent'].includes(p.type)) errs.push({ type: 'NotSupported', field: `${f}.type`, value: p.type ?? '', supported: ['Percent', 'Pods'] });
      if (!(Number.isInteger(p.value) && p.value > 0)) errs.push({ type: 'Invalid', field: `${f}.value`, value: p.value ?? 0, detail: 'must be greater than zero' });
      if (!(Number.isInteger(p.periodSeconds) && p.periodSeconds > 0 && p.periodSeconds <= 1800)) {
        errs.push({ type: 'Invalid', field: `${f}.periodSeconds`, value: p.periodSeconds ?? 0, detail: p.periodSeconds > 1800 ? 'must be less than or equal to 1800' : 'must be greater than zero' });
      }
    });
  }
  return errs;
}

// ---- v1 ⇄ v2 (autoscaling/v1 MetricSpec is the old v2beta1 shape, kept in the annotations) ----

function metricToV1(m: Obj): Obj {
  const t = (x: Obj | undefined) => (x?.target ?? {}) as Obj;
  switch (m.type) {
    case 'Resource': return { type: 'Resource', resource: dropUndef({ name: m.resource?.name, targetAverageUtilization: t(m.resource).averageUtilization, targetAverageValue: t(m.resource).averageValue }) };
    case 'ContainerResource': return { type: 'ContainerResource', containerResource: dropUndef({ name: m.containerResource?.name, container: m.containerResource?.container, targetAverageUtilization: t(m.containerResource).averageUtilization, targetAverageValue: t(m.containerResource).averageValue }) };
    case 'Pods': return { type: 'Pods', pods: dropUndef({ metricName: m.pods?.metric?.name, selector: m.pods?.metric?.selector, targetAverageValue: t(m.pods).averageValue }) };
    case 'Object': return { type: 'Object', object: dropUndef({ target: m.object?.describedObject, metricName: m.object?.metric?.name, selector: m.object?.metric?.selector, targetValue: t(m.object).value, averageValue: t(m.object).averageValue }) };
    case 'External': return { type: 'External', external: dropUndef({ metricName: m.external?.metric?.name, metricSelector: m.external?.metric?.selector, targetValue: t(m.external).value, targetAverageValue: t(m.external).averageValue }) };
    default: return m;
  }
}

function target(util: unknown, avg: unknown, value?: unknown): Obj {
  if (util !== undefined) return { type: 'Utilization', averageUtilization: util };
  if (avg !== undefined) return { type: 'AverageValue', averageValue: avg };
  return { type: 'Value', value };
}

function metricToV2(m: Obj): Obj {
  switch (m.type) {
    case 'Resource': return { type: 'Resource', resource: { name: m.resource?.name, target: target(m.resource?.targetAverageUtilization, m.resource?.targetAverageValue) } };
    case 'ContainerResource': return { type: 'ContainerResource', containerResource: { name: m.containerResource?.name, container: m.containerResource?.container, target: target(m.containerResource?.targetAverageUtilization, m.containerResource?.targetAverageValue) } };
    case 'Pods': return { type: 'Pods', pods: { metric: dropUndef({ name: m.pods?.metricName, selector: m.pods?.selector }), target: { type: 'AverageValue', averageValue: m.pods?.targetAverageValue } } };
    case 'Object': return { type: 'Object', object: { describedObject: m.object?.target, metric: dropUndef({ name: m.object?.metricName, selector: m.object?.selector }), target: target(undefined, m.object?.averageValue, m.object?.targetValue) } };
    case 'External': return { type: 'External', external: { metric: dropUndef({ name: m.external?.metricName, selector: m.external?.metricSelector }), target: target(undefined, m.external?.targetAverageValue, m.external?.targetValue) } };
    default: return m;
  }
}

function currentToV1(m: Obj): Obj {
  const c = (x: Obj | undefined) => (x?.current ?? {}) as Obj;
  if (m.type === 'Resource') return { type: 'Resource', resource: dropUndef({ name: m.resource?.name, currentAverageUtilization: c(m.resource).averageUtilization, currentAverageValue: c(m.resource).averageValue }) };
  return m;
}

function currentToV2(m: Obj): Obj {
  if (m.type === 'Resource') return { type: 'Resource', resource: { name: m.resource?.name, current: dropUndef({ averageUtilization: m.resource?.currentAverageUtilization, averageValue: m.resource?.currentAverageValue }) } };
  return m;
}

function dropUndef(o: Obj): Obj {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

const isCpuUtilization = (m: Obj) => m.type === 'Resource' && m.resource?.name === 'cpu' && m.resource?.target?.type === 'Utilization';

export function hpaV2ToV1(v2: Obj): Obj {
  const s = (v2.spec ?? {}) as Obj;
  const st = (v2.status ?? {}) as Obj;
  const annotations: Record<string, string> = { ...(v2.metadata?.annotations ?? {}) };
  const metrics = (s.metrics ?? []) as Obj[];
  const cpu = metrics.find(isCpuUtilization);
  const others = metrics.filter((m) => m !== cpu);
  if (others.length) annotations[HPA_ANNOTATIONS.metrics] = JSON.stringify(others.map(metricToV1));
  if (s.behavior) annotations[HPA_ANNOTATIONS.behavior] = JSON.stringify(s.behavior);
  const current = (st.currentMetrics ?? []) as Obj[];
  const cpuNow = current.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
  const otherNow = current.filter((m) => m !== cpuNow);
  if (otherNow.length) annotations[HPA_ANNOTATIONS.currentMetrics] = JSON.stringify(otherNow.map(currentToV1));
  if ((st.conditions ?? []).length) annotations[HPA_ANNOTATIONS.conditions] = JSON.stringify(st.conditions);
  const metadata = { ...(v2.metadata ?? {}) };
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  return {
    apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata,
    spec: dropUndef({ scaleTargetRef: s.scaleTargetRef, minReplicas: s.minReplicas, maxReplicas: s.maxReplicas, targetCPUUtilizationPercentage: cpu?.resource?.target?.averageUtilization }),
    ...(v2.status ? {
      status: dropUndef({
        observedGeneration: st.observedGeneration, lastScaleTime: st.lastScaleTime, currentReplicas: st.currentReplicas ?? 0, desiredReplicas: st.desiredReplicas ?? 0,
        currentCPUUtilizationPercentage: cpuNow?.resource?.current?.averageUtilization,
      }),
    } : {}),
  };
}

function parseAnnotation(annotations: Record<string, string>, key: string): unknown {
  const raw = annotations[key];
  delete annotations[key];
  if (raw === undefined) return undefined;
  try { return JSON.parse(raw); } catch { return undefined; }
}

export function hpaV1ToV2(v1: Obj): Obj {
  const s = (v1.spec ?? {}) as Obj;
  const st = (v1.status ?? {}) as Obj;
  const annotations: Record<string, string> = { ...(v1.metadata?.annotations ?? {}) };
  const metrics: Obj[] = [];
  if (s.targetCPUUtilizationPercentage !== undefined && s.targetCPUUtilizationPercentage !== null) {
    metrics.push({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: s.targetCPUUtilizationPercentage } } });
  }
  const extra = parseAnnotation(annotations, HPA_ANNOTATIONS.metrics);
  if (Array.isArray(extra)) metrics.push(...(extra as Obj[]).map(metricToV2));
  const behavior = parseAnnotation(annotations, HPA_ANNOTATIONS.behavior) as Obj | undefined;
  const currentMetrics: Obj[] = [];
  if (st.currentCPUUtilizationPercentage !== undefined && st.currentCPUUtilizationPercentage !== null) {
    currentMetrics.push({ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: st.currentCPUUtilizationPercentage } } });
  }
  const otherNow = parseAnnotation(annotations, HPA_ANNOTATIONS.currentMetrics);
  if (Array.isArray(otherNow)) currentMetrics.push(...(otherNow as Obj[]).map(currentToV2));
  const conditions = parseAnnotation(annotations, HPA_ANNOTATIONS.conditions);
  const metadata = { ...(v1.metadata ?? {}) };
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  else delete metadata.annotations;
  return {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata,
    spec: dropUndef({ scaleTargetRef: s.scaleTargetRef, minReplicas: s.minReplicas, maxReplicas: s.maxReplicas, metrics: metrics.length ? metrics : undefined, behavior }),
    ...(v1.status ? {
      status: dropUndef({
        observedGeneration: st.observedGeneration, lastScaleTime: st.lastScaleTime, currentReplicas: st.currentReplicas || undefined, desiredReplicas: st.desiredReplicas ?? 0,
        currentMetrics: currentMetrics.length ? currentMetrics : undefined, conditions: Array.isArray(conditions) ? conditions : undefined,
      }),
    } : {}),
  };
}

/** TARGETS as kubectl 1.32 prints them: `cpu: 12%/80%`, `<unknown>` before the first measurement. */
function hpaTargets(h: Obj): string {
  const specs = (h.spec?.metrics ?? []) as Obj[];
  const current = (h.status?.currentMetrics ?? []) as Obj[];
  const parts = specs.map((m, i) => {
    const key = m.type ? m.type.charAt(0).toLowerCase() + m.type.slice(1) : '';
    const src = (m[key] ?? {}) as Obj;
    const t = (src.target ?? {}) as Obj;
    const cur = ((current[i]?.[key] ?? {}) as Obj).current as Obj | undefined;
    const name = src.name ?? src.metric?.name ?? '';
    if (t.type === 'Utilization') return `${name}: ${cur?.averageUtilization !== undefined ? `${cur.averageUtilization}%` : '<unknown>'}/${t.averageUtilization}%`;
    const want = t.averageValue ?? t.value;
    const have = cur?.averageValue ?? cur?.value;
    return `${name}: ${have ?? '<unknown>'}/${want ?? '<unknown>'}${t.type === 'AverageValue' ? ' (avg)' : ''}`;
  });
  if (!parts.length) return '<none>';
  return parts.length > 2 ? `${parts.slice(0, 2).join(', ')} + ${parts.length - 2} more...` : parts.join(', ');
}

const hpaTable = table([col('Reference'), col('Targets'), col('MinPods'), col('MaxPods', 'integer'), col('Replicas', 'integer'), col('Age')], (h, now) => [
  `${h.spec?.scaleTargetRef?.kind ?? ''}/${h.spec?.scaleTargetRef?.name ?? ''}`, hpaTargets(h), h.spec?.minReplicas ?? '<unset>', h.spec?.maxReplicas ?? 0,
  h.status?.currentReplicas ?? 0, age(h, now)]);

const hpaBase = {
  group: 'autoscaling', resource: 'horizontalpodautoscalers', kind: 'HorizontalPodAutoscaler', singular: 'horizontalpodautoscaler', namespaced: true,
  shortNames: ['hpa'], categories: ['all'], subresources: ['status' as const], storagePrefix: '/registry/autoscaling/horizontalpodautoscalers/',
};

export const hpaV2Def: ResourceDef = builtin({
  ...hpaBase, version: 'v2',
  strategy: {
    defaults: (o) => defaultHpaV2(o as Obj),
    prepareForCreate(obj) { (obj as Obj).status = { desiredReplicas: 0 }; },
    validate: (o) => validateHpaV2(o as Obj),
  },
  table: { columns: hpaTable!.columns, cells: (o, now) => hpaTable!.cells(o, now) },
});

/** The v1 view: the table is computed on the v2 form so both versions print the same TARGETS. */
export const hpaV1Def: ResourceDef = builtin({
  ...hpaBase, version: 'v1',
  convert: {
    fromStorage: (o) => hpaV2ToV1(o as Obj) as KubeObject,
    toStorage: (o) => { const v2 = hpaV1ToV2(o as Obj); defaultHpaV2(v2); return v2 as KubeObject; },
  },
  strategy: {
    defaults(o) { ((o as Obj).spec ??= {}).minReplicas ??= 1; },
    prepareForCreate(obj) { (obj as Obj).status = { currentReplicas: 0, desiredReplicas: 0 }; },
    validate(o) {
      const errs = validateHpaV2(hpaV1ToV2(o as Obj));
      const t = (o as Obj).spec?.targetCPUUtilizationPercentage;
      if (t !== undefined && t !== null && !(Number.isInteger(t) && t >= 1)) errs.push({ type: 'Invalid', field: 'spec.targetCPUUtilizationPercentage', value: t, detail: 'must be greater than or equal to 1' });
      return errs.filter((e) => !e.field.startsWith('spec.metrics'));
    },
  },
  table: { columns: hpaTable!.columns, cells: (o, now) => { const v2 = hpaV1ToV2(o as Obj); defaultHpaV2(v2); return hpaTable!.cells(v2 as KubeObject, now); } },
});
