import type { IncomingMessage } from 'node:http';
import { AuthenticationError, type Authenticator, type UserInfo } from '../types.js';
import { bearerToken, type TokenAuthenticator } from './bearer.js';
import { authenticateClientCertificate } from './client-cert.js';

export const AUTHENTICATED_GROUP = 'system:authenticated';

export interface RequestAuthenticatorOptions {
  /** Accept TLS client certificates (default true). */
  clientCertificates?: boolean;
  /** Tried in order for "Authorization: Bearer"; first non-null answer wins. */
  tokenAuthenticators?: TokenAuthenticator[];
}

/**
 * The API server's Authenticator: client certificate first, then bearer tokens, like upstream's union.
 * A failing method does not stop the next one; if none succeeds but some credential was presented the
 * request is rejected (AuthenticationError → 401); no credential at all → null (the handler makes it system:anonymous, or 401 with --anonymous-auth=false).
 * Every authenticated user gets system:authenticated.
 */
export class RequestAuthenticator implements Authenticator {
  private readonly clientCertificates: boolean;
  private readonly tokenAuthenticators: TokenAuthenticator[];

  constructor(opts: RequestAuthenticatorOptions = {}) {
    this.clientCertificates = opts.clientCertificates ?? true;
    this.tokenAuthenticators = opts.tokenAuthenticators ?? [];
  }

  async authenticate(req: IncomingMessage): Promise<UserInfo | null> {
    const errors: string[] = [];
    if (this.clientCertificates) {
      try {
        const user = authenticateClientCertificate(req);
        if (user) return withAuthenticatedGroup(user);
      } catch (err) {
        if (!(err instanceof AuthenticationError)) throw err;
        errors.push(err.message);
      }
    }
    const token = bearerToken(req);
    if (token !== null) {
      for (const ta of this.tokenAuthenticators) {
        try {
          const user = await ta.authenticateToken(token);
          if (user) return withAuthenticatedGroup(user);
        } catch (err) {
          if (!(err instanceof AuthenticationError)) throw err;
          errors.push(err.message);
        }
      }
      errors.push('invalid bearer token');
    }
    if (errors.length > 0) throw new AuthenticationError(errors.join('; '));
    return null;
  }

  /** Bearer tokens only (TokenReview): the user, null for a token nobody recognizes, AuthenticationError if refused. */
  async authenticateToken(token: string): Promise<UserInfo | null> {
    const errors: string[] = [];
    for (const ta of this.tokenAuthenticators) {
      try {
        const user = await ta.authenticateToken(token);
        if (user) return withAuthenticatedGroup(user);
      } catch (err) {
        if (!(err instanceof AuthenticationError)) throw err;
        errors.push(err.message);
      }
    }
    if (errors.length > 0) throw new AuthenticationError(errors.join(', '));
    return null;
  }
}

export function withAuthenticatedGroup(user: UserInfo): UserInfo {
  if (user.groups.includes(AUTHENTICATED_GROUP)) return user;
  return { ...user, groups: [...user.groups, AUTHENTICATED_GROUP] };
}
