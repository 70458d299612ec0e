/**
 * Kubernetes `Status` errors, worded exactly as the upstream API server words them, because kubectl prints
 * the message verbatim (`Error from server (NotFound): pods "x" not found`) and clients switch on reason/code.
 */
import type { V1Status, V1StatusCause } from '@kubernetes/client-node';

export type StatusReason =
  | 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Invalid' | 'BadRequest' | 'Forbidden' | 'Unauthorized'
  | 'MethodNotAllowed' | 'Gone' | 'Expired' | 'RequestEntityTooLarge' | 'UnsupportedMediaType' | 'NotAcceptable'
  | 'InternalError' | 'Timeout' | 'TooManyRequests' | 'ServiceUnavailable';

/** A group-qualified resource, e.g. {group:'apps', resource:'deployments'} → "deployments.apps". */
export interface GroupResource {
  group: string;
  resource: string;
}

export function qualifiedResource(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

export class StatusError extends Error {
  constructor(readonly status: V1Status) {
    super(status.message);
  }
  get code(): number {
    return this.status.code ?? 500;
  }
  get reason(): string {
    return this.status.reason ?? '';
  }
}

function failure(code: number, reason: StatusReason | '', message: string, details?: V1Status['details']): StatusError {
  const status: V1Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code };
  if (reason) status.reason = reason;
  if (details) status.details = details;
  return new StatusError(status);
}

function detailsFor(gr: GroupResource, name: string): V1Status['details'] {
  const d: NonNullable<V1Status['details']> = {};
  if (name) d.name = name;
  if (gr.group) d.group = gr.group;
  d.kind = gr.resource;
  return d;
}

export function notFound(gr: GroupResource, name: string): StatusError {
  return failure(404, 'NotFound', `${qualifiedResource(gr)} "${name}" not found`, detailsFor(gr, name));
}

/** Unknown URL / resource: upstream's plain 404. */
export function pathNotFound(): StatusError {
  return failure(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function alreadyExists(gr: GroupResource, name: string): StatusError {
  return failure(409, 'AlreadyExists', `${qualifiedResource(gr)} "${name}" already exists`, detailsFor(gr, name));
}

export function conflict(gr: GroupResource, name: string, why: string): StatusError {
  return failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(gr)} "${name}": ${why}`, detailsFor(gr, name));
}

export const OBJECT_MODIFIED = 'the object has been modified; please apply your changes to the latest version and try again';

export function conflictModified(gr: GroupResource, name: string): StatusError {
  return conflict(gr, name, OBJECT_MODIFIED);
}

/** One field error, as upstream's field.Error: type decides the wording and the cause reason. */
export interface FieldError {
  type: 'Invalid' | 'Required' | 'Forbidden' | 'Duplicate' | 'NotSupported' | 'TooLong' | 'TooMany' | 'Internal';
  field: string;
  value?: unknown;
  detail?: string;
  supported?: string[];
}

const causeReason: Record<FieldError['type'], string> = {
  Invalid: 'FieldValueInvalid', Required: 'FieldValueRequired', Forbidden: 'FieldValueForbidden',
  Duplicate: 'FieldValueDuplicate', NotSupported: 'FieldValueNotSupported', TooLong: 'FieldValueTooLong',
  TooMany: 'FieldValueTooMany', Internal: 'InternalError',
};

function quoteValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The error text without the field path (what goes into a StatusCause message). */
export function fieldErrorBody(e: FieldError): string {
  switch (e.type) {
    case 'Required': return `Required value${e.detail ? `: ${e.detail}` : ''}`;
    case 'Forbidden': return `Forbidden${e.detail ? `: ${e.detail}` : ''}`;
    case 'Duplicate': return `Duplicate value: ${quoteValue(e.value)}`;
    case 'NotSupported': {
      const s = `Unsupported value: ${quoteValue(e.value)}`;
      return e.supported?.length ? `${s}: supported values: ${e.supported.map((x) => JSON.stringify(x)).join(', ')}` : s;
    }
    case 'TooLong': return `Too long${e.detail ? `: ${e.detail}` : ''}`;
    case 'TooMany': return `Too many${e.detail ? `: ${e.detail}` : ''}`;
    case 'Internal': return `Internal error${e.detail ? `: ${e.detail}` : ''}`;
    default: return `Invalid value: ${quoteValue(e.value)}${e.detail ? `: ${e.detail}` : ''}`;
  }
}

export function fieldErrorString(e: FieldError): string {
  return `${e.field}: ${fieldErrorBody(e)}`;
}

/**
 * 422 Invalid, worded as upstream's NewInvalid(GroupKind, name, errs): the kind carries its group for non-core
 * resources (`Deployment.apps "x" is invalid: …`, `Pod "x" is invalid: …`) and the name is always quoted, even
 * when empty (`PatchOptions.meta.k8s.io "" is invalid: …`). Several errors → `[a, b]`. kubectl prints
 * `The <details.kind> "<name>" is invalid`, so details keep the bare kind and the group apart.
 */
export function invalid(kind: string, group: string, name: string, errs: FieldError[]): StatusError {
  const texts = errs.map(fieldErrorString);
  const agg = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  const causes: V1StatusCause[] = errs.map((e) => ({ reason: causeReason[e.type], message: fieldErrorBody(e), field: e.field }));
  const details: NonNullable<V1Status['details']> = { name, kind, causes };
  if (group) details.group = group;
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  return failure(422, 'Invalid', `${qualifiedKind} ${JSON.stringify(name)} is invalid: ${agg}`, details);
}

export function badRequest(message: string): StatusError {
  return failure(400, 'BadRequest', message);
}

/** 403: `pods "x" is forbidden: <why>`, or without a name `pods is forbidden: <why>`. */
export function forbidden(gr: GroupResource, name: string, why: string): StatusError {
  const subject = name ? `${qualifiedResource(gr)} "${name}"` : qualifiedResource(gr);
  return failure(403, 'Forbidden', `${subject} is forbidden: ${why}`, detailsFor(gr, name));
}

/** 403 for non-resource URLs, as upstream: `forbidden: User "x" cannot get path "/foo"`. */
export function forbiddenPath(why: string): StatusError {
  return failure(403, 'Forbidden', `forbidden: ${why}`, {});
}

export function unauthorized(): StatusError {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

export function methodNotAllowed(): StatusError {
  return failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
}

export function gone(message: string): StatusError {
  return failure(410, 'Gone', message);
}

/** 410 Expired, as the watch cache answers a resourceVersion older than it remembers. */
export function tooOldResourceVersion(requested: number, oldest: number): StatusError {
  return failure(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

export function expiredContinue(): StatusError {
  return failure(410, 'Expired',
    'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
}

export function requestEntityTooLarge(limit: number): StatusError {
  return failure(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);
}

export function unsupportedMediaType(contentType: string, accepted: string[]): StatusError {
  return failure(415, 'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
    contentType ? {} : undefined);
}

export function notAcceptable(accepted: string[]): StatusError {
  return failure(406, 'NotAcceptable', `only the following media types are accepted: ${accepted.join(', ')}`);
}

export function internalError(err: unknown): StatusError {
  const msg = err instanceof Error ? err.message : String(err);
  return failure(500, 'InternalError', `Internal error occurred: ${msg}`, { causes: [{ message: msg }] });
}

export function timeout(message: string): StatusError {
  return failure(504, 'Timeout', message);
}

/**
 * A read at a resourceVersion the server has not reached (upstream's storage.NewTooLargeResourceVersionError, from
 * the watch cache's wait or etcd's "required revision is a future revision"): 504 Timeout, retry after a second.
 */
export function tooLargeResourceVersion(requested: number | string, current: number | string): StatusError {
  return failure(504, 'Timeout', `Too large resource version: ${requested}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  });
}

export function tooManyRequests(message: string): StatusError {
  return failure(429, 'TooManyRequests', message);
}

/** The success Status some deletes return. */
export function successStatus(details?: V1Status['details']): V1Status {
  const s: V1Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' };
  if (details) s.details = details;
  return s;
}

/** Any thrown value as a StatusError (unknown errors become 500 InternalError). */
export function toStatusError(err: unknown): StatusError {
  return err instanceof StatusError ? err : internalError(err);
}

/**
 * 422 without a field, as upstream's NewGenericServerResponse words it (a JSON patch that cannot be applied): the
 * generic message, the specific one as an UnexpectedServerResponse cause.
 */
export function unprocessable(cause: string): StatusError {
  return failure(422, 'Invalid', 'the server rejected our request due to an error in our request', { causes: [{ reason: 'UnexpectedServerResponse', message: cause }] });
}

/** A failure with a given code and reason, e.g. a kubelet's answer passed through, or 503 for an unreachable node. */
export function statusFailure(code: number, reason: StatusReason | '', message: string): StatusError {
  return failure(code, reason, message);
}
