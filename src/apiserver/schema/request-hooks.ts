/**
 * The schema package as request-pipeline steps, for the API server's handler: each takes the
 * registry's resource description and throws the upstream `Status` errors itself, so the
 * integration is one call per write path.
 */
import type { V1Status } from '@kubernetes/client-node';
import { StatusError, badRequest } from '../../apimachinery/status.js';
import type { KubeObject } from '../../apimachinery/object.js';
import {
  ApplyBadRequestError, ApplyConflictError, applyUnknownFieldsMessage, dropUndeclaredFields, serverSideApply,
  undeclaredApplyFields, updateManagedFields, type ResourceTarget,
} from './apply/server-side-apply.js';
import type { FieldValidationDirective } from './field-validation.js';
import type { StructuralSchema } from './unknown-fields.js';

/** What the pipeline knows about the resource (a registry ResourceDef fits). */
export interface SchemaResource {
  group: string;
  version: string;
  kind: string;
  subresources?: string[];
  openAPIV3Schema?: unknown;
}

export function targetOf(def: SchemaResource): ResourceTarget {
  return {
    group: def.group, version: def.version, kind: def.kind,
    hasStatusSubresource: def.subresources?.includes('status') ?? false,
    ...(def.openAPIV3Schema ? { schema: def.openAPIV3Schema as StructuralSchema } : {}),
  };
}

function conflictStatus(e: ApplyConflictError): StatusError {
  const status: V1Status = {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: e.message, reason: 'Conflict', code: 409,
    details: { causes: e.causes },
  };
  return new StatusError(status);
}

export interface ApplyStepOptions {
  manager: string;
  force: boolean;
  /** '' for the main resource. */
  subresource: string;
  fieldValidation: FieldValidationDirective;
  namespace: string;
}

/**
 * `PATCH` with `application/apply-patch+yaml`: `live` is the current object or undefined (create
 * on apply). Returns the object to store and the texts for `Warning` headers. Throws StatusError:
 * 400 for undeclared fields under Strict or unusable configurations, 409 for conflicts.
 */
export function applyStep(def: SchemaResource, live: KubeObject | undefined, body: unknown, o: ApplyStepOptions): { obj: KubeObject; warnings: string[] } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('invalid object: the apply configuration must be an object');
  const target = targetOf(def);
  const applied = structuredClone(body) as Record<string, unknown>;
  let warnings: string[] = [];
  const undeclared = undeclaredApplyFields(applied, target);
  if (undeclared.length) {
    if (o.fieldValidation === 'Strict') throw badRequest(applyUnknownFieldsMessage(applied, target, undeclared, o.namespace));
    const dropped = dropUndeclaredFields(applied, target);
    if (o.fieldValidation === 'Warn') warnings = dropped.map((p) => `unknown field ${JSON.stringify(p.replace(/^\./, ''))}`);
  }
  try {
    const obj = serverSideApply({ live: live as Record<string, unknown> | undefined, applied, manager: o.manager, force: o.force, target, subresource: o.subresource || undefined });
    return { obj: obj as KubeObject, warnings };
  } catch (err) {
    if (err instanceof ApplyConflictError) throw conflictStatus(err);
    if (err instanceof ApplyBadRequestError) throw badRequest(err.message);
    throw err;
  }
}

/**
 * Every other write (create, update, JSON/merge/strategic patch, subresources): record the
 * manager's ownership in `updated.metadata.managedFields` (mutates and returns `updated`).
 */
export function managedFieldsStep(def: SchemaResource, old: KubeObject | undefined, updated: KubeObject, o: { manager: string; subresource: string }): KubeObject {
  return updateManagedFields({
    old: old as Record<string, unknown> | undefined, updated: updated as Record<string, unknown>, manager: o.manager,
    target: targetOf(def), subresource: o.subresource || undefined,
  }) as KubeObject;
}
