/**
 * kubeconfig `exec` credential plugins (client.authentication.k8s.io ExecCredential), as client-go runs them:
 * managed clusters (EKS's `aws eks get-token`, GKE's `gke-gcloud-auth-plugin`, AKS's `kubelogin`) hand out short-lived
 * tokens or client certificates only this way.
 *
 * The plugin runs without a terminal (Kedge is a daemon: `interactiveMode: Always` is refused), with
 * KUBERNETES_EXEC_INFO describing the request, and prints an ExecCredential whose `status` carries a token or a
 * client certificate + key. Its answer is reused until 5 minutes before its `expirationTimestamp` (or, with none,
 * for the life of the process, as client-go does until a 401); the API client re-reads its kubeconfig every minute,
 * so a credential that expires is renewed before it does.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export interface ExecConfig {
  command: string;
  args?: string[];
  env?: Array<{ name: string; value: string }> | null;
  apiVersion: string;
  installHint?: string;
  provideClusterInfo?: boolean;
  interactiveMode?: 'Never' | 'IfAvailable' | 'Always';
}

export interface ExecCredentialStatus {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
}

const SUPPORTED_API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];
/** A credential this close to its expiry is renewed rather than reused. */
const RENEW_BEFORE_MS = 5 * 60_000;
/** A plugin that has not answered by then has failed (it must never hang the component). */
const PLUGIN_TIMEOUT_MS = 60_000;

const cache = new Map<string, { status: ExecCredentialStatus; expiresAt: number }>();

/** Checks the `exec` stanza of a kubeconfig user; the error names the field and what was expected. */
export function checkExecConfig(raw: unknown, where: string): ExecConfig {
  if (!raw || typeof raw !== 'object') throw new Error(`${where}: exec must be a mapping`);
  const e = raw as Partial<ExecConfig>;
  if (typeof e.command !== 'string' || e.command === '') throw new Error(`${where}: exec.command is required`);
  if (typeof e.apiVersion !== 'string' || !SUPPORTED_API_VERSIONS.includes(e.apiVersion)) {
    throw new Error(`${where}: exec.apiVersion must be one of ${SUPPORTED_API_VERSIONS.join(', ')} (got ${JSON.stringify(e.apiVersion)})`);
  }
  if (e.args !== undefined && (!Array.isArray(e.args) || e.args.some((a) => typeof a !== 'string'))) throw new Error(`${where}: exec.args must be a list of strings`);
  if (e.env != null && (!Array.isArray(e.env) || e.env.some((v) => typeof v?.name !== 'string' || typeof v.value !== 'string'))) {
    throw new Error(`${where}: exec.env must be a list of {name, value} strings`);
  }
  if (e.interactiveMode === 'Always') throw new Error(`${where}: exec.interactiveMode is Always, but Kedge runs without a terminal; use a plugin that works non-interactively`);
  return e as ExecConfig;
}

/**
 * Runs the plugin (or reuses its unexpired answer). `kubeconfigDir` resolves a command given as a relative path, as
 * clientcmd does; a bare name is looked up in PATH. `cluster` is passed only when the stanza asks for it.
 */
export function execCredential(exec: ExecConfig, kubeconfigDir: string, where: string, cluster?: { server: string; 'certificate-authority-data'?: string; 'tls-server-name'?: string; 'insecure-skip-tls-verify'?: boolean }): ExecCredentialStatus {
  const command = exec.command.includes('/') ? path.resolve(kubeconfigDir, exec.command) : exec.command;
  const key = JSON.stringify([command, exec.args ?? [], exec.env ?? [], exec.apiVersion, exec.provideClusterInfo ? cluster : null]);
  const hit = cache.get(key);
  if (hit && Date.now() < hit.expiresAt - RENEW_BEFORE_MS) return hit.status;

  const execInfo = {
    apiVersion: exec.apiVersion,
    kind: 'ExecCredential',
    spec: { interactive: false, ...(exec.provideClusterInfo && cluster ? { cluster: { server: cluster.server, 'certificate-authority-data': cluster['certificate-authority-data'], 'tls-server-name': cluster['tls-server-name'], 'insecure-skip-tls-verify': cluster['insecure-skip-tls-verify'] } } : {}) },
  };
  let stdout: string;
  try {
    stdout = execFileSync(command, exec.args ?? [], {
      env: { ...process.env, ...Object.fromEntries((exec.env ?? []).map((v) => [v.name, v.value])), KUBERNETES_EXEC_INFO: JSON.stringify(execInfo) },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: PLUGIN_TIMEOUT_MS,
      maxBuffer: 1 << 20,
      encoding: 'utf8',
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; status?: number | null };
    if (e.code === 'ENOENT') throw new Error(`${where}: exec plugin "${exec.command}" not found${exec.installHint ? `: ${exec.installHint}` : ''}`);
    const stderr = String(e.stderr ?? '').trim().slice(0, 500);
    throw new Error(`${where}: exec plugin "${exec.command}" failed${e.status != null ? ` (exit ${e.status})` : ''}${stderr ? `: ${stderr}` : `: ${e.message}`}`);
  }
  const status = parseExecCredential(stdout, exec.apiVersion, where);
  const expiry = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : Number.POSITIVE_INFINITY;
  const credential: ExecCredentialStatus = { token: status.token, clientCertificateData: status.clientCertificateData, clientKeyData: status.clientKeyData };
  cache.set(key, { status: credential, expiresAt: expiry });
  return credential;
}

function parseExecCredential(stdout: string, apiVersion: string, where: string): ExecCredentialStatus & { expirationTimestamp?: string } {
  let doc: { apiVersion?: unknown; kind?: unknown; status?: Record<string, unknown> };
  try {
    doc = JSON.parse(stdout) as typeof doc;
  } catch {
    throw new Error(`${where}: exec plugin did not print an ExecCredential as JSON`);
  }
  if (doc?.kind !== 'ExecCredential' || doc.apiVersion !== apiVersion) {
    throw new Error(`${where}: exec plugin printed ${String(doc?.apiVersion)}/${String(doc?.kind)}, want ${apiVersion}/ExecCredential`);
  }
  const s = doc.status ?? {};
  const str = (k: string): string | undefined => (typeof s[k] === 'string' && s[k] !== '' ? (s[k] as string) : undefined);
  const out = { token: str('token'), clientCertificateData: str('clientCertificateData'), clientKeyData: str('clientKeyData'), expirationTimestamp: str('expirationTimestamp') };
  if (!!out.clientCertificateData !== !!out.clientKeyData) throw new Error(`${where}: exec plugin's status has only one of clientCertificateData and clientKeyData`);
  if (!out.token && !out.clientCertificateData) throw new Error(`${where}: exec plugin's status has neither a token nor a client certificate`);
  if (out.expirationTimestamp !== undefined && Number.isNaN(Date.parse(out.expirationTimestamp))) throw new Error(`${where}: exec plugin's expirationTimestamp ${JSON.stringify(out.expirationTimestamp)} is not an RFC 3339 time`);
  return out;
}
