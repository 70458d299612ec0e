/**
 * Field selectors (`?fieldSelector=spec.nodeName=n1,status.phase!=Running`). Each resource declares which fields
 * it supports (as upstream does: metadata.name and metadata.namespace always, plus per-kind fields); anything
 * else is refused with upstream's `field label not supported: X`.
 */
import { badRequest } from './status.js';

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

export interface FieldSelector {
  requirements: FieldRequirement[];
  empty: boolean;
  matches(fields: (field: string) => string | undefined): boolean;
  /** The value the selector pins for `field` with `=`, if any (lets list serving narrow by namespace/name). */
  exactValue(field: string): string | undefined;
}

/** Split on unescaped separators; upstream escapes `\,`, `\=` and `\\` inside values. */
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) { cur += c + s[i + 1]; i++; continue; }
    if (c === sep) { parts.push(cur); cur = ''; continue; }
    cur += c;
  }
  parts.push(cur);
  return parts;
}

function unescape(v: string): string {
  return v.replace(/\\(.)/g, '$1');
}

export function parseFieldSelector(input: string | undefined | null, supported?: (field: string) => boolean): FieldSelector {
  const s = (input ?? '').trim();
  const reqs: FieldRequirement[] = [];
  if (s) {
    for (const part of splitUnescaped(s, ',')) {
      const p = part.trim();
      if (!p) continue;
      let m = /^([^=!]+)(==|!=|=)(.*)$/.exec(p);
      if (!m) throw badRequest(`invalid selector: '${s}'; can't understand '${p}'`);
      const field = m[1]!.trim();
      const op = m[2] === '!=' ? '!=' : '=';
      reqs.push({ field, op, value: unescape(m[3]!.trim()) });
      m = null;
    }
  }
  for (const r of reqs) {
    if (supported && !supported(r.field)) throw badRequest(`field label not supported: ${r.field}`);
  }
  return {
    requirements: reqs,
    empty: reqs.length === 0,
    matches: (get) => reqs.every((r) => {
      const v = get(r.field) ?? '';
      return r.op === '=' ? v === r.value : v !== r.value;
    }),
    exactValue: (field) => reqs.find((r) => r.field === field && r.op === '=')?.value,
  };
}
