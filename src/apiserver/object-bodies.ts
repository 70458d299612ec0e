/**
 * Request bodies of object writes, decoded and checked as kube-apiserver's decoder and field validation do: the
 * endpoint's kind/version filled in, a mismatch refused with upstream's texts, values that do not fit the Go types
 * a 400, unknown and duplicate fields per `fieldValidation` (Strict: 400, Warn: a `Warning` header, Ignore),
 * pruned either way. Warnings are kept per request (keyed by its query object) until the answer is sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject } from '../apimachinery/object.js';
import { badRequest, StatusError } from '../apimachinery/status.js';
import { decodeObjectBody, mediaType, readBody, DEFAULT_MAX_BODY_BYTES } from './body.js';
import { groupVersion, type ResourceDef } from './registry.js';
import {
  decodeTypeError, duplicateFieldsInJson, duplicateFieldsInYaml, fieldValidationOutcome, parseFieldValidation, pruneUnknownFields,
} from './schema/index.js';

export class ObjectBodies {
  constructor(private readonly maxBodyBytes = DEFAULT_MAX_BODY_BYTES) {}

  async readObject(req: IncomingMessage, def: ResourceDef, query: URLSearchParams, subresource = ''): Promise<KubeObject> {
    return (await this.readObjectAgain(req, def, query, subresource)).obj;
  }

  /**
   * The body as an object, and a way to decode it again: a write handler hands the object itself to the
   * store's read-modify-write and decodes a fresh one only if the write is retried after a storage conflict
   * (a deep copy per write, for a retry that almost never happens, was the largest cost of a Lease renewal's
   * handler in profiles).
   */
  async readObjectAgain(req: IncomingMessage, def: ResourceDef, query: URLSearchParams, subresource = ''): Promise<{ obj: KubeObject; again: () => KubeObject }> {
    const body = await readBody(req, this.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    const type = mediaType(req);
    const text = body.toString('utf8');
    // A write to the main resource keeps the stored status (reviews compute theirs), so a protobuf body's status
    // need not be understood there; a status-subresource write must understand all of it.
    const protobuf = { statusIgnored: subresource === '' && (def.virtual !== undefined || def.subresources?.includes('status') === true) };
    // Decoded before the duplicate-field scans walk the text: decoding refuses documents nested too deep for them.
    const first = decodeObjectBody(body, type, protobuf);
    const duplicates = type === 'application/yaml' ? { duplicateYaml: duplicateFieldsInYaml(text) }
      : type === '' || type === 'application/json' ? { duplicateJson: duplicateFieldsInJson(text) } : {};
    const decode = () => this.checkObject(def, decodeObjectBody(body, type, protobuf), text, query, duplicates);
    return { obj: this.checkObject(def, first, text, query, duplicates), again: decode };
  }

  checkObject(def: ResourceDef, raw: unknown, text: string, query: URLSearchParams, duplicates: { duplicateJson?: string[]; duplicateYaml?: string[] } = {}): KubeObject {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest(`Object 'Kind' is missing in '${text.slice(0, 200)}'`);
    const obj = raw as KubeObject;
    // Upstream reads apiVersion and kind (TypeMeta) first; a value of another JSON type fails there.
    for (const field of ['apiVersion', 'kind'] as const) {
      const v: unknown = obj[field];
      if (v !== undefined && v !== null && typeof v !== 'string') {
        throw badRequest(`couldn't get version/kind; json parse error: json: cannot unmarshal ${jsonTypeName(v)} into Go struct field .${field} of type string`);
      }
      if (v === null) delete obj[field];
    }
    const gv = groupVersion(def);
    // As upstream's decoder: the endpoint's kind/version fill in what the body leaves out.
    obj.kind ??= def.kind;
    obj.apiVersion ??= gv;
    if (obj.apiVersion && obj.apiVersion !== gv) {
      const sameGroup = (obj.apiVersion.includes('/') ? obj.apiVersion.split('/')[0] : '') === def.group;
      if (sameGroup || obj.kind === def.kind) throw badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${gv})`);
    }
    if (obj.kind !== def.kind) throw badRequest(`${obj.kind} in version "${(obj.apiVersion ?? gv).split('/').pop()}" cannot be handled as a ${def.kind}: no kind "${obj.kind}" is registered for version "${obj.apiVersion ?? gv}" in scheme "pkg/api/legacyscheme/scheme.go:30"`);
    if (obj.metadata !== undefined && (obj.metadata === null || typeof obj.metadata !== 'object' || Array.isArray(obj.metadata))) {
      throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: json: cannot unmarshal ${Array.isArray(obj.metadata) ? 'array' : typeof obj.metadata} into Go struct field ${def.kind}.metadata of type v1.ObjectMeta`);
    }
    // Values that do not fit the Go types are a decoding error upstream, before unknown fields are looked at.
    const typeError = def.openAPIV3Schema ? undefined : decodeTypeError(obj, def.group, def.version, def.kind);
    if (typeError) throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${typeError}`);
    this.strictFields(def, obj, query, duplicates, true);
    return obj;
  }

  /** Warning texts per request (keyed by its query object), sent as `Warning: 299 - "…"` headers. */
  private readonly warnings = new WeakMap<URLSearchParams, string[]>();

  /**
   * fieldValidation=Strict|Warn|Ignore as upstream: unknown (and duplicate) fields are a 400 under Strict, a
   * Warning header under Warn (the default), silent under Ignore — and never stored (they are pruned).
   */
  strictFields(def: ResourceDef, obj: unknown, query: URLSearchParams, duplicates: { duplicateJson?: string[]; duplicateYaml?: string[] } = {}, decoding = false): void {
    const parsed = parseFieldValidation(query.get('fieldValidation'));
    if ('invalid' in parsed) {
      throw new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Invalid', code: 422, message: parsed.invalid.message,
        details: { group: parsed.invalid.group, kind: parsed.invalid.kind, name: parsed.invalid.name, causes: parsed.invalid.causes } });
    }
    const unknown = pruneUnknownFields(def, obj);
    const outcome = fieldValidationOutcome(parsed.directive, { unknown, ...duplicates }, decoding && !def.openAPIV3Schema ? { kind: def.kind, version: def.version } : undefined);
    if (outcome.error) throw badRequest(outcome.error);
    this.addWarnings(query, outcome.warnings);
  }

  addWarnings(query: URLSearchParams, texts: string[]): void {
    if (texts.length) this.warnings.set(query, [...(this.warnings.get(query) ?? []), ...texts]);
  }

  sendWarnings(res: ServerResponse, query: URLSearchParams): void {
    const w = this.warnings.get(query);
    // A Set: an update retried after a storage conflict re-runs its checks and would repeat them.
    if (w?.length && !res.headersSent) res.setHeader('Warning', [...new Set(w)].map((t) => `299 - ${JSON.stringify(t)}`));
  }
}

/** The JSON type name Go's decoder uses in its unmarshal errors. */
function jsonTypeName(v: unknown): string {
  return Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v;
}
