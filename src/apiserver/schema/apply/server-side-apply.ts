/**
 * Server-side apply (`application/apply-patch+yaml`) and managedFields bookkeeping for ordinary
 * writes, for the common cases: field ownership per manager as `fieldsV1` sets, conflicts when
 * an applier would change a field another manager owns (409 with upstream's message and causes),
 * `force` taking ownership, and removal of fields an applier owned before but no longer applies.
 */
import { isDeepStrictEqual } from 'node:util';
import type { V1ManagedFieldsEntry } from '@kubernetes/client-node';
import { FieldSet, deleteAt, fieldSetOf, fromFieldsV1, keyElement, pathKey, pathToString, toFieldsV1, valueAt, type FieldPath } from './fieldset.js';
import { builtinShape, customResourceShape, type Shape } from './shape.js';
import { rootTypeOf } from '../schema-walk.js';
import type { StructuralSchema } from '../unknown-fields.js';

type Obj = Record<string, unknown>;
const isPlainObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ResourceTarget {
  group: string;
  version: string;
  kind: string;
  /** Resource has a status subresource: writes to the main resource do not own (or change) status. */
  hasStatusSubresource?: boolean;
  /** Custom resources: the version's openAPIV3Schema. */
  schema?: StructuralSchema;
}

/** 409 Conflict raised by apply; `message` and `causes` are upstream's. */
export class ApplyConflictError extends Error {
  readonly code = 409;
  readonly reason = 'Conflict';
  constructor(message: string, readonly causes: Array<{ reason: 'FieldManagerConflict'; message: string; field: string }>) {
    super(message);
  }
}

/** 400 BadRequest raised by apply for unusable apply configurations. */
export class ApplyBadRequestError extends Error {
  readonly code = 400;
  readonly reason = 'BadRequest';
}

/**
 * Fields of an apply configuration its schema does not declare, as server-side apply paths
 * (`.spec.containers[name="app"].foo`). With `fieldValidation=Strict` these fail the apply with
 * `applyUnknownFieldsMessage`; otherwise they are dropped (`dropUndeclaredFields`).
 */
export function undeclaredApplyFields(applied: unknown, target: ResourceTarget): FieldPath[] {
  const out: FieldPath[] = [];
  const visit = (v: unknown, s: Shape, path: FieldPath): void => {
    if (isPlainObject(v) && (s.kind === 'struct' || s.kind === 'map')) {
      for (const [k, c] of Object.entries(v)) {
        const p = [...path, `f:${k}`];
        if (s.kind === 'struct' && s.declares && !s.declares(k)) out.push(p);
        else visit(c, s.child(k), p);
      }
    } else if (Array.isArray(v) && s.kind === 'list') {
      v.forEach((item, i) => {
        const el = s.list?.type === 'map' && isPlainObject(item) ? keyElement(item, s.list.keys, s.list.keyDefaults)
          : s.list?.type === 'set' ? `v:${JSON.stringify(item)}` : `i:${i}`;
        visit(item, s.item(), [...path, el]);
      });
    }
  };
  visit(applied, shapeOf(target), []);
  return out;
}

/** Remove undeclared fields (Warn/Ignore), mutating `applied`. */
export function dropUndeclaredFields(applied: Obj, target: ResourceTarget): string[] {
  const paths = undeclaredApplyFields(applied, target);
  for (const p of [...paths].sort((a, b) => b.length - a.length)) deleteAt(applied, p);
  return paths.map(pathToString);
}

/**
 * Upstream's 400 text for an apply configuration with undeclared fields:
 * `failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.foo: field not declared in schema`.
 */
export function applyUnknownFieldsMessage(applied: Obj, target: ResourceTarget, paths: FieldPath[], namespace = ''): string {
  const name = String((applied.metadata as Obj | undefined)?.name ?? '');
  const gvk = `${target.group}/${target.version}, Kind=${target.kind}`;
  const errs = paths.map((p) => `${pathToString(p)}: field not declared in schema`);
  const detail = errs.length === 1 ? errs[0] : `errors:\n  ${errs.join('\n  ')}`;
  return `failed to create typed patch object (${namespace}/${name}; ${gvk}): ${detail}`;
}

/** Upstream's default manager when `fieldManager` is absent: the user agent up to its first `/`. */
export function defaultFieldManager(userAgent: string | undefined): string {
  const name = (userAgent ?? '').split('/')[0];
  return (name || 'unknown').slice(0, 128);
}

export function shapeOf(target: ResourceTarget): Shape {
  if (target.schema) return customResourceShape(target.schema);
  return builtinShape(rootTypeOf(target.group, target.version, target.kind));
}

const IGNORED_METADATA = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp',
  'deletionGracePeriodSeconds', 'managedFields', 'selfLink']);

/** Which paths a write through `subresource` may own. */
function ignoreFor(target: ResourceTarget, subresource: string | undefined): (p: FieldPath) => boolean {
  return (p) => {
    const top = p[0];
    if (top === 'f:apiVersion' || top === 'f:kind') return true;
    if (top === 'f:metadata' && p.length >= 2 && IGNORED_METADATA.has(p[1].slice(2))) return true;
    if (subresource === 'status') return top !== 'f:status';
    if (target.hasStatusSubresource && top === 'f:status') return true;
    return false;
  };
}

/** Which parts of an apply configuration are merged into the object (others are not this write's to change). */
function mergeIgnoreFor(target: ResourceTarget, subresource: string | undefined): (p: FieldPath) => boolean {
  return (p) => {
    const top = p[0];
    if (top === 'f:metadata' && p[1] === 'f:managedFields') return true;
    if (subresource === 'status') return top !== 'f:status' && top !== 'f:metadata' && top !== 'f:apiVersion' && top !== 'f:kind';
    return target.hasStatusSubresource === true && top === 'f:status';
  };
}

interface Entry { manager: string; operation: 'Apply' | 'Update'; apiVersion: string; subresource?: string; time?: string; set: FieldSet }

function readEntries(obj: Obj | undefined): Entry[] {
  const raw = (obj?.metadata as Obj | undefined)?.managedFields;
  if (!Array.isArray(raw)) return [];
  return (raw as V1ManagedFieldsEntry[]).map((e) => ({
    manager: e.manager ?? '', operation: e.operation === 'Apply' ? 'Apply' : 'Update', apiVersion: e.apiVersion ?? '',
    subresource: e.subresource || undefined, time: e.time as unknown as string | undefined, set: fromFieldsV1(e.fieldsV1),
  }));
}

function writeEntries(obj: Obj, entries: Entry[]): void {
  if (!isPlainObject(obj.metadata)) obj.metadata = {}; // malformed input: validation reports it later
  const meta = obj.metadata as Obj;
  const list = entries.filter((e) => e.set.size > 0).map((e) => {
    const out: Record<string, unknown> = { manager: e.manager, operation: e.operation, apiVersion: e.apiVersion };
    if (e.time) out.time = e.time;
    out.fieldsType = 'FieldsV1';
    out.fieldsV1 = toFieldsV1(e.set);
    if (e.subresource) out.subresource = e.subresource;
    return out;
  });
  if (list.length) meta.managedFields = list;
  else delete meta.managedFields;
}

function sameIdentity(e: Entry, manager: string, operation: string, subresource: string | undefined): boolean {
  return e.manager === manager && e.operation === operation && (e.subresource ?? '') === (subresource ?? '');
}

function nowRfc3339(now: Date): string {
  // toISOString is always YYYY-MM-DDTHH:MM:SS.sssZ for the years we meet: drop the milliseconds.
  return `${now.toISOString().slice(0, 19)}Z`;
}

function describeManager(e: Entry): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += ` using ${e.apiVersion}`;
  return s;
}

function conflictMessage(conflicts: Array<{ entry: Entry; path: FieldPath }>): string {
  if (conflicts.length === 1) return `Apply failed with 1 conflict: conflict with ${describeManager(conflicts[0].entry)}: ${pathToString(conflicts[0].path)}`;
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) {
    const m = describeManager(c.entry);
    byManager.set(m, [...(byManager.get(m) ?? []), pathToString(c.path)]);
  }
  const lines: string[] = [];
  for (const m of [...byManager.keys()].sort()) {
    lines.push(`conflicts with ${m}:`);
    for (const p of byManager.get(m)!) lines.push(`- ${p}`);
  }
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
}

/** Merge an apply configuration into the live value, per list semantics. */
function mergeApplied(live: unknown, applied: unknown, shape: Shape, path: FieldPath, ignore: (p: FieldPath) => boolean): unknown {
  if (isPlainObject(applied) && (shape.kind === 'struct' || shape.kind === 'map' || shape.kind === 'unknown')) {
    const out: Obj = isPlainObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(applied)) {
      const p = [...path, `f:${k}`];
      if (v === null || v === undefined || ignore(p)) continue;
      out[k] = mergeApplied(out[k], v, shape.child(k), p, ignore);
    }
    return out;
  }
  if (Array.isArray(applied) && shape.kind === 'list' && shape.list && shape.list.type !== 'atomic' && Array.isArray(live)) {
    if (shape.list.type === 'set') {
      const out = [...live];
      for (const v of applied) if (!out.some((o) => isDeepStrictEqual(o, v))) out.push(structuredClone(v));
      return out;
    }
    const { keys, keyDefaults } = shape.list;
    const out = live.map((i) => structuredClone(i));
    for (const item of applied) {
      if (!isPlainObject(item)) continue;
      const el = keyElement(item, keys, keyDefaults);
      const idx = out.findIndex((o) => isPlainObject(o) && keyElement(o, keys, keyDefaults) === el);
      if (idx >= 0) out[idx] = mergeApplied(out[idx], item, shape.item(), [...path, el], ignore);
      else out.push(mergeApplied(undefined, item, shape.item(), [...path, el], ignore));
    }
    return out;
  }
  return structuredClone(applied);
}

/** Leaf paths carry values that can conflict; list-item and map membership paths do not. */
function isValuePath(applied: unknown, path: FieldPath): boolean {
  const last = path[path.length - 1];
  if (last.startsWith('k:') || last.startsWith('v:')) return false;
  const v = valueAt(applied, path);
  return !isPlainObject(v) || Object.keys(v).length === 0;
}

export interface ApplyRequest {
  /** Current object, or undefined to create on apply. */
  live?: Obj;
  /** The apply configuration (parsed body). */
  applied: Obj;
  manager: string;
  force: boolean;
  target: ResourceTarget;
  subresource?: string;
  now?: Date;
}

/**
 * Compute the object after an apply, with managedFields updated. Throws ApplyConflictError
 * (409) on conflicts without force, ApplyBadRequestError (400) for an unusable configuration.
 * The caller still runs its usual create/update path (defaulting, validation, storage) on the result.
 */
export function serverSideApply(req: ApplyRequest): Obj {
  const { live, applied, manager, target, subresource } = req;
  if (!isPlainObject(applied)) throw new ApplyBadRequestError('invalid object: apply configuration must be an object');
  const apiVersion = target.group ? `${target.group}/${target.version}` : target.version;
  if (applied.apiVersion !== undefined && applied.apiVersion !== apiVersion) {
    throw new ApplyBadRequestError(`apiVersion ${JSON.stringify(applied.apiVersion)} in the apply configuration does not match the request's ${JSON.stringify(apiVersion)}`);
  }
  if (applied.kind !== undefined && applied.kind !== target.kind) {
    throw new ApplyBadRequestError(`kind ${JSON.stringify(applied.kind)} in the apply configuration does not match the request's ${JSON.stringify(target.kind)}`);
  }
  const shape = shapeOf(target);
  const ignore = ignoreFor(target, subresource);
  const appliedSet = fieldSetOf(applied, shape, { mapMembers: false, ignore });
  const entries = readEntries(live);
  const mine = entries.find((e) => sameIdentity(e, manager, 'Apply', subresource));
  const others = entries.filter((e) => e !== mine);

  // Conflicts: a value this apply changes that another manager owns.
  const conflicts: Array<{ entry: Entry; path: FieldPath }> = [];
  if (live) {
    for (const path of appliedSet) {
      if (!isValuePath(applied, path)) continue;
      const current = valueAt(live, path);
      if (current === undefined || isDeepStrictEqual(current, valueAt(applied, path))) continue;
      for (const e of others) if (e.set.has(path)) conflicts.push({ entry: e, path });
    }
  }
  if (conflicts.length && !req.force) {
    throw new ApplyConflictError(conflictMessage(conflicts), conflicts.map((c) => ({
      reason: 'FieldManagerConflict', message: `conflict with ${describeManager(c.entry)}`, field: pathToString(c.path),
    })));
  }
  for (const c of conflicts) c.entry.set.delete(c.path);

  const result = mergeApplied(live ?? {}, applied, shape, [], mergeIgnoreFor(target, subresource)) as Obj;
  if (live === undefined) {
    result.apiVersion = apiVersion;
    result.kind = target.kind;
  }

  // Fields this manager applied before but no longer applies, and nobody else owns, go away.
  if (mine) {
    const stillOwned = others.reduce((acc, e) => acc.union(e.set), appliedSet);
    const candidates = mine.set.difference(appliedSet).toArray().filter((p) => !stillOwned.hasPrefix(p));
    // Removing a list element removes its fields with it; deleting those first would lose the element's key.
    const droppedSet = FieldSet.of(candidates);
    const dropped = candidates.filter((p) => !p.some((_, i) => i > 0 && i < p.length && droppedSet.has(p.slice(0, i))));
    dropped.sort((a, b) => b.length - a.length);
    for (const p of dropped) {
      deleteAt(result, p);
      pruneEmptyParents(result, p, stillOwned);
    }
  }

  const next: Entry = { manager, operation: 'Apply', apiVersion, subresource, time: nowRfc3339(req.now ?? new Date()), set: appliedSet };
  const ordered = mine ? entries.map((e) => (e === mine ? next : e)) : [...entries, next];
  writeEntries(result, ordered);
  return result;
}

/** After removing a field, remove maps it leaves empty unless someone owns them as members. */
function pruneEmptyParents(obj: Obj, path: FieldPath, owned: FieldSet): void {
  for (let n = path.length - 1; n > 0; n--) {
    const parentPath = path.slice(0, n);
    if (!parentPath[parentPath.length - 1].startsWith('f:')) return;
    const v = valueAt(obj, parentPath);
    const empty = (isPlainObject(v) && Object.keys(v).length === 0) || (Array.isArray(v) && v.length === 0);
    if (!empty || owned.has(parentPath)) return;
    deleteAt(obj, parentPath);
  }
}

/**
 * True when an Update by `mine` leaves every entry's field set as it is: nothing removed, every changed
 * field already owned by `mine` and by no other entry, and no entry the slow path would rewrite or drop.
 */
function ownershipUnchanged(entries: Entry[], mine: Entry | undefined, changed: FieldSet, removed: FieldSet, apiVersion: string): mine is Entry {
  if (!mine || removed.size > 0 || mine.apiVersion !== apiVersion) return false;
  for (const e of entries) if (e.set.size === 0) return false;
  for (const [k] of changed.entries()) {
    if (!mine.set.hasKey(k)) return false;
    for (const e of entries) if (e !== mine && e.set.hasKey(k)) return false;
  }
  return true;
}

export interface UpdateRequest {
  /** Object before the write; undefined for create. */
  old?: Obj;
  /** Object about to be stored (mutated: its managedFields are rewritten). */
  updated: Obj;
  manager: string;
  target: ResourceTarget;
  subresource?: string;
  now?: Date;
}

/**
 * managedFields for create/update/patch (operation Update): the manager takes ownership of every
 * field it set or changed, other managers lose those fields, removed fields leave every set.
 * If the client sent managedFields that differ from the stored ones, they are kept as sent
 * (upstream lets clients reset ownership this way); an empty list clears them.
 */
export function updateManagedFields(req: UpdateRequest): Obj {
  const { old, updated, manager, target, subresource } = req;
  const apiVersion = target.group ? `${target.group}/${target.version}` : target.version;
  const shape = shapeOf(target);
  const ignore = ignoreFor(target, subresource);
  const opts = { mapMembers: true, ignore };
  const sentManaged = (updated.metadata as Obj | undefined)?.managedFields;
  const oldManaged = (old?.metadata as Obj | undefined)?.managedFields;
  if (Array.isArray(sentManaged) && !isDeepStrictEqual(sentManaged, oldManaged)) {
    if (sentManaged.length === 0) delete (updated.metadata as Obj).managedFields;
    return updated;
  }
  // One walk per side, leaf values captured on the way: no per-path lookups afterwards.
  const newLeaves = new Map<string, unknown>();
  const oldLeaves = new Map<string, unknown>();
  const newSet = fieldSetOf(updated, shape, { ...opts, leafValues: newLeaves });
  const oldSet = old ? fieldSetOf(old, shape, { ...opts, leafValues: oldLeaves }) : new FieldSet();
  const changed = newSet.filter((_p, k) => {
    if (!oldSet.hasKey(k)) return true;
    if (!newLeaves.has(k)) return false;
    const a = oldLeaves.get(k);
    const b = newLeaves.get(k);
    return a !== b && (typeof a !== 'object' || typeof b !== 'object' || !isDeepStrictEqual(a, b));
  });
  const removed = oldSet.difference(newSet);
  const entries = readEntries(old);
  let mine = entries.find((e) => sameIdentity(e, manager, 'Update', subresource));
  if (ownershipUnchanged(entries, mine, changed, removed, apiVersion)) {
    // The hot case (a Lease renewal, a status report): the same manager rewrites fields it already owns
    // alone. Every set stays as it is, so the stored entries are reused and only this manager's time moves;
    // re-encoding every set (toFieldsV1) would give the same entries.
    const stored = oldManaged as Obj[];
    (updated.metadata as Obj).managedFields = changed.size > 0
      ? stored.map((e, i) => (entries[i] === mine ? { ...e, time: nowRfc3339(req.now ?? new Date()) } : e))
      : stored;
    return updated;
  }
  for (const e of entries) {
    e.set = e.set.difference(removed);
    if (e !== mine) e.set = e.set.difference(changed);
  }
  if (changed.size > 0 || mine) {
    if (!mine) {
      mine = { manager, operation: 'Update', apiVersion, subresource, set: new FieldSet() };
      entries.push(mine);
    }
    mine.set = mine.set.union(changed);
    mine.apiVersion = apiVersion;
    if (changed.size > 0) mine.time = nowRfc3339(req.now ?? new Date());
  }
  writeEntries(updated, entries);
  return updated;
}
