/**
 * JSON merge patches (RFC 7386) between two versions of an object, for the `patch` message (protocol v2): the
 * hub sends what changed instead of the whole object when the edge holds the previous version. A diff is only
 * offered when applying it reproduces the new version exactly (merge patches cannot express a null value or
 * edit inside an array: such members are replaced whole, and a null anywhere in the new value means "no patch").
 */
import { isDeepStrictEqual } from 'node:util';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: unknown };

const isPlainObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function containsNull(v: unknown): boolean {
  if (v === null) return true;
  if (Array.isArray(v)) return v.some(containsNull);
  if (isPlainObject(v)) return Object.values(v).some(containsNull);
  return false;
}

/** RFC 7386 MergePatch(target, patch); never mutates its arguments. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: JsonObject = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

function diff(a: JsonObject, b: JsonObject): JsonObject | undefined {
  const out: JsonObject = {};
  for (const [k, bv] of Object.entries(b)) {
    const av = a[k];
    if (isDeepStrictEqual(av, bv)) continue;
    if (isPlainObject(av) && isPlainObject(bv)) {
      const sub = diff(av, bv);
      if (sub === undefined) return undefined;
      out[k] = sub;
    } else {
      if (containsNull(bv)) return undefined;
      out[k] = bv;
    }
  }
  for (const k of Object.keys(a)) if (!Object.hasOwn(b, k)) out[k] = null;
  return out;
}

/** A merge patch taking `from` to `to`, or undefined when none reproduces `to` exactly. */
export function createMergePatch(from: JsonObject, to: JsonObject): JsonObject | undefined {
  const patch = diff(from, to);
  if (patch === undefined) return undefined;
  return isDeepStrictEqual(applyMergePatch(from, patch), to) ? patch : undefined;
}

export type { Json };
