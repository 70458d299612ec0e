/**
 * When a bootstrap token expires, as its Secret says (kube-system/bootstrap-token-<id>, `expiration`: RFC 3339, in
 * `data` base64-encoded or in `stringData`). Shared by the token authenticator (src/pki) and the token cleaner
 * (src/controllers/tokens), so both read the same instant.
 */
export interface SecretLike {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** One value of a Secret, decoded: `data` (base64) wins over `stringData`, as the API server merges them. */
export function secretValue(secret: SecretLike, key: string): string | undefined {
  const d = secret.data?.[key];
  if (d !== undefined) return Buffer.from(d, 'base64').toString('utf8');
  return secret.stringData?.[key];
}

/**
 * The token's expiry in ms since the epoch; undefined when it has none (never expires); NaN when the field does not
 * parse (the authenticator refuses such a token; the cleaner leaves it alone, as upstream's does).
 */
export function bootstrapTokenExpiry(secret: SecretLike): number | undefined {
  const expiration = secretValue(secret, 'expiration');
  return expiration === undefined || expiration === '' ? undefined : Date.parse(expiration);
}
