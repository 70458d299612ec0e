import type { V1CertificateSigningRequest } from '@kubernetes/client-node';
import {
  LEAF_VALIDITY_MS,
  parseCertificateRequest,
  signCertificateRequest,
  type CertificateAuthority,
  type KeyUsagePurpose,
} from '../../../pki/index.js';

/**
 * The well-known Kubernetes CSR signers that the cluster CA serves, with upstream's rules for what each may issue
 * (kube-controller-manager's csrsigning controller). Kedge's edge join uses its own signer (kedge.io/edge-node-client,
 * src/cloudhub), so these never race it.
 */
export const KUBE_APISERVER_CLIENT = 'kubernetes.io/kube-apiserver-client';
export const KUBE_APISERVER_CLIENT_KUBELET = 'kubernetes.io/kube-apiserver-client-kubelet';
export const KUBELET_SERVING = 'kubernetes.io/kubelet-serving';
export const SIGNED_BY_CLUSTER_CA = [KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING];

/** Upstream's --cluster-signing-duration default: one year. */
export const MAX_SIGNING_DURATION_MS = LEAF_VALIDITY_MS;

const CLIENT_USAGES = new Set(['digital signature', 'key encipherment', 'client auth']);
const SERVING_USAGES = new Set(['digital signature', 'key encipherment', 'server auth']);

export type SigningOutcome =
  | { kind: 'signed'; certificatePem: string }
  | { kind: 'failed'; reason: string; message: string };

function conditionIs(csr: V1CertificateSigningRequest, type: string): boolean {
  return (csr.status?.conditions ?? []).some((c) => c.type === type && (c.status ?? 'True') === 'True');
}

/** An approved request of a cluster-CA signer that has no certificate or failure yet. */
export function needsSigning(csr: V1CertificateSigningRequest): boolean {
  return SIGNED_BY_CLUSTER_CA.includes(csr.spec?.signerName ?? '') && conditionIs(csr, 'Approved') &&
    !conditionIs(csr, 'Denied') && !conditionIs(csr, 'Failed') && !csr.status?.certificate;
}

function usageProblem(usages: string[], allowed: Set<string>, required: string, what: string): string | null {
  const bad = usages.filter((u) => !allowed.has(u));
  if (bad.length > 0) return `invalid usage for ${what} certificate: ${bad.join(', ')}`;
  if (!usages.includes(required)) return `missing required usage for ${what} certificate: ${required}`;
  return null;
}

/**
 * Validates the request against its signer's rules and signs it with the cluster CA. Failures come back as a
 * Failed condition's reason/message (upstream uses SignerValidationFailure), never as thrown errors.
 */
export async function signCsrObject(ca: CertificateAuthority, csr: V1CertificateSigningRequest): Promise<SigningOutcome> {
  const signer = csr.spec?.signerName ?? '';
  const usages = csr.spec?.usages ?? [];
  const fail = (message: string): SigningOutcome => ({ kind: 'failed', reason: 'SignerValidationFailure', message });
  let pem: string;
  try {
    pem = Buffer.from(String(csr.spec?.request ?? ''), 'base64').toString('utf8');
  } catch {
    return fail('spec.request is not base64');
  }
  let info;
  try {
    info = await parseCertificateRequest(pem);
  } catch (err) {
    return fail((err as Error).message);
  }
  let purposes: KeyUsagePurpose[];
  if (signer === KUBE_APISERVER_CLIENT) {
    const p = usageProblem(usages, CLIENT_USAGES, 'client auth', 'client');
    if (p) return fail(p);
    purposes = ['client'];
  } else if (signer === KUBE_APISERVER_CLIENT_KUBELET || signer === KUBELET_SERVING) {
    const serving = signer === KUBELET_SERVING;
    if (!info.commonName.startsWith('system:node:') || info.commonName === 'system:node:') return fail('subject common name must begin with "system:node:"');
    if (info.organizations.length !== 1 || info.organizations[0] !== 'system:nodes') return fail('subject organization must be exactly ["system:nodes"]');
    if (!serving && (info.dnsNames.length > 0 || info.ipAddresses.length > 0)) return fail('kubelet client certificates may not carry subject alternative names');
    if (serving && info.dnsNames.length === 0 && info.ipAddresses.length === 0) return fail('kubelet serving certificates need at least one DNS or IP subject alternative name');
    const p = serving ? usageProblem(usages, SERVING_USAGES, 'server auth', 'serving') : usageProblem(usages, CLIENT_USAGES, 'client auth', 'client');
    if (p) return fail(p);
    purposes = serving ? ['server'] : ['client'];
  } else {
    return fail(`signer ${JSON.stringify(signer)} is not served by the cluster CA`);
  }
  const requested = csr.spec?.expirationSeconds ? csr.spec.expirationSeconds * 1000 : MAX_SIGNING_DURATION_MS;
  const validityMs = Math.min(requested, MAX_SIGNING_DURATION_MS);
  return { kind: 'signed', certificatePem: await signCertificateRequest(ca, pem, { purposes, validityMs }) };
}
