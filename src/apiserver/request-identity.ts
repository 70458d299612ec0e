/**
 * Who a request runs as: authentication (client certificate once per TLS connection, tokens per request,
 * system:anonymous when allowed), impersonation, and the RBAC decision with upstream's Forbidden texts.
 */
import type { IncomingMessage } from 'node:http';
import { badRequest, forbidden, forbiddenPath, unauthorized } from '../apimachinery/status.js';
import { AuthenticationError, ANONYMOUS_USER, UNAUTHENTICATED_GROUP, type Authenticator, type Authorizer, type UserInfo } from './auth/types.js';
import type { RequestInfo } from './request-info.js';

export interface RequestIdentityDeps {
  authenticator: Authenticator;
  authorizer: Authorizer;
  /** --anonymous-auth: requests without credentials run as system:anonymous (RBAC decides) instead of 401. */
  anonymousAuth?: boolean;
}

export class RequestIdentity {
  constructor(private readonly d: RequestIdentityDeps) {}

  /**
   * Presented credentials that fail are 401 whatever --anonymous-auth says (as upstream); no credentials at
   * all make the request system:anonymous in system:unauthenticated when anonymous auth is on, which the
   * bootstrap policy lets read only /healthz, /livez, /readyz and /version (system:public-info-viewer).
   */
  async authenticateOrAnonymous(req: IncomingMessage): Promise<UserInfo> {
    let user: UserInfo | null;
    try {
      user = await this.authenticate(req);
    } catch (err) {
      if (err instanceof AuthenticationError) throw unauthorized();
      throw err;
    }
    if (user) return user;
    if (!this.d.anonymousAuth) throw unauthorized();
    return { username: ANONYMOUS_USER, groups: [UNAUTHENTICATED_GROUP] };
  }

  /**
   * Client-certificate identity belongs to the TLS connection, so it is resolved once per connection (reading the
   * peer certificate on every request showed up in profiles). Requests carrying a token are authenticated each time.
   */
  private readonly connectionUsers = new WeakMap<object, UserInfo | null>();
  private async authenticate(req: IncomingMessage): Promise<UserInfo | null> {
    if (req.headers.authorization) return this.d.authenticator.authenticate(req);
    const sock = req.socket;
    if (this.connectionUsers.has(sock)) return this.connectionUsers.get(sock)!;
    const user = await this.d.authenticator.authenticate(req);
    this.connectionUsers.set(sock, user);
    return user;
  }

  /**
   * Impersonation (`kubectl --as/--as-group`): the caller needs the `impersonate` verb on users/groups/
   * serviceaccounts; the request then runs as that user (plus system:authenticated), as upstream.
   */
  async impersonate(req: IncomingMessage, user: UserInfo): Promise<UserInfo> {
    const asUser = req.headers['impersonate-user'];
    const rawGroups = req.headers['impersonate-group'];
    const groups = (Array.isArray(rawGroups) ? rawGroups : rawGroups ? [rawGroups] : []).flatMap((g) => g.split(',')).map((g) => g.trim()).filter(Boolean);
    if (!asUser && !groups.length) return user;
    if (!asUser) throw badRequest('requested Impersonate-Group without Impersonate-User');
    return this.impersonateAs(user, String(asUser), groups);
  }

  /**
   * `user` acting as `name` in `groups`: allowed only if `user` may impersonate that user and each group (the
   * checks upstream's impersonation filter makes); the result is the impersonated identity.
   */
  async impersonateAs(user: UserInfo, name: string, groups: string[]): Promise<UserInfo> {
    const checks: { resource: string; name: string; namespace?: string; group: string }[] = [];
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(name);
    checks.push(sa ? { resource: 'serviceaccounts', name: sa[2]!, namespace: sa[1]!, group: '' } : { resource: 'users', name, group: '' });
    for (const g of groups) checks.push({ resource: 'groups', name: g, group: '' });
    for (const c of checks) {
      const d = await this.d.authorizer.authorize({ user, verb: 'impersonate', resourceRequest: true, apiGroup: c.group, resource: c.resource, name: c.name, namespace: c.namespace ?? '' });
      if (!d.allowed) {
        throw forbidden({ group: '', resource: c.resource }, c.name, `User "${user.username}" cannot impersonate resource "${c.resource}" in API group "" ${c.namespace ? `in the namespace "${c.namespace}"` : 'at the cluster scope'}`);
      }
    }
    const outGroups = [...groups];
    if (sa) outGroups.push('system:serviceaccounts', `system:serviceaccounts:${sa[1]}`);
    if (name !== ANONYMOUS_USER && !outGroups.includes('system:authenticated')) outGroups.push('system:authenticated');
    return { username: name, groups: outGroups };
  }

  async authorize(user: UserInfo, info: RequestInfo): Promise<void> {
    const attrs = info.isResourceRequest
      ? { user, verb: info.verb, resourceRequest: true, apiGroup: info.group, apiVersion: info.version, resource: info.resource, subresource: info.subresource, namespace: info.namespace, name: info.name }
      : { user, verb: info.verb, resourceRequest: false, path: info.path };
    const decision = await this.d.authorizer.authorize(attrs);
    if (decision.allowed) return;
    const who = `User "${user.username}"`;
    if (!info.isResourceRequest) throw forbiddenPath(`${who} cannot ${info.verb} path "${info.path}"${decision.reason ? `: ${decision.reason}` : ''}`);
    const res = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
    const scope = info.namespace ? ` in the namespace "${info.namespace}"` : info.resource === 'namespaces' ? '' : ' at the cluster scope';
    const why = `${who} cannot ${info.verb} resource "${res}" in API group "${info.group}"${scope}${decision.reason ? `: ${decision.reason}` : ''}`;
    // The subject names the resource without its subresource, as upstream: `pods "x" is forbidden: … "pods/exec" …`.
    throw forbidden({ group: info.group, resource: info.resource }, info.name, why);
  }

}
