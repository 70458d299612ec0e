/**
 * Applies `default` values from a CRD's structural schema, as upstream does on create, update
 * and read: a property absent from an object whose schema declares a default gets a copy of it;
 * defaults are applied top-down so defaulted objects get their own nested defaults too.
 */
import type { StructuralSchema } from '../schema/unknown-fields.js';

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Mutates `value` in place; returns it for convenience. */
export function applyDefaults<T>(value: T, schema: StructuralSchema | undefined): T {
  if (!schema) return value;
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) applyDefaults(item, schema.items);
    return value;
  }
  if (!isObject(value)) return value;
  const obj: Obj = value;
  for (const [key, propSchema] of Object.entries(schema.properties ?? {})) {
    if (obj[key] === undefined && propSchema.default !== undefined) obj[key] = structuredClone(propSchema.default);
    // null for a non-nullable field with a default is defaulted too.
    else if (obj[key] === null && propSchema.default !== undefined && propSchema.nullable !== true) obj[key] = structuredClone(propSchema.default);
    if (obj[key] !== undefined) applyDefaults(obj[key], propSchema);
  }
  if (isObject(schema.additionalProperties)) {
    const extra = schema.additionalProperties;
    for (const [k, v] of Object.entries(obj)) if (!(schema.properties ?? {})[k]) applyDefaults(v, extra);
  }
  return value;
}
