/**
 * Field numbers of the Kubernetes protobuf messages kubectl's typed clients send (from k8s.io/api and
 * k8s.io/apimachinery generated.proto). Kinds: string, bytes (→ base64, as JSON has it), int, bool, time,
 * quantity, intorstring, raw (RawExtension), extravalue (authentication's ExtraValue → string list), map:<kind>, or another message name; `[]` = repeated, `?` = pointer
 * (zero value kept), or `computed`: a review's status, which the server computes and never reads from the request
 * (as upstream), so its content is not decoded. Types and fields not listed here are refused with a 400 naming them.
 */
export type FieldSpec = [name: string, kind: string];
type Msg = Record<number, FieldSpec>;

const objectMeta: Msg = {
  1: ['name', 'string'], 2: ['generateName', 'string'], 3: ['namespace', 'string'], 4: ['selfLink', 'string'], 5: ['uid', 'string'], 6: ['resourceVersion', 'string'],
  7: ['generation', 'int'], 8: ['creationTimestamp', 'time'], 9: ['deletionTimestamp', 'time'], 10: ['deletionGracePeriodSeconds', 'int?'],
  11: ['labels', 'map:string'], 12: ['annotations', 'map:string'], 13: ['ownerReferences', '[]OwnerReference'], 14: ['finalizers', '[]string'],
  17: ['managedFields', '[]ManagedFieldsEntry'],
};

export const MESSAGES: Record<string, Msg> = {
  ObjectMeta: objectMeta,
  // Sent back by kubectl when it writes an object it read (certificate approve|deny); fieldsV1 is JSON bytes.
  ManagedFieldsEntry: {
    1: ['manager', 'string'], 2: ['operation', 'string'], 3: ['apiVersion', 'string'], 4: ['time', 'time'], 6: ['fieldsType', 'string'],
    7: ['fieldsV1', 'raw'], 8: ['subresource', 'string'],
  },
  OwnerReference: { 1: ['kind', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'], 5: ['apiVersion', 'string'], 6: ['controller', 'bool?'], 7: ['blockOwnerDeletion', 'bool?'] },
  LabelSelector: { 1: ['matchLabels', 'map:string'], 2: ['matchExpressions', '[]LabelSelectorRequirement'] },
  LabelSelectorRequirement: { 1: ['key', 'string'], 2: ['operator', 'string'], 3: ['values', '[]string'] },

  Namespace: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'NamespaceSpec'], 3: ['status', 'NamespaceStatus'] },
  NamespaceSpec: { 1: ['finalizers', '[]string'] },
  NamespaceStatus: { 1: ['phase', 'string'] },
  ConfigMap: { 1: ['metadata', 'ObjectMeta'], 2: ['data', 'map:string'], 3: ['binaryData', 'map:bytes'], 4: ['immutable', 'bool?'] },
  Secret: { 1: ['metadata', 'ObjectMeta'], 2: ['data', 'map:bytes'], 3: ['type', 'string'], 4: ['stringData', 'map:string'], 5: ['immutable', 'bool?'] },
  ServiceAccount: { 1: ['metadata', 'ObjectMeta'], 2: ['secrets', '[]ObjectReference'], 3: ['imagePullSecrets', '[]LocalObjectReference'], 4: ['automountServiceAccountToken', 'bool?'] },
  ObjectReference: { 1: ['kind', 'string'], 2: ['namespace', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'], 5: ['apiVersion', 'string'], 6: ['resourceVersion', 'string'], 7: ['fieldPath', 'string'] },
  LocalObjectReference: { 1: ['name', 'string'] },

  Service: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'ServiceSpec'], 3: ['status', 'Empty'] },
  ServiceSpec: {
    1: ['ports', '[]ServicePort'], 2: ['selector', 'map:string'], 3: ['clusterIP', 'string'], 4: ['type', 'string'], 5: ['externalIPs', '[]string'],
    7: ['sessionAffinity', 'string'], 8: ['loadBalancerIP', 'string'], 9: ['loadBalancerSourceRanges', '[]string'], 10: ['externalName', 'string'],
    11: ['externalTrafficPolicy', 'string'], 12: ['healthCheckNodePort', 'int'], 13: ['publishNotReadyAddresses', 'bool'],
    17: ['ipFamilyPolicy', 'string'], 18: ['clusterIPs', '[]string'], 19: ['ipFamilies', '[]string'], 20: ['allocateLoadBalancerNodePorts', 'bool?'],
    21: ['loadBalancerClass', 'string'], 22: ['internalTrafficPolicy', 'string'],
  },
  ServicePort: { 1: ['name', 'string'], 2: ['protocol', 'string'], 3: ['port', 'int'], 4: ['targetPort', 'intorstring'], 5: ['nodePort', 'int'], 6: ['appProtocol', 'string'] },
  Empty: {},

  Deployment: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'DeploymentSpec'], 3: ['status', 'Empty'] },
  DeploymentSpec: {
    1: ['replicas', 'int?'], 2: ['selector', 'LabelSelector'], 3: ['template', 'PodTemplateSpec'], 4: ['strategy', 'DeploymentStrategy'],
    5: ['minReadySeconds', 'int'], 6: ['revisionHistoryLimit', 'int?'], 7: ['paused', 'bool'], 9: ['progressDeadlineSeconds', 'int?'],
  },
  DeploymentStrategy: { 1: ['type', 'string'], 2: ['rollingUpdate', 'RollingUpdateDeployment'] },
  RollingUpdateDeployment: { 1: ['maxUnavailable', 'intorstring'], 2: ['maxSurge', 'intorstring'] },
  PodTemplateSpec: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'PodSpec'] },
  PodSpec: {
    1: ['volumes', '[]Volume'], 2: ['containers', '[]Container'], 3: ['restartPolicy', 'string'], 4: ['terminationGracePeriodSeconds', 'int?'],
    5: ['activeDeadlineSeconds', 'int?'], 6: ['dnsPolicy', 'string'], 7: ['nodeSelector', 'map:string'], 8: ['serviceAccountName', 'string'],
    9: ['serviceAccount', 'string'], 10: ['nodeName', 'string'], 11: ['hostNetwork', 'bool'], 12: ['hostPID', 'bool'], 13: ['hostIPC', 'bool'],
    15: ['imagePullSecrets', '[]LocalObjectReference'], 16: ['hostname', 'string'], 17: ['subdomain', 'string'], 19: ['schedulerName', 'string'],
    20: ['initContainers', '[]Container'], 21: ['automountServiceAccountToken', 'bool?'], 22: ['tolerations', '[]Toleration'],
    24: ['priorityClassName', 'string'], 25: ['priority', 'int?'], 29: ['runtimeClassName', 'string?'], 30: ['enableServiceLinks', 'bool?'],
  },
  Container: {
    1: ['name', 'string'], 2: ['image', 'string'], 3: ['command', '[]string'], 4: ['args', '[]string'], 5: ['workingDir', 'string'],
    6: ['ports', '[]ContainerPort'], 7: ['env', '[]EnvVar'], 8: ['resources', 'ResourceRequirements?'], 9: ['volumeMounts', '[]VolumeMount'],
    13: ['terminationMessagePath', 'string'], 14: ['imagePullPolicy', 'string'], 16: ['stdin', 'bool'], 17: ['stdinOnce', 'bool'], 18: ['tty', 'bool'],
    20: ['terminationMessagePolicy', 'string'], 24: ['restartPolicy', 'string?'],
  },
  ContainerPort: { 1: ['name', 'string'], 2: ['hostPort', 'int'], 3: ['containerPort', 'int'], 4: ['protocol', 'string'], 5: ['hostIP', 'string'] },
  EnvVar: { 1: ['name', 'string'], 2: ['value', 'string'] },
  VolumeMount: { 1: ['name', 'string'], 2: ['readOnly', 'bool'], 3: ['mountPath', 'string'], 4: ['subPath', 'string'] },
  Volume: { 1: ['name', 'string'] },
  ResourceRequirements: { 1: ['limits', 'map:quantity'], 2: ['requests', 'map:quantity'] },
  Toleration: { 1: ['key', 'string'], 2: ['operator', 'string'], 3: ['value', 'string'], 4: ['effect', 'string'], 5: ['tolerationSeconds', 'int?'] },

  Job: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'JobSpec'], 3: ['status', 'Empty'] },
  JobSpec: {
    1: ['parallelism', 'int?'], 2: ['completions', 'int?'], 3: ['activeDeadlineSeconds', 'int?'], 4: ['selector', 'LabelSelector'],
    5: ['manualSelector', 'bool?'], 6: ['template', 'PodTemplateSpec'], 7: ['backoffLimit', 'int?'], 8: ['ttlSecondsAfterFinished', 'int?'],
    9: ['completionMode', 'string?'], 10: ['suspend', 'bool?'],
  },

  // kubectl create cronjob (batch/v1).
  CronJob: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'CronJobSpec'], 3: ['status', 'Empty'] },
  CronJobSpec: {
    1: ['schedule', 'string'], 2: ['startingDeadlineSeconds', 'int?'], 3: ['concurrencyPolicy', 'string'], 4: ['suspend', 'bool?'], 5: ['jobTemplate', 'JobTemplateSpec'],
    6: ['successfulJobsHistoryLimit', 'int?'], 7: ['failedJobsHistoryLimit', 'int?'], 8: ['timeZone', 'string?'],
  },
  JobTemplateSpec: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'JobSpec'] },
  // kubectl create ingress (networking.k8s.io/v1). IngressRule's ingressRuleValue is inlined in JSON.
  Ingress: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'IngressSpec'], 3: ['status', 'Empty'] },
  IngressSpec: { 1: ['defaultBackend', 'IngressBackend'], 2: ['tls', '[]IngressTLS'], 3: ['rules', '[]IngressRule'], 4: ['ingressClassName', 'string?'] },
  IngressBackend: { 3: ['resource', 'TypedLocalObjectReference'], 4: ['service', 'IngressServiceBackend'] },
  IngressServiceBackend: { 1: ['name', 'string'], 2: ['port', 'ServiceBackendPort'] },
  ServiceBackendPort: { 1: ['name', 'string'], 2: ['number', 'int'] },
  TypedLocalObjectReference: { 1: ['apiGroup', 'string?'], 2: ['kind', 'string'], 3: ['name', 'string'] },
  IngressTLS: { 1: ['hosts', '[]string'], 2: ['secretName', 'string'] },
  IngressRule: { 1: ['host', 'string'], 2: ['', 'inline:IngressRuleValue'] },
  IngressRuleValue: { 1: ['http', 'HTTPIngressRuleValue'] },
  HTTPIngressRuleValue: { 1: ['paths', '[]HTTPIngressPath'] },
  HTTPIngressPath: { 1: ['path', 'string'], 2: ['backend', 'IngressBackend'], 3: ['pathType', 'string?'] },
  // kubectl create poddisruptionbudget (policy/v1).
  PodDisruptionBudget: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'PodDisruptionBudgetSpec'], 3: ['status', 'Empty'] },
  PodDisruptionBudgetSpec: { 1: ['minAvailable', 'intorstring'], 2: ['selector', 'LabelSelector'], 3: ['maxUnavailable', 'intorstring'], 4: ['unhealthyPodEvictionPolicy', 'string?'] },
  // kubectl autoscale (autoscaling/v1).
  HorizontalPodAutoscaler: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'HorizontalPodAutoscalerSpec'], 3: ['status', 'Empty'] },
  HorizontalPodAutoscalerSpec: { 1: ['scaleTargetRef', 'CrossVersionObjectReference'], 2: ['minReplicas', 'int?'], 3: ['maxReplicas', 'int'], 4: ['targetCPUUtilizationPercentage', 'int?'] },
  CrossVersionObjectReference: { 1: ['kind', 'string'], 2: ['name', 'string'], 3: ['apiVersion', 'string'] },

  Role: { 1: ['metadata', 'ObjectMeta'], 2: ['rules', '[]PolicyRule'] },
  ClusterRole: { 1: ['metadata', 'ObjectMeta'], 2: ['rules', '[]PolicyRule'], 3: ['aggregationRule', 'AggregationRule'] },
  AggregationRule: { 1: ['clusterRoleSelectors', '[]LabelSelector'] },
  PolicyRule: { 1: ['verbs', '[]string'], 2: ['apiGroups', '[]string'], 3: ['resources', '[]string'], 4: ['resourceNames', '[]string'], 5: ['nonResourceURLs', '[]string'] },
  RoleBinding: { 1: ['metadata', 'ObjectMeta'], 2: ['subjects', '[]Subject'], 3: ['roleRef', 'RoleRef'] },
  ClusterRoleBinding: { 1: ['metadata', 'ObjectMeta'], 2: ['subjects', '[]Subject'], 3: ['roleRef', 'RoleRef'] },
  Subject: { 1: ['kind', 'string'], 2: ['apiGroup', 'string'], 3: ['name', 'string'], 4: ['namespace', 'string'] },
  RoleRef: { 1: ['apiGroup', 'string'], 2: ['kind', 'string'], 3: ['name', 'string'] },

  SelfSubjectAccessReview: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'SelfSubjectAccessReviewSpec'], 3: ['status', 'computed'] },
  SelfSubjectAccessReviewSpec: { 1: ['resourceAttributes', 'ResourceAttributes'], 2: ['nonResourceAttributes', 'NonResourceAttributes'] },
  ResourceAttributes: { 1: ['namespace', 'string'], 2: ['verb', 'string'], 3: ['group', 'string'], 4: ['version', 'string'], 5: ['resource', 'string'], 6: ['subresource', 'string'], 7: ['name', 'string'] },
  NonResourceAttributes: { 1: ['path', 'string'], 2: ['verb', 'string'] },
  SelfSubjectRulesReview: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'SelfSubjectRulesReviewSpec'], 3: ['status', 'computed'] },
  SelfSubjectRulesReviewSpec: { 1: ['namespace', 'string'] },
  SubjectAccessReview: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'SubjectAccessReviewSpec'], 3: ['status', 'computed'] },
  LocalSubjectAccessReview: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'SubjectAccessReviewSpec'], 3: ['status', 'computed'] },
  // kubectl auth whoami (authentication.k8s.io/v1): only metadata is sent.
  SelfSubjectReview: { 1: ['metadata', 'ObjectMeta'], 2: ['status', 'computed'] },
  // kubectl certificate approve|deny (certificates.k8s.io/v1, approval subresource).
  CertificateSigningRequest: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'CertificateSigningRequestSpec'], 3: ['status', 'CertificateSigningRequestStatus'] },
  CertificateSigningRequestSpec: {
    1: ['request', 'bytes'], 2: ['username', 'string'], 3: ['uid', 'string'], 4: ['groups', '[]string'], 5: ['usages', '[]string'],
    6: ['extra', 'map:extravalue'], 7: ['signerName', 'string'], 8: ['expirationSeconds', 'int?'],
  },
  CertificateSigningRequestStatus: { 1: ['conditions', '[]CertificateSigningRequestCondition'], 2: ['certificate', 'bytes'] },
  CertificateSigningRequestCondition: {
    1: ['type', 'string'], 2: ['reason', 'string'], 3: ['message', 'string'], 4: ['lastUpdateTime', 'time'], 5: ['lastTransitionTime', 'time'], 6: ['status', 'string'],
  },
  TokenReview: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'TokenReviewSpec'], 3: ['status', 'computed'] },
  TokenReviewSpec: { 1: ['token', 'string'], 2: ['audiences', '[]string'] },
  // kubectl create token (serviceaccounts/token).
  TokenRequest: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'TokenRequestSpec'], 3: ['status', 'computed'] },
  TokenRequestSpec: { 1: ['audiences', '[]string'], 3: ['boundObjectRef', 'BoundObjectReference'], 4: ['expirationSeconds', 'int?'] },
  BoundObjectReference: { 1: ['kind', 'string'], 2: ['apiVersion', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'] },
  SubjectAccessReviewSpec: { 1: ['resourceAttributes', 'ResourceAttributes'], 2: ['nonResourceAttributes', 'NonResourceAttributes'], 3: ['user', 'string'], 4: ['groups', '[]string'], 5: ['extra', 'map:extravalue'], 6: ['uid', 'string'] },

  Lease: { 1: ['metadata', 'ObjectMeta'], 2: ['spec', 'LeaseSpec'] },
  LeaseSpec: { 1: ['holderIdentity', 'string?'], 2: ['leaseDurationSeconds', 'int?'], 3: ['acquireTime', 'microtime'], 4: ['renewTime', 'microtime'], 5: ['leaseTransitions', 'int?'] },
  DeleteOptions: {
    1: ['gracePeriodSeconds', 'int?'], 2: ['preconditions', 'Preconditions'], 3: ['orphanDependents', 'bool?'], 4: ['propagationPolicy', 'string?'],
    5: ['dryRun', '[]string'], 6: ['ignoreStoreReadErrorWithClusterBreakingPotential', 'bool?'],
  },
  Preconditions: { 1: ['uid', 'string?'], 2: ['resourceVersion', 'string?'] },
  // kubectl drain (policy/v1 pods/eviction).
  Eviction: { 1: ['metadata', 'ObjectMeta'], 2: ['deleteOptions', 'DeleteOptions'] },
};
MESSAGES.LeaseSpec![3] = ['acquireTime', 'time'];
MESSAGES.LeaseSpec![4] = ['renewTime', 'time'];

/** Which message a (apiVersion, kind) body holds; undefined when we have no schema for it. */
export function messageForKind(apiVersion: string, kind: string): string | undefined {
  if (kind === 'DeleteOptions') return 'DeleteOptions';
  // Only autoscaling/v1's shape is known (kubectl autoscale); v2's differs under the same kind name.
  if (kind === 'HorizontalPodAutoscaler' && apiVersion !== 'autoscaling/v1') return undefined;
  return MESSAGES[kind] && kind !== 'ObjectMeta' ? kind : undefined;
}
