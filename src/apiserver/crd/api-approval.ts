/**
 * The `k8s.io` group protection of upstream's apiextensions-apiserver (KEP "k8s.io Group Protection",
 * kubernetes/enhancements#1111): a CRD in `k8s.io`, `kubernetes.io` or a subgroup of either must carry the
 * `api-approved.kubernetes.io` annotation, either the URL where the API was approved or a reason starting with
 * "unapproved". apiextensions.k8s.io/v1 refuses a create without a usable value, and an update only when it
 * changes the annotation's state (as upstream: a CRD stored before the rule keeps working). The server then
 * reports the `KubernetesAPIApprovalPolicyConformant` condition with upstream's reasons and messages.
 */
import type { V1CustomResourceDefinition, V1CustomResourceDefinitionCondition } from '@kubernetes/client-node';
import type { FieldError } from '../../apimachinery/status.js';

type Crd = V1CustomResourceDefinition;

export const API_APPROVAL_ANNOTATION = 'api-approved.kubernetes.io';
export const API_APPROVAL_CONDITION = 'KubernetesAPIApprovalPolicyConformant';
const FIELD = `metadata.annotations[${API_APPROVAL_ANNOTATION}]`;
const KEP = 'https://github.com/kubernetes/enhancements/pull/1111';

export function isProtectedCommunityGroup(group: string): boolean {
  return group === 'k8s.io' || group.endsWith('.k8s.io') || group === 'kubernetes.io' || group.endsWith('.kubernetes.io');
}

type ApprovalState = 'Approved' | 'Bypassed' | 'Missing' | 'Invalid';

function isUrlWithSchemeAndHost(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol.length > 1 && u.host.length > 0;
  } catch {
    return false;
  }
}

/** Upstream's apihelpers.GetAPIApprovalState: the state and the sentence that explains it. */
export function apiApprovalState(annotations: Record<string, string> | undefined): { state: ApprovalState; reason: string } {
  const value = annotations?.[API_APPROVAL_ANNOTATION] ?? '';
  if (value === '') return { state: 'Missing', reason: `protected groups must have approval annotation "${API_APPROVAL_ANNOTATION}", see ${KEP}` };
  if (value.startsWith('unapproved')) return { state: 'Bypassed', reason: `not approved: ${JSON.stringify(value)}` };
  if (isUrlWithSchemeAndHost(value)) return { state: 'Approved', reason: `approved in ${value}` };
  return {
    state: 'Invalid',
    reason: `protected groups must have approval annotation "${API_APPROVAL_ANNOTATION}" with either a URL or a reason starting with "unapproved", see ${KEP}`,
  };
}

/** The v1 create/update rule: Missing → Required, Invalid → Invalid; an update that keeps the state passes. */
export function validateApiApproval(crd: Crd, old?: Crd): FieldError[] {
  const group = typeof crd.spec?.group === 'string' ? crd.spec.group : '';
  if (!isProtectedCommunityGroup(group)) return [];
  const next = apiApprovalState(crd.metadata?.annotations);
  if (old && apiApprovalState(old.metadata?.annotations).state === next.state) return [];
  if (next.state === 'Missing') return [{ type: 'Required', field: FIELD, detail: next.reason }];
  if (next.state === 'Invalid') return [{ type: 'Invalid', field: FIELD, value: crd.metadata?.annotations?.[API_APPROVAL_ANNOTATION] ?? '', detail: next.reason }];
  return [];
}

const CONDITION_REASON: Record<ApprovalState, { status: 'True' | 'False'; reason: string }> = {
  Approved: { status: 'True', reason: 'ApprovedAnnotation' },
  Bypassed: { status: 'False', reason: 'UnapprovedAnnotation' },
  Missing: { status: 'False', reason: 'MissingAnnotation' },
  Invalid: { status: 'False', reason: 'InvalidAnnotation' },
};

/** The condition upstream's API approval controller sets, or undefined outside the protected groups. */
export function apiApprovalCondition(crd: Crd): Omit<V1CustomResourceDefinitionCondition, 'lastTransitionTime'> | undefined {
  if (!isProtectedCommunityGroup(crd.spec?.group ?? '')) return undefined;
  const { state, reason: message } = apiApprovalState(crd.metadata?.annotations);
  return { type: API_APPROVAL_CONDITION, ...CONDITION_REASON[state], message };
}
