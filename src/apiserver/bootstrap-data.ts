/**
 * Bootstrap data in the datastore (K3s's design): the cluster CA and the service-account signing key pair, sealed
 * with a key derived from the server token (`kedge server --token`), under one datastore key outside `/registry/`
 * (never served by the API, never watched by the feed). The first server on an external datastore writes it; every
 * server started later with the same token reads it, so all of them sign and trust the same certificates and
 * service-account tokens without copying files. A wrong token cannot open it: the server stops with a clear error.
 *
 * Sealing: scrypt(token, random 16-byte salt; N=2^15, r=8, p=1) → 256-bit key; AES-256-GCM with a random 12-byte
 * IV, the key name as associated data. Whoever can read the datastore still needs the token to get the CA key; a
 * tampered record fails authentication. docs/design/pki-and-auth.md "Several servers", security.md.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import path from 'node:path';
import { ensureCertificateAuthority, ensureServiceAccountKeyPair, signingKeyPairFromPem } from '../pki/index.js';
import { readIfExists, writePublicFile, writeSecretFile } from '../pki/files.js';
import { KeyExistsError, type Store } from '../storage/types.js';
import type { Logger } from '../common/logger.js';

export const BOOTSTRAP_DATA_KEY = '/kedge/bootstrap/pki';
/** The files the bootstrap data carries (DATA_DIR/pki); the serving certificate stays each server's own. */
export const BOOTSTRAP_FILES = ['ca.crt', 'ca.key', 'sa.key', 'sa.pub'] as const;
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
/** Shorter tokens are refused: the token is all that protects the CA key in the datastore. */
export const MIN_SERVER_TOKEN_LENGTH = 16;

type Payload = Record<(typeof BOOTSTRAP_FILES)[number], string>;

interface Sealed {
  version: 1;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  iv: string;
  tag: string;
  data: string;
}

export class BootstrapTokenError extends Error {}

function deriveKey(token: string, salt: Buffer, o: Pick<ScryptOptions, 'N' | 'r' | 'p'>): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(token, salt, 32, { ...o, maxmem: SCRYPT.maxmem }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function sealBootstrapData(token: string, payload: Payload): Promise<string> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await deriveKey(token, salt, SCRYPT);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(BOOTSTRAP_DATA_KEY));
  const data = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
  const sealed: Sealed = {
    version: 1, kdf: 'scrypt', N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p,
    salt: salt.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64'),
  };
  return JSON.stringify(sealed);
}

export async function openBootstrapData(token: string, text: string): Promise<Payload> {
  let sealed: Sealed;
  try {
    sealed = JSON.parse(text) as Sealed;
  } catch {
    throw new BootstrapTokenError(`the bootstrap data at ${BOOTSTRAP_DATA_KEY} in the datastore is not valid JSON`);
  }
  if (sealed.version !== 1 || sealed.kdf !== 'scrypt') throw new BootstrapTokenError(`the bootstrap data at ${BOOTSTRAP_DATA_KEY} has an unknown format (version ${String(sealed.version)})`);
  // The cost parameters come from the datastore: bounded, so a forged record cannot make this server hang.
  if (!(sealed.N >= 2 ** 14 && sealed.N <= 2 ** 17 && sealed.r >= 1 && sealed.r <= 16 && sealed.p >= 1 && sealed.p <= 4)) {
    throw new BootstrapTokenError(`the bootstrap data at ${BOOTSTRAP_DATA_KEY} names scrypt parameters out of range`);
  }
  const key = await deriveKey(token, Buffer.from(sealed.salt, 'base64'), sealed);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(BOOTSTRAP_DATA_KEY));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
    return JSON.parse(plain) as Payload;
  } catch {
    throw new BootstrapTokenError(
      'the --token does not open the bootstrap data in the datastore: it is not the token the first server of this cluster was started with (or the data was altered)',
    );
  }
}

async function readLocal(dir: string): Promise<Partial<Payload>> {
  const out: Partial<Payload> = {};
  for (const f of BOOTSTRAP_FILES) {
    const text = await readIfExists(path.join(dir, f));
    if (text !== undefined) out[f] = text;
  }
  return out;
}

/** Write the cluster's files into `dir`; a file already there must be the cluster's (another cluster's data dir is refused). */
async function install(dir: string, payload: Payload, local: Partial<Payload>, replace: boolean): Promise<void> {
  for (const f of BOOTSTRAP_FILES) {
    const have = local[f];
    if (have === payload[f]) continue;
    if (have !== undefined && !replace) {
      throw new BootstrapTokenError(`${path.join(dir, f)} differs from the cluster's in the datastore: this data dir belongs to another cluster (move its pki directory away to join this one)`);
    }
    await (f.endsWith('.key') ? writeSecretFile : writePublicFile)(path.join(dir, f), payload[f]);
  }
}

/**
 * Make `dir` (DATA_DIR/pki) hold the cluster's CA and service-account keys: read them from the datastore when a
 * server wrote them before (`joined`), otherwise write this server's (made now, or already in the data dir) there
 * (`published`). Two servers starting at once: one create wins, the other takes the winner's.
 */
export async function syncBootstrapData(store: Pick<Store, 'get' | 'create'>, dir: string, token: string, log?: Logger): Promise<'joined' | 'published'> {
  if (token.length < MIN_SERVER_TOKEN_LENGTH) throw new BootstrapTokenError(`--token must be at least ${MIN_SERVER_TOKEN_LENGTH} characters: it is what protects the cluster CA key in the datastore`);
  const local = await readLocal(dir);
  const existing = await store.get(BOOTSTRAP_DATA_KEY);
  if (existing) {
    await install(dir, await openBootstrapData(token, existing.value), local, false);
    log?.info({ key: BOOTSTRAP_DATA_KEY }, 'joined the cluster: CA and service-account keys read from the datastore');
    return 'joined';
  }
  const madeNow = BOOTSTRAP_FILES.every((f) => local[f] === undefined);
  await ensureCertificateAuthority(dir);
  await ensureServiceAccountKeyPair(dir);
  const mine = (await readLocal(dir)) as Payload;
  // A data dir from before sa.pub was written beside sa.key: derive it, so every server gets the pair.
  if (mine['sa.pub'] === undefined) {
    mine['sa.pub'] = signingKeyPairFromPem(mine['sa.key']).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await writePublicFile(path.join(dir, 'sa.pub'), mine['sa.pub']);
  }
  try {
    await store.create(BOOTSTRAP_DATA_KEY, await sealBootstrapData(token, mine));
  } catch (err) {
    if (!(err instanceof KeyExistsError)) throw err;
    const theirs = await store.get(BOOTSTRAP_DATA_KEY);
    if (!theirs) throw err;
    // Lost the race to another server: keys made just now give way; a data dir that had its own is another cluster.
    await install(dir, await openBootstrapData(token, theirs.value), madeNow ? {} : local, madeNow);
    log?.info({ key: BOOTSTRAP_DATA_KEY }, 'joined the cluster: another server published its CA first');
    return 'joined';
  }
  log?.info({ key: BOOTSTRAP_DATA_KEY }, 'published this server\'s CA and service-account keys to the datastore (sealed with --token)');
  return 'published';
}
