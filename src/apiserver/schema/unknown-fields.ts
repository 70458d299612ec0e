/**
 * Finds fields an object sets that its schema does not declare — the "unknown field" half of
 * `fieldValidation`. Paths are worded as upstream's strict JSON decoder words them:
 * `spec.containers[0].foo` (no leading dot, list indexes in brackets).
 *
 * Two schema sources: built-in kinds (client-node models) and custom resources (the CRD's
 * openAPIV3Schema, JSONSchemaProps). The CRD walker can also prune (remove) the fields, which is
 * what the API server does to custom resources before storing them.
 */
import { modelFields, modelNameForKind, type TypeRef } from './model-catalog.js';

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

function join(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`;
}

/** Unknown fields of a built-in object. Returns [] for kinds without a model (nothing to check against). */
export function unknownFieldsOfBuiltin(obj: Json, group: string, version: string, kind: string): string[] {
  const model = modelNameForKind(group, version, kind);
  if (!model) return [];
  const out: string[] = [];
  walkModel(obj, model, '', out, false);
  return out;
}

/** Unknown fields relative to a client-node model by name (e.g. `V1ObjectMeta`); `prune` removes them. */
export function unknownFieldsOfModel(obj: Json, model: string, basePath = '', prune = false): string[] {
  const out: string[] = [];
  walkModel(obj, model, basePath, out, prune);
  return out;
}

function walkModel(value: Json, model: string, path: string, out: string[], prune: boolean): void {
  if (!isObject(value)) return; // type mismatches are the validator's job, not ours
  const fields = modelFields(model);
  if (!fields) return;
  for (const key in value) {
    const f = fields.get(key);
    if (!f) {
      const childPath = join(path, key);
      out.push(childPath);
      if (prune) delete value[key];
      continue;
    }
    const child = value[key];
    // Scalars need no walk: skip building their path.
    if (child !== null && typeof child === 'object') walkType(child, f.type, join(path, key), out, prune);
  }
}

function walkType(value: Json, t: TypeRef, path: string, out: string[], prune: boolean): void {
  switch (t.kind) {
    case 'model':
      return walkModel(value, t.name, path, out, prune);
    case 'array':
      if (Array.isArray(value)) value.forEach((item, i) => walkType(item, t.items, `${path}[${i}]`, out, prune));
      return;
    case 'map':
      if (isObject(value)) for (const [k, v] of Object.entries(value)) walkType(v, t.values, join(path, k), out, prune);
      return;
    default:
      return;
  }
}

/** A structural schema node (CRD openAPIV3Schema / JSONSchemaProps), only the parts pruning needs. */
export interface StructuralSchema {
  type?: string;
  properties?: Record<string, StructuralSchema>;
  items?: StructuralSchema;
  additionalProperties?: StructuralSchema | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  allOf?: StructuralSchema[];
  anyOf?: StructuralSchema[];
  oneOf?: StructuralSchema[];
  [k: string]: unknown;
}

/**
 * Unknown fields of a custom resource, optionally removing them (pruning). `apiVersion`, `kind`
 * and `metadata` are always allowed at the root (and in embedded resources); metadata is checked
 * against ObjectMeta like a built-in.
 */
export function unknownFieldsOfCustomResource(obj: Json, schema: StructuralSchema, opts: { prune?: boolean } = {}): string[] {
  const out: string[] = [];
  walkStructural(obj, schema, '', out, opts.prune === true, true);
  return out;
}

function walkStructural(value: Json, s: StructuralSchema, path: string, out: string[], prune: boolean, isResourceRoot: boolean): void {
  if (Array.isArray(value)) {
    if (s.items) value.forEach((item, i) => walkStructural(item, s.items!, `${path}[${i}]`, out, prune, s.items!['x-kubernetes-embedded-resource'] === true));
    return;
  }
  if (!isObject(value)) return;
  const props = s.properties ?? {};
  const additional = s.additionalProperties;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  for (const key of Object.keys(value)) {
    const childPath = join(path, key);
    if (isResourceRoot && (key === 'apiVersion' || key === 'kind')) continue;
    if (isResourceRoot && key === 'metadata') {
      // ObjectMeta is fixed by the API server; the CRD may not redefine it beyond name/generateName (controller-gen
      // emits `metadata: {type: object}`, which upstream reads as ObjectMeta, not as an object with no fields).
      out.push(...unknownFieldsOfModel(value[key], 'V1ObjectMeta', childPath, prune));
      continue;
    }
    const childSchema = props[key] ?? (typeof additional === 'object' ? additional : undefined);
    if (childSchema) {
      walkStructural(value[key], childSchema, childPath, out, prune, childSchema['x-kubernetes-embedded-resource'] === true);
      continue;
    }
    if (preserve || additional === true) continue;
    out.push(childPath);
    if (prune) delete value[key];
  }
}
