/**
 * The edge data dir: what `kedge edge join` writes and `kedge edge run` reads.
 *   DIR/config.json      {server, nodeName}
 *   DIR/pki/ca.crt       the pinned cloud CA
 *   DIR/pki/node.crt     client certificate CN=system:node:NAME, O=system:nodes
 *   DIR/pki/node.key     its private key (0600)
 *   DIR/store.db         the local SQLite store (desired objects, sync cursor, buffered status)
 *   DIR/pods/            owned by the pod manager
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writePublicFile, writeSecretFile } from '../pki/files.js';

export interface EdgeCredentials {
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

export interface EdgeConfig {
  server: string;
  nodeName: string;
}

export const edgePaths = (dataDir: string) => ({
  config: path.join(dataDir, 'config.json'),
  caCert: path.join(dataDir, 'pki', 'ca.crt'),
  cert: path.join(dataDir, 'pki', 'node.crt'),
  key: path.join(dataDir, 'pki', 'node.key'),
  store: path.join(dataDir, 'store.db'),
});

export async function writeEdgeIdentity(dataDir: string, cfg: EdgeConfig, creds: EdgeCredentials): Promise<void> {
  const p = edgePaths(dataDir);
  await mkdir(path.dirname(p.caCert), { recursive: true, mode: 0o700 });
  await writePublicFile(p.caCert, creds.caCertPem);
  await writeSecretFile(p.key, creds.keyPem);
  await writePublicFile(p.cert, creds.certPem);
  await writePublicFile(p.config, JSON.stringify(cfg, null, 2) + '\n');
}

export async function readEdgeIdentity(dataDir: string): Promise<{ config: EdgeConfig; credentials: EdgeCredentials }> {
  const p = edgePaths(dataDir);
  let raw: string;
  try {
    raw = await readFile(p.config, 'utf8');
  } catch {
    throw new Error(`${dataDir} is not a joined edge data dir (no config.json): run \`kedge edge join\` first`);
  }
  const config = JSON.parse(raw) as EdgeConfig;
  if (typeof config.server !== 'string' || typeof config.nodeName !== 'string') throw new Error(`${p.config} is malformed`);
  const [caCertPem, certPem, keyPem] = await Promise.all([readFile(p.caCert, 'utf8'), readFile(p.cert, 'utf8'), readFile(p.key, 'utf8')]);
  return { config, credentials: { caCertPem, certPem, keyPem } };
}

/** Replace the node certificate (rotation) atomically. */
export async function writeNodeCertificate(dataDir: string, certPem: string, keyPem: string): Promise<void> {
  const p = edgePaths(dataDir);
  await writeSecretFile(p.key, keyPem);
  await writePublicFile(p.cert, certPem);
}
