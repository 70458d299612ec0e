import { X509Certificate, createHash, createPrivateKey, createPublicKey } from 'node:crypto';

/** What the rest of Kedge needs to know about a certificate, read with node:crypto. */
export interface CertificateInfo {
  commonName: string;
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
  serialNumber: string;
}

/** Parses "CN=a\nO=b\nO=c" (node's subject format) into attribute lists. */
function parseSubject(subject: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const values = out.get(key) ?? [];
    // Node prints multi-valued attributes with an escaped "+"-joined form only inside one RDN; separate RDNs are separate lines.
    values.push(line.slice(eq + 1));
    out.set(key, values);
  }
  return out;
}

function parseSan(san: string | undefined): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const part of (san ?? '').split(/,\s*/)) {
    if (part.startsWith('DNS:')) dnsNames.push(part.slice(4));
    else if (part.startsWith('IP Address:')) ipAddresses.push(normalizeIp(part.slice(11)));
  }
  return { dnsNames, ipAddresses };
}

/** Node prints IPv6 SANs fully expanded in upper case; compare in compressed lower case form. */
function normalizeIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip.toLowerCase();
  }
}

export function inspectCertificate(certPem: string): CertificateInfo {
  const cert = new X509Certificate(certPem);
  const subject = parseSubject(cert.subject);
  const { dnsNames, ipAddresses } = parseSan(cert.subjectAltName);
  return {
    commonName: subject.get('CN')?.[0] ?? '',
    organizations: subject.get('O') ?? [],
    dnsNames,
    ipAddresses,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    isCA: cert.ca,
    serialNumber: cert.serialNumber,
  };
}

/**
 * The CA pin used for token-based join, exactly as kubeadm computes it (`--discovery-token-ca-cert-hash`):
 * "sha256:" + hex SHA-256 of the certificate's DER SubjectPublicKeyInfo.
 */
export function caCertHash(caCertPem: string): string {
  const spki = new X509Certificate(caCertPem).publicKey.export({ type: 'spki', format: 'der' });
  return 'sha256:' + createHash('sha256').update(spki).digest('hex');
}

/**
 * The one certificate in `pem`, re-encoded from its DER bytes (nothing else of the input survives). Throws
 * when `pem` holds anything but exactly one CERTIFICATE block: a pin checked against one certificate must not
 * let a second one (or stray bytes) ride along into a trust store, as a bundle would.
 */
export function singleCertificatePem(pem: string): string {
  const blocks = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)];
  const outside = pem.replace(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g, '').trim();
  if (blocks.length !== 1 || blocks[0]![1] !== 'CERTIFICATE' || outside !== '') {
    const kinds = blocks.map((b) => b[1]).join(', ') || 'none';
    throw new Error(`expected exactly one PEM certificate, got ${blocks.length} PEM block(s) (${kinds})${outside ? ' and other text' : ''}`);
  }
  const cert = new X509Certificate(pem); // throws on a malformed certificate
  const b64 = cert.raw.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** True when `certPem` carries a signature of the CA and the CA certificate is its issuer. */
export function isSignedBy(certPem: string, caCertPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caCertPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** True when the private key belongs to the certificate. */
export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  try {
    const certSpki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    const keySpki = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    return certSpki.equals(keySpki);
  } catch {
    return false;
  }
}

/**
 * Whether a certificate should be renewed now. Like the kubelet, renew once `fraction` (default 0.8)
 * of the validity period has passed, or when it is already expired.
 */
export function needsRotation(certPem: string, now: Date = new Date(), fraction = 0.8): boolean {
  const { notBefore, notAfter } = inspectCertificate(certPem);
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return now.getTime() >= notBefore.getTime() + lifetime * fraction;
}

/** Milliseconds until a certificate should be renewed (0 when it is due); callers schedule rotation with it. */
export function msUntilRotation(certPem: string, now: Date = new Date(), fraction = 0.8): number {
  const { notBefore, notAfter } = inspectCertificate(certPem);
  const due = notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) * fraction;
  return Math.max(0, due - now.getTime());
}
