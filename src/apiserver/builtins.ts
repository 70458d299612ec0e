/** The built-in resource set of issue 2, registered at start. */
import type { Authorizer, RbacSource } from './auth/index.js';
import {
  evaluateLocalSubjectAccessReview, evaluateSelfSubjectAccessReview, evaluateSelfSubjectRulesReview, evaluateSubjectAccessReview,
  evaluateSelfSubjectReview, ReviewValidationError, evaluateTokenReview, type BearerTokenAuthenticator,
} from './auth/index.js';
import { invalid, type FieldError } from '../apimachinery/status.js';
import type { KubeObject } from '../apimachinery/object.js';
import type { Registry, ResourceDef } from './registry.js';
import type { ClusterIpAllocator, NodePortAllocator } from './ip-allocator.js';
import { podsDef } from './resources/pods.js';
import { configMapsDef, coreEventsDef, endpointsDef, namespacesDef, nodesDef, secretsDef, serviceAccountsDef } from './resources/core.js';
import { servicesDef } from './resources/services.js';
import { daemonSetsDef, deploymentsDef, jobsDef, replicaSetsDef, replicationControllersDef, statefulSetsDef } from './resources/apps.js';
import {
  clusterRoleBindingsDef, clusterRolesDef, crdDef, csrDef, endpointSlicesDef, eventsV1Def, leasesDef, roleBindingsDef, rolesDef,
} from './resources/groups.js';
import { builtin } from './resources/helpers.js';
import { cronJobsDef } from './resources/cronjobs.js';
import { ingressClassesDef, ingressesDef, networkPoliciesDef } from './resources/networking.js';
import { podDisruptionBudgetsDef } from './resources/policy.js';
import { hpaV1Def, hpaV2Def } from './resources/autoscaling.js';
import { csiDriversDef, csiNodesDef, persistentVolumeClaimsDef, persistentVolumesDef, storageClassesDef, volumeAttachmentsDef } from './resources/storage.js';
import { limitRangesDef, priorityClassesDef, resourceQuotasDef, runtimeClassesDef } from './resources/cluster-policy.js';
import { apiServicesDef, mutatingWebhookConfigurationsDef, validatingWebhookConfigurationsDef } from './resources/registration.js';

function reviewError(err: unknown): never {
  if (err instanceof ReviewValidationError) {
    const errs: FieldError[] = err.causes.map((c) => ({ type: c.reason === 'FieldValueRequired' ? 'Required' : 'Invalid', field: c.field, detail: c.message, value: '' }));
    throw invalid(err.kind, 'authorization.k8s.io', '', errs);
  }
  throw err;
}

function reviewDefs(authorizer: Authorizer, rbac: RbacSource, tokenReviewer?: BearerTokenAuthenticator): ResourceDef[] {
  const base = { group: 'authorization.k8s.io', version: 'v1', verbs: ['create'], tracksGeneration: false };
  return [
    builtin({ ...base, resource: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', singular: 'selfsubjectaccessreview', namespaced: false,
      virtual: (o, ctx) => evaluateSelfSubjectAccessReview(authorizer, ctx.user, o as never).catch(reviewError) as unknown as Promise<KubeObject> }),
    builtin({ ...base, resource: 'selfsubjectrulesreviews', kind: 'SelfSubjectRulesReview', singular: 'selfsubjectrulesreview', namespaced: false,
      virtual: (o, ctx) => evaluateSelfSubjectRulesReview(rbac, ctx.user, o as never).catch(reviewError) as unknown as Promise<KubeObject> }),
    builtin({ ...base, resource: 'subjectaccessreviews', kind: 'SubjectAccessReview', singular: 'subjectaccessreview', namespaced: false,
      virtual: (o) => evaluateSubjectAccessReview(authorizer, o as never).catch(reviewError) as unknown as Promise<KubeObject> }),
    builtin({ ...base, resource: 'localsubjectaccessreviews', kind: 'LocalSubjectAccessReview', singular: 'localsubjectaccessreview', namespaced: true,
      virtual: (o, ctx) => evaluateLocalSubjectAccessReview(authorizer, ctx.namespace, o as never).catch(reviewError) as unknown as Promise<KubeObject> }),
    builtin({ group: 'authentication.k8s.io', version: 'v1', verbs: ['create'], tracksGeneration: false, resource: 'selfsubjectreviews', kind: 'SelfSubjectReview',
      singular: 'selfsubjectreview', namespaced: false, virtual: async (o, ctx) => evaluateSelfSubjectReview(ctx.user, o as never) as unknown as KubeObject }),
    ...(tokenReviewer ? [builtin({ group: 'authentication.k8s.io', version: 'v1', verbs: ['create'], tracksGeneration: false, resource: 'tokenreviews', kind: 'TokenReview',
      singular: 'tokenreview', namespaced: false, virtual: async (o) => evaluateTokenReview(tokenReviewer, o as never) as unknown as KubeObject })] : []),
  ];
}

export function registerBuiltins(registry: Registry, deps: { ips: ClusterIpAllocator; ports: NodePortAllocator; authorizer: Authorizer; rbac: RbacSource; tokenReviewer?: BearerTokenAuthenticator }): void {
  const reviews = reviewDefs(deps.authorizer, deps.rbac, deps.tokenReviewer);
  // Registration order is discovery's group order: upstream's, by the aggregator's group priorities (core, then
  // apiregistration 18000 … discovery 16200); within a group the first version registered is preferred.
  const defs: ResourceDef[] = [
    namespacesDef, nodesDef, podsDef, configMapsDef, secretsDef, servicesDef(deps.ips, deps.ports), endpointsDef, coreEventsDef, serviceAccountsDef,
    persistentVolumesDef, persistentVolumeClaimsDef, replicationControllersDef, resourceQuotasDef, limitRangesDef,
    apiServicesDef,
    deploymentsDef, replicaSetsDef, daemonSetsDef, statefulSetsDef,
    eventsV1Def,
    ...reviews.filter((d) => d.group === 'authentication.k8s.io'),
    ...reviews.filter((d) => d.group === 'authorization.k8s.io'),
    hpaV2Def, hpaV1Def,
    jobsDef, cronJobsDef,
    csrDef,
    ingressesDef, ingressClassesDef, networkPoliciesDef,
    podDisruptionBudgetsDef,
    rolesDef, roleBindingsDef, clusterRolesDef, clusterRoleBindingsDef,
    storageClassesDef, csiDriversDef, csiNodesDef, volumeAttachmentsDef,
    validatingWebhookConfigurationsDef, mutatingWebhookConfigurationsDef,
    crdDef,
    priorityClassesDef,
    leasesDef,
    runtimeClassesDef,
    endpointSlicesDef,
  ];
  for (const d of defs) registry.add(d);
}
