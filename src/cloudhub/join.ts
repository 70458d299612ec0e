/**
 * Token join: an edge presents a bootstrap token and a PKCS#10 CSR for CN=system:node:NAME,
 * O=system:nodes. The hub checks the token (kube-system bootstrap-token Secret), creates a
 * certificates.k8s.io/v1 CertificateSigningRequest, approves it (the hub is the approver for edge
 * node client certificates), signs it with its CA as the signer `kedge.io/edge-node-client`, and
 * returns the certificate. Using our own signerName keeps us from racing a real cluster's
 * kube-controller-manager signer when `kedge cloud` runs against an existing cluster.
 */
import { randomBytes } from 'node:crypto';
import { CertificatesV1Api, CoreV1Api, type KubeConfig, type V1CertificateSigningRequest } from '@kubernetes/client-node';
import {
  BOOTSTRAP_TOKEN_NAMESPACE,
  bootstrapTokenSecretName,
  parseBootstrapToken,
  parseCertificateRequest,
  signCertificateRequest,
  validateBootstrapToken,
  type CertificateAuthority,
} from '../pki/index.js';
import type { Logger } from '../common/logger.js';
import { EDGE_ROLE_LABEL } from './desired.js';

export const EDGE_SIGNER_NAME = 'kedge.io/edge-node-client';
export const NODE_USER_PREFIX = 'system:node:';
export const NODES_GROUP = 'system:nodes';
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export class JoinError extends Error {
  constructor(readonly httpStatus: number, readonly reason: string, message: string) {
    super(message);
  }
}

export interface JoinRequest {
  token: string;
  nodeName: string;
  csrPem: string;
}

export interface CertificateIssuer {
  /** Validates the token, runs the CSR through the API and returns the signed certificate (PEM). */
  join(req: JoinRequest): Promise<string>;
  /** Renewal over an authenticated session: same CSR path, no token (identity is the current cert). */
  renew(nodeName: string, csrPem: string): Promise<string>;
}

export interface JoinOptions {
  kubeConfig: KubeConfig;
  ca: CertificateAuthority;
  log: Logger;
  /** Validity of issued node certificates (default 1 year). */
  certValidityMs?: number;
}

function httpCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

export class HubCertificateIssuer implements CertificateIssuer {
  private readonly core: CoreV1Api;
  private readonly certs: CertificatesV1Api;

  constructor(private readonly opts: JoinOptions) {
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.certs = opts.kubeConfig.makeApiClient(CertificatesV1Api);
  }

  async join(req: JoinRequest): Promise<string> {
    const token = parseBootstrapToken(req.token);
    if (!token) throw new JoinError(401, 'Unauthorized', 'malformed bootstrap token');
    let secret;
    try {
      secret = await this.core.readNamespacedSecret({ name: bootstrapTokenSecretName(token.id), namespace: BOOTSTRAP_TOKEN_NAMESPACE });
    } catch (err) {
      if (httpCode(err) !== 404) throw err;
      secret = null;
    }
    const verdict = validateBootstrapToken(secret, token);
    if (!verdict.ok) throw new JoinError(401, 'Unauthorized', `invalid bootstrap token: ${verdict.reason}`);
    await this.refuseNonEdgeNode(req.nodeName);
    return this.issue(req.nodeName, req.csrPem, verdict.identity.username);
  }

  /**
   * A token must not mint the identity of an existing non-edge node (a cloud worker): that would let an
   * edge write its Node and pod statuses. Re-joining an existing edge node (e.g. after losing its disk) is fine.
   */
  private async refuseNonEdgeNode(nodeName: string): Promise<void> {
    let node;
    try {
      node = await this.core.readNode({ name: nodeName });
    } catch (err) {
      if (httpCode(err) === 404) return;
      throw err;
    }
    if (!(EDGE_ROLE_LABEL in (node.metadata?.labels ?? {}))) {
      throw new JoinError(409, 'AlreadyExists', `node "${nodeName}" already exists and is not an edge node (no ${EDGE_ROLE_LABEL} label); choose another --node-name`);
    }
  }

  renew(nodeName: string, csrPem: string): Promise<string> {
    return this.issue(nodeName, csrPem, NODE_USER_PREFIX + nodeName);
  }

  private async issue(nodeName: string, csrPem: string, requester: string): Promise<string> {
    if (!NODE_NAME.test(nodeName)) throw new JoinError(400, 'BadRequest', `invalid node name ${JSON.stringify(nodeName)}`);
    let info;
    try {
      info = await parseCertificateRequest(csrPem);
    } catch (err) {
      throw new JoinError(400, 'BadRequest', (err as Error).message);
    }
    // The approver's job: the CSR may ask only for this node's identity, nothing more.
    const wantCn = NODE_USER_PREFIX + nodeName;
    if (info.commonName !== wantCn || info.organizations.length !== 1 || info.organizations[0] !== NODES_GROUP) {
      throw new JoinError(403, 'Forbidden', `CSR subject must be CN=${wantCn}, O=${NODES_GROUP}`);
    }
    if (info.dnsNames.length > 0 || info.ipAddresses.length > 0) throw new JoinError(403, 'Forbidden', 'node client CSRs may not carry SANs');

    const certPem = await signCertificateRequest(this.opts.ca, csrPem, { purposes: ['client'], validityMs: this.opts.certValidityMs });
    const name = `node-csr-${nodeName}-${randomBytes(4).toString('hex')}`.slice(0, 253);
    try {
      await this.recordCsr(name, csrPem, certPem, requester);
    } catch (err) {
      // The certificate is valid either way; the CSR object is the audit trail. A cluster without
      // certificates.k8s.io (or forbidding us) must not block joins: log loudly.
      this.opts.log.warn({ node: nodeName, err: String(err) }, 'could not record the CertificateSigningRequest');
    }
    this.opts.log.info({ node: nodeName, csr: name, requester }, 'issued node client certificate');
    return certPem;
  }

  /** Create → approve → set status.certificate, as a CSR's approver and signer do. */
  private async recordCsr(name: string, csrPem: string, certPem: string, requester: string): Promise<void> {
    const csr: V1CertificateSigningRequest = {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name, annotations: { 'kedge.io/requested-by': requester } },
      spec: {
        request: Buffer.from(csrPem).toString('base64'),
        signerName: EDGE_SIGNER_NAME,
        usages: ['digital signature', 'client auth'],
      },
    };
    let created = await this.certs.createCertificateSigningRequest({ body: csr });
    const now = new Date();
    created = await this.certs.replaceCertificateSigningRequestApproval({
      name,
      body: {
        ...created,
        status: {
          ...created.status,
          conditions: [
            { type: 'Approved', status: 'True', reason: 'KedgeHubApprove', message: 'approved by the Kedge cloud hub after bootstrap token check', lastUpdateTime: now },
          ],
        },
      },
    });
    await this.certs.replaceCertificateSigningRequestStatus({
      name,
      body: { ...created, status: { ...created.status, certificate: Buffer.from(certPem).toString('base64') } },
    });
  }
}
