import { readFile, writeFile, mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';

/**
 * The kubeconfig file format (clientcmd/v1 Config), limited to what Kedge writes and reads: one or more
 * clusters with an embedded CA, users with embedded client certificates or a bearer token.
 */
export interface KubeconfigFile {
  apiVersion: 'v1';
  kind: 'Config';
  clusters: Array<{ name: string; cluster: { server: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string; 'insecure-skip-tls-verify'?: boolean; 'tls-server-name'?: string } }>;
  users: Array<{ name: string; user: { 'client-certificate-data'?: string; 'client-key-data'?: string; 'client-certificate'?: string; 'client-key'?: string; token?: string; tokenFile?: string } }>;
  contexts: Array<{ name: string; context: { cluster: string; user: string; namespace?: string } }>;
  'current-context': string;
  preferences?: Record<string, unknown>;
}

/** The credentials of the current context, resolved to PEM/strings (files referenced by path are read). */
export interface ResolvedKubeconfig {
  server: string;
  caCertPem?: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  token?: string;
  namespace?: string;
  tlsServerName?: string;
  insecureSkipTlsVerify?: boolean;
}

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

export function parseKubeconfig(text: string): KubeconfigFile {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new Error(`kubeconfig is not valid YAML: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') throw new Error('kubeconfig is empty or not a mapping');
  const cfg = doc as Partial<KubeconfigFile>;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: cfg.clusters ?? [],
    users: cfg.users ?? [],
    contexts: cfg.contexts ?? [],
    'current-context': cfg['current-context'] ?? '',
    preferences: cfg.preferences ?? {},
  };
}

/** Reads a kubeconfig and resolves its current (or the named) context to server + credentials. */
export async function readKubeconfig(file: string, contextName?: string): Promise<ResolvedKubeconfig> {
  const cfg = parseKubeconfig(await readFile(file, 'utf8'));
  const dir = path.dirname(file);
  const name = contextName ?? cfg['current-context'];
  const ctx = cfg.contexts.find((c) => c.name === name);
  if (!ctx) throw new Error(`kubeconfig ${file}: context "${name}" not found`);
  const cluster = cfg.clusters.find((c) => c.name === ctx.context.cluster)?.cluster;
  if (!cluster) throw new Error(`kubeconfig ${file}: cluster "${ctx.context.cluster}" not found`);
  const user = cfg.users.find((u) => u.name === ctx.context.user)?.user ?? {};
  // Paths inside a kubeconfig are relative to the kubeconfig's own directory, as in clientcmd.
  const readRel = (p: string): Promise<string> => readFile(path.resolve(dir, p), 'utf8');
  const out: ResolvedKubeconfig = { server: cluster.server };
  if (cluster['certificate-authority-data']) out.caCertPem = unb64(cluster['certificate-authority-data']);
  else if (cluster['certificate-authority']) out.caCertPem = await readRel(cluster['certificate-authority']);
  if (user['client-certificate-data']) out.clientCertPem = unb64(user['client-certificate-data']);
  else if (user['client-certificate']) out.clientCertPem = await readRel(user['client-certificate']);
  if (user['client-key-data']) out.clientKeyPem = unb64(user['client-key-data']);
  else if (user['client-key']) out.clientKeyPem = await readRel(user['client-key']);
  if (user.token) out.token = user.token;
  else if (user.tokenFile) out.token = (await readRel(user.tokenFile)).trim();
  if (ctx.context.namespace) out.namespace = ctx.context.namespace;
  if (cluster['tls-server-name']) out.tlsServerName = cluster['tls-server-name'];
  if (cluster['insecure-skip-tls-verify']) out.insecureSkipTlsVerify = true;
  return out;
}
