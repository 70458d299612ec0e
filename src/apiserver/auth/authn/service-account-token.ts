import { randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import type { V1Pod, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { SigningKeyPair } from '../../../pki/signing-keys.js';
import { AuthenticationError, type UserInfo } from '../types.js';
import type { TokenAuthenticator } from './bearer.js';
import { serviceAccountUsername } from '../rbac/subjects.js';

/**
 * Bound service account tokens (what TokenRequest and projected volumes hand out): ES256 JWTs with the
 * upstream claim layout, signed with the server's persisted key (pki ensureServiceAccountKeyPair).
 */

export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** Issuer of legacy Secret-based tokens (type kubernetes.io/service-account-token): no expiry, die with the Secret. */
export const LEGACY_ISSUER = 'kubernetes/serviceaccount';
const LEGACY = 'kubernetes.io/serviceaccount/';
export const SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts';

export interface ServiceAccountClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    node?: { name: string; uid: string };
  };
}

export interface IssueTokenRequest {
  namespace: string;
  serviceAccountName: string;
  serviceAccountUid: string;
  /** Default [issuer]. */
  audiences?: string[];
  /** Default 3600 (TokenRequest's default). */
  expirationSeconds?: number;
  boundPod?: { name: string; uid: string };
  boundNode?: { name: string; uid: string };
  now?: Date;
}

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

export class ServiceAccountTokenIssuer {
  constructor(private readonly key: SigningKeyPair, readonly issuer: string = DEFAULT_ISSUER) {}

  /** Returns the JWT and when it expires (TokenRequest status.expirationTimestamp). */
  issue(req: IssueTokenRequest): { token: string; expirationTimestamp: Date; claims: ServiceAccountClaims } {
    const now = Math.floor((req.now ?? new Date()).getTime() / 1000);
    const exp = now + (req.expirationSeconds ?? 3600);
    const claims: ServiceAccountClaims = {
      iss: this.issuer,
      sub: serviceAccountUsername(req.namespace, req.serviceAccountName),
      aud: req.audiences && req.audiences.length > 0 ? req.audiences : [this.issuer],
      exp,
      iat: now,
      nbf: now,
      jti: randomUUID(),
      'kubernetes.io': {
        namespace: req.namespace,
        serviceaccount: { name: req.serviceAccountName, uid: req.serviceAccountUid },
        ...(req.boundPod ? { pod: req.boundPod } : {}),
        ...(req.boundNode ? { node: req.boundNode } : {}),
      },
    };
    const signingInput = `${b64url({ alg: 'ES256', kid: this.key.keyId })}.${b64url(claims)}`;
    // JWS ES256 wants the raw r||s signature (IEEE P1363), not DER.
    const signature = sign('sha256', Buffer.from(signingInput), { key: this.key.privateKey, dsaEncoding: 'ieee-p1363' });
    return { token: `${signingInput}.${signature.toString('base64url')}`, expirationTimestamp: new Date(exp * 1000), claims };
  }

  /** A legacy token for a kubernetes.io/service-account-token Secret (what upstream's token controller writes). */
  issueLegacy(req: { namespace: string; serviceAccountName: string; serviceAccountUid: string; secretName: string }): string {
    const claims = {
      iss: LEGACY_ISSUER,
      [`${LEGACY}namespace`]: req.namespace,
      [`${LEGACY}secret.name`]: req.secretName,
      [`${LEGACY}service-account.name`]: req.serviceAccountName,
      [`${LEGACY}service-account.uid`]: req.serviceAccountUid,
      sub: serviceAccountUsername(req.namespace, req.serviceAccountName),
    };
    const signingInput = `${b64url({ alg: 'ES256', kid: this.key.keyId })}.${b64url(claims)}`;
    const signature = sign('sha256', Buffer.from(signingInput), { key: this.key.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${signingInput}.${signature.toString('base64url')}`;
  }
}

/** Optional liveness checks: a token dies with its service account (or bound pod), as upstream. */
export interface ServiceAccountTokenLookup {
  getServiceAccount(namespace: string, name: string): Promise<V1ServiceAccount | null>;
  getPod?(namespace: string, name: string): Promise<V1Pod | null>;
  /** Needed for legacy Secret-based tokens; without it they are refused. */
  getSecret?(namespace: string, name: string): Promise<V1Secret | null>;
}

export interface ServiceAccountTokenAuthenticatorOptions {
  /** Public keys accepted (current and previous keys during rotation). */
  keys: Array<Pick<SigningKeyPair, 'publicKey' | 'keyId'>>;
  issuers?: string[];
  /** The API audiences; a token must name at least one. Default: the issuers. */
  audiences?: string[];
  lookup?: ServiceAccountTokenLookup;
  now?: () => Date;
}

const CLOCK_SKEW_S = 60;
/** Tokens whose signature was already checked; bounded, oldest evicted first. */
const VERIFIED_CACHE_SIZE = 4096;

export class ServiceAccountTokenAuthenticator implements TokenAuthenticator {
  private readonly issuers: string[];
  private readonly audiences: string[];
  private readonly now: () => Date;
  /** token → decoded claims, for tokens whose signature verified (ECDSA verification dominates the cost). */
  private readonly verified = new Map<string, Partial<ServiceAccountClaims>>();

  constructor(private readonly opts: ServiceAccountTokenAuthenticatorOptions) {
    this.issuers = opts.issuers ?? [DEFAULT_ISSUER];
    this.audiences = opts.audiences ?? this.issuers;
    this.now = opts.now ?? (() => new Date());
  }

  async authenticateToken(token: string): Promise<UserInfo | null> {
    const cached = this.verified.get(token);
    const claims = cached ?? this.verifySignature(token);
    if (!claims) return null;
    if (!cached) {
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(token, claims);
    }
    return this.userFromClaims(claims, token);
  }

  /** Decoded claims when the token is ours and its signature is valid; null when it is not ours; throws when forged. */
  private verifySignature(token: string): Partial<ServiceAccountClaims> | null {
    const parts = token.split('.');
    if (parts.length !== 3) return null;
    let header: { alg?: string; kid?: string };
    let claims: Partial<ServiceAccountClaims>;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    } catch {
      return null; // not a JWT: another authenticator's token
    }
    // Only tokens claiming one of our issuers are ours to judge.
    if (typeof claims.iss !== 'string' || !(this.issuers.includes(claims.iss) || claims.iss === LEGACY_ISSUER)) return null;
    if (header.alg !== 'ES256') throw new AuthenticationError('service account token: unsupported signing algorithm');
    const candidates = header.kid ? this.opts.keys.filter((k) => k.keyId === header.kid) : this.opts.keys;
    const signature = Buffer.from(parts[2]!, 'base64url');
    const input = Buffer.from(`${parts[0]}.${parts[1]}`);
    const ok = candidates.some((k) => verifyEs256(k.publicKey, input, signature));
    if (!ok) throw new AuthenticationError('service account token: invalid signature');
    return claims;
  }

  /** Time, audience and liveness checks run on every request, cached or not. */
  private async userFromClaims(claims: Partial<ServiceAccountClaims>, token: string): Promise<UserInfo> {
    if (claims.iss === LEGACY_ISSUER) return this.legacyUser(claims as unknown as Record<string, string>, token);
    const nowS = Math.floor(this.now().getTime() / 1000);
    if (typeof claims.exp !== 'number' || nowS >= claims.exp) throw new AuthenticationError('service account token: expired');
    if (typeof claims.nbf === 'number' && nowS + CLOCK_SKEW_S < claims.nbf) throw new AuthenticationError('service account token: not yet valid');
    const aud = Array.isArray(claims.aud) ? claims.aud : typeof claims.aud === 'string' ? [claims.aud] : [];
    if (!aud.some((a) => this.audiences.includes(a))) throw new AuthenticationError('service account token: audience not accepted');

    const k8s = claims['kubernetes.io'];
    const ns = k8s?.namespace;
    const sa = k8s?.serviceaccount;
    if (!ns || !sa?.name || claims.sub !== serviceAccountUsername(ns, sa.name)) {
      throw new AuthenticationError('service account token: malformed kubernetes.io claims');
    }
    if (this.opts.lookup) await this.checkAlive(ns, sa, k8s.pod);

    const extra: Record<string, string[]> = {};
    if (k8s.pod) {
      extra['authentication.kubernetes.io/pod-name'] = [k8s.pod.name];
      extra['authentication.kubernetes.io/pod-uid'] = [k8s.pod.uid];
    }
    if (k8s.node) {
      extra['authentication.kubernetes.io/node-name'] = [k8s.node.name];
      extra['authentication.kubernetes.io/node-uid'] = [k8s.node.uid];
    }
    if (claims.jti) extra['authentication.kubernetes.io/credential-id'] = [`JTI=${claims.jti}`];
    const user: UserInfo = {
      username: serviceAccountUsername(ns, sa.name),
      uid: sa.uid,
      groups: [SERVICE_ACCOUNTS_GROUP, `${SERVICE_ACCOUNTS_GROUP}:${ns}`],
    };
    if (Object.keys(extra).length > 0) user.extra = extra;
    return user;
  }

  /** Legacy tokens never expire; they are valid exactly while their Secret holds them and the SA is unchanged. */
  private async legacyUser(claims: Record<string, string>, token: string): Promise<UserInfo> {
    const ns = claims[`${LEGACY}namespace`];
    const saName = claims[`${LEGACY}service-account.name`];
    const saUid = claims[`${LEGACY}service-account.uid`] ?? '';
    const secretName = claims[`${LEGACY}secret.name`];
    if (!ns || !saName || !secretName || claims.sub !== serviceAccountUsername(ns, saName)) {
      throw new AuthenticationError('service account token: malformed legacy claims');
    }
    const lookup = this.opts.lookup;
    if (!lookup?.getSecret) throw new AuthenticationError('service account token: legacy tokens are not accepted here');
    const secret = await lookup.getSecret(ns, secretName);
    const stored = secret?.data?.token ? Buffer.from(secret.data.token, 'base64').toString('utf8') : '';
    if (!secret || secret.metadata?.deletionTimestamp || stored !== token) {
      throw new AuthenticationError(`service account token: secret ${ns}/${secretName} no longer holds this token`);
    }
    await this.checkAlive(ns, { name: saName, uid: saUid });
    return {
      username: serviceAccountUsername(ns, saName),
      uid: saUid,
      groups: [SERVICE_ACCOUNTS_GROUP, `${SERVICE_ACCOUNTS_GROUP}:${ns}`],
    };
  }

  private async checkAlive(ns: string, sa: { name: string; uid: string }, pod?: { name: string; uid: string }): Promise<void> {
    const lookup = this.opts.lookup!;
    const current = await lookup.getServiceAccount(ns, sa.name);
    if (!current || current.metadata?.deletionTimestamp) throw new AuthenticationError(`service account token: service account ${ns}/${sa.name} has been deleted`);
    if (sa.uid && current.metadata?.uid && current.metadata.uid !== sa.uid) {
      throw new AuthenticationError(`service account token: service account UID (${sa.uid}) does not match current (${current.metadata.uid})`);
    }
    if (pod && lookup.getPod) {
      const p = await lookup.getPod(ns, pod.name);
      if (!p || p.metadata?.deletionTimestamp) throw new AuthenticationError(`service account token: pod ${ns}/${pod.name} has been deleted`);
      if (p.metadata?.uid && p.metadata.uid !== pod.uid) throw new AuthenticationError('service account token: pod UID does not match');
    }
  }
}

function verifyEs256(key: KeyObject, input: Buffer, signature: Buffer): boolean {
  try {
    return verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** /openid/v1/jwks document for the accepted keys (service-account issuer discovery). */
export function serviceAccountJwks(keys: Array<Pick<SigningKeyPair, 'publicKey' | 'keyId'>>): { keys: Array<Record<string, string>> } {
  return {
    keys: keys.map((k) => {
      const jwk = k.publicKey.export({ format: 'jwk' }) as Record<string, string>;
      return { use: 'sig', kty: jwk.kty!, kid: k.keyId, crv: jwk.crv!, alg: 'ES256', x: jwk.x!, y: jwk.y! };
    }),
  };
}

/** /.well-known/openid-configuration for the issuer. */
export function openIdConfiguration(issuer: string, jwksUri = `${issuer}/openid/v1/jwks`): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: jwksUri,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
  };
}
