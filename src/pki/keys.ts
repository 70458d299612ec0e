import { createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';

export type CryptoKey = import('node:crypto').webcrypto.CryptoKey;
export type CryptoKeyPair = import('node:crypto').webcrypto.CryptoKeyPair;

/**
 * ECDSA P-256 key pairs. Go's crypto/tls (kubectl), OpenSSL (node) and client-node all accept
 * P-256 certificates and PKCS#8 "PRIVATE KEY" PEM, and P-256 keys are far cheaper to generate than RSA.
 */
export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const EC_SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface PemKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
}

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function toPem(label: string, der: ArrayBuffer | Buffer): string {
  const b64 = Buffer.from(der as ArrayBuffer).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export async function exportKeyPairPem(keys: CryptoKeyPair): Promise<PemKeyPair> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const spki = await webcrypto.subtle.exportKey('spki', keys.publicKey);
  return { privateKeyPem: toPem('PRIVATE KEY', pkcs8), publicKeyPem: toPem('PUBLIC KEY', spki) };
}

/** Loads a PEM private key (PKCS#8 or SEC1 "EC PRIVATE KEY") into a WebCrypto key pair usable for signing. */
export async function importKeyPairPem(privateKeyPem: string): Promise<CryptoKeyPair> {
  const keyObject = createPrivateKey(privateKeyPem);
  if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('only ECDSA P-256 private keys are supported');
  }
  const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(keyObject).export({ type: 'spki', format: 'der' });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, EC_ALGORITHM, true, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, EC_ALGORITHM, true, ['verify']);
  return { privateKey, publicKey } as CryptoKeyPair;
}

export function privateKeyObject(privateKeyPem: string): KeyObject {
  return createPrivateKey(privateKeyPem);
}

export { toPem };
