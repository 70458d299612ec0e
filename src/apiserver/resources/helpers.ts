/** Small helpers shared by the built-in resource definitions. */
import type { KubeObject } from '../../apimachinery/object.js';
import type { FieldError } from '../../apimachinery/status.js';
import type { ResourceDef, Strategy, TableColumn } from '../registry.js';
import { age, ageColumn, nameColumn } from '../table.js';

export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function spec(o: KubeObject): Obj {
  return ((o as Obj).spec ??= {}) as Obj;
}

export function get(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Obj)[p];
  }
  return cur;
}

export function str(v: unknown, none = '<none>'): string {
  return v === undefined || v === null || v === '' ? none : String(v);
}

export function col(name: string, type: TableColumn['type'] = 'string', priority = 0, description = ''): TableColumn {
  return { name, type, priority, description };
}

/** A table with Name first and Age at `agePos` (default last non-wide column). */
export function table(cols: TableColumn[], cells: (o: Obj, now: number) => unknown[]): ResourceDef['table'] {
  return {
    columns: [nameColumn, ...cols],
    cells: (o, now) => [o.metadata?.name ?? '', ...cells(o as Obj, now)],
  };
}

export { age, ageColumn };

export function containersImages(podSpec: Obj | undefined): [string, string] {
  const cs = (podSpec?.containers ?? []) as Obj[];
  return [cs.map((c) => c.name).join(','), cs.map((c) => c.image).join(',')];
}

export function selectorString(sel: Obj | undefined): string {
  if (!sel) return '<none>';
  const parts: string[] = [];
  for (const [k, v] of Object.entries((sel.matchLabels ?? {}) as Record<string, string>)) parts.push(`${k}=${v}`);
  for (const e of (sel.matchExpressions ?? []) as Obj[]) {
    if (e.operator === 'In') parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.length ? parts.join(',') : '<none>';
}

export function mapSelectorString(sel: Record<string, string> | undefined): string {
  if (!sel || !Object.keys(sel).length) return '<none>';
  return Object.entries(sel).map(([k, v]) => `${k}=${v}`).join(',');
}

/** Strategy for resources with nothing special. */
export const plainStrategy: Strategy = {};

export function requireField(obj: Obj, path: string, errs: FieldError[]): void {
  const v = get(obj, path);
  if (v === undefined || v === null || v === '') errs.push({ type: 'Required', field: path });
}

export function builtin(d: Omit<ResourceDef, 'strategy'> & { strategy?: Strategy }): ResourceDef {
  return { strategy: plainStrategy, source: 'builtin', ...d };
}

export const metaFields = {
  'metadata.name': (o: KubeObject) => o.metadata?.name,
  'metadata.namespace': (o: KubeObject) => o.metadata?.namespace,
};
