/**
 * Test-side decoder for the standalone auth test server (the real API server has its own, src/apiserver/protobuf.ts).
 * kubectl's typed clients (`auth can-i`, `auth can-i --list`, `auth whoami`, `create clusterrolebinding`,
 * `create rolebinding`, `create role`, `create clusterrole`, ...) send request bodies as Kubernetes protobuf
 * (Content-Type application/vnd.kubernetes.protobuf) and never fall back to JSON. This decodes the auth and RBAC
 * kinds into their JSON form; the response may be JSON (kubectl's Accept includes *\/*). Other kinds can be added
 * to PROTOBUF_KINDS (field numbers from upstream generated.proto). Wire format: the "k8s\0" magic, then a
 * runtime.Unknown {typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4}.
 * Empty strings are dropped: Go's protobuf always writes them, while JSON omits them (omitempty).
 */

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

export class ProtobufDecodeError extends Error {}
/** The body is well-formed protobuf but of a kind this decoder does not know (answer 415). */
export class ProtobufKindNotSupportedError extends ProtobufDecodeError {}

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
export type Kind = 'string' | 'strings' | 'bool' | 'map' | 'extra' | ((b: Buffer) => unknown);
export function message(buf: Buffer, spec: Record<number, [string, Kind]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields(buf)) {
    const entry = spec[f.num];
    if (!entry) continue;
    const [name, kind] = entry;
    if (kind === 'string') { const v = str(f); if (v !== '') out[name] = v; }
    else if (kind === 'strings') ((out[name] ??= []) as string[]).push(str(f));
    else if (kind === 'bool') out[name] = f.value !== 0n;
    else if (kind === 'map') {
      const kv = message(bytes(f), { 1: ['k', 'string'], 2: ['v', 'string'] });
      ((out[name] ??= {}) as Record<string, string>)[String(kv.k ?? '')] = String(kv.v ?? '');
    } else if (kind === 'extra') {
      const kv = message(bytes(f), { 1: ['k', 'string'], 2: ['v', (b) => message(b, { 1: ['items', 'strings'] }).items ?? []] });
      ((out[name] ??= {}) as Record<string, unknown>)[String(kv.k ?? '')] = kv.v ?? [];
    } else if (name.endsWith('[]')) ((out[name.slice(0, -2)] ??= []) as unknown[]).push(kind(bytes(f)));
    else out[name] = kind(bytes(f));
  }
  return out;
}

const objectMeta = (b: Buffer): unknown => message(b, { 1: ['name', 'string'], 2: ['generateName', 'string'], 3: ['namespace', 'string'], 11: ['labels', 'map'], 12: ['annotations', 'map'] });
const resourceAttributes = (b: Buffer): unknown => message(b, {
  1: ['namespace', 'string'], 2: ['verb', 'string'], 3: ['group', 'string'], 4: ['version', 'string'],
  5: ['resource', 'string'], 6: ['subresource', 'string'], 7: ['name', 'string'],
});
const nonResourceAttributes = (b: Buffer): unknown => message(b, { 1: ['path', 'string'], 2: ['verb', 'string'] });

const labelSelector = (b: Buffer): unknown => message(b, {
  1: ['matchLabels', 'map'],
  2: ['matchExpressions', (e) => message(e, { 1: ['key', 'string'], 2: ['operator', 'string'], 3: ['values', 'strings'] })],
});
const policyRule = (b: Buffer): unknown => message(b, {
  1: ['verbs', 'strings'], 2: ['apiGroups', 'strings'], 3: ['resources', 'strings'], 4: ['resourceNames', 'strings'], 5: ['nonResourceURLs', 'strings'],
});
const subject = (b: Buffer): unknown => message(b, { 1: ['kind', 'string'], 2: ['apiGroup', 'string'], 3: ['name', 'string'], 4: ['namespace', 'string'] });
const roleRef = (b: Buffer): unknown => message(b, { 1: ['apiGroup', 'string'], 2: ['kind', 'string'], 3: ['name', 'string'] });
function subjectAccessReviewSpec(b: Buffer): unknown {
  return message(b, {
    1: ['resourceAttributes', resourceAttributes], 2: ['nonResourceAttributes', nonResourceAttributes],
    3: ['user', 'string'], 4: ['groups', 'strings'], 5: ['extra', 'extra'], 6: ['uid', 'string'],
  });
}
const reviewOf = (spec: (b: Buffer) => unknown): Record<number, [string, Kind]> => ({ 1: ['metadata', objectMeta], 2: ['spec', spec] });

/** Top-level message layouts by kind. Repeated message fields are collected with a trailing "[]" marker. */
export const PROTOBUF_KINDS: Record<string, Record<number, [string, Kind]>> = {
  SelfSubjectAccessReview: reviewOf((b) => message(b, { 1: ['resourceAttributes', resourceAttributes], 2: ['nonResourceAttributes', nonResourceAttributes] })),
  SubjectAccessReview: reviewOf(subjectAccessReviewSpec),
  LocalSubjectAccessReview: reviewOf(subjectAccessReviewSpec),
  SelfSubjectRulesReview: reviewOf((b) => message(b, { 1: ['namespace', 'string'] })),
  SelfSubjectReview: { 1: ['metadata', objectMeta] },
  Role: { 1: ['metadata', objectMeta], 2: ['rules[]', policyRule] },
  ClusterRole: { 1: ['metadata', objectMeta], 2: ['rules[]', policyRule], 3: ['aggregationRule', (b) => message(b, { 1: ['clusterRoleSelectors[]', labelSelector] })] },
  RoleBinding: { 1: ['metadata', objectMeta], 2: ['subjects[]', subject], 3: ['roleRef', roleRef] },
  ClusterRoleBinding: { 1: ['metadata', objectMeta], 2: ['subjects[]', subject], 3: ['roleRef', roleRef] },
};

/**
 * Decodes a Kubernetes protobuf body of a kind in PROTOBUF_KINDS into its JSON object form.
 * Throws ProtobufKindNotSupportedError for other kinds (answer 415) and ProtobufDecodeError for malformed input (400).
 */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw new ProtobufDecodeError('missing the k8s protobuf envelope');
  const unknown = message(body.subarray(4), {
    1: ['typeMeta', (b) => message(b, { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] })],
    2: ['raw', (b) => Buffer.from(b)],
    3: ['contentEncoding', 'string'],
  });
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const raw = (unknown.raw as Buffer | undefined) ?? Buffer.alloc(0);
  if (unknown.contentEncoding) throw new ProtobufDecodeError('content encodings are not supported');
  const kind = typeMeta.kind ?? '';
  const layout = PROTOBUF_KINDS[kind];
  if (!layout) throw new ProtobufKindNotSupportedError(`protobuf decoding of kind "${kind}" is not supported`);
  const obj = message(raw, layout);
  return { apiVersion: typeMeta.apiVersion, kind, metadata: {}, ...obj };
}
