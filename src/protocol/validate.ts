/**
 * Strict validation of every inbound frame: size bound, JSON, then a JSON schema per message type
 * (no unknown fields, bounded strings and arrays). A frame that fails is refused with a reason and
 * never reaches the code that changes state.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { EdgeToHub, HubToEdge } from './messages.js';
import { MAX_EDGE_TO_HUB_BYTES, MAX_HUB_TO_EDGE_BYTES } from './messages.js';

export class ProtocolError extends Error {
  constructor(readonly code: 'too-large' | 'bad-json' | 'bad-message' | 'unknown-type', message: string) {
    super(message);
  }
}

const KEY = { type: 'string', minLength: 10, maxLength: 512, pattern: '^/registry/[a-z0-9.-]+(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?){1,2}$' };
const SEQ = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const ID = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const NODE_NAME = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' };
const OBJ = { type: 'object' };
const heartbeat = { type: 'object', additionalProperties: false, required: ['type', 't'], properties: { type: { const: 'heartbeat' }, t: { type: 'number' } } };
const error = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'code', 'message'],
  properties: { type: { const: 'error' }, code: { type: 'string', maxLength: 64 }, message: { type: 'string', maxLength: 4096 } },
};
const tunnel = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'stream'],
  properties: { type: { enum: ['tunnel-open', 'tunnel-data', 'tunnel-close'] }, stream: ID, data: { type: 'string' } },
};

const edgeToHub: Record<string, object> = {
  hello: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'versions', 'node'],
    properties: {
      type: { const: 'hello' },
      versions: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'integer', minimum: 1 } },
      node: NODE_NAME,
      cursor: {
        type: 'object',
        additionalProperties: false,
        required: ['epoch', 'seq'],
        properties: { epoch: { type: 'string', minLength: 1, maxLength: 64 }, seq: SEQ },
      },
      agent: { type: 'string', maxLength: 128 },
    },
  },
  inventory: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'items', 'done'],
    properties: {
      type: { const: 'inventory' },
      done: { type: 'boolean' },
      items: {
        type: 'array',
        maxItems: 5000,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['key', 'uid', 'rv'],
          properties: { key: KEY, uid: { type: 'string', maxLength: 128 }, rv: { type: 'string', maxLength: 64 } },
        },
      },
    },
  },
  ack: { type: 'object', additionalProperties: false, required: ['type', 'seq'], properties: { type: { const: 'ack' }, seq: SEQ } },
  status: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'id', 'kind', 'body'],
    properties: { type: { const: 'status' }, id: ID, kind: { enum: ['node', 'lease', 'pod', 'event', 'pod-terminated'] }, body: OBJ },
  },
  get: { type: 'object', additionalProperties: false, required: ['type', 'id', 'key'], properties: { type: { const: 'get' }, id: ID, key: KEY } },
  heartbeat,
  error,
  'tunnel-open': tunnel,
  'tunnel-data': tunnel,
  'tunnel-close': tunnel,
};

const hubToEdge: Record<string, object> = {
  welcome: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'version', 'epoch', 'resume'],
    properties: { type: { const: 'welcome' }, version: { type: 'integer' }, epoch: { type: 'string', minLength: 1, maxLength: 64 }, resume: { type: 'boolean' } },
  },
  upsert: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'seq', 'key', 'object'],
    properties: {
      type: { const: 'upsert' },
      seq: SEQ,
      key: KEY,
      object: {
        type: 'object',
        required: ['metadata'],
        properties: {
          metadata: {
            type: 'object',
            required: ['name'],
            properties: { name: { type: 'string' }, uid: { type: 'string' }, resourceVersion: { type: 'string' } },
          },
        },
      },
    },
  },
  delete: { type: 'object', additionalProperties: false, required: ['type', 'seq', 'key'], properties: { type: { const: 'delete' }, seq: SEQ, key: KEY } },
  synced: { type: 'object', additionalProperties: false, required: ['type', 'seq'], properties: { type: { const: 'synced' }, seq: SEQ } },
  'status-ack': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'id', 'ok'],
    properties: { type: { const: 'status-ack' }, id: ID, ok: { type: 'boolean' }, reason: { type: 'string', maxLength: 4096 }, retry: { type: 'boolean' } },
  },
  'get-result': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'id'],
    properties: {
      type: { const: 'get-result' },
      id: ID,
      object: OBJ,
      error: {
        type: 'object',
        additionalProperties: false,
        required: ['code', 'reason', 'message'],
        properties: { code: { type: 'integer' }, reason: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
  heartbeat,
  error,
  'tunnel-open': tunnel,
  'tunnel-data': tunnel,
  'tunnel-close': tunnel,
};

function compileAll(schemas: Record<string, object>): Map<string, ValidateFunction> {
  const ajv = new Ajv({ allErrors: false, strict: false });
  return new Map(Object.entries(schemas).map(([t, s]) => [t, ajv.compile(s)]));
}

let compiled: { up: Map<string, ValidateFunction>; down: Map<string, ValidateFunction> } | undefined;
function validators(): { up: Map<string, ValidateFunction>; down: Map<string, ValidateFunction> } {
  compiled ??= { up: compileAll(edgeToHub), down: compileAll(hubToEdge) };
  return compiled;
}

function decode<T>(raw: Buffer | string, maxBytes: number, table: Map<string, ValidateFunction>): T {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > maxBytes) throw new ProtocolError('too-large', `frame of ${size} bytes exceeds the limit of ${maxBytes}`);
  let msg: unknown;
  try {
    msg = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    throw new ProtocolError('bad-json', 'frame is not valid JSON');
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new ProtocolError('bad-message', 'frame is not a JSON object');
  const type = (msg as { type?: unknown }).type;
  if (typeof type !== 'string') throw new ProtocolError('bad-message', 'frame has no string "type"');
  const validate = table.get(type);
  if (!validate) throw new ProtocolError('unknown-type', `unknown message type ${JSON.stringify(type.slice(0, 64))}`);
  if (!validate(msg)) {
    const e = validate.errors?.[0];
    throw new ProtocolError('bad-message', `invalid ${type} message: ${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}`);
  }
  return msg as T;
}

/** Parse and validate a frame the hub received from an edge. Throws ProtocolError. */
export function decodeEdgeToHub(raw: Buffer | string): EdgeToHub {
  return decode<EdgeToHub>(raw, MAX_EDGE_TO_HUB_BYTES, validators().up);
}

/** Parse and validate a frame the edge received from the hub. Throws ProtocolError. */
export function decodeHubToEdge(raw: Buffer | string): HubToEdge {
  return decode<HubToEdge>(raw, MAX_HUB_TO_EDGE_BYTES, validators().down);
}

export function encode(msg: EdgeToHub | HubToEdge): string {
  return JSON.stringify(msg);
}
