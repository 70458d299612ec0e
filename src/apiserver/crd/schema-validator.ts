/**
 * Validates custom resources against a CRD version's openAPIV3Schema with ajv, and words the
 * errors as the upstream API server does (kube-openapi), e.g.
 * `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`.
 * The Kubernetes dialect is translated first: `nullable`, `x-kubernetes-int-or-string`, formats
 * ajv does not know.
 */
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import type { FieldError } from '../../apimachinery/status.js';
import type { StructuralSchema } from '../schema/unknown-fields.js';

// ajv costs ~11 MB of RSS once loaded: load it on the first CRD schema, not at server start.
const require = createRequire(import.meta.url);
let ajv: Ajv | undefined;
function getAjv(): Ajv {
  if (!ajv) {
    const { Ajv: AjvClass } = require('ajv') as typeof import('ajv');
    // Formats are advisory here (upstream validates only a handful); accept any value for them.
    const formats: Record<string, true> = {};
    for (const f of ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'date', 'date-time', 'password', 'int-or-string', 'uuid', 'email',
      'hostname', 'ipv4', 'ipv6', 'uri', 'cidr', 'mac', 'duration', 'quantity', 'datetime', 'bsonobjectid', 'uri-reference', 'isbn', 'creditcard', 'ssn', 'hexcolor', 'rgbcolor']) formats[f] = true;
    ajv = new AjvClass({ allErrors: true, strict: false, validateFormats: false, formats });
  }
  return ajv;
}

type Schema = Record<string, unknown>;

/** Translate the Kubernetes OpenAPI dialect into JSON Schema ajv understands. */
export function toAjvSchema(s: StructuralSchema | undefined): Schema {
  if (!s || typeof s !== 'object') return {};
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-kubernetes-') || k === 'nullable' || k === 'default' || k === 'example' || k === 'description' || k === 'externalDocs' || k === 'format') continue;
    if (k === 'properties' && v && typeof v === 'object') {
      out.properties = Object.fromEntries(Object.entries(v as Record<string, StructuralSchema>).map(([p, ps]) => [p, toAjvSchema(ps)]));
    } else if ((k === 'items' || k === 'not') && v && typeof v === 'object') {
      out[k] = toAjvSchema(v as StructuralSchema);
    } else if (k === 'additionalProperties') {
      out[k] = typeof v === 'object' ? toAjvSchema(v as StructuralSchema) : v;
    } else if ((k === 'allOf' || k === 'anyOf' || k === 'oneOf') && Array.isArray(v)) {
      out[k] = v.map((x) => toAjvSchema(x as StructuralSchema));
    } else {
      out[k] = v;
    }
  }
  if (s['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    if (!out.anyOf && !out.oneOf) out.type = ['integer', 'string'];
  }
  if (s.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (s.nullable === true && Array.isArray(out.enum)) out.enum = [...out.enum, null];
  return out;
}

export type CustomResourceValidator = (obj: unknown) => FieldError[];

/** Compile once per CRD version; the returned function validates one object. */
export function compileValidator(schema: StructuralSchema): CustomResourceValidator {
  const root = toAjvSchema(schema);
  // metadata is validated by the API server's object-meta rules, not by the CRD.
  if (root.properties && typeof root.properties === 'object') {
    const props = { ...(root.properties as Record<string, Schema>) };
    delete props.metadata;
    delete props.apiVersion;
    delete props.kind;
    root.properties = props;
  }
  let fn: ValidateFunction;
  try {
    fn = getAjv().compile(root);
  } catch (err) {
    const message = (err as Error).message;
    return () => [{ type: 'Internal', field: '', detail: `invalid schema: ${message}` }];
  }
  return (obj) => {
    const listErrs = listTypeErrors(obj, schema, '');
    if (fn(obj)) return listErrs;
    return dedupe([...(fn.errors ?? []).map((e) => toFieldError(e, obj)).filter((e): e is FieldError => e !== undefined), ...listErrs]);
  };
}

/** `x-kubernetes-list-type: set|map` forbid duplicates (ajv knows nothing of them). */
function listTypeErrors(value: unknown, s: StructuralSchema | undefined, path: string): FieldError[] {
  if (!s || value === null || typeof value !== 'object') return [];
  const errs: FieldError[] = [];
  if (Array.isArray(value)) {
    const lt = s['x-kubernetes-list-type'];
    const keys = s['x-kubernetes-list-map-keys'] as string[] | undefined;
    const seen = new Set<string>();
    value.forEach((item, i) => {
      let id: string | undefined;
      let shown: unknown = item;
      if (lt === 'set') id = JSON.stringify(item);
      else if (lt === 'map' && keys && item && typeof item === 'object') {
        const k: Record<string, unknown> = {};
        for (const name of keys) if ((item as Record<string, unknown>)[name] !== undefined) k[name] = (item as Record<string, unknown>)[name];
        id = JSON.stringify(k);
        shown = k;
      }
      if (id !== undefined) {
        if (seen.has(id)) errs.push({ type: 'Duplicate', field: `${path}[${i}]`, value: shown });
        seen.add(id);
      }
      errs.push(...listTypeErrors(item, s.items, `${path}[${i}]`));
    });
    return errs;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const child = s.properties?.[k] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
    errs.push(...listTypeErrors(v, child, path === '' ? k : `${path}.${k}`));
  }
  return errs;
}

function dedupe(errs: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errs.filter((e) => {
    const k = `${e.type}|${e.field}|${e.detail}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** `/spec/items/0/name` → `spec.items[0].name`. */
export function fieldPath(instancePath: string): string {
  let out = '';
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

function valueAt(obj: unknown, instancePath: string): unknown {
  let cur = obj;
  for (const raw of instancePath.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

function jsonTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function toFieldError(e: ErrorObject, obj: unknown): FieldError | undefined {
  const field = fieldPath(e.instancePath);
  const value = valueAt(obj, e.instancePath);
  const where = field === '' ? 'body' : `${field} in body`;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type': {
      const want = Array.isArray(p.type) ? (p.type as string[]).filter((t) => t !== 'null').join(',') : String(p.type);
      const actual = jsonTypeName(value);
      return { type: 'Invalid', field, value: actual, detail: `${where} must be of type ${want}: ${JSON.stringify(actual)}` };
    }
    case 'required': {
      const missing = String(p.missingProperty);
      return { type: 'Required', field: field === '' ? missing : `${field}.${missing}` };
    }
    case 'enum':
      return { type: 'NotSupported', field, value, supported: (p.allowedValues as unknown[]).filter((v) => v !== null).map((v) => String(v)) };
    case 'pattern':
      return { type: 'Invalid', field, value, detail: `${where} should match '${String(p.pattern)}'` };
    case 'minimum':
      return { type: 'Invalid', field, value, detail: `${where} should be greater than or equal to ${String(p.limit)}` };
    case 'maximum':
      return { type: 'Invalid', field, value, detail: `${where} should be less than or equal to ${String(p.limit)}` };
    case 'exclusiveMinimum':
      return { type: 'Invalid', field, value, detail: `${where} should be greater than ${String(p.limit)}` };
    case 'exclusiveMaximum':
      return { type: 'Invalid', field, value, detail: `${where} should be less than ${String(p.limit)}` };
    case 'minLength':
      return { type: 'Invalid', field, value, detail: `${where} should be at least ${String(p.limit)} chars long` };
    case 'maxLength':
      return { type: 'TooLong', field, value, detail: `may not be more than ${String(p.limit)} bytes` };
    case 'minItems':
      return { type: 'Invalid', field, value, detail: `${where} should have at least ${String(p.limit)} items` };
    case 'maxItems':
      return { type: 'TooMany', field, value, detail: `must have at most ${String(p.limit)} items` };
    case 'minProperties':
      return { type: 'Invalid', field, value, detail: `${where} should have at least ${String(p.limit)} properties` };
    case 'maxProperties':
      return { type: 'TooMany', field, value, detail: `must have at most ${String(p.limit)} properties` };
    case 'multipleOf':
      return { type: 'Invalid', field, value, detail: `${where} should be a multiple of ${String(p.multipleOf)}` };
    case 'uniqueItems':
      return { type: 'Duplicate', field: `${field}[${String(p.j)}]`, value: Array.isArray(value) ? value[p.j as number] : value };
    case 'anyOf':
    case 'oneOf':
    case 'allOf':
    case 'not':
      return { type: 'Invalid', field, value, detail: `${where} must validate ${e.keyword === 'not' ? 'not' : e.keyword === 'oneOf' ? 'one and only one schema (oneOf)' : e.keyword === 'anyOf' ? 'at least one schema (anyOf)' : 'all the schemas (allOf)'}` };
    default:
      return { type: 'Invalid', field, value, detail: e.message ?? e.keyword };
  }
}
