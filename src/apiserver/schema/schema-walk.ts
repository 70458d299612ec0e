/**
 * Navigation over built-in type shapes for the patch algorithms: from a position (a model,
 * a map, a list) to a child field's type and its patch metadata.
 */
import { modelFields, modelNameForKind, type TypeRef } from './model-catalog.js';
import { fieldMeta, type FieldMeta } from './patch-meta.js';

export interface ChildType {
  type?: TypeRef;
  meta?: FieldMeta;
}

/** Root type of a built-in kind, or undefined when the kind has no model (custom resources). */
export function rootTypeOf(group: string, version: string, kind: string): TypeRef | undefined {
  const model = modelNameForKind(group, version, kind);
  return model ? { kind: 'model', name: model } : undefined;
}

/** Type and metadata of `key` inside a value of type `parent` (undefined type: unknown/free-form). */
export function childOf(parent: TypeRef | undefined, key: string): ChildType {
  if (!parent) return {};
  if (parent.kind === 'map') return { type: parent.values };
  if (parent.kind !== 'model') return {};
  const f = modelFields(parent.name)?.get(key);
  if (!f) return {};
  return { type: f.type, meta: fieldMeta(parent.name, key) };
}

/** Element type of a list type. */
export function itemsOf(t: TypeRef | undefined): TypeRef | undefined {
  return t?.kind === 'array' ? t.items : undefined;
}
