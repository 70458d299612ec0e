/** The contract between the API server's request pipeline and its authentication/authorization. */

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** Kubernetes authorizer attributes, as upstream's RBAC authorizer receives them. */
export interface RequestAttributes {
  user: UserInfo;
  /** get, list, watch, create, update, patch, delete, deletecollection; or the lowercase HTTP method for non-resource URLs. */
  verb: string;
  resourceRequest: boolean;
  /** For non-resource requests, e.g. /healthz, /version, /api. */
  path?: string;
  apiGroup?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface AuthorizationDecision {
  allowed: boolean;
  /** Why (shown in Forbidden errors and SubjectAccessReview status). */
  reason: string;
}

export interface Authenticator {
  /**
   * Identify the caller from the TLS peer certificate or the Authorization header.
   * Returns null when no credentials were presented (anonymous), throws AuthenticationError
   * for credentials that were presented but are invalid.
   */
  authenticate(req: import('node:http').IncomingMessage): Promise<UserInfo | null>;
}

export interface Authorizer {
  authorize(attrs: RequestAttributes): Promise<AuthorizationDecision>;
}

export class AuthenticationError extends Error {}

/** Upstream's anonymous identity (k8s.io/apiserver anonymous authenticator), for requests with no credentials. */
export const ANONYMOUS_USER = 'system:anonymous';
export const UNAUTHENTICATED_GROUP = 'system:unauthenticated';
