import type {
  V1LocalSubjectAccessReview,
  V1NonResourceRule,
  V1ResourceAttributes,
  V1NonResourceAttributes,
  V1ResourceRule,
  V1SelfSubjectAccessReview,
  V1SelfSubjectRulesReview,
  V1SubjectAccessReview,
  V1SubjectAccessReviewStatus,
} from '@kubernetes/client-node';
import type { Authorizer, RequestAttributes, UserInfo } from './types.js';
import type { RbacSource } from './rbac/source.js';
import { rulesFor } from './rbac/resolver.js';

/**
 * Evaluation of the authorization.k8s.io/v1 review resources (what `kubectl auth can-i` and
 * `kubectl auth can-i --list` create). The API server decodes the body, calls these, and returns the result
 * with status 201; a ReviewValidationError becomes a 422 Invalid Status with the listed causes.
 */

export interface ReviewCause {
  field: string;
  reason: 'FieldValueRequired' | 'FieldValueInvalid';
  message: string;
}

export class ReviewValidationError extends Error {
  constructor(readonly kind: string, readonly causes: ReviewCause[]) {
    super(`${kind}.authorization.k8s.io is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`);
  }
}

function attributesFor(
  user: UserInfo,
  resource: V1ResourceAttributes | undefined,
  nonResource: V1NonResourceAttributes | undefined,
): RequestAttributes {
  if (resource) {
    return {
      user,
      verb: resource.verb ?? '',
      resourceRequest: true,
      apiGroup: resource.group ?? '',
      apiVersion: resource.version ?? '',
      resource: resource.resource ?? '',
      subresource: resource.subresource ?? '',
      namespace: resource.namespace ?? '',
      name: resource.name ?? '',
    };
  }
  return { user, verb: nonResource?.verb ?? '', resourceRequest: false, path: nonResource?.path ?? '' };
}

function validateAttributeChoice(kind: string, resource: unknown, nonResource: unknown, causes: ReviewCause[]): void {
  if (resource && nonResource) {
    causes.push({ field: 'spec.nonResourceAttributes', reason: 'FieldValueInvalid', message: 'cannot be specified in combination with resourceAttributes' });
  } else if (!resource && !nonResource) {
    causes.push({ field: 'spec.resourceAttributes', reason: 'FieldValueRequired', message: 'exactly one of nonResourceAttributes or resourceAttributes must be specified' });
  }
  void kind;
}

async function decide(authorizer: Authorizer, attrs: RequestAttributes): Promise<V1SubjectAccessReviewStatus> {
  try {
    const d = await authorizer.authorize(attrs);
    const status: V1SubjectAccessReviewStatus = { allowed: d.allowed };
    if (d.reason) status.reason = d.reason;
    return status;
  } catch (err) {
    return { allowed: false, evaluationError: (err as Error).message };
  }
}

/** SubjectAccessReview: "may this user/group do that?" (the subject comes from the spec). */
export async function evaluateSubjectAccessReview(authorizer: Authorizer, review: V1SubjectAccessReview): Promise<V1SubjectAccessReview> {
  const spec = review.spec ?? {};
  const causes: ReviewCause[] = [];
  validateAttributeChoice('SubjectAccessReview', spec.resourceAttributes, spec.nonResourceAttributes, causes);
  if (!spec.user && (spec.groups ?? []).length === 0) {
    causes.push({ field: 'spec.user', reason: 'FieldValueInvalid', message: 'at least one of user or group must be specified' });
  }
  if (causes.length > 0) throw new ReviewValidationError('SubjectAccessReview', causes);
  const user: UserInfo = { username: spec.user ?? '', groups: spec.groups ?? [] };
  if (spec.uid) user.uid = spec.uid;
  if (spec.extra) user.extra = spec.extra;
  const status = await decide(authorizer, attributesFor(user, spec.resourceAttributes, spec.nonResourceAttributes));
  return { ...review, apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: review.metadata ?? {}, spec, status };
}

/** LocalSubjectAccessReview: like SubjectAccessReview, restricted to the namespace in the URL. */
export async function evaluateLocalSubjectAccessReview(
  authorizer: Authorizer,
  namespace: string,
  review: V1LocalSubjectAccessReview,
): Promise<V1LocalSubjectAccessReview> {
  const spec = review.spec ?? {};
  const causes: ReviewCause[] = [];
  if ((review.metadata?.namespace ?? namespace) !== namespace) {
    causes.push({ field: 'metadata.namespace', reason: 'FieldValueInvalid', message: 'must match the namespace in the request path' });
  }
  if (spec.nonResourceAttributes) {
    causes.push({ field: 'spec.nonResourceAttributes', reason: 'FieldValueInvalid', message: 'disallowed on this kind of request' });
  }
  if (!spec.resourceAttributes) {
    causes.push({ field: 'spec.resourceAttributes', reason: 'FieldValueRequired', message: 'exactly one of nonResourceAttributes or resourceAttributes must be specified' });
  } else if ((spec.resourceAttributes.namespace ?? '') !== namespace) {
    causes.push({ field: 'spec.resourceAttributes.namespace', reason: 'FieldValueInvalid', message: 'must match metadata.namespace' });
  }
  if (!spec.user && (spec.groups ?? []).length === 0) {
    causes.push({ field: 'spec.user', reason: 'FieldValueInvalid', message: 'at least one of user or group must be specified' });
  }
  if (causes.length > 0) throw new ReviewValidationError('LocalSubjectAccessReview', causes);
  const user: UserInfo = { username: spec.user ?? '', groups: spec.groups ?? [] };
  if (spec.uid) user.uid = spec.uid;
  if (spec.extra) user.extra = spec.extra;
  const status = await decide(authorizer, attributesFor(user, spec.resourceAttributes, undefined));
  return {
    ...review,
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'LocalSubjectAccessReview',
    metadata: { ...(review.metadata ?? {}), namespace },
    spec,
    status,
  };
}

/** SelfSubjectAccessReview: `kubectl auth can-i VERB RESOURCE` for the requesting user. */
export async function evaluateSelfSubjectAccessReview(
  authorizer: Authorizer,
  requester: UserInfo,
  review: V1SelfSubjectAccessReview,
): Promise<V1SelfSubjectAccessReview> {
  const spec = review.spec ?? {};
  const causes: ReviewCause[] = [];
  validateAttributeChoice('SelfSubjectAccessReview', spec.resourceAttributes, spec.nonResourceAttributes, causes);
  if (causes.length > 0) throw new ReviewValidationError('SelfSubjectAccessReview', causes);
  const status = await decide(authorizer, attributesFor(requester, spec.resourceAttributes, spec.nonResourceAttributes));
  return { ...review, apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', metadata: review.metadata ?? {}, spec, status };
}

/**
 * SelfSubjectRulesReview: `kubectl auth can-i --list [-n NS]`: every rule that applies to the requester in the
 * namespace. Missing roles make the answer incomplete (with the errors), as upstream reports them.
 */
export async function evaluateSelfSubjectRulesReview(
  source: RbacSource,
  requester: UserInfo,
  review: V1SelfSubjectRulesReview,
): Promise<V1SelfSubjectRulesReview> {
  const namespace = review.spec?.namespace ?? '';
  const { rules, errors } = await rulesFor(source, requester, namespace);
  const resourceRules: V1ResourceRule[] = [];
  const nonResourceRules: V1NonResourceRule[] = [];
  for (const r of rules) {
    if ((r.resources ?? []).length > 0) {
      const rr: V1ResourceRule = { verbs: r.verbs ?? [], apiGroups: r.apiGroups ?? [], resources: r.resources ?? [] };
      if ((r.resourceNames ?? []).length > 0) rr.resourceNames = r.resourceNames;
      resourceRules.push(rr);
    }
    if ((r.nonResourceURLs ?? []).length > 0) nonResourceRules.push({ verbs: r.verbs ?? [], nonResourceURLs: r.nonResourceURLs });
  }
  const status: V1SelfSubjectRulesReview['status'] = { resourceRules, nonResourceRules, incomplete: errors.length > 0 };
  if (errors.length > 0) status.evaluationError = errors.map((e) => e.message).join(', ');
  return {
    ...review,
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectRulesReview',
    metadata: review.metadata ?? {},
    spec: review.spec ?? {},
    status,
  };
}
