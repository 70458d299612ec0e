/**
 * kubectl's typed clients send `auth can-i`, `auth can-i --list` and `auth whoami` request bodies as
 * Kubernetes protobuf (Content-Type application/vnd.kubernetes.protobuf) and do not fall back to JSON.
 * This decodes exactly those review kinds into their JSON form so the API server can evaluate them; the
 * response may be JSON (kubectl's Accept includes *\/*). Wire format: the "k8s\0" magic, then a
 * runtime.Unknown {typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4}.
 */

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

export class ProtobufDecodeError extends Error {}

type Field = { num: number; wire: number; value: bigint | Buffer };

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new ProtobufDecodeError('truncated varint');
    const b = buf[pos++]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
  throw new ProtobufDecodeError('varint too long');
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = readVarint(buf, pos);
    pos = p1;
    const num = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, p2] = readVarint(buf, pos);
      out.push({ num, wire, value: v });
      pos = p2;
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      const end = p2 + Number(len);
      if (end > buf.length) throw new ProtobufDecodeError('truncated length-delimited field');
      out.push({ num, wire, value: buf.subarray(p2, end) });
      pos = end;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new ProtobufDecodeError(`unsupported wire type ${wire}`);
    }
    if (pos > buf.length) throw new ProtobufDecodeError('truncated field');
  }
  return out;
}

const str = (f: Field): string => (Buffer.isBuffer(f.value) ? f.value.toString('utf8') : '');
const bytes = (f: Field): Buffer => (Buffer.isBuffer(f.value) ? f.value : Buffer.alloc(0));

/** Decodes a message into a plain object by a field map: number → [json name, kind]. */
type Kind = 'string' | 'strings' | 'bool' | 'map' | 'extra' | ((b: Buffer) => unknown);
function message(buf: Buffer, spec: Record<number, [string, Kind]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields(buf)) {
    const entry = spec[f.num];
    if (!entry) continue;
    const [name, kind] = entry;
    if (kind === 'string') out[name] = str(f);
    else if (kind === 'strings') ((out[name] ??= []) as string[]).push(str(f));
    else if (kind === 'bool') out[name] = f.value !== 0n;
    else if (kind === 'map') {
      const kv = message(bytes(f), { 1: ['k', 'string'], 2: ['v', 'string'] });
      ((out[name] ??= {}) as Record<string, string>)[String(kv.k ?? '')] = String(kv.v ?? '');
    } else if (kind === 'extra') {
      const kv = message(bytes(f), { 1: ['k', 'string'], 2: ['v', (b) => message(b, { 1: ['items', 'strings'] }).items ?? []] });
      ((out[name] ??= {}) as Record<string, unknown>)[String(kv.k ?? '')] = kv.v ?? [];
    } else out[name] = kind(bytes(f));
  }
  return out;
}

const objectMeta = (b: Buffer): unknown => message(b, { 1: ['name', 'string'], 2: ['generateName', 'string'], 3: ['namespace', 'string'], 11: ['labels', 'map'], 12: ['annotations', 'map'] });
const resourceAttributes = (b: Buffer): unknown => message(b, {
  1: ['namespace', 'string'], 2: ['verb', 'string'], 3: ['group', 'string'], 4: ['version', 'string'],
  5: ['resource', 'string'], 6: ['subresource', 'string'], 7: ['name', 'string'],
});
const nonResourceAttributes = (b: Buffer): unknown => message(b, { 1: ['path', 'string'], 2: ['verb', 'string'] });

const SPECS: Record<string, (b: Buffer) => unknown> = {
  SelfSubjectAccessReview: (b) => message(b, { 1: ['resourceAttributes', resourceAttributes], 2: ['nonResourceAttributes', nonResourceAttributes] }),
  SubjectAccessReview: (b) => subjectAccessReviewSpec(b),
  LocalSubjectAccessReview: (b) => subjectAccessReviewSpec(b),
  SelfSubjectRulesReview: (b) => message(b, { 1: ['namespace', 'string'] }),
};
function subjectAccessReviewSpec(b: Buffer): unknown {
  return message(b, {
    1: ['resourceAttributes', resourceAttributes], 2: ['nonResourceAttributes', nonResourceAttributes],
    3: ['user', 'string'], 4: ['groups', 'strings'], 5: ['extra', 'extra'], 6: ['uid', 'string'],
  });
}

/**
 * Decodes a protobuf-encoded review body (SelfSubjectAccessReview, SubjectAccessReview,
 * LocalSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview) into its JSON object form.
 * Throws ProtobufDecodeError for anything else or malformed input (answer 415/400).
 */
export function decodeReviewProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw new ProtobufDecodeError('missing the k8s protobuf envelope');
  const unknown = message(body.subarray(4), {
    1: ['typeMeta', (b) => message(b, { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] })],
    2: ['raw', (b) => Buffer.from(b)],
    3: ['contentEncoding', 'string'],
  });
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const raw = unknown.raw as Buffer | undefined;
  if (unknown.contentEncoding) throw new ProtobufDecodeError('content encodings are not supported');
  const kind = typeMeta.kind ?? '';
  if (!raw) throw new ProtobufDecodeError('empty protobuf object');
  if (kind === 'SelfSubjectReview') {
    const obj = message(raw, { 1: ['metadata', objectMeta] });
    return { apiVersion: typeMeta.apiVersion, kind, metadata: obj.metadata ?? {} };
  }
  const spec = SPECS[kind];
  if (!spec) throw new ProtobufDecodeError(`protobuf decoding of kind "${kind}" is not supported`);
  const obj = message(raw, { 1: ['metadata', objectMeta], 2: ['spec', spec] });
  return { apiVersion: typeMeta.apiVersion, kind, metadata: obj.metadata ?? {}, spec: obj.spec ?? {} };
}
