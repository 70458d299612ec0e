/** The X.509-library operations a long-running process hands to its X.509 worker (x509-worker.ts). */
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate, parseCertificateRequest, signCertificateRequest } from './certificates.js';

export const X509_OPERATIONS = { createCertificateAuthority, issueClientCertificate, issueServerCertificate, parseCertificateRequest, signCertificateRequest } as const;
export type X509Operation = keyof typeof X509_OPERATIONS;

export interface X509Request { id: number; op: X509Operation; args: unknown[] }
export type X509Response = { id: number; ok: true; result: unknown } | { id: number; ok: false; message: string };
