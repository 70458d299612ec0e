/**
 * Field sets as server-side apply tracks them: a set of paths, each path a list of elements
 * `f:<field>` (struct field or map key), `k:<json of key fields>` (list-map element),
 * `v:<json value>` (set element), `i:<index>`. Converts to and from the `fieldsV1` trie stored in
 * managedFields, and renders paths the way upstream prints them in conflict messages
 * (`.spec.containers[name="app"].image`).
 */
import type { Shape } from './shape.js';

export type FieldPath = string[];
const SEP = '\u0001';

export class FieldSet {
  /** key (elements joined by SEP) → path; keys are built once, set algebra works on them. */
  private readonly paths = new Map<string, FieldPath>();

  static of(paths: Iterable<FieldPath>): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.add(p);
    return s;
  }

  add(p: FieldPath): void { this.paths.set(p.join(SEP), p); }
  /** Add with a key the caller already built (hot path: the object walk). */
  addKeyed(key: string, p: FieldPath): void { this.paths.set(key, p); }
  has(p: FieldPath): boolean { return this.paths.has(p.join(SEP)); }
  hasKey(key: string): boolean { return this.paths.has(key); }
  delete(p: FieldPath): void { this.paths.delete(p.join(SEP)); }
  get size(): number { return this.paths.size; }
  [Symbol.iterator](): Iterator<FieldPath> { return this.paths.values(); }
  entries(): IterableIterator<[string, FieldPath]> { return this.paths.entries(); }
  toArray(): FieldPath[] { return [...this.paths.values()]; }

  private static fromEntries(entries: Iterable<[string, FieldPath]>): FieldSet {
    const s = new FieldSet();
    for (const [k, p] of entries) s.paths.set(k, p);
    return s;
  }

  union(o: FieldSet): FieldSet { return FieldSet.fromEntries([...this.paths, ...o.paths]); }
  difference(o: FieldSet): FieldSet { return FieldSet.fromEntries([...this.paths].filter(([k]) => !o.paths.has(k))); }
  intersection(o: FieldSet): FieldSet { return FieldSet.fromEntries([...this.paths].filter(([k]) => o.paths.has(k))); }
  filter(keep: (p: FieldPath, key: string) => boolean): FieldSet { return FieldSet.fromEntries([...this.paths].filter(([k, p]) => keep(p, k))); }

  /** Whether any member is `p` or lies below it. */
  hasPrefix(p: FieldPath): boolean {
    const k = p.join(SEP);
    if (this.paths.has(k)) return true;
    const below = k + SEP;
    for (const key of this.paths.keys()) if (key.startsWith(below)) return true;
    return false;
  }
}

type Trie = { [k: string]: Trie };

/** Serialize to the managedFields `fieldsV1` object (`.` marks a node that is itself a member). */
export function toFieldsV1(set: FieldSet): Record<string, unknown> {
  const root: Trie = {};
  const members = new Set<Trie>();
  for (const path of set) {
    let node = root;
    for (const el of path) node = node[el] ??= {};
    members.add(node);
  }
  const emit = (node: Trie): Trie => {
    const keys = Object.keys(node).sort(compareElements);
    const out: Trie = {};
    if (keys.length > 0 && members.has(node)) out['.'] = {};
    for (const k of keys) out[k] = emit(node[k]);
    return out;
  };
  return emit(root);
}

function compareElements(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function fromFieldsV1(v: unknown): FieldSet {
  const set = new FieldSet();
  const walk = (node: Record<string, unknown>, path: FieldPath): void => {
    for (const [k, child] of Object.entries(node)) {
      if (k === '.') { set.add(path); continue; }
      const c = (child ?? {}) as Record<string, unknown>;
      if (Object.keys(c).length === 0) set.add([...path, k]);
      else walk(c, [...path, k]);
    }
  };
  if (v && typeof v === 'object') walk(v as Record<string, unknown>, []);
  return set;
}

/** `.spec.containers[name="app"].image`, `.metadata.finalizers[="x"]`, `.spec.args[0]`. */
export function pathToString(p: FieldPath): string {
  return p.map((el) => {
    const body = el.slice(2);
    switch (el.slice(0, 2)) {
      case 'f:': return `.${body}`;
      case 'k:': {
        const keys = JSON.parse(body) as Record<string, unknown>;
        return `[${Object.entries(keys).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
      }
      case 'v:': return `[=${body}]`;
      case 'i:': return `[${body}]`;
      default: return el;
    }
  }).join('');
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Key element of a list-map item: JSON of its key fields, sorted by name (upstream's form). */
export function keyElement(item: Record<string, unknown>, keys: string[], defaults?: Record<string, unknown>): string {
  const k: Record<string, unknown> = {};
  for (const name of [...keys].sort()) {
    const v = item[name] ?? defaults?.[name];
    if (v !== undefined) k[name] = v;
  }
  return `k:${JSON.stringify(k)}`;
}

export interface FieldSetOptions {
  /** Update sets also mark granular maps as members (`f:labels: {.: {}, …}`), as upstream does. */
  mapMembers: boolean;
  /** Decides whether a top-level or metadata path is tracked at all. */
  ignore?: (path: FieldPath) => boolean;
  /** When given, receives the value of every leaf member (scalars, atomic values), keyed by `pathKey`. */
  leafValues?: Map<string, unknown>;
}

export function pathKey(p: FieldPath): string {
  return p.join(SEP);
}

/** Every path `value` sets, given its shape. */
export function fieldSetOf(value: unknown, shape: Shape, opts: FieldSetOptions): FieldSet {
  const set = new FieldSet();
  const leaves = opts.leafValues;
  const leaf = (key: string, path: FieldPath, v: unknown): void => {
    set.addKeyed(key, path);
    leaves?.set(key, v);
  };
  const child = (key: string, el: string): string => (key === '' ? el : key + SEP + el);
  const visit = (v: unknown, s: Shape, path: FieldPath, key: string): void => {
    if (path.length && opts.ignore?.(path)) return;
    if (isPlainObject(v) && (s.kind === 'struct' || s.kind === 'map' || s.kind === 'unknown')) {
      let any = false;
      for (const k in v) {
        const c = v[k];
        if (c === undefined) continue;
        if (!any) {
          any = true;
          if (path.length && opts.mapMembers && s.kind !== 'struct') set.addKeyed(key, path);
        }
        const el = `f:${k}`;
        visit(c, s.child(k), [...path, el], child(key, el));
      }
      if (!any && path.length) leaf(key, path, v);
      return;
    }
    if (Array.isArray(v) && s.kind === 'list' && s.list && s.list.type !== 'atomic') {
      if (v.length === 0) { leaf(key, path, v); return; }
      if (s.list.type === 'set') {
        for (const item of v) {
          const el = `v:${JSON.stringify(item)}`;
          set.addKeyed(child(key, el), [...path, el]);
        }
        return;
      }
      const { keys, keyDefaults } = s.list;
      const itemShape = s.item();
      for (const item of v) {
        if (!isPlainObject(item)) continue;
        const el = keyElement(item, keys, keyDefaults);
        const p = [...path, el];
        const pk = child(key, el);
        set.addKeyed(pk, p);
        for (const k in item) {
          const c = item[k];
          if (c === undefined) continue;
          const fel = `f:${k}`;
          visit(c, itemShape.child(k), [...p, fel], child(pk, fel));
        }
      }
      return;
    }
    if (path.length) leaf(key, path, v);
  };
  visit(value, shape, [], '');
  return set;
}

/** Value at a field path inside an object (undefined when absent). */
export function valueAt(obj: unknown, path: FieldPath): unknown {
  let cur: unknown = obj;
  for (const el of path) {
    if (cur === undefined) return undefined;
    const body = el.slice(2);
    if (el.startsWith('f:')) cur = isPlainObject(cur) ? cur[body] : undefined;
    else if (el.startsWith('k:')) cur = Array.isArray(cur) ? cur.find((i) => isPlainObject(i) && matchesKey(i, body)) : undefined;
    else if (el.startsWith('v:')) cur = Array.isArray(cur) ? cur.find((i) => JSON.stringify(i) === body) : undefined;
    else if (el.startsWith('i:')) cur = Array.isArray(cur) ? cur[Number(body)] : undefined;
    else return undefined;
  }
  return cur;
}

function matchesKey(item: Record<string, unknown>, keyJson: string): boolean {
  const k = JSON.parse(keyJson) as Record<string, unknown>;
  // A key field the item omits (an apply configuration relying on a server default such as
  // `protocol: TCP`) does not rule the item out.
  return Object.entries(k).every(([name, v]) => item[name] === undefined || JSON.stringify(item[name]) === JSON.stringify(v));
}

/** Remove the value at a path; returns true when something was removed. */
export function deleteAt(obj: unknown, path: FieldPath): boolean {
  if (path.length === 0) return false;
  const parent = valueAt(obj, path.slice(0, -1));
  const el = path[path.length - 1];
  const body = el.slice(2);
  if (el.startsWith('f:') && isPlainObject(parent) && body in parent) { delete parent[body]; return true; }
  if (Array.isArray(parent)) {
    const idx = el.startsWith('k:') ? parent.findIndex((i) => isPlainObject(i) && matchesKey(i, body))
      : el.startsWith('v:') ? parent.findIndex((i) => JSON.stringify(i) === body)
      : el.startsWith('i:') ? Number(body) : -1;
    if (idx >= 0 && idx < parent.length) { parent.splice(idx, 1); return true; }
  }
  return false;
}
