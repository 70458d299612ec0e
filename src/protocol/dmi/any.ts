/**
 * KubeEdge's CustomizedValue (a Device's protocol and visitor `configData`) on the DMI wire: a
 * map<string, google.protobuf.Any> whose values are well-known wrapper messages. KubeEdge's mapper-framework
 * unpacks StringValue, Int32Value, Int64Value, FloatValue and BoolValue, so those are what a JSON scalar becomes
 * here; a nested object or list (KubeEdge's own device manager cannot send one) travels as a
 * google.protobuf.Struct / ListValue, which Kedge's mappers unpack and other mappers skip.
 * The handful of wire encodings involved are written out by hand rather than pulling in a protobuf runtime.
 */
import type { AnyMessage, CustomizedValueMessage } from './types.js';

const TYPE_PREFIX = 'type.googleapis.com/google.protobuf.';
const MAX_DEPTH = 32;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

// ---- writing ----
class Writer {
  private parts: Buffer[] = [];
  varint(v: bigint | number): this {
    let n = BigInt.asUintN(64, BigInt(v));
    const bytes: number[] = [];
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n) b |= 0x80;
      bytes.push(b);
    } while (n);
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  bytes(field: number, b: Buffer): this {
    this.tag(field, 2).varint(b.length);
    this.parts.push(b);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }
  float(field: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.tag(field, 5).parts.push(b);
    return this;
  }
  double(field: number, v: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    this.tag(field, 1).parts.push(b);
    return this;
  }
  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function encodeValue(v: JsonValue, depth: number): Buffer {
  if (depth > MAX_DEPTH) throw new Error('configData nested too deeply');
  const w = new Writer();
  if (v === null) w.tag(1, 0).varint(0);
  else if (typeof v === 'number') w.double(2, v);
  else if (typeof v === 'string') w.string(3, v);
  else if (typeof v === 'boolean') w.tag(4, 0).varint(v ? 1 : 0);
  else if (Array.isArray(v)) w.bytes(6, encodeList(v, depth + 1));
  else w.bytes(5, encodeStruct(v, depth + 1));
  return w.finish();
}

function encodeStruct(o: { [key: string]: JsonValue }, depth: number): Buffer {
  const w = new Writer();
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    w.bytes(1, new Writer().string(1, k).bytes(2, encodeValue(v, depth)).finish());
  }
  return w.finish();
}

function encodeList(a: JsonValue[], depth: number): Buffer {
  const w = new Writer();
  for (const v of a) w.bytes(1, encodeValue(v, depth));
  return w.finish();
}

/** One JSON value as the Any KubeEdge's mappers expect for it. */
export function encodeAny(v: JsonValue): AnyMessage {
  const w = new Writer();
  let type: string;
  if (typeof v === 'string') {
    type = 'StringValue';
    w.string(1, v);
  } else if (typeof v === 'boolean') {
    type = 'BoolValue';
    if (v) w.tag(1, 0).varint(1);
  } else if (typeof v === 'number' && Number.isSafeInteger(v)) {
    type = 'Int64Value';
    if (v !== 0) w.tag(1, 0).varint(v);
  } else if (typeof v === 'number') {
    // FloatValue, not DoubleValue: it is the fractional type mapper-framework unpacks (scale: 0.1 and the like).
    type = 'FloatValue';
    w.float(1, v);
  } else if (Array.isArray(v)) {
    return { type_url: `${TYPE_PREFIX}ListValue`, value: encodeList(v, 1) };
  } else if (v === null) {
    return { type_url: `${TYPE_PREFIX}Value`, value: encodeValue(null, 0) };
  } else {
    return { type_url: `${TYPE_PREFIX}Struct`, value: encodeStruct(v, 1) };
  }
  return { type_url: `${TYPE_PREFIX}${type}`, value: w.finish() };
}

export function encodeCustomizedValue(data: Record<string, unknown> | undefined): CustomizedValueMessage {
  const out: Record<string, AnyMessage> = {};
  for (const [k, v] of Object.entries(data ?? {})) {
    if (v === undefined) continue;
    out[k] = encodeAny(v as JsonValue);
  }
  return { data: out };
}

// ---- reading ----
class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return BigInt.asUintN(64, result);
    }
    throw new Error('varint too long');
  }
  take(n: number): Buffer {
    if (n < 0 || this.pos + n > this.buf.length) throw new Error('truncated field');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** Next field as [number, wire type, payload]; payload is a bigint (varint), or the raw bytes. */
  field(): [number, number, bigint | Buffer] {
    const key = Number(this.varint());
    const wire = key & 7;
    const num = key >>> 3;
    switch (wire) {
      case 0: return [num, wire, this.varint()];
      case 1: return [num, wire, this.take(8)];
      case 2: return [num, wire, this.take(Number(this.varint()))];
      case 5: return [num, wire, this.take(4)];
      default: throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

function decodeWrapper(type: string, buf: Buffer): JsonValue {
  const r = new Reader(buf);
  let raw: bigint | Buffer | undefined;
  while (!r.done) {
    const [num, , payload] = r.field();
    if (num === 1) raw = payload;
  }
  switch (type) {
    case 'StringValue': return raw instanceof Buffer ? raw.toString('utf8') : '';
    case 'BytesValue': return raw instanceof Buffer ? raw.toString('utf8') : '';
    case 'BoolValue': return typeof raw === 'bigint' && raw !== 0n;
    case 'Int32Value': return typeof raw === 'bigint' ? Number(BigInt.asIntN(32, raw)) : 0;
    case 'UInt32Value': return typeof raw === 'bigint' ? Number(BigInt.asUintN(32, raw)) : 0;
    case 'Int64Value': return typeof raw === 'bigint' ? Number(BigInt.asIntN(64, raw)) : 0;
    case 'UInt64Value': return typeof raw === 'bigint' ? Number(raw) : 0;
    // float32 carries ~7 significant digits: 0.1f reads back as 0.1, not 0.100000001490116.
    case 'FloatValue': return raw instanceof Buffer && raw.length === 4 ? Number(raw.readFloatLE(0).toPrecision(7)) : 0;
    case 'DoubleValue': return raw instanceof Buffer && raw.length === 8 ? raw.readDoubleLE(0) : 0;
    default: throw new Error(`unsupported type ${type}`);
  }
}

function decodeValue(buf: Buffer, depth: number): JsonValue {
  if (depth > MAX_DEPTH) throw new Error('value nested too deeply');
  const r = new Reader(buf);
  let v: JsonValue = null;
  while (!r.done) {
    const [num, , p] = r.field();
    if (num === 1) v = null;
    else if (num === 2 && p instanceof Buffer && p.length === 8) v = p.readDoubleLE(0);
    else if (num === 3 && p instanceof Buffer) v = p.toString('utf8');
    else if (num === 4 && typeof p === 'bigint') v = p !== 0n;
    else if (num === 5 && p instanceof Buffer) v = decodeStruct(p, depth + 1);
    else if (num === 6 && p instanceof Buffer) v = decodeList(p, depth + 1);
  }
  return v;
}

function decodeStruct(buf: Buffer, depth: number): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  const r = new Reader(buf);
  while (!r.done) {
    const [num, , entry] = r.field();
    if (num !== 1 || !(entry instanceof Buffer)) continue;
    const er = new Reader(entry);
    let key = '';
    let value: JsonValue = null;
    while (!er.done) {
      const [n, , p] = er.field();
      if (n === 1 && p instanceof Buffer) key = p.toString('utf8');
      else if (n === 2 && p instanceof Buffer) value = decodeValue(p, depth);
    }
    // Keys are data: never let one reach Object.prototype.
    if (key === '__proto__') continue;
    out[key] = value;
  }
  return out;
}

function decodeList(buf: Buffer, depth: number): JsonValue[] {
  const out: JsonValue[] = [];
  const r = new Reader(buf);
  while (!r.done) {
    const [num, , p] = r.field();
    if (num === 1 && p instanceof Buffer) out.push(decodeValue(p, depth));
  }
  return out;
}

/** An Any back to JSON; throws on a type that is not a protobuf well-known value type. */
export function decodeAny(a: AnyMessage): JsonValue {
  const url = a.type_url ?? '';
  const type = url.slice(url.lastIndexOf('/') + 1);
  const buf = Buffer.from(a.value ?? []);
  if (!type.startsWith('google.protobuf.')) throw new Error(`unsupported Any type ${JSON.stringify(url)}`);
  const short = type.slice('google.protobuf.'.length);
  if (short === 'Struct') return decodeStruct(buf, 1);
  if (short === 'ListValue') return decodeList(buf, 1);
  if (short === 'Value') return decodeValue(buf, 1);
  return decodeWrapper(short, buf);
}

/** configData back to a JSON object; a value of an unknown type is left out and named in `skipped`. */
export function decodeCustomizedValue(cv: CustomizedValueMessage | null | undefined): { data: Record<string, JsonValue>; skipped: string[] } {
  const data: Record<string, JsonValue> = {};
  const skipped: string[] = [];
  for (const [k, v] of Object.entries(cv?.data ?? {})) {
    if (k === '__proto__') { skipped.push(k); continue; }
    try {
      data[k] = decodeAny(v);
    } catch {
      skipped.push(k);
    }
  }
  return { data, skipped };
}
