/** policy/v1 PodDisruptionBudget: validation as upstream's ValidatePodDisruptionBudget*, table; status by the disruption controller. */
import type { FieldError } from '../../apimachinery/status.js';
import type { ResourceDef } from '../registry.js';
import { age, builtin, col, table, type Obj } from './helpers.js';

/** IntOrString fields of PDBs: a non-negative integer or a percentage of at most 100%. */
function validateIntOrPercent(v: unknown, field: string, errs: FieldError[]): void {
  if (v === undefined || v === null) return;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) errs.push({ type: 'Invalid', field, value: v, detail: 'must be greater than or equal to 0' });
    return;
  }
  const m = /^(\d+)%$/.exec(String(v));
  if (!m) {
    errs.push({ type: 'Invalid', field, value: v, detail: 'a valid percent string must be a numeric string followed by an ending \'%\' (e.g. \'1%\',  or \'93%\', regex used for validation is \'[0-9]+%\')' });
    return;
  }
  if (Number(m[1]) > 100) errs.push({ type: 'Invalid', field, value: v, detail: 'must not be greater than 100%' });
}

function validatePdb(o: Obj): FieldError[] {
  const s = (o.spec ?? {}) as Obj;
  const errs: FieldError[] = [];
  if (s.minAvailable !== undefined && s.minAvailable !== null && s.maxUnavailable !== undefined && s.maxUnavailable !== null) {
    errs.push({ type: 'Invalid', field: 'spec', value: s, detail: 'minAvailable and maxUnavailable cannot be both set' });
  }
  validateIntOrPercent(s.minAvailable, 'spec.minAvailable', errs);
  validateIntOrPercent(s.maxUnavailable, 'spec.maxUnavailable', errs);
  const policy = s.unhealthyPodEvictionPolicy;
  if (policy !== undefined && policy !== null && !['AlwaysAllow', 'IfHealthyBudget'].includes(policy)) {
    errs.push({ type: 'NotSupported', field: 'spec.unhealthyPodEvictionPolicy', value: policy, supported: ['AlwaysAllow', 'IfHealthyBudget'] });
  }
  return errs;
}

const orNA = (v: unknown) => (v === undefined || v === null ? 'N/A' : String(v));

export const podDisruptionBudgetsDef: ResourceDef = builtin({
  group: 'policy', version: 'v1', resource: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', singular: 'poddisruptionbudget', namespaced: true,
  shortNames: ['pdb'], subresources: ['status'],
  strategy: {
    prepareForCreate(obj) { (obj as Obj).status = { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 }; },
    validate: (o) => validatePdb(o as Obj),
  },
  table: table([col('Min Available'), col('Max Unavailable'), col('Allowed Disruptions', 'integer'), col('Age')], (p, now) => [
    orNA(p.spec?.minAvailable), orNA(p.spec?.maxUnavailable), p.status?.disruptionsAllowed ?? 0, age(p, now)]),
});
