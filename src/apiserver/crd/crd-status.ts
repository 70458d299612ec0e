/**
 * The CRD status the API server maintains: accepted names, NamesAccepted / Established
 * conditions and storedVersions. Upstream sets these from controllers a moment after the write;
 * here they are computed in the same write, so `kubectl wait --for condition=established`
 * succeeds immediately.
 */
import type { V1CustomResourceDefinition, V1CustomResourceDefinitionCondition } from '@kubernetes/client-node';
import { nowTimestamp } from '../../apimachinery/object.js';
import { API_APPROVAL_CONDITION, apiApprovalCondition } from './api-approval.js';

type Crd = V1CustomResourceDefinition;

/** A name of `crd` already used by another CRD of the same group, or undefined. */
export function nameConflict(crd: Crd, others: Crd[]): { reason: string; message: string } | undefined {
  const group = crd.spec.group;
  const n = crd.spec.names;
  for (const o of others) {
    if (o.metadata?.name === crd.metadata?.name || o.spec?.group !== group) continue;
    const on = o.status?.acceptedNames ?? o.spec.names;
    const taken = new Set([on.plural, on.singular, ...(on.shortNames ?? [])].filter(Boolean));
    if (taken.has(n.plural)) return { reason: 'PluralConflict', message: `"${n.plural}" is already in use` };
    if (n.singular && taken.has(n.singular)) return { reason: 'SingularConflict', message: `"${n.singular}" is already in use` };
    for (const s of n.shortNames ?? []) if (taken.has(s)) return { reason: 'ShortNamesConflict', message: `"${s}" is already in use` };
    if (on.kind === n.kind) return { reason: 'KindConflict', message: `"${n.kind}" is already in use` };
    if (on.listKind && on.listKind === n.listKind) return { reason: 'ListKindConflict', message: `"${n.listKind}" is already in use` };
  }
  return undefined;
}

function setCondition(list: V1CustomResourceDefinitionCondition[], c: Omit<V1CustomResourceDefinitionCondition, 'lastTransitionTime'>, now: string): void {
  const existing = list.find((x) => x.type === c.type);
  if (existing) {
    if (existing.status !== c.status) existing.lastTransitionTime = now as unknown as Date;
    existing.status = c.status;
    existing.reason = c.reason;
    existing.message = c.message;
  } else {
    list.push({ ...c, lastTransitionTime: now as unknown as Date });
  }
}

/** Fill `crd.status` (mutates). `others` are the other stored CRDs, for name conflicts. */
export function updateCrdStatus(crd: Crd, others: Crd[], now = new Date()): void {
  const ts = nowTimestamp(now);
  const status = (crd.status ??= { acceptedNames: { kind: '', plural: '' }, storedVersions: [] } as NonNullable<Crd['status']>);
  const conditions = (status.conditions ??= []);
  const conflict = nameConflict(crd, others);
  if (conflict) {
    setCondition(conditions, { type: 'NamesAccepted', status: 'False', reason: conflict.reason, message: conflict.message }, ts);
    const established = conditions.find((c) => c.type === 'Established')?.status === 'True';
    if (!established) setCondition(conditions, { type: 'Established', status: 'False', reason: 'NotAccepted', message: 'not all names are accepted' }, ts);
  } else {
    status.acceptedNames = structuredClone(crd.spec.names);
    setCondition(conditions, { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found' }, ts);
    setCondition(conditions, { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' }, ts);
  }
  // Upstream's API approval controller: the condition follows the annotation, only in k8s.io/kubernetes.io groups.
  const approval = apiApprovalCondition(crd);
  if (approval) setCondition(conditions, approval, ts);
  else status.conditions = conditions.filter((c) => c.type !== API_APPROVAL_CONDITION);
  const storage = crd.spec.versions.find((v) => v.storage)?.name;
  const stored = (status.storedVersions ??= []);
  if (storage && !stored.includes(storage)) stored.push(storage);
}

/** Whether the CRD's custom resources are to be served. */
export function isEstablished(crd: Crd): boolean {
  return (crd.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
}
