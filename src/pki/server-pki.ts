import os from 'node:os';
import path from 'node:path';
import { readIfExists, writePublicFile, writeSecretFile } from './files.js';
import {
  issueClientCertificate,
  type CertificateAuthority,
} from './certificates.js';
import { inspectCertificate, isSignedBy, keyMatchesCertificate, needsRotation } from './inspect.js';
import { inX509Worker } from './x509-worker.js';
import { buildKubeconfig, parseKubeconfig, writeKubeconfig } from './kubeconfig.js';

/** Where the control plane keeps its key material, relative to --data-dir. */
export function pkiDir(dataDir: string): string {
  return path.join(dataDir, 'pki');
}

export const PKI_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'server.crt',
  serverKey: 'server.key',
} as const;

/** Names every in-cluster client may use for the API server, as upstream puts them in its certificate. */
export const DEFAULT_SERVER_DNS_NAMES = [
  'localhost',
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
];

export interface ServerPki {
  caCertPem: string;
  caKeyPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** Absolute paths of the files above. */
  files: { caCert: string; caKey: string; serverCert: string; serverKey: string };
}

/** Loads the CA from `dir` (ca.crt + ca.key), creating and persisting it on first use. Never replaces an existing CA. */
export async function ensureCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  const certFile = path.join(dir, PKI_FILES.caCert);
  const keyFile = path.join(dir, PKI_FILES.caKey);
  const [certPem, keyPem] = await Promise.all([readIfExists(certFile), readIfExists(keyFile)]);
  if (certPem && keyPem) {
    if (!keyMatchesCertificate(certPem, keyPem)) throw new Error(`${certFile} and ${keyFile} do not belong together`);
    return { certPem, keyPem };
  }
  if (certPem || keyPem) {
    // Half a CA means someone deleted a file; silently making a new CA would invalidate every credential.
    throw new Error(`incomplete CA in ${dir}: both ${PKI_FILES.caCert} and ${PKI_FILES.caKey} are required`);
  }
  // In the X.509 worker: a long-running caller does not keep the library loaded (x509-worker.ts).
  const ca = await inX509Worker('createCertificateAuthority');
  await writeSecretFile(keyFile, ca.keyPem);
  await writePublicFile(certFile, ca.certPem);
  return ca;
}

/** Every host the server certificate must cover: defaults, loopback, the machine's hostname, the caller's. */
export function serverCertificateHosts(extraHosts: string[] = []): string[] {
  const hosts = new Set<string>([...DEFAULT_SERVER_DNS_NAMES, '127.0.0.1', '::1', os.hostname()]);
  for (const h of extraHosts) {
    // A wildcard bind address is not a name anyone dials.
    if (h && h !== '0.0.0.0' && h !== '::') hosts.add(h);
  }
  return [...hosts].sort();
}

function coversHosts(certPem: string, hosts: string[]): boolean {
  const info = inspectCertificate(certPem);
  const have = new Set([...info.dnsNames, ...info.ipAddresses]);
  return hosts.every((h) => have.has(h));
}

/**
 * A serving certificate named `name` (files NAME.crt/NAME.key in `dir`) signed by `ca`, reused while it still
 * covers `hosts`, is signed by this CA and is not due for rotation; otherwise re-issued.
 */
export async function ensureServingCertificate(
  dir: string,
  ca: CertificateAuthority,
  name: string,
  hosts: string[],
  commonName = name,
): Promise<{ certPem: string; keyPem: string; certFile: string; keyFile: string }> {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const [certPem, keyPem] = await Promise.all([readIfExists(certFile), readIfExists(keyFile)]);
  if (
    certPem && keyPem &&
    keyMatchesCertificate(certPem, keyPem) &&
    isSignedBy(certPem, ca.certPem) &&
    coversHosts(certPem, hosts) &&
    !needsRotation(certPem)
  ) {
    return { certPem, keyPem, certFile, keyFile };
  }
  const issued = await inX509Worker('issueServerCertificate', ca, commonName, hosts);
  await writeSecretFile(keyFile, issued.keyPem);
  await writePublicFile(certFile, issued.certPem);
  return { ...issued, certFile, keyFile };
}

/**
 * Creates the control plane's PKI on first start and reuses it afterwards: the CA is kept forever, the server
 * certificate is re-issued when the requested hosts (bind address, advertised names) are not all covered.
 */
export async function ensureServerPki(dataDir: string, opts: { hosts?: string[] } = {}): Promise<ServerPki> {
  const dir = pkiDir(dataDir);
  const ca = await ensureCertificateAuthority(dir);
  const server = await ensureServingCertificate(dir, ca, 'server', serverCertificateHosts(opts.hosts), 'kube-apiserver');
  return {
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    serverCertPem: server.certPem,
    serverKeyPem: server.keyPem,
    files: {
      caCert: path.join(dir, PKI_FILES.caCert),
      caKey: path.join(dir, PKI_FILES.caKey),
      serverCert: server.certFile,
      serverKey: server.keyFile,
    },
  };
}

export const ADMIN_USER = 'kubernetes-admin';
/** Upstream's superuser group: members are authorized for everything without consulting RBAC. */
export const MASTERS_GROUP = 'system:masters';

export function adminKubeconfigPath(dataDir: string): string {
  return path.join(dataDir, 'admin.kubeconfig');
}

/**
 * Writes DATA_DIR/admin.kubeconfig (mode 0600): cluster-admin credentials (CN=kubernetes-admin, O=system:masters)
 * that the stock kubectl uses as is. An existing file is kept when it still points at `serverUrl`, embeds the
 * current CA, and its client certificate is valid and signed by that CA, so credentials survive restarts.
 */
export async function writeAdminKubeconfig(dataDir: string, serverUrl: string): Promise<string> {
  const file = adminKubeconfigPath(dataDir);
  const ca = await ensureCertificateAuthority(pkiDir(dataDir));
  const existing = await readIfExists(file);
  if (existing) {
    try {
      const cfg = parseKubeconfig(existing);
      const cluster = cfg.clusters[0]?.cluster;
      const user = cfg.users[0]?.user;
      const cert = user?.['client-certificate-data'] ? Buffer.from(user['client-certificate-data'], 'base64').toString() : '';
      const caData = cluster?.['certificate-authority-data'] ? Buffer.from(cluster['certificate-authority-data'], 'base64').toString() : '';
      if (cluster?.server === serverUrl && caData.trim() === ca.certPem.trim() && cert && isSignedBy(cert, ca.certPem) && !needsRotation(cert)) {
        return file;
      }
    } catch {
      // unreadable: rewrite below
    }
  }
  const admin = await issueClientCertificate(ca, ADMIN_USER, [MASTERS_GROUP]);
  await writeKubeconfig(file, buildKubeconfig({
    server: serverUrl,
    caCertPem: ca.certPem,
    userName: ADMIN_USER,
    clientCertPem: admin.certPem,
    clientKeyPem: admin.keyPem,
  }));
  return file;
}

/**
 * TLS options for an https server that authenticates clients by certificate but still lets token (and
 * anonymous) requests through to the authenticator: the CA is trusted for client certs, but an absent or
 * invalid one does not abort the handshake (the authenticator checks `socket.authorized`).
 */
export function httpsServerOptions(pki: Pick<ServerPki, 'caCertPem' | 'serverCertPem' | 'serverKeyPem'>): {
  cert: string; key: string; ca: string; requestCert: true; rejectUnauthorized: false; minVersion: 'TLSv1.2';
} {
  return {
    cert: pki.serverCertPem,
    key: pki.serverKeyPem,
    ca: pki.caCertPem,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  };
}
