import type { V1Status } from '@kubernetes/client-node';
import type { RequestAttributes } from './types.js';

/**
 * The exact Status bodies upstream returns when authentication or authorization fails, so kubectl prints
 * the familiar messages ("error: You must be logged in to the server (Unauthorized)", "... is forbidden: ...").
 */

export function unauthorizedStatus(): V1Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };
}

/** "User \"jane\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\"" */
export function forbiddenMessage(attrs: RequestAttributes): string {
  const user = JSON.stringify(attrs.user.username);
  if (!attrs.resourceRequest) return `User ${user} cannot ${attrs.verb} path ${JSON.stringify(attrs.path ?? '')}`;
  const resource = attrs.subresource ? `${attrs.resource ?? ''}/${attrs.subresource}` : attrs.resource ?? '';
  const group = JSON.stringify(attrs.apiGroup ?? '');
  if (attrs.namespace) {
    return `User ${user} cannot ${attrs.verb} resource ${JSON.stringify(resource)} in API group ${group} in the namespace ${JSON.stringify(attrs.namespace)}`;
  }
  return `User ${user} cannot ${attrs.verb} resource ${JSON.stringify(resource)} in API group ${group} at the cluster scope`;
}

/**
 * 403 Status for a denied request. Like upstream, the qualified resource is "resource[.group]" (without the
 * subresource), the object name is quoted when known, and the authorizer's reason is appended when non-empty.
 */
export function forbiddenStatus(attrs: RequestAttributes, reason = ''): V1Status {
  const detail = reason ? `${forbiddenMessage(attrs)}: ${reason}` : forbiddenMessage(attrs);
  const resource = attrs.resourceRequest ? attrs.resource ?? '' : '';
  const group = attrs.resourceRequest ? attrs.apiGroup ?? '' : '';
  const qualified = group ? `${resource}.${group}` : resource;
  const name = attrs.resourceRequest ? attrs.name ?? '' : '';
  let message: string;
  if (!qualified) message = `forbidden: ${detail}`;
  else if (!name) message = `${qualified} is forbidden: ${detail}`;
  else message = `${qualified} ${JSON.stringify(name)} is forbidden: ${detail}`;
  const details: NonNullable<V1Status['details']> = {};
  if (resource) details.kind = resource;
  if (group) details.group = group;
  if (name) details.name = name;
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Forbidden', details, code: 403 };
}
