import type { V1Secret } from '@kubernetes/client-node';
import {
  BOOTSTRAP_TOKEN_NAMESPACE,
  bootstrapTokenSecretName,
  parseBootstrapToken,
  validateBootstrapToken,
} from '../../../pki/bootstrap-token.js';
import { AuthenticationError, type UserInfo } from '../types.js';
import type { TokenAuthenticator } from './bearer.js';

/** How the authenticator reads Secrets; the API server backs it with its store, the hub with client-node. */
export type SecretLookup = (namespace: string, name: string) => Promise<V1Secret | null>;

/**
 * Bootstrap token authentication: "<id>.<secret>" tokens valid while Secret kube-system/bootstrap-token-<id>
 * says so. User system:bootstrap:<id>, groups system:bootstrappers + the Secret's auth-extra-groups.
 */
export class BootstrapTokenAuthenticator implements TokenAuthenticator {
  constructor(private readonly getSecret: SecretLookup, private readonly now: () => Date = () => new Date()) {}

  async authenticateToken(token: string): Promise<UserInfo | null> {
    const parsed = parseBootstrapToken(token);
    if (!parsed) return null;
    const secret = await this.getSecret(BOOTSTRAP_TOKEN_NAMESPACE, bootstrapTokenSecretName(parsed.id));
    const result = validateBootstrapToken(secret, parsed, this.now());
    if (!result.ok) {
      if (!secret) return null; // not a bootstrap token we know; another authenticator may own this string
      throw new AuthenticationError(`invalid bootstrap token: ${result.reason}`);
    }
    return { username: result.identity.username, groups: result.identity.groups };
  }
}
