/**
 * Swagger 2.0 documents in the protobuf form clients ask for at /openapi/v2
 * (`Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, gnostic's
 * `openapi.v2.Document`): client-go's discovery client unmarshals only this form, and tools that
 * compute strategic patches from it (kubectl's v2 fallbacks, `kubectl explain
 * --output=plaintext-openapiv2`, GitOps diff engines) need it. Only the parts of the message set
 * that Kubernetes documents use are encoded; vendor extensions travel as YAML text, as gnostic
 * stores them.
 */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';
/** Content-Type of the answer: Go's mime parser rejects the `@` of the request form, so upstream answers with `.v1.0`. */
export const OPENAPI_V2_PROTOBUF_RESPONSE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

type Json = unknown;
type JsonMap = Record<string, Json>;
const isMap = (v: Json): v is JsonMap => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Minimal protobuf writer: varints, length-delimited fields, doubles. */
class Msg {
  private parts: Buffer[] = [];

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  private varint(n: number): void {
    const bytes: number[] = [];
    let v = BigInt.asUintN(64, BigInt(Math.trunc(n)));
    while (v > 0x7fn) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
    this.parts.push(Buffer.from(bytes));
  }

  string(field: number, v: unknown): this {
    if (typeof v !== 'string' || v === '') return this;
    const b = Buffer.from(v, 'utf8');
    this.tag(field, 2);
    this.varint(b.length);
    this.parts.push(b);
    return this;
  }

  strings(field: number, v: unknown): this {
    if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') this.stringAlways(field, s);
    return this;
  }

  private stringAlways(field: number, s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.tag(field, 2);
    this.varint(b.length);
    this.parts.push(b);
  }

  bool(field: number, v: unknown): this {
    if (v !== true) return this;
    this.tag(field, 0);
    this.varint(1);
    return this;
  }

  /** A oneof member is written even when it holds the default value. */
  boolExplicit(field: number, v: boolean): this {
    this.tag(field, 0);
    this.varint(v ? 1 : 0);
    return this;
  }

  int(field: number, v: unknown): this {
    if (typeof v !== 'number' || v === 0) return this;
    this.tag(field, 0);
    this.varint(v);
    return this;
  }

  double(field: number, v: unknown): this {
    if (typeof v !== 'number') return this;
    this.tag(field, 1);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    this.parts.push(b);
    return this;
  }

  message(field: number, m: Msg | undefined): this {
    if (!m) return this;
    const b = m.bytes();
    this.tag(field, 2);
    this.varint(b.length);
    this.parts.push(b);
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** gnostic `Any`: the value as YAML text (JSON is YAML). */
function anyValue(v: Json): Msg {
  return new Msg().string(2, `${JSON.stringify(v)}\n`);
}

function vendorExtensions(m: Msg, field: number, o: JsonMap): void {
  for (const [k, v] of Object.entries(o)) {
    if (k.startsWith('x-')) m.message(field, new Msg().string(1, k).message(2, anyValue(v)));
  }
}

export function schemaMessage(s: JsonMap): Msg {
  const m = new Msg();
  m.string(1, s.$ref).string(2, s.format).string(3, s.title).string(4, s.description);
  if (s.default !== undefined) m.message(5, anyValue(s.default));
  m.double(6, s.multipleOf).double(7, s.maximum).bool(8, s.exclusiveMaximum).double(9, s.minimum).bool(10, s.exclusiveMinimum)
    .int(11, s.maxLength).int(12, s.minLength).string(13, s.pattern).int(14, s.maxItems).int(15, s.minItems).bool(16, s.uniqueItems)
    .int(17, s.maxProperties).int(18, s.minProperties).strings(19, s.required);
  if (Array.isArray(s.enum)) for (const e of s.enum) m.message(20, anyValue(e));
  if (isMap(s.additionalProperties)) m.message(21, new Msg().message(1, schemaMessage(s.additionalProperties)));
  else if (typeof s.additionalProperties === 'boolean') {
    m.message(21, new Msg().boolExplicit(2, s.additionalProperties));
  }
  if (typeof s.type === 'string') m.message(22, new Msg().strings(1, [s.type]));
  else if (Array.isArray(s.type)) m.message(22, new Msg().strings(1, s.type));
  if (isMap(s.items)) m.message(23, new Msg().message(1, schemaMessage(s.items)));
  else if (Array.isArray(s.items)) { const it = new Msg(); for (const i of s.items) if (isMap(i)) it.message(1, schemaMessage(i)); m.message(23, it); }
  if (Array.isArray(s.allOf)) for (const a of s.allOf) if (isMap(a)) m.message(24, schemaMessage(a));
  if (isMap(s.properties)) {
    const props = new Msg();
    for (const [name, p] of Object.entries(s.properties)) if (isMap(p)) props.message(1, new Msg().string(1, name).message(2, schemaMessage(p)));
    m.message(25, props);
  }
  m.bool(27, s.readOnly);
  if (s.example !== undefined) m.message(30, anyValue(s.example));
  vendorExtensions(m, 31, s);
  return m;
}

function parameterItem(p: JsonMap): Msg {
  const param = new Msg();
  if (p.in === 'body') {
    const body = new Msg().string(1, p.description).string(2, p.name).string(3, p.in).bool(4, p.required);
    if (isMap(p.schema)) body.message(5, schemaMessage(p.schema));
    vendorExtensions(body, 6, p);
    param.message(1, body);
  } else {
    const nonBody = new Msg();
    if (p.in === 'path') {
      const sub = new Msg().bool(1, p.required).string(2, p.in).string(3, p.description).string(4, p.name).string(5, p.type).bool(19, p.uniqueItems);
      vendorExtensions(sub, 22, p);
      nonBody.message(4, sub);
    } else if (p.in === 'header') {
      const sub = new Msg().bool(1, p.required).string(2, p.in).string(3, p.description).string(4, p.name).string(5, p.type).bool(19, p.uniqueItems);
      vendorExtensions(sub, 22, p);
      nonBody.message(1, sub);
    } else {
      const sub = new Msg().bool(1, p.required).string(2, p.in).string(3, p.description).string(4, p.name).string(6, p.type).bool(20, p.uniqueItems);
      vendorExtensions(sub, 23, p);
      nonBody.message(3, sub);
    }
    param.message(2, nonBody);
  }
  return new Msg().message(1, param);
}

function operationMessage(op: JsonMap): Msg {
  const m = new Msg().strings(1, op.tags).string(2, op.summary).string(3, op.description).string(5, op.operationId)
    .strings(6, op.produces).strings(7, op.consumes);
  if (Array.isArray(op.parameters)) for (const p of op.parameters) if (isMap(p)) m.message(8, parameterItem(p));
  if (isMap(op.responses)) {
    const responses = new Msg();
    for (const [code, r] of Object.entries(op.responses)) {
      if (!isMap(r)) continue;
      const resp = new Msg().string(1, r.description);
      if (isMap(r.schema)) resp.message(2, new Msg().message(1, schemaMessage(r.schema)));
      responses.message(1, new Msg().string(1, code).message(2, new Msg().message(1, resp)));
    }
    m.message(9, responses);
  }
  m.strings(10, op.schemes).bool(11, op.deprecated);
  vendorExtensions(m, 13, op);
  return m;
}

const OPERATION_FIELDS: Record<string, number> = { get: 2, put: 3, post: 4, delete: 5, options: 6, head: 7, patch: 8 };

/** Encode a Swagger 2.0 document (as built by OpenApiPublisher) into gnostic's protobuf form. */
export function encodeSwaggerProtobuf(doc: JsonMap): Buffer {
  const m = new Msg().string(1, doc.swagger);
  if (isMap(doc.info)) m.message(2, new Msg().string(1, doc.info.title).string(2, doc.info.version).string(3, doc.info.description));
  m.string(3, doc.host).string(4, doc.basePath).strings(5, doc.schemes).strings(6, doc.consumes).strings(7, doc.produces);
  if (isMap(doc.paths)) {
    const paths = new Msg();
    for (const [p, item] of Object.entries(doc.paths)) {
      if (!isMap(item)) continue;
      const pi = new Msg().string(1, item.$ref);
      for (const [verb, field] of Object.entries(OPERATION_FIELDS)) if (isMap(item[verb])) pi.message(field, operationMessage(item[verb] as JsonMap));
      if (Array.isArray(item.parameters)) for (const prm of item.parameters) if (isMap(prm)) pi.message(9, parameterItem(prm));
      vendorExtensions(pi, 10, item);
      paths.message(2, new Msg().string(1, p).message(2, pi));
    }
    m.message(8, paths);
  }
  if (isMap(doc.definitions)) {
    const defs = new Msg();
    for (const [name, s] of Object.entries(doc.definitions)) if (isMap(s)) defs.message(1, new Msg().string(1, name).message(2, schemaMessage(s)));
    m.message(9, defs);
  }
  if (Array.isArray(doc.security)) {
    for (const req of doc.security) {
      if (!isMap(req)) continue;
      const r = new Msg();
      for (const [name, scopes] of Object.entries(req)) r.message(1, new Msg().string(1, name).message(2, new Msg().strings(1, scopes)));
      m.message(12, r);
    }
  }
  if (isMap(doc.securityDefinitions)) {
    const sd = new Msg();
    for (const [name, d] of Object.entries(doc.securityDefinitions)) {
      if (!isMap(d) || d.type !== 'apiKey') continue;
      const apiKey = new Msg().string(1, d.type).string(2, d.name).string(3, d.in).string(4, d.description);
      sd.message(1, new Msg().string(1, name).message(2, new Msg().message(2, apiKey)));
    }
    m.message(13, sd);
  }
  vendorExtensions(m, 16, doc);
  return m.bytes();
}
