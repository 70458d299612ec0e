import { readFile, writeFile, mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';

export { parseKubeconfig, readKubeconfig, readKubeconfigSync, type KubeconfigFile, type ResolvedKubeconfig } from '../common/kubeconfig-file.js';
import type { KubeconfigFile } from '../common/kubeconfig-file.js';

export interface KubeconfigParams {
  server: string;
  caCertPem: string;
  clusterName?: string;
  userName: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  token?: string;
  namespace?: string;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

export function buildKubeconfig(p: KubeconfigParams): KubeconfigFile {
  const clusterName = p.clusterName ?? 'kedge';
  const contextName = `${p.userName}@${clusterName}`;
  const user: KubeconfigFile['users'][number]['user'] = {};
  if (p.clientCertPem) user['client-certificate-data'] = b64(p.clientCertPem);
  if (p.clientKeyPem) user['client-key-data'] = b64(p.clientKeyPem);
  if (p.token) user.token = p.token;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: clusterName, cluster: { server: p.server, 'certificate-authority-data': b64(p.caCertPem) } }],
    users: [{ name: p.userName, user }],
    contexts: [{ name: contextName, context: { cluster: clusterName, user: p.userName, ...(p.namespace ? { namespace: p.namespace } : {}) } }],
    'current-context': contextName,
    preferences: {},
  };
}

export function serializeKubeconfig(config: KubeconfigFile): string {
  return YAML.stringify(config);
}

/** Writes atomically (temp file + rename) with mode 0600: the file holds a private key or token. */
export async function writeKubeconfig(file: string, config: KubeconfigFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, serializeKubeconfig(config), { mode: 0o600 });
  await rename(tmp, file);
}

