/**
 * Turns unknown/duplicate field findings into what the API server does for each
 * `fieldValidation` directive (kubectl 1.32 sends Strict on create/apply/patch/replace):
 * - Strict: 400 BadRequest, message `strict decoding error: unknown field "spec.foo", duplicate field "x"`
 *   (for create/update of built-ins upstream prefixes `Pod in version "v1" cannot be handled as a Pod: `).
 * - Warn (upstream default when the parameter is absent): succeed, one `Warning` header per field.
 * - Ignore: succeed silently.
 */
import { unknownFieldsOfBuiltin, unknownFieldsOfCustomResource, unknownFieldsOfModel, type StructuralSchema } from './unknown-fields.js';
import { modelNameForKind } from './model-catalog.js';

export type FieldValidationDirective = 'Strict' | 'Warn' | 'Ignore';

export interface FieldFindings {
  /** Dotted paths from unknownFieldsOf*(). */
  unknown: string[];
  /** JSON: dotted paths from duplicateFieldsInJson(). */
  duplicateJson?: string[];
  /** YAML: `line N: key "k" already set in map` from duplicateFieldsInYaml(). */
  duplicateYaml?: string[];
}

export interface FieldValidationOutcome {
  /** Set when the request must fail with 400 BadRequest; use as the Status message. */
  error?: string;
  /** Texts for `Warning: 299 - "<text>"` response headers. */
  warnings: string[];
}

/**
 * Parse the query parameter. An invalid value is a 422 Invalid on the options object, as upstream:
 * `CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "x": supported values: "Ignore", "Strict", "Warn"`.
 * `optionsKind` is CreateOptions, UpdateOptions or PatchOptions.
 */
export function parseFieldValidation(value: string | null | undefined, optionsKind = 'CreateOptions'):
  { directive: FieldValidationDirective } | { invalid: { message: string; group: string; kind: string; name: string; causes: Array<{ reason: string; message: string; field: string }> } } {
  if (value === null || value === undefined || value === '') return { directive: 'Warn' };
  if (value === 'Strict' || value === 'Warn' || value === 'Ignore') return { directive: value };
  const detail = `Unsupported value: ${JSON.stringify(value)}: supported values: "Ignore", "Strict", "Warn"`;
  return {
    invalid: {
      message: `${optionsKind}.meta.k8s.io "" is invalid: fieldValidation: ${detail}`,
      group: 'meta.k8s.io', kind: optionsKind, name: '',
      causes: [{ reason: 'FieldValueNotSupported', message: detail, field: 'fieldValidation' }],
    },
  };
}

function findingTexts(f: FieldFindings): string[] {
  const texts = f.unknown.map((p) => `unknown field ${JSON.stringify(p)}`);
  for (const d of f.duplicateJson ?? []) texts.push(`duplicate field ${JSON.stringify(d)}`);
  return texts;
}

/**
 * Decide the outcome. `decodeContext` (kind + version) adds upstream's
 * `<Kind> in version "<v>" cannot be handled as a <Kind>: ` prefix used when decoding a create/update body.
 */
export function fieldValidationOutcome(
  directive: FieldValidationDirective, findings: FieldFindings, decodeContext?: { kind: string; version: string },
): FieldValidationOutcome {
  if (directive === 'Ignore') return { warnings: [] };
  const texts = findingTexts(findings);
  const yaml = findings.duplicateYaml ?? [];
  if (directive === 'Warn') return { warnings: [...texts, ...yaml] };
  if (texts.length === 0 && yaml.length === 0) return { warnings: [] };
  const parts: string[] = [];
  if (yaml.length) parts.push(`yaml: unmarshal errors:\n${yaml.map((y) => `  ${y}`).join('\n')}`);
  parts.push(...texts);
  let message = `strict decoding error: ${parts.join(', ')}`;
  if (decodeContext) message = `${decodeContext.kind} in version ${JSON.stringify(decodeContext.version)} cannot be handled as a ${decodeContext.kind}: ${message}`;
  return { error: message, warnings: [] };
}


/**
 * One-call form for the request pipeline: the `unknown field "…"` findings for an object of a
 * served resource — built-in kinds by their client-node model, custom resources by their schema.
 */
export function unknownFieldProblems(resource: { group: string; version: string; kind: string; openAPIV3Schema?: unknown }, obj: unknown): string[] {
  const paths = resource.openAPIV3Schema
    ? unknownFieldsOfCustomResource(structuredClone(obj), resource.openAPIV3Schema as StructuralSchema)
    : unknownFieldsOfBuiltin(obj, resource.group, resource.version, resource.kind);
  return paths.map((p) => `unknown field ${JSON.stringify(p)}`);
}

/**
 * Remove fields the schema does not declare (upstream never stores them: built-ins are decoded
 * into typed structs, custom resources are pruned). Call on every create/update body after field
 * validation, whatever the directive. Returns the removed paths.
 */
export function pruneUnknownFields(resource: { group: string; version: string; kind: string; openAPIV3Schema?: unknown }, obj: unknown): string[] {
  if (resource.openAPIV3Schema) return unknownFieldsOfCustomResource(obj, resource.openAPIV3Schema as StructuralSchema, { prune: true });
  const model = modelNameForKind(resource.group, resource.version, resource.kind);
  return model ? unknownFieldsOfModel(obj, model, '', true) : [];
}
