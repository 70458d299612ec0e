/**
 * A uniform view of "what kind of node is this" for server-side apply, over both schema sources:
 * built-in kinds (client-node models + patch-meta) and custom resources (structural schemas).
 * Unknown positions are treated as granular maps with atomic lists, like upstream's deduced type.
 */
import { modelFields, type TypeRef } from '../model-catalog.js';
import { fieldMeta, isAtomicStruct, type FieldMeta } from '../patch-meta.js';
import type { StructuralSchema } from '../unknown-fields.js';

export type ListKind = { type: 'atomic' } | { type: 'set' } | { type: 'map'; keys: string[]; keyDefaults?: Record<string, unknown> };

export interface Shape {
  kind: 'struct' | 'map' | 'list' | 'scalar' | 'atomic' | 'unknown';
  child(key: string): Shape;
  /** Structs: whether the schema declares `key` (maps and free-form nodes accept any key). */
  declares?(key: string): boolean;
  item(): Shape;
  list?: ListKind;
}

const UNKNOWN: Shape = { kind: 'unknown', child: () => UNKNOWN, item: () => UNKNOWN, list: { type: 'atomic' } };
const SCALAR: Shape = { kind: 'scalar', child: () => UNKNOWN, item: () => UNKNOWN };

function listKindFromMeta(meta: FieldMeta | undefined): ListKind {
  if (!meta) return { type: 'atomic' };
  if (meta.listType === 'atomic') return { type: 'atomic' };
  if (meta.listType === 'set') return { type: 'set' };
  if (meta.listType === 'map' && meta.listMapKeys) return { type: 'map', keys: meta.listMapKeys, keyDefaults: meta.listMapKeyDefaults };
  if (meta.patchMergeKey) return { type: 'map', keys: [meta.patchMergeKey] };
  if ((meta.patchStrategy ?? '').includes('merge')) return { type: 'set' };
  return { type: 'atomic' };
}

/** Struct shapes per model, and their field shapes: built once (every write walks them). */
const structShapes = new Map<string, Shape>();

function structShape(name: string): Shape {
  let shape = structShapes.get(name);
  if (shape) return shape;
  if (isAtomicStruct(name)) shape = { kind: 'atomic', child: () => UNKNOWN, item: () => UNKNOWN };
  else {
    const children = new Map<string, Shape>();
    shape = {
      kind: 'struct',
      child: (key) => {
        let c = children.get(key);
        if (!c) {
          const f = modelFields(name)?.get(key);
          c = f ? builtinShape(f.type, fieldMeta(name, key)) : UNKNOWN;
          children.set(key, c);
        }
        return c;
      },
      declares: (key) => modelFields(name)?.has(key) ?? true,
      item: () => UNKNOWN,
    };
  }
  structShapes.set(name, shape);
  return shape;
}

export function builtinShape(t: TypeRef | undefined, meta?: FieldMeta): Shape {
  if (!t) return UNKNOWN;
  switch (t.kind) {
    case 'model':
      return structShape(t.name);
    case 'map': {
      const values = builtinShape(t.values);
      return { kind: 'map', child: () => values, item: () => UNKNOWN };
    }
    case 'array': {
      const items = builtinShape(t.items);
      return { kind: 'list', child: () => UNKNOWN, item: () => items, list: listKindFromMeta(meta) };
    }
    case 'primitive':
      return t.type === 'any' || t.type === 'object' ? UNKNOWN : SCALAR;
  }
}

export function structuralShape(s: StructuralSchema | undefined): Shape {
  if (!s) return UNKNOWN;
  if (s['x-kubernetes-int-or-string']) return SCALAR;
  const type = s.type;
  if (type === 'array') {
    const lt = s['x-kubernetes-list-type'] as string | undefined;
    const keys = s['x-kubernetes-list-map-keys'] as string[] | undefined;
    const list: ListKind = lt === 'set' ? { type: 'set' } : lt === 'map' && keys ? { type: 'map', keys } : { type: 'atomic' };
    return { kind: 'list', child: () => UNKNOWN, item: () => structuralShape(s.items), list };
  }
  if (type === 'object' || s.properties || s.additionalProperties) {
    if (s['x-kubernetes-map-type'] === 'atomic') return { kind: 'atomic', child: () => UNKNOWN, item: () => UNKNOWN };
    const props = s.properties ?? {};
    const additional = typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
    const open = s['x-kubernetes-preserve-unknown-fields'] === true || additional !== undefined || s.additionalProperties === true;
    return {
      kind: s.properties ? 'struct' : 'map',
      child: (key) => (props[key] ? structuralShape(props[key]) : additional ? structuralShape(additional) : UNKNOWN),
      declares: (key) => open || key in props || (s['x-kubernetes-embedded-resource'] === true && ['apiVersion', 'kind', 'metadata'].includes(key)),
      item: () => UNKNOWN,
    };
  }
  if (s['x-kubernetes-preserve-unknown-fields']) return UNKNOWN;
  return SCALAR;
}

/** Custom resources: the CRD schema for spec/status/…, ObjectMeta for metadata. */
export function customResourceShape(schema: StructuralSchema): Shape {
  const body = structuralShape(schema);
  const meta = builtinShape({ kind: 'model', name: 'V1ObjectMeta' });
  return {
    kind: 'struct',
    child: (key) => (key === 'metadata' ? meta : body.child(key)),
    declares: (key) => key === 'apiVersion' || key === 'kind' || key === 'metadata' || (body.declares?.(key) ?? true),
    item: () => UNKNOWN,
  };
}
