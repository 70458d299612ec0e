import type { V1TokenReview } from '@kubernetes/client-node';
import { AuthenticationError, type UserInfo } from './types.js';

/** What a TokenReview needs from the authenticator: the bearer-token half of RequestAuthenticator. */
export interface BearerTokenAuthenticator {
  authenticateToken(token: string): Promise<UserInfo | null>;
}

/**
 * authentication.k8s.io/v1 TokenReview: "who is this bearer token?" for proxies, webhooks and in-cluster services
 * (kube-rbac-proxy, Vault's Kubernetes auth, aggregated API servers). Invalid tokens give authenticated=false with
 * the reason in status.error; the response status is still 201, as upstream.
 */
export async function evaluateTokenReview(authn: BearerTokenAuthenticator, review: V1TokenReview, apiAudiences: string[] = []): Promise<V1TokenReview> {
  const spec = review.spec ?? {};
  const base = { ...review, apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: review.metadata ?? {}, spec };
  if (!spec.token) return { ...base, status: { authenticated: false, error: 'token is required', user: {} } };
  try {
    const user = await authn.authenticateToken(spec.token);
    if (!user) return { ...base, status: { authenticated: false, user: {} } };
    const status: NonNullable<V1TokenReview['status']> = {
      authenticated: true,
      user: { username: user.username, groups: [...user.groups], ...(user.uid ? { uid: user.uid } : {}), ...(user.extra ? { extra: user.extra } : {}) },
    };
    const audiences = spec.audiences && spec.audiences.length > 0 ? spec.audiences : apiAudiences;
    if (audiences.length > 0) status.audiences = audiences;
    return { ...base, status };
  } catch (err) {
    if (!(err instanceof AuthenticationError)) throw err;
    return { ...base, status: { authenticated: false, error: `[${err.message}]`, user: {} } };
  }
}
