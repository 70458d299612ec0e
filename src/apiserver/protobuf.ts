/**
 * Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`). kubectl's typed clients
 * (`kubectl create namespace|configmap|secret|deployment|service…`, `kubectl auth can-i`) send protobuf bodies
 * and never fall back to JSON, so the server must read them. Responses stay JSON, which those clients accept.
 *
 * Wire format: "k8s\0" + runtime.Unknown{typeMeta=1{apiVersion=1,kind=2}, raw=2, contentEncoding=3, contentType=4};
 * raw is the object encoded per k8s.io/api's generated.proto (schemas in protobuf-schemas.ts).
 *
 * A field number the schema does not list is refused (400, naming the message and field), never skipped: skipping
 * would store an object without something the client set (a pointer `false`, a security context). The one field
 * skipped on purpose is `status` on writes to a resource with a status subresource, which the server replaces with the
 * stored status whatever the body says (upstream does the same).
 */
import { badRequest } from '../apimachinery/status.js';
import { MESSAGES, messageForKind, type FieldSpec } from './protobuf-schemas.js';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer, readonly end = buf.length) {}
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.end) throw new Error('truncated bytes');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); return;
      case 1: this.pos += 8; return;
      case 2: this.bytes(); return;
      case 5: this.pos += 4; return;
      default: throw new Error(`unsupported wire type ${wireType}`);
    }
  }
}

type Fields = Map<number, { wire: number; values: (bigint | Buffer)[] }>;

function readFields(buf: Buffer): Fields {
  const r = new Reader(buf);
  const out: Fields = new Map();
  while (r.pos < r.end) {
    const tag = Number(r.varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    let v: bigint | Buffer;
    if (wire === 0) v = r.varint();
    else if (wire === 2) v = r.bytes();
    else { r.skip(wire); continue; }
    const e = out.get(field) ?? { wire, values: [] };
    e.values.push(v);
    out.set(field, e);
  }
  return out;
}

function toInt(v: bigint): number {
  // int32/int64 negatives arrive as 64-bit two's complement varints.
  return Number(BigInt.asIntN(64, v));
}

function decodeTime(buf: Buffer): string | undefined {
  const f = readFields(buf);
  const seconds = f.get(1) ? toInt(f.get(1)!.values[0] as bigint) : 0;
  const nanos = f.get(2) ? toInt(f.get(2)!.values[0] as bigint) : 0;
  if (!seconds && !nanos) return undefined;
  return new Date(seconds * 1000 + Math.floor(nanos / 1e6)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function decodeScalar(kind: string, v: bigint | Buffer): unknown {
  switch (kind) {
    case 'string': return (v as Buffer).toString('utf8');
    case 'bytes': return (v as Buffer).toString('base64');
    case 'int': return toInt(v as bigint);
    case 'bool': return (v as bigint) !== 0n;
    case 'time': return decodeTime(v as Buffer);
    case 'quantity': { const f = readFields(v as Buffer); return f.get(1) ? (f.get(1)!.values[0] as Buffer).toString('utf8') : undefined; }
    case 'intorstring': {
      const f = readFields(v as Buffer);
      const type = f.get(1) ? toInt(f.get(1)!.values[0] as bigint) : 0;
      if (type === 1) return f.get(3) ? (f.get(3)!.values[0] as Buffer).toString('utf8') : '';
      return f.get(2) ? toInt(f.get(2)!.values[0] as bigint) : 0;
    }
    case 'extravalue': // authentication's ExtraValue{repeated string items = 1}: a plain string list in JSON
      return (readFields(v as Buffer).get(1)?.values ?? []).map((item) => (item as Buffer).toString('utf8'));
    case 'raw': {
      const f = readFields(v as Buffer);
      const raw = f.get(1)?.values[0] as Buffer | undefined;
      if (!raw?.length) return undefined;
      try {
        return JSON.parse(raw.toString('utf8'));
      } catch {
        throw new Error('embedded raw object is not JSON'); // refused rather than dropped
      }
    }
    default: {
      if (kind.startsWith('map:')) {
        const valueKind = kind.slice(4);
        const f = readFields(v as Buffer);
        const key = f.get(1) ? (f.get(1)!.values[0] as Buffer).toString('utf8') : '';
        const val = f.get(2) ? decodeScalar(valueKind, f.get(2)!.values[0]!) : valueKind === 'string' ? '' : undefined;
        return [key, val];
      }
      return decodeMessage(kind, v as Buffer);
    }
  }
}

/** Zero values of non-pointer fields are dropped (they are omitempty in JSON); pointer fields (`?`) keep them. */
function isZero(v: unknown): boolean {
  return v === undefined || v === '' || v === 0 || v === false;
}

/** A field the server's schema does not know: the request is refused rather than stored without it. */
export class UnknownProtobufField extends Error {
  constructor(readonly messageType: string, readonly field: number) {
    super(`field ${field} of ${messageType} is not known to this server`);
  }
}

export function decodeMessage(type: string, buf: Buffer, skip: ReadonlySet<number> = NO_SKIP): Record<string, unknown> {
  const schema = MESSAGES[type];
  if (!schema) throw new Error(`no protobuf schema for ${type}`);
  const out: Record<string, unknown> = {};
  for (const [num, entry] of readFields(buf)) {
    if (skip.has(num)) continue;
    const spec: FieldSpec | undefined = schema[num];
    if (!spec) throw new UnknownProtobufField(type, num);
    const [name, kindRaw] = spec;
    if (kindRaw === 'computed') continue; // a review's status: the server computes it, as upstream ignores the request's
    if (kindRaw.startsWith('inline:')) {
      // An embedded struct whose fields JSON carries at the parent's level (IngressRule's IngressRuleValue).
      Object.assign(out, decodeMessage(kindRaw.slice(7), entry.values[entry.values.length - 1] as Buffer));
      continue;
    }
    const repeated = kindRaw.startsWith('[]');
    const pointer = kindRaw.endsWith('?');
    const kind = kindRaw.replace(/^\[\]/, '').replace(/\?$/, '');
    if (kind.startsWith('map:')) {
      const m: Record<string, unknown> = {};
      for (const v of entry.values) { const [k, val] = decodeScalar(kind, v) as [string, unknown]; m[k] = val; }
      out[name] = m;
      continue;
    }
    if (repeated) {
      out[name] = entry.values.map((v) => decodeScalar(kind, v));
      continue;
    }
    const v = decodeScalar(kind, entry.values[entry.values.length - 1]!);
    if (!pointer && isZero(v)) continue;
    if (v === undefined) continue;
    out[name] = v;
  }
  return out;
}

const NO_SKIP: ReadonlySet<number> = new Set();

export function isProtobuf(contentType: string): boolean {
  return contentType === 'application/vnd.kubernetes.protobuf';
}

export interface ProtobufDecodeOptions {
  /** The write replaces `status` with the stored one (main resource of a kind with a status subresource). */
  statusIgnored?: boolean;
}

/** Decode a protobuf request body into the JSON-shaped object the rest of the server works with. */
export function decodeProtobufObject(body: Buffer, opts: ProtobufDecodeOptions = {}): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw badRequest('provided protobuf data does not start with the Kubernetes protobuf prefix');
  try {
    const unknown = readFields(body.subarray(4));
    const tm = unknown.get(1)?.values[0] as Buffer | undefined;
    const typeMeta = tm ? readFields(tm) : new Map();
    const apiVersion = typeMeta.get(1) ? (typeMeta.get(1).values[0] as Buffer).toString('utf8') : '';
    const kind = typeMeta.get(2) ? (typeMeta.get(2).values[0] as Buffer).toString('utf8') : '';
    const raw = (unknown.get(2)?.values[0] as Buffer | undefined) ?? Buffer.alloc(0);
    const message = messageForKind(apiVersion, kind);
    if (!message) throw badRequest(`the server cannot decode protobuf for ${kind} (${apiVersion}); send JSON instead`);
    const statusField = opts.statusIgnored ? Object.entries(MESSAGES[message] ?? {}).find(([, [name]]) => name === 'status')?.[0] : undefined;
    return { apiVersion, kind, ...decodeMessage(message, raw, statusField ? new Set([Number(statusField)]) : NO_SKIP) };
  } catch (err) {
    if (err instanceof Error && 'status' in err) throw err;
    if (err instanceof UnknownProtobufField) {
      throw badRequest(`unable to decode protobuf body: ${err.message}; the request was not applied (send it as JSON or YAML, e.g. kubectl create -f)`);
    }
    throw badRequest(`unable to decode protobuf body: ${(err as Error).message}`);
  }
}
