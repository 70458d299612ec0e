/**
 * How deeply a JSON document nests, bounded. `JSON.parse` builds a document of any depth, but everything that
 * walks one afterwards recurses on the JavaScript stack (JSON.stringify, structuredClone, merge patches, field
 * sets, duplicate-field scans) and throws RangeError somewhere between ~2,000 and ~16,000 levels, depending on
 * the thread and the walker. Bodies from the network are therefore refused past MAX_JSON_DEPTH before anything
 * walks them. Upstream's decoder (Go encoding/json) stops at 10,000 ("exceeded max depth"); no Kubernetes object
 * comes near either bound (a Pod nests ~10 deep, a CRD's schema a few dozen).
 */

/** Deepest nesting of objects and arrays accepted from a client, an edge or the hub. */
export const MAX_JSON_DEPTH = 512;

/**
 * True when the JSON text nests objects/arrays deeper than `limit`. One iterative pass over the characters,
 * skipping strings; YAML flow collections (`{…}`, `[…]`) count the same way. Malformed text gives no false
 * positive beyond its bracket count (the parser reports it).
 */
export function jsonTextTooDeep(text: string, limit = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i++;
        else if (d === 34) break;
      }
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > limit) return true;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    }
  }
  return false;
}

/**
 * Deepest nesting accepted in a YAML body. The YAML parser recurses per level of block and flow nesting and runs out
 * of stack at ~770 levels (measured on the API server's thread), below JSON's bound; upstream's YAML decoder stops
 * at 10,000. No Kubernetes object nests near 200.
 */
export const MAX_YAML_DEPTH = 200;

/**
 * True when YAML text may nest deeper than `limit`, checked before the parser recurses: flow collections as in
 * JSON, plus block nesting (a stack of indentation levels, each compact `- ` sequence entry on a line one level
 * more). An over-estimate at worst (a block scalar whose lines keep indenting), never an under-estimate.
 */
export function yamlTextTooDeep(text: string, limit = MAX_YAML_DEPTH): boolean {
  if (jsonTextTooDeep(text, limit)) return true;
  const indents: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^( *)((?:- +)*)(.*)$/.exec(line)!;
    const dashes = m[2]!.length === 0 ? 0 : m[2]!.split('-').length - 1;
    if (dashes === 0 && (m[3]!.trim() === '' || m[3]!.trimStart().startsWith('#'))) continue;
    const indent = m[1]!.length;
    while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
    indents.push(indent);
    if (indents.length + dashes > limit) return true;
  }
  return false;
}

/** True when a parsed value nests objects/arrays deeper than `limit` (iterative: safe on any depth). */
export function valueTooDeep(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
  }
  return false;
}
