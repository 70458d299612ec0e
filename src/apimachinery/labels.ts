/**
 * Label selectors: the string form (`app=web,tier!=db,env in (a,b),!canary`) used by `?labelSelector=` and
 * `kubectl -l`, and the object form (matchLabels/matchExpressions) used inside resources (Deployments, Services…).
 */
import type { V1LabelSelector } from '@kubernetes/client-node';
import { badRequest } from './status.js';

export type LabelOperator = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  op: LabelOperator;
  values: string[];
}

export type Labels = Record<string, string> | undefined | null;

export interface LabelSelector {
  requirements: LabelRequirement[];
  /** True for the empty selector, which matches everything. */
  empty: boolean;
  matches(labels: Labels): boolean;
  toString(): string;
}

const keyRe = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const valueRe = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function requirementMatches(r: LabelRequirement, labels: Labels): boolean {
  const has = labels != null && Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = has ? labels![r.key] : undefined;
  switch (r.op) {
    case 'exists': return has;
    case '!': return !has;
    case '=': case 'in': return has && r.values.includes(v!);
    case '!=': case 'notin': return !has || !r.values.includes(v!);
    case 'gt': return has && /^-?\d+$/.test(v!) && Number(v) > Number(r.values[0]);
    case 'lt': return has && /^-?\d+$/.test(v!) && Number(v) < Number(r.values[0]);
  }
}

function requirementString(r: LabelRequirement): string {
  switch (r.op) {
    case 'exists': return r.key;
    case '!': return `!${r.key}`;
    case '=': return `${r.key}=${r.values[0]}`;
    case '!=': return `${r.key}!=${r.values[0]}`;
    case 'in': return `${r.key} in (${r.values.join(',')})`;
    case 'notin': return `${r.key} notin (${r.values.join(',')})`;
    case 'gt': return `${r.key}>${r.values[0]}`;
    case 'lt': return `${r.key}<${r.values[0]}`;
  }
}

export function selectorFromRequirements(requirements: LabelRequirement[]): LabelSelector {
  return {
    requirements,
    empty: requirements.length === 0,
    matches: (labels) => requirements.every((r) => requirementMatches(r, labels)),
    toString: () => requirements.map(requirementString).join(','),
  };
}

export const everything: LabelSelector = selectorFromRequirements([]);
/** Matches nothing (a nil object selector in some APIs). */
export const nothing: LabelSelector = { requirements: [], empty: false, matches: () => false, toString: () => '<none>' };

function invalidSelector(sel: string, why: string): Error {
  return badRequest(`unable to parse requirement: ${why}`.replace('$SEL', sel));
}

function validateKey(key: string): void {
  if (!keyRe.test(key) || key.length > 316) {
    throw invalidSelector(key, `<nil>: Invalid value: ${JSON.stringify(key)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`);
  }
}

function validateValue(key: string, value: string): void {
  if (value.length > 63 || !valueRe.test(value)) {
    throw invalidSelector(value, `values[0][${key}]: Invalid value: ${JSON.stringify(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`);
  }
}

/** Parse the string form. Throws a 400 BadRequest StatusError on bad syntax. */
export function parseLabelSelector(input: string | undefined | null): LabelSelector {
  const s = (input ?? '').trim();
  if (!s) return everything;
  const reqs: LabelRequirement[] = [];
  let i = 0;
  const skipWs = () => { while (i < s.length && /\s/.test(s[i]!)) i++; };
  const readWord = (): string => {
    skipWs();
    const start = i;
    while (i < s.length && !/[\s,()=!<>]/.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipWs();
    let negate = false;
    if (s[i] === '!') { negate = true; i++; }
    const key = readWord();
    if (!key) throw badRequest(`unable to parse requirement: found '${s[i] ?? ''}', expected: identifier`);
    validateKey(key);
    skipWs();
    if (negate) {
      reqs.push({ key, op: '!', values: [] });
    } else if (i >= s.length || s[i] === ',') {
      reqs.push({ key, op: 'exists', values: [] });
    } else if (s.startsWith('==', i) || s.startsWith('!=', i) || s[i] === '=') {
      const op = s.startsWith('!=', i) ? '!=' : '=';
      i += s.startsWith('==', i) || op === '!=' ? 2 : 1;
      const value = readWord();
      validateValue(key, value);
      reqs.push({ key, op, values: [value] });
    } else if (s[i] === '>' || s[i] === '<') {
      const op = s[i] === '>' ? 'gt' : 'lt';
      i++;
      const value = readWord();
      if (!/^-?\d+$/.test(value)) throw badRequest(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
      reqs.push({ key, op, values: [value] });
    } else {
      const word = readWord();
      if (word !== 'in' && word !== 'notin') throw badRequest(`unable to parse requirement: found '${word}', expected: in, notin, =, ==, !=, gt, lt`);
      skipWs();
      if (s[i] !== '(') throw badRequest(`unable to parse requirement: found '${s[i] ?? ''}', expected: '('`);
      i++;
      const values: string[] = [];
      for (;;) {
        const v = readWord();
        validateValue(key, v);
        values.push(v);
        skipWs();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === ')') { i++; break; }
        throw badRequest(`unable to parse requirement: found '${s[i] ?? ''}', expected: ',' or ')'`);
      }
      reqs.push({ key, op: word, values });
    }
    skipWs();
    if (i < s.length) {
      if (s[i] !== ',') throw badRequest(`unable to parse requirement: found '${s[i]}', expected: ',' or 'end of string'`);
      i++;
    }
  }
  return selectorFromRequirements(reqs);
}

/** The object form (metav1.LabelSelector). A null/undefined selector matches nothing, as upstream's LabelSelectorAsSelector. */
export function labelSelectorFromObject(sel: V1LabelSelector | undefined | null): LabelSelector {
  if (sel == null) return nothing;
  const reqs: LabelRequirement[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key: k, op: '=', values: [v] });
  for (const e of sel.matchExpressions ?? []) {
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In': reqs.push({ key: e.key, op: 'in', values }); break;
      case 'NotIn': reqs.push({ key: e.key, op: 'notin', values }); break;
      case 'Exists': reqs.push({ key: e.key, op: 'exists', values: [] }); break;
      case 'DoesNotExist': reqs.push({ key: e.key, op: '!', values: [] }); break;
      default: throw badRequest(`${JSON.stringify(e.operator)} is not a valid label selector operator`);
    }
  }
  return selectorFromRequirements(reqs);
}
