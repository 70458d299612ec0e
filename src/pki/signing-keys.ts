import path from 'node:path';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readIfExists, writePublicFile, writeSecretFile } from './files.js';

/**
 * The key pair the API server signs service account tokens with (ES256), persisted as sa.key (0600) and
 * sa.pub so tokens stay valid across restarts. Separate from the CA key: leaking one must not leak the other.
 */
export interface SigningKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Key id as upstream derives it: base64url(SHA-256(DER SubjectPublicKeyInfo)). */
  keyId: string;
}

export function signingKeyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url');
}

export function signingKeyPairFromPem(privateKeyPem: string): SigningKeyPair {
  const privateKey = createPrivateKey(privateKeyPem);
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('service account signing key must be an ECDSA P-256 key');
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: signingKeyId(publicKey) };
}

export async function ensureServiceAccountKeyPair(dir: string): Promise<SigningKeyPair> {
  const keyFile = path.join(dir, 'sa.key');
  const pubFile = path.join(dir, 'sa.pub');
  const existing = await readIfExists(keyFile);
  if (existing) return signingKeyPairFromPem(existing);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await writeSecretFile(keyFile, pem);
  const pair = signingKeyPairFromPem(pem);
  await writePublicFile(pubFile, pair.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  return pair;
}
