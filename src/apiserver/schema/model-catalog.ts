/**
 * Reads the shape of Kubernetes built-in types from @kubernetes/client-node's generated model
 * classes, lazily and one model at a time: each class has a static `attributeTypeMap`
 * (JSON name, TypeScript type, format) and its .d.ts carries the upstream field descriptions and
 * which fields are required (declared without `?`). Loading only what a request touches keeps
 * the server's RSS low — the full model set is ~2,500 classes.
 */
import { createRequire } from 'node:module';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface ModelProperty {
  /** JSON field name (attributeTypeMap baseName). */
  name: string;
  /** TypeScript type text from the generator: `string`, `Array<V1Container>`, `{ [key: string]: string; }`, `IntOrString`, … */
  type: string;
  /** OpenAPI format: int32, int64, date-time, byte, int-or-string, or ''. */
  format: string;
  description?: string;
  required: boolean;
}

export interface ModelInfo {
  name: string;
  description?: string;
  properties: ModelProperty[];
}

const require = createRequire(import.meta.url);
let modelsDir: string | undefined;
function getModelsDir(): string {
  if (!modelsDir) modelsDir = path.join(path.dirname(require.resolve('@kubernetes/client-node')), 'gen', 'models');
  return modelsDir;
}

const cache = new Map<string, ModelInfo | null>();

interface AttributeType { name: string; baseName: string; type: string; format: string }

/** Whether client-node ships a model class with this name (e.g. `V1Pod`). */
export function hasModel(name: string): boolean {
  return /^[A-Za-z0-9]+$/.test(name) && existsSync(path.join(getModelsDir(), `${name}.js`));
}

/**
 * Load a model's shape. Synchronous (the generated .js files are tiny and dependency-free apart
 * from their own class, so we evaluate the attributeTypeMap literal from the source text instead
 * of importing the module graph).
 */
export function loadModel(name: string): ModelInfo | undefined {
  if (cache.has(name)) return cache.get(name) ?? undefined;
  let info: ModelInfo | null = null;
  if (hasModel(name)) {
    const js = readFileSync(path.join(getModelsDir(), `${name}.js`), 'utf8');
    const attrs = parseAttributeTypeMap(js, name);
    const docs = parseDeclarationDocs(path.join(getModelsDir(), `${name}.d.ts`));
    info = {
      name,
      description: docs.classDescription,
      properties: attrs.map((a) => ({
        name: a.baseName,
        type: a.type,
        format: a.format,
        description: docs.fields.get(a.name)?.description,
        required: docs.fields.get(a.name)?.required ?? false,
      })),
    };
  }
  cache.set(name, info);
  return info ?? undefined;
}

/** The `X.attributeTypeMap = [ ... ];` literal is plain JSON in the generated files. */
function parseAttributeTypeMap(js: string, name: string): AttributeType[] {
  const marker = `${name}.attributeTypeMap = `;
  const start = js.indexOf(marker);
  if (start < 0) return [];
  const from = start + marker.length;
  const end = js.indexOf('];', from);
  return JSON.parse(js.slice(from, end + 1)) as AttributeType[];
}

interface DeclarationDocs {
  classDescription?: string;
  fields: Map<string, { description?: string; required: boolean }>;
}

function parseDeclarationDocs(file: string): DeclarationDocs {
  const fields = new Map<string, { description?: string; required: boolean }>();
  if (!existsSync(file)) return { fields };
  const text = readFileSync(file, 'utf8');
  const classMatch = /\/\*\*\s*\n\*\s?([\s\S]*?)\*\/\s*\nexport declare class/.exec(text);
  const classDescription = classMatch ? cleanComment(classMatch[1]) : undefined;
  const body = text.slice(text.indexOf('export declare class'));
  // Each field: optional /** doc */ then `'name'?: type;`
  const re = /(?:\/\*\*([\s\S]*?)\*\/\s*)?'([^']+)'(\?)?:\s*[^;]+;/g;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    fields.set(m[2], { description: m[1] ? cleanComment(m[1]) : undefined, required: !m[3] });
  }
  return { classDescription, fields };
}

function cleanComment(raw: string): string {
  return raw
    .split('\n')
    .map((l) => l.replace(/^\s*\*\s?/, '').trim())
    .filter((l) => l.length > 0)
    .join(' ')
    .replace(/\\(['"])/g, '$1')
    .trim();
}

export interface ModelField {
  prop: ModelProperty;
  type: TypeRef;
}

const fieldMaps = new Map<string, Map<string, ModelField> | null>();

/**
 * A model's fields by JSON name with parsed types — the hot-path form (every write walks objects
 * through it), built once per model.
 */
export function modelFields(model: string): Map<string, ModelField> | undefined {
  let m = fieldMaps.get(model);
  if (m === undefined) {
    const info = loadModel(model);
    m = info ? new Map(info.properties.map((p) => [p.name, { prop: p, type: parseTypeRef(p.type) }])) : null;
    fieldMaps.set(model, m);
  }
  return m ?? undefined;
}

/** Parsed form of a generator type string. */
export type TypeRef =
  | { kind: 'primitive'; type: 'string' | 'number' | 'boolean' | 'date' | 'any' | 'int-or-string' | 'object' }
  | { kind: 'array'; items: TypeRef }
  | { kind: 'map'; values: TypeRef }
  | { kind: 'model'; name: string };

export function parseTypeRef(type: string): TypeRef {
  const t = type.trim();
  const arr = /^Array<(.+)>$/.exec(t);
  if (arr) return { kind: 'array', items: parseTypeRef(arr[1]) };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(t);
  if (map) return { kind: 'map', values: parseTypeRef(map[1]) };
  switch (t) {
    case 'string': return { kind: 'primitive', type: 'string' };
    case 'number': return { kind: 'primitive', type: 'number' };
    case 'boolean': return { kind: 'primitive', type: 'boolean' };
    case 'Date': return { kind: 'primitive', type: 'date' };
    case 'IntOrString': return { kind: 'primitive', type: 'int-or-string' };
    case 'object': return { kind: 'primitive', type: 'object' };
    case 'any': return { kind: 'primitive', type: 'any' };
    default: return { kind: 'model', name: t };
  }
}

/**
 * Name of the client-node model class for a built-in kind: `V1Pod`, `V1Deployment`, or the
 * group-prefixed form the generator uses when a kind name is ambiguous (`CoreV1Event`,
 * `EventsV1Event`).
 */
const kindModels = new Map<string, string | null>();

export function modelNameForKind(group: string, version: string, kind: string): string | undefined {
  const key = `${group}/${version}/${kind}`;
  let v = kindModels.get(key);
  if (v === undefined) {
    v = resolveModelNameForKind(group, version, kind) ?? null;
    kindModels.set(key, v);
  }
  return v ?? undefined;
}

function resolveModelNameForKind(group: string, version: string, kind: string): string | undefined {
  // Only Kubernetes' own groups have client-node models; a CRD kind named like a built-in (`Pod`
  // in `stable.example.com`) must not borrow its schema. CRD groups always contain a dot and
  // *.k8s.io is reserved for Kubernetes.
  if (group !== '' && group.includes('.') && !group.endsWith('.k8s.io')) return undefined;
  const ver = version.charAt(0).toUpperCase() + version.slice(1);
  const groupWord = group === '' ? 'Core' : group.split('.')[0];
  const prefixed = `${groupWord.charAt(0).toUpperCase()}${groupWord.slice(1)}${ver}${kind}`;
  if (hasModel(prefixed)) return prefixed;
  const plain = `${ver}${kind}`;
  if (hasModel(plain)) return plain;
  return undefined;
}
