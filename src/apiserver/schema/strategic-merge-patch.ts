/**
 * Strategic merge patch (`application/strategic-merge-patch+json`) for built-in types, as
 * kubectl apply/edit/patch produce it: lists with a patch merge key merge element-wise, lists of
 * primitives with strategy `merge` merge as sets, other lists are replaced; `null` deletes a
 * field; directives `$patch: replace|delete|merge`, `$retainKeys`, `$setElementOrder/<list>`,
 * `$deleteFromPrimitiveList/<list>`.
 */
import { childOf, itemsOf, rootTypeOf } from './schema-walk.js';
import type { TypeRef } from './model-catalog.js';
import type { FieldMeta } from './patch-meta.js';

type Json = unknown;
type JsonMap = Record<string, Json>;
const isMap = (v: Json): v is JsonMap => typeof v === 'object' && v !== null && !Array.isArray(v);

const PATCH = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

/** A patch the server cannot apply; upstream answers these with 400 BadRequest (message as given). */
export class StrategicMergePatchError extends Error {
  readonly code = 400;
}

/** Whether a kind can take strategic merge patches (built-ins only; CRs get 415 upstream). */
export function supportsStrategicMergePatch(group: string, version: string, kind: string): boolean {
  return rootTypeOf(group, version, kind) !== undefined;
}

/**
 * Apply `patch` to `original` (not mutated) for the given built-in kind. Throws
 * StrategicMergePatchError for malformed patches.
 */
export function strategicMergePatch(original: Json, patch: Json, gvk: { group: string; version: string; kind: string }): JsonMap {
  if (!isMap(patch)) throw new StrategicMergePatchError('invalid JSON document');
  const root = rootTypeOf(gvk.group, gvk.version, gvk.kind);
  const result = mergeMap(isMap(original) ? structuredClone(original) : {}, patch, root);
  return result ?? {};
}

/**
 * Keys of a patch are data, never property paths: `__proto__` (an own key after JSON.parse) read as `original[key]`
 * was Object.prototype, and merging into it polluted every object of the API server (found by fuzzing: a later
 * request crashed the process in prom-client's label check). Reads see own keys only; writes define own keys.
 */
function own(m: JsonMap, key: string): Json | undefined {
  return Object.hasOwn(m, key) ? m[key] : undefined;
}
function setOwn(m: JsonMap, key: string, value: Json): void {
  if (key === '__proto__') Object.defineProperty(m, key, { value, writable: true, enumerable: true, configurable: true });
  else m[key] = value;
}

/** Merge a patch map into an original map (owned, may be mutated); undefined means "delete this map". */
function mergeMap(original: JsonMap, patch: JsonMap, type: TypeRef | undefined): JsonMap | undefined {
  const directive = patch[PATCH];
  if (directive !== undefined) {
    if (directive === 'delete') return undefined;
    if (directive === 'replace') return stripDirectives(withoutKey(patch, PATCH), type) as JsonMap;
    if (directive !== 'merge') throw new StrategicMergePatchError(`Unknown patch type: ${String(directive)} in map: ${JSON.stringify(patch)}`);
  }
  const retain = patch[RETAIN_KEYS];
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw new StrategicMergePatchError('invalid patch: $retainKeys must be a list');
    const keep = new Set(retain.map(String));
    for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key === PATCH || key === RETAIN_KEYS || key.startsWith(SET_ORDER) || key.startsWith(DELETE_PRIMITIVE)) continue;
    const child = childOf(type, key);
    if (value === null) {
      delete original[key];
      continue;
    }
    if (isMap(value)) {
      const current = own(original, key);
      const merged = mergeMap(isMap(current) ? current : {}, value, child.type);
      if (merged === undefined) delete original[key];
      else setOwn(original, key, merged);
      continue;
    }
    if (Array.isArray(value)) {
      // (absent keys stay undefined, as before: mergeListField tells absent from null)
      setOwn(original, key, mergeListField(own(original, key) as Json, value, child.type, child.meta, own(patch, SET_ORDER + key) as Json, own(patch, DELETE_PRIMITIVE + key) as Json));
      continue;
    }
    setOwn(original, key, value);
  }
  // Directives for lists the patch does not otherwise mention.
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith(DELETE_PRIMITIVE)) {
      const field = key.slice(DELETE_PRIMITIVE.length);
      if (Object.hasOwn(patch, field)) continue;
      if (!Array.isArray(value)) throw new StrategicMergePatchError(`invalid patch: ${key} must be a list`);
      const current = own(original, field);
      if (Array.isArray(current)) setOwn(original, field, current.filter((v) => !value.some((d) => d === v)));
    } else if (key.startsWith(SET_ORDER)) {
      const field = key.slice(SET_ORDER.length);
      const current = own(original, field);
      if (Object.hasOwn(patch, field) || !Array.isArray(current)) continue;
      const child = childOf(type, field);
      setOwn(original, field, orderBy(current, value, child.meta?.patchMergeKey));
    }
  }
  return original;
}

function withoutKey(m: JsonMap, key: string): JsonMap {
  const { [key]: _drop, ...rest } = m;
  return rest;
}

/** Remove directive keys from a value that is being set wholesale. */
function stripDirectives(value: Json, type: TypeRef | undefined): Json {
  if (Array.isArray(value)) return value.filter((v) => !(isMap(v) && v[PATCH] !== undefined && Object.keys(v).length === 1)).map((v) => stripDirectives(v, itemsOf(type)));
  if (!isMap(value)) return value;
  return mergeMap({}, value, type) ?? {};
}

function isMergeStrategy(meta: FieldMeta | undefined): boolean {
  return (meta?.patchStrategy ?? '').split(',').includes('merge');
}

function mergeListField(
  original: Json, patch: Json[], type: TypeRef | undefined, meta: FieldMeta | undefined, order: Json, deletePrimitives: Json,
): Json[] {
  const orig = Array.isArray(original) ? original : [];
  const itemType = itemsOf(type);
  if (!isMergeStrategy(meta)) return stripDirectives(patch, type) as Json[];
  // `[{"$patch": "replace"}, ...items]` replaces the whole list.
  if (patch.some((p) => isMap(p) && p[PATCH] === 'replace')) {
    return patch.filter((p) => !(isMap(p) && p[PATCH] === 'replace')).map((p) => stripDirectives(p, itemType));
  }
  const mergeKey = meta?.patchMergeKey;
  let result: Json[];
  if (!mergeKey) {
    // Set of primitives: union, then removals.
    result = [...orig];
    for (const p of patch) if (!result.some((r) => r === p)) result.push(p);
  } else {
    result = orig.map((o) => (isMap(o) ? structuredClone(o) : o));
    for (const p of patch) {
      if (!isMap(p)) throw new StrategicMergePatchError(`unable to find api field in struct for the merge key: list items must be maps, got ${JSON.stringify(p)}`);
      if (!(mergeKey in p)) throw new StrategicMergePatchError(`map: ${goMap(p)} does not contain declared merge key: ${mergeKey}`);
      const idx = result.findIndex((r) => isMap(r) && r[mergeKey] === p[mergeKey]);
      if (p[PATCH] === 'delete') {
        if (idx >= 0) result.splice(idx, 1);
        continue;
      }
      if (idx >= 0) {
        const merged = mergeMap(result[idx] as JsonMap, p, itemType);
        if (merged === undefined) result.splice(idx, 1);
        else result[idx] = merged;
      } else {
        const added = mergeMap({}, p, itemType);
        if (added) result.push(added);
      }
    }
  }
  if (deletePrimitives !== undefined) {
    if (!Array.isArray(deletePrimitives)) throw new StrategicMergePatchError('invalid patch: $deleteFromPrimitiveList must be a list');
    result = result.filter((v) => !deletePrimitives.some((d) => d === v));
  }
  if (order !== undefined) result = orderBy(result, order, mergeKey);
  return result;
}

/**
 * `$setElementOrder`: elements named in the order list come in that order; elements the server
 * has that the order list does not name keep their relative order after them.
 */
function orderBy(items: Json[], order: Json, mergeKey: string | undefined): Json[] {
  if (!Array.isArray(order)) throw new StrategicMergePatchError('invalid patch: $setElementOrder must be a list');
  const keyOf = (v: Json): Json => (mergeKey && isMap(v) ? v[mergeKey] : v);
  const orderKeys = order.map((o) => keyOf(o));
  const rank = (v: Json): number => {
    const i = orderKeys.findIndex((k) => k === keyOf(v));
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return items.map((v, i) => ({ v, i })).sort((a, b) => rank(a.v) - rank(b.v) || a.i - b.i).map((x) => x.v);
}

/** Go's %v rendering of a map, which upstream puts in its error texts. */
function goMap(m: JsonMap): string {
  return `map[${Object.keys(m).sort().map((k) => `${k}:${typeof m[k] === 'object' ? JSON.stringify(m[k]) : String(m[k])}`).join(' ')}]`;
}
