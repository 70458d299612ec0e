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
 *
 * For the same reason the patch applies to any of those status-only versions too, and an edge may hold one:
 * a session sends the cache's current object when it gets to a key, which may be a status-only successor of
 * the version it was shipped as (the edge's first Node status lands before a lagging hub ships its Node). Those
 * versions are remembered (a few per object) as `bases`; without them every later Node patch (a lifecycle
 * taint) missed its base and the edge read the Node through `get` (1,366 times at 10,000 nodes, issue 6).
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
  /** Every version the patch applies to: `base` and its status-only successors (edge-authored status). */
  bases?: string[];
  /** Status-only versions after `rv` (not shipped alone): the bases of the next patch. */
  successors?: string[];
}

/** Status-only versions remembered per object; an edge holding an older one gets the next change whole. */
export const MAX_STATUS_SUCCESSORS = 8;

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

  /**
   * The patch to version `rv` for an edge holding version `held`, or undefined (then send the object whole).
   * `base` is what the edge holds, which it checks before applying.
   */
  patchFor(key: string, rv: string | undefined, held: string | null): { base: string; patch: Record<string, unknown> } | undefined {
    const d = this.forVersion(key, rv);
    if (!d?.patch || held === null) return undefined;
    return (d.bases ?? (d.base === undefined ? [] : [d.base])).includes(held) ? { base: held, patch: d.patch } : undefined;
  }

  /** Whether an edge holding `held` has the current version's non-status part (`rv` or a status-only successor). */
  holdsCurrent(key: string, rv: string | undefined, held: string): boolean {
    const d = this.forVersion(key, rv);
    return d !== undefined && (d.successors ?? []).includes(held);
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
    // Not shipped: the base stays what edges were last sent, and this version becomes another base.
    if (edgeAuthored && sameObject && statusOnlyChange(old, obj)) {
      if (prev) prev.successors = [...(prev.successors ?? []), rv].slice(-MAX_STATUS_SUCCESSORS);
      return;
    }
    const base = sameObject ? (edgeAuthored ? prev?.rv : old.metadata.resourceVersion) : undefined;
    if (!sameObject || base === undefined) return void this.records.set(key, { rv });
    const bases = edgeAuthored && prev?.successors ? [base, ...prev.successors] : undefined;
    const from = shapeForEdge(old);
    const to = shapeForEdge(obj);
    const patch = edgeAuthored ? createMergePatch(withoutStatus(from), withoutStatus(to)) : createMergePatch(from, to);
    // A patch is worth sending only when clearly smaller than the object (small objects go whole).
    const worth = patch !== undefined && JSON.stringify(patch).length * 2 < JSON.stringify(to).length;
    this.records.set(key, worth ? { rv, base, patch, ...(bases ? { bases } : {}) } : { rv });
  }
}
