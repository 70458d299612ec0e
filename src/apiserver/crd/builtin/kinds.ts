/**
 * Built-in CustomResourceDefinitions: API kinds Kedge serves out of the box (OpenYurt's apps.openyurt.io,
 * SuperEdge's superedge.io) as ordinary CRDs, so `kubectl get crd`, discovery, OpenAPI, schema validation and
 * printer columns work as for any CRD, and a user who applies the project's own CRD manifest changes nothing
 * that matters. What a CRD alone cannot express lives beside it, keyed by group/kind: version conversion (what
 * upstream delegates to a conversion webhook) and the admission rules the project enforces in its webhooks.
 */
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import type { KubeObject } from '../../../apimachinery/object.js';
import type { FieldError } from '../../../apimachinery/status.js';

export type Crd = V1CustomResourceDefinition;

/** Behaviour of one built-in kind beyond its CRD. Every hook sees objects in the storage version's shape. */
export interface BuiltinKind {
  crd: Crd;
  /** Convert an object (of any served version) to `toVersion` (a version name such as "v1beta1"). */
  convert?(obj: KubeObject, toVersion: string): KubeObject;
  /** Defaults the project's defaulting webhook applies (after schema defaults). */
  defaults?(obj: KubeObject): void;
  /** The project's validating webhook, on create. */
  validate?(obj: KubeObject): FieldError[];
  /** The project's validating webhook, on update (main resource; status writes are not checked). */
  validateUpdate?(obj: KubeObject, old: KubeObject): FieldError[];
  /** Refuse a deletion with a StatusError (the project's delete webhook). */
  beforeDelete?(obj: KubeObject): void;
}

export function storageVersionOf(crd: Crd): string {
  return crd.spec.versions.find((v) => v.storage)?.name ?? crd.spec.versions[0]!.name;
}

/** The version name of an apiVersion ("apps.openyurt.io/v1beta1" → "v1beta1"). */
export function versionOf(obj: KubeObject): string {
  const av = obj.apiVersion ?? '';
  return av.slice(av.lastIndexOf('/') + 1);
}

/** Small builders for the structural schemas below (all built-in CRDs are structural, as upstream requires). */
export const s = {
  str: (extra: Record<string, unknown> = {}) => ({ type: 'string', ...extra }),
  int: (extra: Record<string, unknown> = {}) => ({ type: 'integer', format: 'int32', ...extra }),
  int64: () => ({ type: 'integer', format: 'int64' }),
  bool: () => ({ type: 'boolean' }),
  strMap: () => ({ type: 'object', additionalProperties: { type: 'string' } }),
  arr: (items: object) => ({ type: 'array', items }),
  obj: (properties: Record<string, object>, extra: Record<string, unknown> = {}) => ({ type: 'object', properties, ...extra }),
  /** Embedded Kubernetes types (a Deployment spec, a Service spec): kept whole, validated when the workload is created. */
  free: () => ({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }),
  /** Any JSON value (JSON patch values). */
  anyValue: () => ({ 'x-kubernetes-preserve-unknown-fields': true }),
  labelSelector: () => ({
    type: 'object',
    properties: {
      matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
      matchExpressions: {
        type: 'array',
        items: { type: 'object', required: ['key', 'operator'], properties: { key: { type: 'string' }, operator: { type: 'string' }, values: { type: 'array', items: { type: 'string' } } } },
      },
    },
    'x-kubernetes-map-type': 'atomic',
  }),
  taint: () => ({
    type: 'object', required: ['effect', 'key'],
    properties: { key: { type: 'string' }, value: { type: 'string' }, effect: { type: 'string' }, timeAdded: { type: 'string', format: 'date-time' } },
  }),
  condition: () => ({
    type: 'object',
    properties: {
      type: { type: 'string' }, status: { type: 'string' }, lastTransitionTime: { type: 'string', format: 'date-time' },
      reason: { type: 'string' }, message: { type: 'string' },
    },
  }),
  /** The apiVersion/kind/metadata envelope every CRD schema carries. */
  root: (spec: object, status?: object) => ({
    type: 'object',
    properties: {
      apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' },
      spec, ...(status ? { status } : {}),
    },
  }),
};

export const ageColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
