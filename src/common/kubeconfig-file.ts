/**
 * The kubeconfig file format (clientcmd/v1 Config) and its resolution to one context's server and credentials.
 * Read by every Kedge API client (src/common/kube-client.ts) and by the PKI code that writes kubeconfigs.
 *
 * Supported, as clientcmd reads them: CA data or file, client certificate/key data or files, bearer `token` or
 * `tokenFile`, `tls-server-name`, `insecure-skip-tls-verify`, the context's namespace; file paths are relative
 * to the kubeconfig's directory, and `exec` credential plugins (src/common/exec-credential.ts). Not supported
 * (refused with a clear error rather than silently connecting without credentials): the long-deprecated
 * `auth-provider`, basic auth, `proxy-url`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { checkExecConfig, execCredential } from './exec-credential.js';

/** Fields a kubeconfig may carry that Kedge's client does not implement; named in the error. */
const UNSUPPORTED_USER_FIELDS = ['auth-provider', 'username', 'password'] as const;

export interface KubeconfigFile {
  apiVersion: 'v1';
  kind: 'Config';
  clusters: Array<{ name: string; cluster: { server: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string; 'insecure-skip-tls-verify'?: boolean; 'tls-server-name'?: string; 'proxy-url'?: string } }>;
  users: Array<{ name: string; user: { 'client-certificate-data'?: string; 'client-key-data'?: string; 'client-certificate'?: string; 'client-key'?: string; token?: string; tokenFile?: string; exec?: unknown } & Partial<Record<(typeof UNSUPPORTED_USER_FIELDS)[number], unknown>> }>;
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

const unb64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

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

/**
 * Reads a kubeconfig and resolves its current (or the named) context to server + credentials. Synchronous:
 * the files are a few KiB, and long-running clients re-read it on their refresh interval (a rotated token
 * file or certificate is picked up without a restart).
 */
export function readKubeconfigSync(file: string, contextName?: string): ResolvedKubeconfig {
  const cfg = parseKubeconfig(readFileSync(file, 'utf8'));
  const dir = path.dirname(file);
  const name = contextName ?? cfg['current-context'];
  const ctx = cfg.contexts.find((c) => c.name === name);
  if (!ctx) throw new Error(`kubeconfig ${file}: context "${name}" not found`);
  const cluster = cfg.clusters.find((c) => c.name === ctx.context.cluster)?.cluster;
  if (!cluster) throw new Error(`kubeconfig ${file}: cluster "${ctx.context.cluster}" not found`);
  if (typeof cluster.server !== 'string' || !/^https?:\/\//.test(cluster.server)) throw new Error(`kubeconfig ${file}: cluster "${ctx.context.cluster}" has no http(s) server URL`);
  if (cluster['proxy-url']) throw new Error(`kubeconfig ${file}: cluster "${ctx.context.cluster}" uses proxy-url, which Kedge does not support; reach the API server directly`);
  const user = cfg.users.find((u) => u.name === ctx.context.user)?.user ?? {};
  const unsupported = UNSUPPORTED_USER_FIELDS.filter((f) => user[f] !== undefined);
  if (unsupported.length) {
    throw new Error(`kubeconfig ${file}: user "${ctx.context.user}" authenticates with ${unsupported.join(', ')}, which Kedge does not support; use a client certificate, a bearer token (token / tokenFile) or an exec plugin`);
  }
  // Paths inside a kubeconfig are relative to the kubeconfig's own directory, as in clientcmd.
  const readRel = (p: string): string => readFileSync(path.resolve(dir, p), 'utf8');
  const out: ResolvedKubeconfig = { server: cluster.server };
  if (cluster['certificate-authority-data']) out.caCertPem = unb64(cluster['certificate-authority-data']);
  else if (cluster['certificate-authority']) out.caCertPem = readRel(cluster['certificate-authority']);
  if (user['client-certificate-data']) out.clientCertPem = unb64(user['client-certificate-data']);
  else if (user['client-certificate']) out.clientCertPem = readRel(user['client-certificate']);
  if (user['client-key-data']) out.clientKeyPem = unb64(user['client-key-data']);
  else if (user['client-key']) out.clientKeyPem = readRel(user['client-key']);
  if (user.token) out.token = user.token;
  else if (user.tokenFile) out.token = readRel(user.tokenFile).trim();
  if (user.exec !== undefined && !out.token && !out.clientCertPem) {
    // As client-go: a token or certificate in the kubeconfig wins over the plugin.
    const where = `kubeconfig ${file}: user "${ctx.context.user}"`;
    const cred = execCredential(checkExecConfig(user.exec, where), dir, where, cluster);
    if (cred.token) out.token = cred.token;
    if (cred.clientCertificateData && cred.clientKeyData) {
      out.clientCertPem = cred.clientCertificateData;
      out.clientKeyPem = cred.clientKeyData;
    }
  }
  if (ctx.context.namespace) out.namespace = ctx.context.namespace;
  if (cluster['tls-server-name']) out.tlsServerName = cluster['tls-server-name'];
  if (cluster['insecure-skip-tls-verify']) out.insecureSkipTlsVerify = true;
  return out;
}

/** `readKubeconfigSync` for async callers. */
export async function readKubeconfig(file: string, contextName?: string): Promise<ResolvedKubeconfig> {
  return readKubeconfigSync(file, contextName);
}
