/**
 * Applying PATCH bodies: JSON patch (RFC 6902, fast-json-patch), JSON merge patch (RFC 7386), strategic merge
 * patch and server-side apply — the last two delegate to the schema package when it exports them, and otherwise
 * fall back to merge-patch semantics (directives stripped) so clients still get a sensible result.
 */
import jsonpatch from 'fast-json-patch';
import type { KubeObject } from '../apimachinery/object.js';
import { badRequest, unprocessable, unsupportedMediaType } from '../apimachinery/status.js';
import * as schema from './schema/index.js';
import { PATCH_MEDIA_TYPES, parseJson, parseYaml, TOO_DEEP } from './body.js';
import { jsonTextTooDeep } from '../common/json-depth.js';

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export function patchTypeOf(contentType: string): PatchType {
  switch (contentType) {
    case 'application/json-patch+json': return 'json';
    case 'application/merge-patch+json': return 'merge';
    case 'application/strategic-merge-patch+json': return 'strategic';
    case 'application/apply-patch+yaml': return 'apply';
    default: throw unsupportedMediaType(contentType, PATCH_MEDIA_TYPES);
  }
}

export function decodePatchBody(type: PatchType, text: string): unknown {
  if (type === 'apply') return parseYaml(text);
  if (jsonTextTooDeep(text)) throw badRequest(`error decoding patch: ${TOO_DEEP}`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`error decoding patch: ${(err as Error).message}`);
  }
}

/** RFC 7386: objects merge recursively, null deletes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Remove strategic-merge directives ($patch, $setElementOrder/…, $retainKeys, $deleteFromPrimitiveList/…). */
function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((e) => !(e && typeof e === 'object' && (e as Record<string, unknown>).$patch === 'delete')).map(stripDirectives);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(val);
    return out;
  }
  return v;
}

type SchemaFns = {
  strategicMergePatch?: (original: KubeObject, patch: unknown, info: { group: string; version: string; kind: string }) => KubeObject;
};

export function applyJsonPatch(obj: KubeObject, ops: unknown): KubeObject {
  if (!Array.isArray(ops)) throw badRequest('json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp');
  try {
    return jsonpatch.applyPatch(structuredClone(obj), ops as jsonpatch.Operation[], true, false).newDocument as KubeObject;
  } catch (err) {
    const e = err as { name?: string; message: string; operation?: { op?: string; path?: string; from?: string } };
    if (e.name === 'TEST_OPERATION_FAILED') throw new JsonPatchTestFailed(e.operation?.path ?? '');
    // A patch that decodes but cannot be applied (a path that is not there) is 422 upstream, its own error as the cause.
    throw unprocessable(jsonPatchFailure(e));
  }
}

/** The Go library's wording for a path that is not there (the commonest failure); other failures keep their own text. */
function jsonPatchFailure(e: { name?: string; message: string; operation?: { op?: string; path?: string; from?: string } }): string {
  const op = e.operation?.op ?? '';
  if (e.name === 'OPERATION_PATH_UNRESOLVABLE') return `${op} operation does not apply: doc is missing path: "${e.operation?.path ?? ''}": missing value`;
  if (e.name === 'OPERATION_FROM_UNRESOLVABLE') return `${op} operation does not apply: doc is missing from path: "${e.operation?.from ?? ''}": missing value`;
  return e.message.split('\n')[0];
}

/** A failed `test` op is a 422 upstream (the patch applied cleanly but the test did not hold). */
export class JsonPatchTestFailed extends Error {
  constructor(readonly path: string) {
    super(`testing value ${path} failed`);
  }
}

export function applyPatch(type: PatchType, obj: KubeObject, patch: unknown, gvk: { group: string; version: string; kind: string }): KubeObject {
  switch (type) {
    case 'json': return applyJsonPatch(obj, patch);
    case 'merge': return requireObject(mergePatch(obj, patch));
    case 'strategic': {
      // Custom resources have no patch metadata: upstream answers 415 (schema package decides).
      if (!schema.supportsStrategicMergePatch(gvk.group, gvk.version, gvk.kind)) {
        throw unsupportedMediaType('application/strategic-merge-patch+json', PATCH_MEDIA_TYPES.filter((t) => t !== 'application/strategic-merge-patch+json'));
      }
      const fn = (schema as unknown as SchemaFns).strategicMergePatch;
      if (fn) {
        try { return fn(obj, patch, gvk); } catch (err) {
          if (err instanceof schema.StrategicMergePatchError) throw badRequest(err.message);
          throw err;
        }
      }
      return requireObject(mergePatch(obj, stripDirectives(patch)));
    }
    case 'apply':
      return requireObject(mergePatch(obj, patch));
  }
}

function requireObject(v: unknown): KubeObject {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw badRequest('patch did not produce an object');
  return v as KubeObject;
}

export { parseJson };
