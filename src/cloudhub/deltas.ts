/**
 * Per object: the resourceVersion edges were last shipped, and a merge patch from the version shipped before
 * it, computed once per version (not per node). Sessions send that patch (protocol v2 `patch`) instead of the
 * whole object when the edge should hold the base version; the edge checks `base` and reads the object with
 * `get` when it does not (e.g. two changes during a cut). A changed pod label costs ~100 B instead of the pod.
 *
 * Status-only changes of pods and Nodes are not shipped (desired.ts): the base then stays the last shipped
 * version, and the patch is computed without `status`, which the edge authors and keeps. Only small records
 * are kept (no old object versions): the patch of an object's non-status part from its previous cache version
 * equals the one from its last shipped version, since everything in between changed status only.
 */
import { createMergePatch, type JsonObject } from '../protocol/merge-patch.js';
import type { CachedObject, SharedCache } from './cache.js';
import { shapeForEdge, statusOnlyChange } from './desired.js';

export interface Delta {
  /** The version this record describes (the latest shipped one). */
  rv: string;
  /** The resourceVersion the patch applies to, and the patch (absent: send the object whole). */
  base?: string;
  patch?: Record<string, unknown>;
}

/** Resources whose status the edge authors (its pods, its Node): never shipped alone, left out of patches. */
const EDGE_AUTHORED_STATUS = new Set(['pods', 'nodes']);

function withoutStatus(o: CachedObject): JsonObject {
  const { status: _status, ...rest } = o as CachedObject & { status?: unknown };
  return rest;
}

export class Deltas {
  private readonly records = new Map<string, Delta>();

  constructor(cache: Pick<SharedCache, 'onChange'>) {
    cache.onChange((resource, type, key, obj, old) => this.onChange(resource, type, key, obj, old));
  }

  /** The record for `key` if it describes exactly version `rv`. */
  forVersion(key: string, rv: string | undefined): Delta | undefined {
    const d = this.records.get(key);
    return d && rv !== undefined && d.rv === rv ? d : undefined;
  }

  size(): number {
    return this.records.size;
  }

  private onChange(resource: string, type: string, key: string, obj: CachedObject, old: CachedObject | undefined): void {
    if (type === 'delete') {
      this.records.delete(key);
      return;
    }
    const rv = obj.metadata.resourceVersion;
    if (!rv) return void this.records.delete(key);
    const prev = this.records.get(key);
    const sameObject = old !== undefined && old.metadata.uid === obj.metadata.uid;
    const edgeAuthored = EDGE_AUTHORED_STATUS.has(resource);
    // Not shipped: the base stays what edges were last sent.
    if (edgeAuthored && sameObject && statusOnlyChange(old, obj)) return;
    const base = sameObject ? (edgeAuthored ? prev?.rv : old.metadata.resourceVersion) : undefined;
    if (!sameObject || base === undefined) return void this.records.set(key, { rv });
    const from = shapeForEdge(old);
    const to = shapeForEdge(obj);
    const patch = edgeAuthored ? createMergePatch(withoutStatus(from), withoutStatus(to)) : createMergePatch(from, to);
    // A patch is worth sending only when clearly smaller than the object (small objects go whole).
    const worth = patch !== undefined && JSON.stringify(patch).length * 2 < JSON.stringify(to).length;
    this.records.set(key, worth ? { rv, base, patch } : { rv });
  }
}
