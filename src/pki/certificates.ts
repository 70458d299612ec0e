import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import type * as x509 from '@peculiar/x509';
import { loadX509 } from './crypto-provider.js';
import { EC_SIGNING, exportKeyPairPem, generateKeyPair, importKeyPairPem, type CryptoKey } from './keys.js';

/** A certificate authority: its certificate and the private key that signs with it (both PEM). */
export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

/** A certificate and its own private key (PEM). */
export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

export const DAY_MS = 24 * 60 * 60 * 1000;
export const CA_VALIDITY_MS = 10 * 365 * DAY_MS;
export const LEAF_VALIDITY_MS = 365 * DAY_MS;
/** Leaf certificates start a little in the past so small clock skew between machines does not reject them. */
const BACKDATE_MS = 5 * 60 * 1000;

/** Positive random 128-bit serial (RFC 5280: at most 20 octets, must be positive). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f | 0x01;
  return bytes.toString('hex');
}

/** Subject for Kubernetes identities: CN = user, one O per group (Go's pkix reads every O value). */
export function subjectName(commonName: string, organizations: string[] = []): x509.JsonName {
  const name: x509.JsonName = organizations.map((o) => ({ O: [o] }));
  name.push({ CN: [commonName] });
  return name;
}

export async function createCertificateAuthority(commonName = `kedge-ca@${Math.floor(Date.now() / 1000)}`, validityMs = CA_VALIDITY_MS): Promise<CertificateAuthority> {
  const x509 = await loadX509();
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: subjectName(commonName),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + validityMs),
    keys,
    signingAlgorithm: EC_SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pem = await exportKeyPairPem(keys);
  return { certPem: cert.toString('pem') + '\n', keyPem: pem.privateKeyPem };
}

export type KeyUsagePurpose = 'server' | 'client';

export interface LeafOptions {
  commonName: string;
  organizations?: string[];
  /** DNS names and IP addresses (told apart automatically). */
  hosts?: string[];
  /** URI SANs (e.g. the hub's node identity binding). */
  uris?: string[];
  purposes: KeyUsagePurpose[];
  validityMs?: number;
}

function sanExtension(lib: typeof x509, hosts: string[], uris: string[] = []): x509.SubjectAlternativeNameExtension {
  const names: x509.JsonGeneralNames = [];
  for (const host of new Set(hosts)) {
    names.push({ type: isIP(host) ? 'ip' : 'dns', value: host });
  }
  for (const uri of new Set(uris)) names.push({ type: 'url', value: uri });
  return new lib.SubjectAlternativeNameExtension(names, false);
}

/** Signs `publicKey` with the CA. Shared by locally generated leaves and PKCS#10 CSRs. */
async function signLeaf(ca: CertificateAuthority, publicKey: CryptoKey | x509.PublicKey, opts: LeafOptions): Promise<string> {
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKeys = await importKeyPairPem(ca.keyPem);
  const now = Date.now();
  // A leaf never outlives the CA that signed it (Go would reject it afterwards anyway).
  const notAfter = Math.min(now + (opts.validityMs ?? LEAF_VALIDITY_MS), caCert.notAfter.getTime());
  const usages = opts.purposes.map((p) => (p === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth));
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(usages, false),
    await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
  ];
  if ((opts.hosts?.length ?? 0) > 0 || (opts.uris?.length ?? 0) > 0) extensions.push(sanExtension(x509, opts.hosts ?? [], opts.uris));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: subjectName(opts.commonName, opts.organizations),
    issuer: caCert.subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: EC_SIGNING,
    extensions,
  });
  return cert.toString('pem') + '\n';
}

/** Generates a fresh key pair and a CA-signed certificate for it. */
export async function issueCertificate(ca: CertificateAuthority, opts: LeafOptions): Promise<IssuedCertificate> {
  const keys = await generateKeyPair();
  const certPem = await signLeaf(ca, keys.publicKey, opts);
  return { certPem, keyPem: (await exportKeyPairPem(keys)).privateKeyPem };
}

/** Serving certificate of the API server (or hub): serverAuth, SANs for every name clients dial. */
export function issueServerCertificate(ca: CertificateAuthority, commonName: string, hosts: string[], validityMs?: number): Promise<IssuedCertificate> {
  return issueCertificate(ca, { commonName, hosts, purposes: ['server'], validityMs });
}

/** Client certificate for a Kubernetes user: CN = user name, O = groups. */
export function issueClientCertificate(ca: CertificateAuthority, user: string, groups: string[] = [], validityMs?: number): Promise<IssuedCertificate> {
  return issueCertificate(ca, { commonName: user, organizations: groups, purposes: ['client'], validityMs });
}

export interface CsrSigningOptions {
  purposes?: KeyUsagePurpose[];
  validityMs?: number;
  /** URI SANs the signer adds (never taken from the request). */
  uris?: string[];
}

/**
 * Signs a PKCS#10 CSR (PEM) after checking its self-signature. The subject (CN, O) and DNS/IP SANs are
 * copied from the request; deciding whether the requester may have that identity is the approver's job.
 */
export async function signCertificateRequest(ca: CertificateAuthority, csrPem: string, opts: CsrSigningOptions = {}): Promise<string> {
  const info = await parseCertificateRequest(csrPem);
  const csr = new (await loadX509()).Pkcs10CertificateRequest(csrPem);
  return signLeaf(ca, csr.publicKey, {
    commonName: info.commonName,
    organizations: info.organizations,
    hosts: [...info.dnsNames, ...info.ipAddresses],
    uris: opts.uris,
    purposes: opts.purposes ?? ['client'],
    validityMs: opts.validityMs,
  });
}

export interface CertificateRequestInfo {
  commonName: string;
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** URI SANs the request asks for (an approver of node certificates refuses any). */
  uris: string[];
}

function nameValues(name: x509.Name, attr: string): string[] {
  const out: string[] = [];
  for (const rdn of name.toJSON()) {
    for (const v of rdn[attr] ?? []) out.push(v);
  }
  return out;
}

/** Parses and verifies a PKCS#10 CSR. Throws with a clear message when it is malformed or its signature is wrong. */
export async function parseCertificateRequest(csrPem: string): Promise<CertificateRequestInfo> {
  const x509 = await loadX509();
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new Error(`invalid certificate request: ${(err as Error).message}`);
  }
  if (!(await csr.verify())) throw new Error('invalid certificate request: signature does not match its public key');
  const subject = csr.subjectName;
  const cn = nameValues(subject, 'CN');
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const uris: string[] = [];
  const san = csr.getExtension("2.5.29.17") as x509.SubjectAlternativeNameExtension | null;
  for (const n of san?.names.toJSON() ?? []) {
    if (n.type === 'dns') dnsNames.push(n.value);
    else if (n.type === 'ip') ipAddresses.push(n.value);
    else if (n.type === 'url') uris.push(n.value);
  }
  return { commonName: cn[0] ?? '', organizations: nameValues(subject, 'O'), dnsNames, ipAddresses, uris };
}

export interface CreateCsrOptions {
  commonName: string;
  organizations?: string[];
  hosts?: string[];
}

/** Edge side: a new private key and a PKCS#10 CSR for it (e.g. CN=system:node:NAME, O=system:nodes). */
export async function createCertificateRequest(opts: CreateCsrOptions): Promise<{ csrPem: string; keyPem: string }> {
  const x509 = await loadX509();
  const keys = await generateKeyPair();
  const extensions: x509.Extension[] = [];
  if (opts.hosts && opts.hosts.length > 0) extensions.push(sanExtension(x509, opts.hosts));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectName(opts.commonName, opts.organizations),
    keys,
    signingAlgorithm: EC_SIGNING,
    extensions,
  });
  return { csrPem: csr.toString('pem') + '\n', keyPem: (await exportKeyPairPem(keys)).privateKeyPem };
}
