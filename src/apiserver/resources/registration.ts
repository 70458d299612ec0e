/**
 * admissionregistration.k8s.io/v1 Validating/MutatingWebhookConfiguration (called by ../admission-webhooks.ts) and
 * apiregistration.k8s.io/v1 APIService (one per served group/version, kept by ../apiservices.ts as upstream's
 * autoregister controller keeps them).
 */
import type { FieldError } from '../../apimachinery/status.js';
import type { ResourceDef } from '../registry.js';
import { validateNameValue } from '../validation.js';
import { age, builtin, col, table, type Obj } from './helpers.js';

function defaultWebhook(w: Obj, mutating: boolean): void {
  w.failurePolicy ??= 'Fail';
  w.matchPolicy ??= 'Equivalent';
  w.namespaceSelector ??= {};
  w.objectSelector ??= {};
  w.timeoutSeconds ??= 10;
  if (mutating) w.reinvocationPolicy ??= 'Never';
  for (const r of (w.rules ?? []) as Obj[]) r.scope ??= '*';
  if (w.clientConfig?.service) w.clientConfig.service.port ??= 443;
}

function validateWebhook(w: Obj, field: string, mutating: boolean, errs: FieldError[]): void {
  const name = String(w.name ?? '');
  if (!name) errs.push({ type: 'Required', field: `${field}.name` });
  else {
    for (const m of validateNameValue(name, 'subdomain')) errs.push({ type: 'Invalid', field: `${field}.name`, value: name, detail: m });
    if (name.split('.').length < 3) errs.push({ type: 'Invalid', field: `${field}.name`, value: name, detail: 'should be a domain with at least three segments separated by dots' });
  }
  const cc = (w.clientConfig ?? {}) as Obj;
  if (cc.url && cc.service) errs.push({ type: 'Required', field: `${field}.clientConfig`, detail: 'exactly one of url or service is required' });
  else if (!cc.url && !cc.service) errs.push({ type: 'Required', field: `${field}.clientConfig`, detail: 'exactly one of url or service is required' });
  if (cc.url) {
    let u: URL | undefined;
    try { u = new URL(String(cc.url)); } catch { errs.push({ type: 'Invalid', field: `${field}.clientConfig.url`, value: cc.url, detail: 'must be a valid URL' }); }
    if (u && u.protocol !== 'https:') errs.push({ type: 'Invalid', field: `${field}.clientConfig.url`, value: cc.url, detail: "'https' is the only allowed URL scheme" });
    if (u && (u.search || u.hash)) errs.push({ type: 'Invalid', field: `${field}.clientConfig.url`, value: cc.url, detail: 'query parameters are not allowed' });
  }
  if (cc.service) {
    if (!cc.service.name) errs.push({ type: 'Required', field: `${field}.clientConfig.service.name`, detail: 'service name is required' });
    if (!cc.service.namespace) errs.push({ type: 'Required', field: `${field}.clientConfig.service.namespace`, detail: 'service namespace is required' });
    if (cc.service.path !== undefined && !String(cc.service.path).startsWith('/')) errs.push({ type: 'Invalid', field: `${field}.clientConfig.service.path`, value: cc.service.path, detail: "must start with a '/'" });
  }
  if (!['None', 'NoneOnDryRun'].includes(w.sideEffects)) {
    errs.push({ type: w.sideEffects ? 'NotSupported' : 'Required', field: `${field}.sideEffects`, value: w.sideEffects ?? '', supported: ['None', 'NoneOnDryRun'] });
  }
  const versions = (w.admissionReviewVersions ?? []) as string[];
  if (!versions.length) errs.push({ type: 'Required', field: `${field}.admissionReviewVersions`, detail: 'must specify one of v1, v1beta1' });
  else if (!versions.some((v) => v === 'v1' || v === 'v1beta1')) errs.push({ type: 'Invalid', field: `${field}.admissionReviewVersions`, value: versions, detail: 'must include at least one of v1, v1beta1' });
  if (!['Fail', 'Ignore'].includes(w.failurePolicy)) errs.push({ type: 'NotSupported', field: `${field}.failurePolicy`, value: w.failurePolicy, supported: ['Fail', 'Ignore'] });
  if (!['Equivalent', 'Exact'].includes(w.matchPolicy)) errs.push({ type: 'NotSupported', field: `${field}.matchPolicy`, value: w.matchPolicy, supported: ['Equivalent', 'Exact'] });
  if (!(Number.isInteger(w.timeoutSeconds) && w.timeoutSeconds >= 1 && w.timeoutSeconds <= 30)) errs.push({ type: 'Invalid', field: `${field}.timeoutSeconds`, value: w.timeoutSeconds, detail: 'the timeout value must be between 1 and 30 seconds' });
  if (mutating && !['IfNeeded', 'Never'].includes(w.reinvocationPolicy)) errs.push({ type: 'NotSupported', field: `${field}.reinvocationPolicy`, value: w.reinvocationPolicy, supported: ['IfNeeded', 'Never'] });
  ((w.rules ?? []) as Obj[]).forEach((r, i) => {
    const f = `${field}.rules[${i}]`;
    if (!(r.operations ?? []).length) errs.push({ type: 'Required', field: `${f}.operations` });
    for (const op of (r.operations ?? []) as string[]) if (!['*', 'CONNECT', 'CREATE', 'DELETE', 'UPDATE'].includes(op)) errs.push({ type: 'NotSupported', field: `${f}.operations`, value: op, supported: ['*', 'CONNECT', 'CREATE', 'DELETE', 'UPDATE'] });
    if (!(r.apiGroups ?? []).length) errs.push({ type: 'Required', field: `${f}.apiGroups` });
    if (!(r.apiVersions ?? []).length) errs.push({ type: 'Required', field: `${f}.apiVersions` });
    if (!(r.resources ?? []).length) errs.push({ type: 'Required', field: `${f}.resources` });
    if (!['*', 'Cluster', 'Namespaced'].includes(r.scope)) errs.push({ type: 'NotSupported', field: `${f}.scope`, value: r.scope, supported: ['*', 'Cluster', 'Namespaced'] });
  });
}

function webhookConfigDef(kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration'): ResourceDef {
  const mutating = kind === 'MutatingWebhookConfiguration';
  const plural = `${kind.toLowerCase()}s`;
  return builtin({
    group: 'admissionregistration.k8s.io', version: 'v1', resource: plural, kind, singular: kind.toLowerCase(), namespaced: false,
    categories: ['api-extensions'], tracksGeneration: true,
    strategy: {
      defaults(obj) { for (const w of ((obj as Obj).webhooks ?? []) as Obj[]) defaultWebhook(w, mutating); },
      validate(obj) {
        const errs: FieldError[] = [];
        const seen = new Set<string>();
        ((((obj as Obj).webhooks ?? []) as Obj[])).forEach((w, i) => {
          if (w.name && seen.has(w.name)) errs.push({ type: 'Duplicate', field: `webhooks[${i}].name`, value: w.name });
          seen.add(w.name);
          validateWebhook(w, `webhooks[${i}]`, mutating, errs);
        });
        return errs;
      },
    },
    table: table([col('Webhooks', 'integer'), col('Age')], (c, now) => [(c.webhooks ?? []).length, age(c, now)]),
  });
}

export const validatingWebhookConfigurationsDef = webhookConfigDef('ValidatingWebhookConfiguration');
export const mutatingWebhookConfigurationsDef = webhookConfigDef('MutatingWebhookConfiguration');

function apiServiceAvailable(a: Obj): string {
  const c = ((a.status?.conditions ?? []) as Obj[]).find((x) => x.type === 'Available');
  if (!c) return 'Unknown';
  return c.status === 'True' ? 'True' : `${c.status} (${c.reason ?? ''})`;
}

export const apiServicesDef: ResourceDef = builtin({
  group: 'apiregistration.k8s.io', version: 'v1', resource: 'apiservices', kind: 'APIService', singular: 'apiservice', namespaced: false,
  categories: ['api-extensions'], subresources: ['status'], nameValidation: 'pathSegment', tracksGeneration: false,
  strategy: {
    defaults(obj) { const s = (obj as Obj).spec; if (s?.service) s.service.port ??= 443; },
    prepareForCreate(obj) { (obj as Obj).status = {}; },
    validate(obj) {
      const o = obj as Obj;
      const s = (o.spec ?? {}) as Obj;
      const errs: FieldError[] = [];
      const want = s.group ? `${s.version}.${s.group}` : String(s.version ?? '');
      if (o.metadata?.name !== want) errs.push({ type: 'Invalid', field: 'metadata.name', value: o.metadata?.name, detail: `must be ${want}` });
      if (!s.version) errs.push({ type: 'Required', field: 'spec.version' });
      if (!(Number.isInteger(s.groupPriorityMinimum) && s.groupPriorityMinimum > 0 && s.groupPriorityMinimum <= 20000)) {
        errs.push({ type: 'Invalid', field: 'spec.groupPriorityMinimum', value: s.groupPriorityMinimum ?? 0, detail: 'must be positive and less than 20000' });
      }
      if (!(Number.isInteger(s.versionPriority) && s.versionPriority > 0 && s.versionPriority <= 1000)) {
        errs.push({ type: 'Invalid', field: 'spec.versionPriority', value: s.versionPriority ?? 0, detail: 'must be positive and less than 1000' });
      }
      if (!s.service && (s.insecureSkipTLSVerify || s.caBundle)) errs.push({ type: 'Invalid', field: 'spec.insecureSkipTLSVerify', value: s.insecureSkipTLSVerify, detail: 'local APIServices may not have insecureSkipTLSVerify or caBundle' });
      if (s.insecureSkipTLSVerify && s.caBundle) errs.push({ type: 'Invalid', field: 'spec.insecureSkipTLSVerify', value: true, detail: 'may not be true if caBundle is present' });
      return errs;
    },
  },
  table: table([col('Service'), col('Available'), col('Age')], (a, now) => [
    a.spec?.service ? `${a.spec.service.namespace}/${a.spec.service.name}` : 'Local', apiServiceAvailable(a), age(a, now)]),
});
