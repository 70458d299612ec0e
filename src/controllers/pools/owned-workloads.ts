/**
 * Keeping a set of owned objects (one Deployment per pool, a Service per grid) equal to what a controller wants:
 * create the missing, patch the changed, delete the unwanted. What was last written is kept in an annotation, as
 * `kubectl apply` keeps its last-applied configuration, so a patch is three-way: a key the owner no longer wants
 * is removed, and fields the API server or other controllers set (defaults, clusterIP, the scale a user gave
 * with kubectl) are left alone unless the owner sets them.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { isConflict, isNotFound, type KubeApi } from '../client.js';
import { canonicalJson, controllerRefOf } from '../util/pods.js';

/** The owner's last write into an object it owns: {labels, annotations, spec} as canonical JSON. */
export const LAST_APPLIED_ANNOTATION = 'pools.kedge.io/last-applied';

export interface OwnedObject extends KubernetesObject {
  spec?: unknown;
}

type Json = Record<string, unknown>;
const isMap = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** RFC 7386 merge patch turning `last` into `want` where the owner's fields are concerned (three-way, as kubectl apply). */
export function threeWayMergePatch(last: unknown, want: unknown): unknown {
  if (!isMap(want)) return want;
  const patch: Json = {};
  const prev = isMap(last) ? last : {};
  for (const k of Object.keys(prev)) if (!(k in want)) patch[k] = null;
  for (const [k, v] of Object.entries(want)) {
    if (isMap(v) && isMap(prev[k])) {
      const sub = threeWayMergePatch(prev[k], v);
      if (isMap(sub) && Object.keys(sub).length === 0 && canonicalJson(prev[k]) === canonicalJson(v)) continue;
      patch[k] = sub;
    } else if (canonicalJson(prev[k]) !== canonicalJson(v) || !(k in prev)) {
      patch[k] = v;
    }
  }
  return patch;
}

function appliedView(o: OwnedObject): Json {
  const md = o.metadata ?? {};
  const annotations = { ...(md.annotations ?? {}) };
  delete annotations[LAST_APPLIED_ANNOTATION];
  return { labels: md.labels ?? {}, annotations, spec: o.spec ?? {} };
}

export interface SyncResult {
  created: number;
  updated: number;
  deleted: number;
  /** Objects that exist under a wanted name but belong to someone else (left alone). */
  conflicts: string[];
  errors: unknown[];
}

/**
 * Makes the owned objects of one kind equal `want`. `have` are the objects of that kind the owner controls
 * (checked by controller reference, so a stranger under a wanted name is reported, never adopted).
 */
export async function syncOwnedObjects(api: KubeApi, want: OwnedObject[], have: OwnedObject[]): Promise<SyncResult> {
  const res: SyncResult = { created: 0, updated: 0, deleted: 0, conflicts: [], errors: [] };
  const byName = new Map(have.map((o) => [o.metadata!.name!, o]));
  const wanted = new Set(want.map((o) => o.metadata!.name!));
  const ref = (o: OwnedObject) => ({ apiVersion: o.apiVersion!, kind: o.kind!, namespace: o.metadata?.namespace, name: o.metadata!.name! });
  await Promise.all(want.map(async (w) => {
    const applied = canonicalJson(appliedView(w));
    const desired: OwnedObject = { ...w, metadata: { ...w.metadata, annotations: { ...(w.metadata?.annotations ?? {}), [LAST_APPLIED_ANNOTATION]: applied } } };
    const cur = byName.get(w.metadata!.name!);
    try {
      if (!cur) {
        await api.create(desired);
        res.created++;
        return;
      }
      const last = cur.metadata?.annotations?.[LAST_APPLIED_ANNOTATION];
      if (last === applied) return;
      let lastView: unknown = {};
      try {
        lastView = last ? JSON.parse(last) : {};
      } catch {
        lastView = {};
      }
      const wantView = appliedView(w);
      const p = threeWayMergePatch(lastView, wantView) as { labels?: unknown; annotations?: Json | null; spec?: unknown };
      await api.patch(ref(w), {
        metadata: {
          resourceVersion: cur.metadata?.resourceVersion,
          ...(p.labels !== undefined ? { labels: p.labels } : {}),
          annotations: { ...(isMap(p.annotations) ? p.annotations : {}), [LAST_APPLIED_ANNOTATION]: applied },
        },
        ...(p.spec !== undefined ? { spec: p.spec } : {}),
      });
      res.updated++;
    } catch (err) {
      // AlreadyExists on create: a namesake we do not control (or one being deleted); a stale resourceVersion
      // on patch is an error too, so the reconcile is retried against the newer object.
      if (!cur && isConflict(err)) res.conflicts.push(w.metadata!.name!);
      else res.errors.push(err);
    }
  }));
  await Promise.all(have.filter((o) => !wanted.has(o.metadata!.name!) && !o.metadata?.deletionTimestamp).map(async (o) => {
    try {
      await api.delete(ref(o), { uid: o.metadata!.uid, propagationPolicy: 'Background' });
      res.deleted++;
    } catch (err) {
      if (!isNotFound(err)) res.errors.push(err);
    }
  }));
  return res;
}

/** Objects of a list that `ownerUid` controls. */
export function controlledBy<T extends KubernetesObject>(objs: readonly T[], ownerUid: string | undefined): T[] {
  return objs.filter((o) => controllerRefOf(o)?.uid === ownerUid);
}
