import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { bootstrapTokenExpiry, secretValue } from '../common/bootstrap-token-expiry.js';

/**
 * Bootstrap tokens as kubeadm defines them: "<id>.<secret>" with id [a-z0-9]{6} and secret [a-z0-9]{16},
 * stored as Secret kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/token. Shared by the
 * API server's authenticator, `kedge token create`, and the hub's join handshake.
 */
export const BOOTSTRAP_TOKEN_PATTERN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
export const BOOTSTRAP_TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';
export const BOOTSTRAP_TOKEN_NAMESPACE = 'kube-system';
export const BOOTSTRAP_TOKEN_SECRET_PREFIX = 'bootstrap-token-';
export const BOOTSTRAP_USER_PREFIX = 'system:bootstrap:';
export const BOOTSTRAPPERS_GROUP = 'system:bootstrappers';
/** The group kubeadm gives node-join tokens; Kedge uses the same so upstream-style bindings apply. */
export const DEFAULT_NODE_TOKEN_GROUP = 'system:bootstrappers:kubeadm:default-node-token';
/**
 * Kedge's one addition to the upstream Secret layout: a token made for one node name (`kedge token create
 * --node-name NAME`) may join only as NAME, and is the only kind of token that may join under the name of a
 * Node that is already registered (re-joining a node that lost its disk). Upstream's authenticator and
 * kubeadm ignore data keys they do not know, so such a Secret stays a valid kubeadm-style token.
 */
export const BOOTSTRAP_TOKEN_NODE_NAME_KEY = 'kedge-node-name';
/** Binds a token to one NodePool: a node joined with it is in that pool (apps.openyurt.io/nodepool). */
export const BOOTSTRAP_TOKEN_NODEPOOL_KEY = 'kedge-nodepool';
/** Binds a token to one Tenant: a node joined with it is that tenant's (tenancy.kedge.io/tenant, docs/design/tenancy.md). */
export const BOOTSTRAP_TOKEN_TENANT_KEY = 'kedge-tenant';
const EXTRA_GROUP_PATTERN = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
function randomString(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

export interface BootstrapToken {
  id: string;
  secret: string;
}

export function generateBootstrapToken(): BootstrapToken {
  return { id: randomString(6), secret: randomString(16) };
}

export function formatBootstrapToken(t: BootstrapToken): string {
  return `${t.id}.${t.secret}`;
}

/** Parses "<id>.<secret>"; null when the string is not a bootstrap token (so other authenticators may try it). */
export function parseBootstrapToken(token: string): BootstrapToken | null {
  const m = BOOTSTRAP_TOKEN_PATTERN.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : null;
}

export function bootstrapTokenSecretName(id: string): string {
  return BOOTSTRAP_TOKEN_SECRET_PREFIX + id;
}

export interface BootstrapTokenSecretOptions {
  /** Time to live from now; omit for a token that never expires. */
  ttlMs?: number;
  description?: string;
  /** Extra groups (each must match system:bootstrappers:...). Defaults to the kubeadm node-token group. */
  groups?: string[];
  usages?: Array<'authentication' | 'signing'>;
  /** Binds the token to one node name (BOOTSTRAP_TOKEN_NODE_NAME_KEY). */
  nodeName?: string;
  /** Binds the token to one NodePool (BOOTSTRAP_TOKEN_NODEPOOL_KEY). */
  nodePool?: string;
  /** Binds the token to one Tenant (BOOTSTRAP_TOKEN_TENANT_KEY). */
  tenant?: string;
  now?: Date;
}

/** The Secret that makes a bootstrap token valid, in the exact upstream layout (values in stringData). */
export function bootstrapTokenSecret(token: BootstrapToken, opts: BootstrapTokenSecretOptions = {}): V1Secret {
  const groups = opts.groups ?? [DEFAULT_NODE_TOKEN_GROUP];
  for (const g of groups) {
    if (!EXTRA_GROUP_PATTERN.test(g)) throw new Error(`bootstrap token group "${g}" must match ${EXTRA_GROUP_PATTERN.source}`);
  }
  const stringData: Record<string, string> = { 'token-id': token.id, 'token-secret': token.secret };
  if (opts.ttlMs !== undefined) {
    stringData.expiration = new Date((opts.now ?? new Date()).getTime() + opts.ttlMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  if (opts.description) stringData.description = opts.description;
  for (const usage of opts.usages ?? ['authentication', 'signing']) stringData[`usage-bootstrap-${usage}`] = 'true';
  if (groups.length > 0) stringData['auth-extra-groups'] = groups.join(',');
  if (opts.nodeName !== undefined) stringData[BOOTSTRAP_TOKEN_NODE_NAME_KEY] = opts.nodeName;
  if (opts.nodePool !== undefined) stringData[BOOTSTRAP_TOKEN_NODEPOOL_KEY] = opts.nodePool;
  if (opts.tenant !== undefined) stringData[BOOTSTRAP_TOKEN_TENANT_KEY] = opts.tenant;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: bootstrapTokenSecretName(token.id), namespace: BOOTSTRAP_TOKEN_NAMESPACE },
    type: BOOTSTRAP_TOKEN_SECRET_TYPE,
    stringData,
  };
}

/** Reads a Secret value from data (base64, as stored) or stringData (as written by a client). */

export interface BootstrapIdentity {
  username: string;
  groups: string[];
  /** The node name the token was made for, when it was (BOOTSTRAP_TOKEN_NODE_NAME_KEY). */
  nodeName?: string;
  /** The NodePool the token was made for, when it was (BOOTSTRAP_TOKEN_NODEPOOL_KEY). */
  nodePool?: string;
  /** The Tenant the token was made for, when it was (BOOTSTRAP_TOKEN_TENANT_KEY). */
  tenant?: string;
}

/** Equal-time comparison of two secrets of any length: both are hashed first, so neither length nor content leaks. */
function secretsEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** Compared against when there is no Secret, so a refusal of an unknown token id costs what a wrong secret costs. */
const ABSENT_SECRET = '';

/**
 * Checks `token` against its Secret as upstream's bootstrap token authenticator does. Returns the identity
 * (system:bootstrap:<id>, groups system:bootstrappers + auth-extra-groups) or a reason it is refused. The reason
 * is for the server's log only: callers answer every refusal alike, so a caller cannot learn whether an id exists.
 * Every path compares the secret first (against a stand-in when the Secret is missing), in constant time.
 */
export function validateBootstrapToken(
  secret: V1Secret | null | undefined,
  token: BootstrapToken,
  now: Date = new Date(),
  usage: 'authentication' | 'signing' = 'authentication',
): { ok: true; identity: BootstrapIdentity } | { ok: false; reason: string } {
  const secretMatches = secretsEqual((secret ? secretValue(secret, 'token-secret') : undefined) ?? ABSENT_SECRET, token.secret);
  if (!secret) return { ok: false, reason: `secret "${bootstrapTokenSecretName(token.id)}" not found` };
  if (secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) return { ok: false, reason: `secret has wrong type "${secret.type ?? ''}"` };
  if (secret.metadata?.deletionTimestamp) return { ok: false, reason: 'secret is being deleted' };
  const id = secretValue(secret, 'token-id');
  if (id !== token.id) return { ok: false, reason: 'token id does not match' };
  if (!secretMatches) return { ok: false, reason: 'token secret does not match' };
  const expiry = bootstrapTokenExpiry(secret);
  if (expiry !== undefined) {
    const expiration = secretValue(secret, 'expiration');
    if (Number.isNaN(expiry)) return { ok: false, reason: `invalid expiration "${expiration}"` };
    if (now.getTime() >= expiry) return { ok: false, reason: `token expired at ${expiration}` };
  }
  if (secretValue(secret, `usage-bootstrap-${usage}`) !== 'true') return { ok: false, reason: `token not marked for ${usage}` };
  const extra = (secretValue(secret, 'auth-extra-groups') ?? '').split(',').map((g) => g.trim()).filter(Boolean);
  for (const g of extra) {
    if (!EXTRA_GROUP_PATTERN.test(g)) return { ok: false, reason: `invalid auth-extra-groups entry "${g}"` };
  }
  const nodeName = secretValue(secret, BOOTSTRAP_TOKEN_NODE_NAME_KEY);
  const nodePool = secretValue(secret, BOOTSTRAP_TOKEN_NODEPOOL_KEY);
  const tenant = secretValue(secret, BOOTSTRAP_TOKEN_TENANT_KEY);
  return {
    ok: true,
    identity: {
      username: BOOTSTRAP_USER_PREFIX + token.id, groups: [BOOTSTRAPPERS_GROUP, ...extra],
      ...(nodeName !== undefined ? { nodeName } : {}), ...(nodePool !== undefined ? { nodePool } : {}),
      ...(tenant !== undefined ? { tenant } : {}),
    },
  };
}
