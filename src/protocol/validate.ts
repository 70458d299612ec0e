/**
 * Strict validation of every inbound frame: size bound, JSON, then a schema per message type
 * (no unknown fields, bounded strings and arrays). A frame that fails is refused with a reason and
 * never reaches the code that changes state.
 */
import type { EdgeToHub, HubToEdge } from './messages.js';
import { MAX_EDGE_TO_HUB_BYTES, MAX_HUB_TO_EDGE_BYTES } from './messages.js';
import { jsonTextTooDeep, MAX_JSON_DEPTH } from '../common/json-depth.js';

/** A frame wraps an object (or a patch of one) in at most two levels: `{"type":"upsert","object":{…}}`. */
export const MAX_FRAME_DEPTH = MAX_JSON_DEPTH + 2;

export class ProtocolError extends Error {
  constructor(readonly code: 'too-large' | 'bad-json' | 'bad-message' | 'unknown-type', message: string) {
    super(message);
  }
}

/**
 * Schemas as small hand-written checkers (an edge on a 1 GB gateway should not pay ~12 MB of RSS for a
 * JSON-schema compiler to validate a dozen message shapes). A checker returns null or what is wrong.
 */
type Check = (v: unknown, path: string) => string | null;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(opts: { min?: number; max?: number; pattern?: RegExp } = {}): Check {
  return (v, p) => {
    if (typeof v !== 'string') return `${p} must be a string`;
    if (opts.min !== undefined && v.length < opts.min) return `${p} must be at least ${opts.min} characters`;
    if (opts.max !== undefined && v.length > opts.max) return `${p} must be at most ${opts.max} characters`;
    if (opts.pattern && !opts.pattern.test(v)) return `${p} has an invalid format`;
    return null;
  };
}
const int = (min = 0, max = Number.MAX_SAFE_INTEGER): Check => (v, p) =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? null : `${p} must be an integer in [${min}, ${max}]`;
const num: Check = (v, p) => (typeof v === 'number' && Number.isFinite(v) ? null : `${p} must be a number`);
const bool: Check = (v, p) => (typeof v === 'boolean' ? null : `${p} must be a boolean`);
const oneOf = (...values: string[]): Check => (v, p) => (typeof v === 'string' && values.includes(v) ? null : `${p} must be one of ${values.join(', ')}`);
const anyObject: Check = (v, p) => (isObj(v) ? null : `${p} must be an object`);
function arr(item: Check, maxItems: number, minItems = 0): Check {
  return (v, p) => {
    if (!Array.isArray(v)) return `${p} must be an array`;
    if (v.length > maxItems || v.length < minItems) return `${p} must have ${minItems}..${maxItems} items`;
    for (let i = 0; i < v.length; i++) {
      const e = item(v[i], `${p}/${i}`);
      if (e) return e;
    }
    return null;
  };
}
/** An object with exactly these fields (`?` suffix = optional); `open` allows unknown fields. */
function shape(fields: Record<string, Check>, open = false): Check {
  const spec = Object.entries(fields).map(([k, c]) => ({ name: k.replace(/\?$/, ''), optional: k.endsWith('?'), check: c }));
  const known = new Set(spec.map((f) => f.name));
  return (v, p) => {
    if (!isObj(v)) return `${p || '/'} must be an object`;
    for (const f of spec) {
      if (!(f.name in v) || v[f.name] === undefined) {
        if (f.optional) continue;
        return `${p}/${f.name} is required`;
      }
      const e = f.check(v[f.name], `${p}/${f.name}`);
      if (e) return e;
    }
    if (!open) for (const k of Object.keys(v)) if (!known.has(k)) return `${p}/${k} is not allowed`;
    return null;
  };
}

const KEY = str({ min: 10, max: 512, pattern: /^\/registry\/[a-z0-9.-]+(\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?){1,2}$/ });
const SEQ = int();
const ID = int();
const NODE_NAME = str({ min: 1, max: 253, pattern: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/ });
const type = (t: string): Check => (v, p) => (v === t ? null : `${p} must be ${t}`);
const heartbeat = shape({ type: type('heartbeat'), t: num });
const error = shape({ type: type('error'), code: str({ max: 64 }), message: str({ max: 4096 }) });

/** Bounds of a usage report: 10,000 containers is ~40 times what a node runs at the kubelet's 110-pod default. */
export const MAX_USAGE_CONTAINERS = 10_000;
const NAME = str({ min: 1, max: 253 });
const nonNegative: Check = (v, p) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? null : `${p} must be a finite number >= 0`);
const point = {
  'cpuSeconds?': nonNegative,
  'cpuTimestampMs?': nonNegative,
  'memoryWorkingSetBytes?': nonNegative,
  'memoryTimestampMs?': nonNegative,
};
const usageSample = shape({
  'node?': shape(point),
  pods: arr(shape({ namespace: NAME, pod: NAME, ...point }), MAX_USAGE_CONTAINERS),
  containers: arr(shape({ namespace: NAME, pod: NAME, container: NAME, 'startTimeSeconds?': nonNegative, ...point }), MAX_USAGE_CONTAINERS),
  scrapeError: bool,
});

const edgeToHub: Record<string, Check> = {
  hello: shape({
    type: type('hello'),
    versions: arr(int(1), 16, 1),
    node: NODE_NAME,
    'cursor?': shape({ epoch: str({ min: 1, max: 64 }), seq: SEQ, 'rev?': SEQ }),
    'agent?': str({ max: 128 }),
  }),
  inventory: shape({
    type: type('inventory'),
    done: bool,
    items: arr(shape({ key: KEY, uid: str({ max: 128 }), rv: str({ max: 64 }) }), 5000),
  }),
  ack: shape({ type: type('ack'), seq: SEQ }),
  status: shape({ type: type('status'), id: ID, kind: oneOf('node', 'lease', 'pod', 'event', 'pod-terminated', 'device'), body: anyObject }),
  get: shape({ type: type('get'), id: ID, key: KEY }),
  usage: shape({ type: type('usage'), sample: usageSample }),
  heartbeat,
  error,
};

const hubToEdge: Record<string, Check> = {
  welcome: shape({ type: type('welcome'), version: int(1), epoch: str({ min: 1, max: 64 }), resume: bool, 'usageIntervalMs?': int(1000, 24 * 3600_000) }),
  upsert: shape({
    type: type('upsert'),
    seq: SEQ,
    key: KEY,
    object: shape({ metadata: shape({ name: str(), 'uid?': str(), 'resourceVersion?': str() }, true) }, true),
  }),
  patch: shape({ type: type('patch'), seq: SEQ, key: KEY, base: str({ min: 1, max: 64 }), patch: anyObject }),
  delete: shape({ type: type('delete'), seq: SEQ, key: KEY }),
  synced: shape({ type: type('synced'), seq: SEQ }),
  progress: shape({ type: type('progress'), rev: SEQ }),
  'status-ack': shape({ type: type('status-ack'), id: ID, ok: bool, 'reason?': str({ max: 4096 }), 'retry?': bool }),
  'get-result': shape({
    type: type('get-result'),
    id: ID,
    'object?': anyObject,
    'error?': shape({ code: int(0, 999), reason: str(), message: str() }),
  }),
  heartbeat,
  error,
};

function decode<T>(raw: Buffer | string, maxBytes: number, table: Record<string, Check>): T {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > maxBytes) throw new ProtocolError('too-large', `frame of ${size} bytes exceeds the limit of ${maxBytes}`);
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  // Free-form fields (a status body, an object, a patch) take any JSON, but whatever walks them later recurses:
  // a status body nested 10,000 deep passed this check and then broke JSON.stringify in the hub's API write.
  if (jsonTextTooDeep(text, MAX_FRAME_DEPTH)) throw new ProtocolError('bad-message', `frame nests deeper than ${MAX_FRAME_DEPTH} levels`);
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    throw new ProtocolError('bad-json', 'frame is not valid JSON');
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new ProtocolError('bad-message', 'frame is not a JSON object');
  const type = (msg as { type?: unknown }).type;
  if (typeof type !== 'string') throw new ProtocolError('bad-message', 'frame has no string "type"');
  const check = Object.hasOwn(table, type) ? table[type] : undefined;
  if (!check) throw new ProtocolError('unknown-type', `unknown message type ${JSON.stringify(type.slice(0, 64))}`);
  const problem = check(msg, '');
  if (problem) throw new ProtocolError('bad-message', `invalid ${type} message: ${problem}`);
  return msg as T;
}

/** Parse and validate a frame the hub received from an edge. Throws ProtocolError. */
export function decodeEdgeToHub(raw: Buffer | string): EdgeToHub {
  return decode<EdgeToHub>(raw, MAX_EDGE_TO_HUB_BYTES, edgeToHub);
}

/** Parse and validate a frame the edge received from the hub. Throws ProtocolError. */
export function decodeHubToEdge(raw: Buffer | string): HubToEdge {
  return decode<HubToEdge>(raw, MAX_HUB_TO_EDGE_BYTES, hubToEdge);
}

export function encode(msg: EdgeToHub | HubToEdge): string {
  return JSON.stringify(msg);
}
