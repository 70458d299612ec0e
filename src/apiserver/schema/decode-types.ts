/**
 * Type checking of built-in objects at decode time, as kube-apiserver's JSON decoder (sigs.k8s.io/json, Go's
 * encoding/json) rejects a body whose values do not fit the typed struct: `replicas: "three"` is
 * `json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`, ConfigMap
 * `data: {a: 1}` is `... Go struct field ConfigMap.data of type string`, and `cpu: banana` is resource.Quantity's
 * own parse error. Driven by the same client-node models as unknown-field detection (model-catalog.ts), generically;
 * the only hand-kept list is which fields are resource.Quantity (the models type them as plain strings).
 *
 * Quantities are also rewritten to upstream's canonical form (`1.5` → `1500m`), since upstream stores what its
 * Quantity serializes. The first error in document order is reported, as Go's decoder does.
 */
import { canonicalQuantity, QUANTITY_FORMAT_ERROR, QuantityError } from '../../common/quantity.js';
import { modelFields, modelNameForKind, type TypeRef } from './model-catalog.js';

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields whose Go type is resource.Quantity (scalar) or a map of them (v1.ResourceList and friends). */
const QUANTITY_FIELDS = new Set([
  'V1ResourceRequirements.limits', 'V1ResourceRequirements.requests', 'V1VolumeResourceRequirements.limits', 'V1VolumeResourceRequirements.requests',
  'V1PodSpec.overhead', 'V1Overhead.podFixed', 'V1NodeStatus.capacity', 'V1NodeStatus.allocatable', 'V1EmptyDirVolumeSource.sizeLimit',
  'V1ResourceFieldSelector.divisor', 'V1PersistentVolumeSpec.capacity', 'V1PersistentVolumeClaimStatus.capacity',
  'V1PersistentVolumeClaimStatus.allocatedResources', 'V1ResourceQuotaSpec.hard', 'V1ResourceQuotaStatus.hard', 'V1ResourceQuotaStatus.used',
  'V1LimitRangeItem.max', 'V1LimitRangeItem.min', 'V1LimitRangeItem.default', 'V1LimitRangeItem.defaultRequest',
  'V1LimitRangeItem.maxLimitRequestRatio', 'V1ContainerStatus.allocatedResources', 'V1CSIStorageCapacity.capacity',
  'V1CSIStorageCapacity.maximumVolumeSize', 'V2MetricTarget.averageValue', 'V2MetricTarget.value', 'V2MetricValueStatus.averageValue',
  'V2MetricValueStatus.value',
]);

/** Quantities repeat endlessly ("100m", "128Mi"): remember each string's canonical form or error. */
const canonicalCache = new Map<string, string | DecodeError>();

function canonical(value: string | number): string {
  const text = String(value);
  let known = canonicalCache.get(text);
  if (known === undefined) {
    try {
      known = canonicalQuantity(text);
    } catch (err) {
      if (!(err instanceof QuantityError)) throw err;
      known = new DecodeError(err.message); // Quantity.UnmarshalJSON's error, unwrapped
    }
    if (canonicalCache.size >= 10_000) canonicalCache.clear();
    canonicalCache.set(text, known);
  }
  if (known instanceof DecodeError) throw new DecodeError(known.message);
  return known;
}

/** What JSON value Go's decoder says it saw. */
function jsonKind(v: Json): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'object';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'bool';
  return 'string';
}

/** `V1DeploymentSpec` → `DeploymentSpec`, `CoreV1Event` → `Event` (the Go struct name). */
function goStructName(model: string): string {
  return model.replace(/^[A-Z][a-z]*?V\d+(?:alpha\d+|beta\d+)?(?=[A-Z])/, '').replace(/^V\d+(?:alpha\d+|beta\d+)?(?=[A-Z])/, '');
}

/** `V1Container` → `v1.Container`: Go's reflect.Type String() for a struct of package version `v1`. */
function goModelType(model: string): string {
  const version = /V(\d+(?:alpha\d+|beta\d+)?)(?=[A-Z])/.exec(model)?.[1];
  return `${version ? `v${version}` : 'v1'}.${goStructName(model)}`;
}

interface FieldType { type: TypeRef; format: string; quantity: boolean }

function goTypeName(t: FieldType): string {
  if (t.quantity) return t.type.kind === 'map' ? 'v1.ResourceList' : 'resource.Quantity';
  const { type, format } = t;
  switch (type.kind) {
    case 'model': return goModelType(type.name);
    case 'array': return `[]${goTypeName({ type: type.items, format, quantity: false })}`;
    case 'map': return `map[string]${goTypeName({ type: type.values, format, quantity: false })}`;
    default:
      switch (type.type) {
        case 'string': return format === 'byte' ? '[]uint8' : 'string';
        case 'boolean': return 'bool';
        case 'number': return format === 'int32' || format === 'int64' ? format : 'float64';
        case 'date': return format === 'date-time-micro' ? 'v1.MicroTime' : 'v1.Time';
        case 'int-or-string': return 'intstr.IntOrString';
        default: return 'interface {}';
      }
  }
}

class DecodeError extends Error {}

/** Where the decoder is: the innermost Go struct and the JSON field path from the root (no list indexes, no map keys). */
interface Context { struct: string; path: string }

function typeMismatch(value: Json, t: FieldType, ctx: Context, numberText?: string): DecodeError {
  const seen = numberText !== undefined ? `number ${numberText}` : jsonKind(value);
  return new DecodeError(`json: cannot unmarshal ${seen} into Go struct field ${ctx.struct}.${ctx.path} of type ${goTypeName(t)}`);
}

/**
 * RFC 3339 as Go's time.Parse reads it (fractional seconds optional). Upstream's MicroTime insists on exactly six
 * fraction digits; that is relaxed here, since JavaScript clients (client-node, our own edge) send milliseconds.
 */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Check (and canonicalize quantities in) `holder[key]`. */
function checkValue(holder: Record<string, Json> | Json[], key: string | number, t: FieldType, ctx: Context): void {
  const value = (holder as Record<string | number, Json>)[key];
  if (value === null && Array.isArray(holder)) {
    // A null element of a slice decodes to its element's zero value (`ports: [null]` is one ServicePort{}): stored
    // as that, so code reading the list never meets a null where the type promises an object (a 500 found by
    // test/fuzz/api.fuzz.test.ts).
    const zero = zeroValue(t);
    if (zero !== undefined) holder[key as number] = zero;
    return;
  }
  if (value === null || value === undefined) return; // null decodes to the zero value in Go
  if (t.quantity && t.type.kind !== 'map') {
    if (typeof value === 'string' || typeof value === 'number') {
      (holder as Record<string | number, Json>)[key] = canonical(value);
      return;
    }
    throw new DecodeError(QUANTITY_FORMAT_ERROR); // Quantity.UnmarshalJSON parses `true`, `{}`, `[…]` as text
  }
  const { type } = t;
  switch (type.kind) {
    case 'model':
      // client-node names metav1.MicroTime as a model it does not ship; it is a timestamp string.
      if (type.name === 'V1MicroTime') return checkPrimitive(value, { type: { kind: 'primitive', type: 'date' }, format: 'date-time-micro', quantity: false }, ctx);
      if (!modelFields(type.name)) return; // no shape to check against
      if (!isObject(value)) throw typeMismatch(value, t, ctx);
      return checkModel(value, type.name, ctx.path);
    case 'array':
      if (!Array.isArray(value)) throw typeMismatch(value, t, ctx);
      value.forEach((_, i) => checkValue(value, i, { type: type.items, format: t.format, quantity: false }, ctx));
      return;
    case 'map':
      if (!isObject(value)) throw typeMismatch(value, t, ctx);
      for (const k of Object.keys(value)) checkValue(value, k, { type: type.values, format: t.format, quantity: t.quantity }, ctx);
      return;
    default:
      return checkPrimitive(value, t, ctx);
  }
}

/** Go's zero value of a slice element's type, as JSON; undefined where it is nil (a map, a slice, an any). */
function zeroValue(t: FieldType): Json | undefined {
  const { type } = t;
  if (type.kind === 'model') return modelFields(type.name) ? {} : undefined;
  if (type.kind !== 'primitive' || t.quantity) return undefined;
  switch (type.type) {
    case 'string': return '';
    case 'number': return 0;
    case 'boolean': return false;
    default: return undefined;
  }
}

function checkPrimitive(value: Json, t: FieldType, ctx: Context): void {
  if (t.type.kind !== 'primitive') return;
  switch (t.type.type) {
    case 'string':
      if (typeof value !== 'string') throw typeMismatch(value, t, ctx);
      if (t.format === 'byte') {
        const bad = badBase64Offset(value);
        if (bad !== undefined) throw new DecodeError(`illegal base64 data at input byte ${bad}`); // Go's []byte decoding
      }
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw typeMismatch(value, t, ctx);
      return;
    case 'number':
      if (typeof value !== 'number') throw typeMismatch(value, t, ctx);
      if (t.format === 'int32' || t.format === 'int64') {
        const bound = t.format === 'int32' ? 2 ** 31 : 2 ** 63;
        if (!Number.isInteger(value) || value < -bound || value >= bound) throw typeMismatch(value, t, ctx, String(value));
      }
      return;
    case 'date':
      // metav1.Time.UnmarshalJSON: a JSON string, then time.Parse(RFC3339).
      if (typeof value !== 'string') throw new DecodeError(`json: cannot unmarshal ${jsonKind(value)} into Go value of type string`);
      if (!RFC3339.test(value) || Number.isNaN(Date.parse(value))) {
        throw new DecodeError(`parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(value)} as "2006"`);
      }
      return;
    case 'int-or-string':
      // intstr.IntOrString.UnmarshalJSON: a quoted string, else an int32.
      if (typeof value === 'string') return;
      if (typeof value !== 'number') throw new DecodeError(`json: cannot unmarshal ${jsonKind(value)} into Go value of type int32`);
      if (!Number.isInteger(value) || Math.abs(value) >= 2 ** 31) throw new DecodeError(`json: cannot unmarshal number ${value} into Go value of type int32`);
      return;
    default:
      return; // object / any: RawExtension and JSON fields take whatever is there
  }
}

/** Where Go's base64.StdEncoding gives up on `value` (it skips CR/LF), or undefined when it decodes. */
function badBase64Offset(value: string): number | undefined {
  const clean = value.replace(/[\r\n]/g, '');
  const invalid = clean.search(/[^A-Za-z0-9+/=]/);
  if (invalid >= 0) return invalid;
  const pad = clean.indexOf('=');
  if (pad >= 0 && (clean.length % 4 !== 0 || pad < clean.length - 2 || /[^=]/.test(clean.slice(pad)))) return pad;
  if (clean.length % 4 !== 0) return clean.length - (clean.length % 4);
  return undefined;
}

/** `omitEmpty`: an optional slice or map field, which Go's `omitempty` leaves out of the JSON when it is empty. */
interface ModelCheck { struct: string; fields: Map<string, FieldType & { omitEmpty: boolean }> }
const modelChecks = new Map<string, ModelCheck | null>();

/** A model's Go struct name and field types with their quantity flags, built once per model (every write walks them). */
function modelCheck(model: string): ModelCheck | undefined {
  let check = modelChecks.get(model);
  if (check === undefined) {
    const fields = modelFields(model);
    check = fields ? {
      struct: goStructName(model),
      fields: new Map([...fields].map(([key, f]) => [key, {
        type: f.type, format: f.prop.format, quantity: QUANTITY_FIELDS.has(`${model}.${key}`),
        // Upstream's OpenAPI lists a field as required exactly when its Go tag lacks omitempty.
        omitEmpty: !f.prop.required && (f.type.kind === 'array' || f.type.kind === 'map'),
      }])),
    } : null;
    modelChecks.set(model, check);
  }
  return check ?? undefined;
}

function checkModel(obj: Record<string, Json>, model: string, path: string): void {
  const check = modelCheck(model);
  if (!check) return;
  for (const key in obj) {
    const t = check.fields.get(key);
    if (!t) continue; // unknown fields are field validation's concern (unknown-fields.ts)
    const value = obj[key];
    if (value === null || value === undefined) continue;
    // Strings in string fields (most of any object) need no context: skip building it.
    if (typeof value === 'string' && t.type.kind === 'primitive' && t.type.type === 'string' && t.format !== 'byte' && !t.quantity) continue;
    checkValue(obj, key, t, { struct: check.struct, path: path ? `${path}.${key}` : key });
    // Decoded into Go and encoded again, an empty optional list or map disappears (`annotations: {}`, the `env: []` a
    // strategic-merge `$patch: delete` of the last entry leaves): stored as upstream stores it, so `kubectl diff` sees
    // no drift and a pod template that lost its last env var hashes as one that never had any.
    if (t.omitEmpty && (Array.isArray(value) ? value.length === 0 : isObject(value) && Object.keys(value).length === 0)) delete obj[key];
  }
}

/**
 * The decoding error upstream reports for a built-in object whose values do not fit its Go types (without the
 * `<Kind> in version "<v>" cannot be handled as a <Kind>: ` prefix), or undefined when it decodes. Quantities in
 * `obj` are canonicalized in place and empty optional lists/maps removed (Go's omitempty), as a decode-encode would. Kinds without a client-node model are not checked.
 */
export function decodeTypeError(obj: Json, group: string, version: string, kind: string): string | undefined {
  const model = modelNameForKind(group, version, kind);
  if (!model || !isObject(obj)) return undefined;
  try {
    checkModel(obj, model, '');
    return undefined;
  } catch (err) {
    if (err instanceof DecodeError) return err.message;
    throw err;
  }
}
