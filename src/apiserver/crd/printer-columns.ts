/**
 * additionalPrinterColumns → Table columns and cells. JSONPath subset as CRD authors use it:
 * `.a.b`, `.a[0]`, `.a[*].b`, `.a[?(@.type=="Ready")].status`, `.a['dotted.key']`.
 * A CRD without printer columns gets upstream's default: an Age column.
 */
import type { V1CustomResourceColumnDefinition } from '@kubernetes/client-node';
import { humanDuration } from '../table.js';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description?: string;
  priority?: number;
  jsonPath: string;
}

const AGE: PrinterColumn = {
  name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
};

export function printerColumnsOf(defs: V1CustomResourceColumnDefinition[] | undefined): PrinterColumn[] {
  if (!defs || defs.length === 0) return [AGE];
  return defs.map((d) => ({
    name: d.name, type: (d.type as PrinterColumn['type']) ?? 'string', format: d.format, description: d.description ?? '', priority: d.priority ?? 0, jsonPath: d.jsonPath,
  }));
}

type Segment = { kind: 'field'; name: string } | { kind: 'index'; index: number } | { kind: 'all' } | { kind: 'filter'; field: string[]; op: string; value: unknown };

/** Parse the JSONPath subset; throws on anything else (the CRD validator reports it). */
export function parseJsonPath(path: string): Segment[] {
  let p = path.trim();
  if (p.startsWith('{') && p.endsWith('}')) p = p.slice(1, -1);
  if (p.startsWith('$')) p = p.slice(1);
  const segs: Segment[] = [];
  let i = 0;
  while (i < p.length) {
    if (p[i] === '.') {
      i++;
      const m = /^[A-Za-z0-9_\-$]+/.exec(p.slice(i));
      if (!m) throw new Error(`invalid JSONPath ${JSON.stringify(path)}`);
      segs.push({ kind: 'field', name: m[0] });
      i += m[0].length;
    } else if (p[i] === '[') {
      const end = p.indexOf(']', i);
      if (end < 0) throw new Error(`unclosed [ in JSONPath ${JSON.stringify(path)}`);
      const body = p.slice(i + 1, end).trim();
      i = end + 1;
      if (body === '*') segs.push({ kind: 'all' });
      else if (/^-?\d+$/.test(body)) segs.push({ kind: 'index', index: Number(body) });
      else if (/^'[^']*'$|^"[^"]*"$/.test(body)) segs.push({ kind: 'field', name: body.slice(1, -1) });
      else {
        const f = /^\?\(@((?:\.[A-Za-z0-9_\-]+)+)\s*(==|!=)\s*(.+)\)$/.exec(body);
        if (!f) throw new Error(`unsupported JSONPath expression [${body}] in ${JSON.stringify(path)}`);
        let value: unknown = f[3].trim();
        const raw = String(value);
        if (/^'.*'$/.test(raw)) value = raw.slice(1, -1);
        else { try { value = JSON.parse(raw); } catch { /* bare word */ } }
        segs.push({ kind: 'filter', field: f[1].split('.').slice(1), op: f[2], value });
      }
    } else {
      throw new Error(`invalid JSONPath ${JSON.stringify(path)}`);
    }
  }
  return segs;
}

export function evaluateJsonPath(obj: unknown, segs: Segment[]): unknown[] {
  let cur: unknown[] = [obj];
  for (const s of segs) {
    const next: unknown[] = [];
    for (const v of cur) {
      if (s.kind === 'field') {
        if (v && typeof v === 'object' && !Array.isArray(v) && (v as Record<string, unknown>)[s.name] !== undefined) next.push((v as Record<string, unknown>)[s.name]);
      } else if (s.kind === 'index') {
        if (Array.isArray(v)) { const x = v[s.index < 0 ? v.length + s.index : s.index]; if (x !== undefined) next.push(x); }
      } else if (s.kind === 'all') {
        if (Array.isArray(v)) next.push(...v);
        else if (v && typeof v === 'object') next.push(...Object.values(v));
      } else if (Array.isArray(v)) {
        for (const item of v) {
          let fv: unknown = item;
          for (const f of s.field) fv = fv && typeof fv === 'object' ? (fv as Record<string, unknown>)[f] : undefined;
          const eq = fv === s.value || String(fv) === String(s.value);
          if ((s.op === '==') === eq && fv !== undefined) next.push(item);
        }
      }
    }
    cur = next;
  }
  return cur;
}

/**
 * One cell as upstream's CRD table convertor fills it: the first JSONPath result, typed by the
 * column (mismatches and misses are null, which kubectl shows as `<none>`); `date` columns are
 * rendered server-side as a human age (`5m`), as upstream does.
 */
export function cellValue(obj: unknown, column: PrinterColumn, now: number, compiled = parseJsonPath(column.jsonPath)): unknown {
  const results = evaluateJsonPath(obj, compiled);
  if (results.length === 0) return null;
  const v = results[0];
  switch (column.type) {
    case 'integer': return typeof v === 'number' && Number.isInteger(v) ? v : null;
    case 'number': return typeof v === 'number' ? v : null;
    case 'boolean': return typeof v === 'boolean' ? v : null;
    case 'date': {
      if (typeof v !== 'string') return null;
      const t = Date.parse(v);
      return Number.isNaN(t) ? '<invalid>' : humanDuration(now - t);
    }
    default: return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
}
