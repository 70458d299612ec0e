/**
 * Finds keys set twice in one JSON or YAML object — the "duplicate field" half of
 * `fieldValidation`. `JSON.parse` silently keeps the last value, so the raw request text is
 * scanned. Wording follows upstream: JSON `duplicate field "spec.replicas"`; YAML
 * `line 6: key "replicas" already set in map`.
 */
import { parseDocument, isMap, isSeq, isScalar, type Node } from 'yaml';

/** Duplicate keys in JSON text, as dotted paths. Malformed JSON yields [] (the parser reports it). */
export function duplicateFieldsInJson(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  const ws = (): void => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    try { return JSON.parse(text.slice(start, i)) as string; } catch { return ''; }
  };
  const value = (path: string): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const seen = new Set<string>();
      ws();
      if (text[i] === '}') { i++; return; }
      while (i < text.length) {
        ws();
        if (text[i] !== '"') return;
        const key = str();
        const childPath = path === '' ? key : `${path}.${key}`;
        if (seen.has(key)) out.push(childPath);
        seen.add(key);
        ws();
        if (text[i] !== ':') return;
        i++;
        value(childPath);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return; }
        return;
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') { i++; return; }
      let index = 0;
      while (i < text.length) {
        value(`${path}[${index++}]`);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return; }
        return;
      }
    } else if (c === '"') {
      str();
    } else {
      while (i < text.length && !',}] \t\r\n'.includes(text[i])) i++;
    }
  };
  value('');
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
