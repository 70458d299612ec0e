/**
 * Finds keys set twice in one JSON or YAML object — the "duplicate field" half of
 * `fieldValidation`. `JSON.parse` silently keeps the last value, so the raw request text is
 * scanned. Wording follows upstream: JSON `duplicate field "spec.replicas"`; YAML
 * `line 6: key "replicas" already set in map`.
 */
import { parseDocument, isMap, isSeq, isScalar, type Node } from 'yaml';

/** Duplicate keys in JSON text, as dotted paths. Malformed JSON yields [] (the parser reports it). */
export function duplicateFieldsInJson(text: string): string[] {
  // Every write body goes through here, so the scan is one pass over char codes: key strings are sliced
  // (decoded only when they hold escapes) and a path is rendered only for a key that is actually repeated.
  const out: string[] = [];
  const path: (string | number)[] = [];
  const n = text.length;
  let i = 0;
  const render = (key: string): string => {
    let s = '';
    for (const seg of path) s = typeof seg === 'number' ? `${s}[${seg}]` : s === '' ? seg : `${s}.${seg}`;
    return s === '' ? key : `${s}.${key}`;
  };
  const ws = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else return;
    }
  };
  const str = (): string => {
    const start = ++i; // past the opening quote
    let escaped = false;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c === 34) break; // "
      if (c === 92) { escaped = true; i++; } // backslash: skip the escaped char
    }
    const raw = text.slice(start, i);
    i++; // closing quote
    if (!escaped) return raw;
    try { return JSON.parse(`"${raw}"`) as string; } catch { return ''; }
  };
  const value = (): void => {
    ws();
    const c = text.charCodeAt(i);
    if (c === 123) { // {
      i++;
      ws();
      if (text.charCodeAt(i) === 125) { i++; return; }
      let seen: Set<string> | undefined;
      let first: string | undefined;
      while (i < n) {
        ws();
        if (text.charCodeAt(i) !== 34) return;
        const key = str();
        // Most objects are small: a Set only from the second key on.
        if (first === undefined) first = key;
        else {
          seen ??= new Set([first]);
          if (seen.has(key)) out.push(render(key));
          seen.add(key);
        }
        ws();
        if (text.charCodeAt(i) !== 58) return; // :
        i++;
        path.push(key);
        value();
        path.pop();
        ws();
        const d = text.charCodeAt(i);
        if (d === 44) { i++; continue; } // ,
        if (d === 125) { i++; return; }
        return;
      }
    } else if (c === 91) { // [
      i++;
      ws();
      if (text.charCodeAt(i) === 93) { i++; return; }
      let index = 0;
      while (i < n) {
        path.push(index++);
        value();
        path.pop();
        ws();
        const d = text.charCodeAt(i);
        if (d === 44) { i++; continue; }
        if (d === 93) { i++; return; }
        return;
      }
    } else if (c === 34) {
      str();
    } else {
      // number, true, false, null
      for (; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 44 || d === 125 || d === 93 || d === 32 || d === 9 || d === 10 || d === 13) break;
      }
    }
  };
  value();
  return out;
}

/** Duplicate keys in YAML text, worded like upstream's YAML decoder (`line N: key "k" already set in map`). */
export function duplicateFieldsInYaml(text: string): string[] {
  const doc = parseDocument(text, { uniqueKeys: false });
  const out: string[] = [];
  const lineOf = (offset: number): number => {
    let line = 1;
    for (let j = 0; j < offset && j < text.length; j++) if (text[j] === '\n') line++;
    return line;
  };
  const walk = (node: Node | null | undefined): void => {
    if (!node) return;
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const keyNode = pair.key as Node | null;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        if (seen.has(key)) out.push(`line ${lineOf(keyNode?.range?.[0] ?? 0)}: key ${JSON.stringify(key)} already set in map`);
        seen.add(key);
        walk(pair.value as Node | null);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item as Node | null);
    }
  };
  walk(doc.contents as Node | null);
  return out;
}
