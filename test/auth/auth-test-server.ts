import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1ClusterRoleBinding, V1RoleBinding } from '@kubernetes/client-node';
import { httpsServerOptions, type ServerPki } from '../../src/pki/index.js';
import {
  AuthenticationError,
  RbacAuthorizer,
  RequestAuthenticator,
  ReviewValidationError,
  bootstrapClusterRoleBindings,
  bootstrapClusterRoles,
  evaluateSelfSubjectAccessReview,
  evaluateSelfSubjectReview,
  evaluateSelfSubjectRulesReview,
  forbiddenStatus,
  staticRbacSource,
  unauthorizedStatus,
  type RequestAttributes,
  type TokenAuthenticator,
  type UserInfo,
} from '../../src/apiserver/auth/index.js';
import { decodeProtobufObject, isProtobuf } from '../../src/apiserver/protobuf.js';

/**
 * A real HTTPS server wired exactly as the API server must wire src/pki and src/apiserver/auth (TLS options,
 * authenticate → authorize → Status bodies), serving just the endpoints kubectl needs for auth commands and
 * pods. It exercises the real auth code with the real kubectl over real TLS before the full server exists.
 */
export interface AuthTestServer {
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

/** JSON bodies, and the protobuf review bodies kubectl's typed clients send. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  if (isProtobuf((req.headers['content-type'] ?? '').split(';')[0]!.trim())) return decodeProtobufObject(body);
  return JSON.parse(body.toString('utf8') || '{}');
}

const discovery: Record<string, unknown> = {
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] },
  '/apis': {
    kind: 'APIGroupList', apiVersion: 'v1',
    groups: ['authorization.k8s.io', 'authentication.k8s.io'].map((name) => ({
      name, versions: [{ groupVersion: `${name}/v1`, version: 'v1' }], preferredVersion: { groupVersion: `${name}/v1`, version: 'v1' },
    })),
  },
  '/api/v1': {
    kind: 'APIResourceList', groupVersion: 'v1',
    resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['create', 'delete', 'get', 'list', 'watch'], shortNames: ['po'] }],
  },
  '/apis/authorization.k8s.io/v1': {
    kind: 'APIResourceList', groupVersion: 'authorization.k8s.io/v1',
    resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'].map((name) => ({ name, singularName: '', namespaced: false, kind: name === 'selfsubjectaccessreviews' ? 'SelfSubjectAccessReview' : 'SelfSubjectRulesReview', verbs: ['create'] })),
  },
  '/apis/authentication.k8s.io/v1': {
    kind: 'APIResourceList', groupVersion: 'authentication.k8s.io/v1',
    resources: [{ name: 'selfsubjectreviews', singularName: '', namespaced: false, kind: 'SelfSubjectReview', verbs: ['create'] }],
  },
};

const verbFor = (method: string, hasName: boolean): string =>
  method === 'POST' ? 'create' : method === 'DELETE' ? 'delete' : hasName ? 'get' : 'list';

export async function startAuthTestServer(pki: ServerPki, opts: {
  tokenAuthenticators?: TokenAuthenticator[];
  clusterRoleBindings?: V1ClusterRoleBinding[];
  roleBindings?: V1RoleBinding[];
}): Promise<AuthTestServer> {
  const authn = new RequestAuthenticator({ tokenAuthenticators: opts.tokenAuthenticators ?? [] });
  const source = staticRbacSource({
    clusterRoles: bootstrapClusterRoles(),
    clusterRoleBindings: [...bootstrapClusterRoleBindings(), ...(opts.clusterRoleBindings ?? [])],
    roleBindings: opts.roleBindings ?? [],
  });
  const authz = new RbacAuthorizer(source);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let user: UserInfo | null;
    try {
      user = await authn.authenticate(req);
    } catch (err) {
      if (err instanceof AuthenticationError) return send(res, 401, unauthorizedStatus());
      throw err;
    }
    if (!user) return send(res, 401, unauthorizedStatus());
    const url = new URL(req.url ?? '/', 'https://x');
    const path = url.pathname;
    const pods = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/.exec(path);
    const review = /^\/apis\/(authorization|authentication)\.k8s\.io\/v1\/(self\w+)$/.exec(path);
    let attrs: RequestAttributes;
    if (pods) {
      attrs = { user, verb: verbFor(req.method ?? 'GET', !!pods[2]), resourceRequest: true, apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: pods[1], name: pods[2] ?? '' };
    } else if (review) {
      attrs = { user, verb: 'create', resourceRequest: true, apiGroup: `${review[1]}.k8s.io`, apiVersion: 'v1', resource: review[2] };
    } else {
      attrs = { user, verb: (req.method ?? 'GET').toLowerCase(), resourceRequest: false, path };
    }
    const decision = await authz.authorize(attrs);
    if (!decision.allowed) return send(res, 403, forbiddenStatus(attrs, decision.reason));

    if (discovery[path]) return send(res, 200, discovery[path]);
    if (pods && req.method === 'GET' && !pods[2]) return send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });
    if (pods && req.method === 'POST') {
      const body = (await readJson(req)) as Record<string, unknown>;
      return send(res, 201, { ...body, metadata: { ...(body.metadata as object), namespace: pods[1], uid: 'u1', resourceVersion: '2' } });
    }
    if (review && req.method === 'POST') {
      const body = (await readJson(req)) as never;
      try {
        if (review[2] === 'selfsubjectaccessreviews') return send(res, 201, await evaluateSelfSubjectAccessReview(authz, user, body));
        if (review[2] === 'selfsubjectrulesreviews') return send(res, 201, await evaluateSelfSubjectRulesReview(source, user, body));
        if (review[2] === 'selfsubjectreviews') return send(res, 201, evaluateSelfSubjectReview(user, body));
      } catch (err) {
        if (err instanceof ReviewValidationError) return send(res, 422, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Invalid', code: 422, message: err.message });
        throw err;
      }
    }
    send(res, 404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 });
  };

  const server = https.createServer(httpsServerOptions(pki), (req, res) => {
    handle(req, res).catch((err) => send(res, 500, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 500, message: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
