import type { IncomingMessage } from 'node:http';
import type { UserInfo } from '../types.js';

/**
 * A bearer-token authenticator: returns the user, null when the token is not of its kind (so the next one may
 * try), or throws AuthenticationError when the token is of its kind but invalid (expired, revoked, forged).
 */
export interface TokenAuthenticator {
  authenticateToken(token: string): Promise<UserInfo | null>;
}

/** The token of "Authorization: Bearer <token>" (scheme case-insensitive, as upstream), or null. */
export function bearerToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const parts = header.trim().split(' ');
  if (parts.length < 2 || parts[0]!.toLowerCase() !== 'bearer') return null;
  const token = parts[1]!;
  return token.length > 0 ? token : null;
}
