/** Parses a request URL into upstream's RequestInfo (verb, group, version, namespace, resource, name, subresource). */
import { badRequest } from '../apimachinery/status.js';
export interface RequestInfo {
  isResourceRequest: boolean;
  path: string;
  verb: string;
  apiPrefix: 'api' | 'apis' | '';
  group: string;
  version: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** Path segments after the version (for discovery decisions). */
  parts: string[];
}

/** Subresources of namespaces that must not be mistaken for namespaced resources (as upstream). */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** A percent-decoded path segment; a malformed escape is the client's error (upstream's router answers 400 too). */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`invalid URL escape in path segment ${JSON.stringify(segment.slice(0, 256))}`);
  }
}

export function parseRequestInfo(method: string, pathname: string, query: URLSearchParams): RequestInfo {
  const info: RequestInfo = {
    isResourceRequest: false, path: pathname, verb: method.toLowerCase(), apiPrefix: '', group: '', version: '',
    namespace: '', resource: '', subresource: '', name: '', parts: [],
  };
  const segs = pathname.split('/').filter((s) => s.length > 0).map(decodePathSegment);
  if (segs[0] !== 'api' && segs[0] !== 'apis') return info;
  info.apiPrefix = segs[0];
  let rest = segs.slice(1);
  if (info.apiPrefix === 'apis') {
    if (rest.length < 2) { info.group = rest[0] ?? ''; info.parts = []; return info; }
    info.group = rest[0]!;
    rest = rest.slice(1);
  }
  if (rest.length < 1) return info;
  info.version = rest[0]!;
  rest = rest.slice(1);
  info.parts = rest;
  if (rest.length === 0) return info;
  info.isResourceRequest = true;
  let legacyWatch = false;
  if (rest[0] === 'watch') { legacyWatch = true; rest = rest.slice(1); }
  if (rest[0] === 'namespaces' && rest.length > 1) {
    info.namespace = rest[1]!;
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  }
  info.resource = rest[0] ?? '';
  info.name = rest[1] ?? '';
  // `proxy` carries a path of its own (nodes/NAME/proxy/metrics): the subresource is `proxy`, as upstream's RequestInfo.
  info.subresource = rest[2] === 'proxy' ? 'proxy' : rest.slice(2).join('/');
  if (info.resource === 'namespaces' && info.name && !info.namespace) info.namespace = info.name;
  const m = method.toUpperCase();
  if (legacyWatch) info.verb = 'watch';
  else if (m === 'GET' || m === 'HEAD') {
    info.verb = info.name ? 'get' : 'list';
    if (query.get('watch') === 'true' || query.get('watch') === '1') info.verb = 'watch';
  } else if (m === 'POST') info.verb = 'create';
  else if (m === 'PUT') info.verb = 'update';
  else if (m === 'PATCH') info.verb = 'patch';
  else if (m === 'DELETE') info.verb = info.name ? 'delete' : 'deletecollection';
  return info;
}
