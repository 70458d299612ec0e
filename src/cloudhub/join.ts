/**
 * Token join: an edge presents a bootstrap token and a PKCS#10 CSR for CN=system:node:NAME,
 * O=system:nodes. The hub checks the token (kube-system bootstrap-token Secret), registers the Node
 * (a join may not take over a registered node unless the token was made for that name), creates a
 * certificates.k8s.io/v1 CertificateSigningRequest, approves it (the hub is the approver for edge
 * node client certificates), signs it with its CA as the signer `kedge.io/edge-node-client`, and
 * returns the certificate, bound to this registration of the Node (node-identity.ts). Using our own
 * signerName keeps us from racing a real cluster's kube-controller-manager signer when `kedge cloud`
 * runs against an existing cluster.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1CertificateSigningRequest, V1Node, V1Secret } from '@kubernetes/client-node';
import { seg, type KubeClient } from '../common/kube-client.js';
import {
  BOOTSTRAP_TOKEN_NAMESPACE,
  bootstrapTokenSecretName,
  parseBootstrapToken,
  inX509Worker,
  validateBootstrapToken,
  type BootstrapIdentity,
  type CertificateAuthority,
} from '../pki/index.js';
import type { Logger } from '../common/logger.js';
import { EDGE_ROLE_LABEL } from './desired.js';
import { NODEPOOL_LABEL, NODEPOOL_NAME } from '../common/node-restriction.js';
import { TENANCY_GROUP, TENANCY_VERSION, TENANT_LABEL } from '../common/tenancy.js';
import { formatIpv4Cidr, parseIpv4Cidr, rangesOverlap } from '../common/ipv4.js';
import { bindingOfNode, bindingUri, IDENTITY_GENERATION_ANNOTATION, revocationReason, type NodeBinding } from './node-identity.js';

export const EDGE_SIGNER_NAME = 'kedge.io/edge-node-client';
export const NODE_USER_PREFIX = 'system:node:';
export const NODES_GROUP = 'system:nodes';
/** A Node name as the API takes it (DNS subdomain). */
export const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export class JoinError extends Error {
  constructor(readonly httpStatus: number, readonly reason: string, message: string) {
    super(message);
  }
}

export interface JoinRequest {
  token: string;
  nodeName: string;
  csrPem: string;
  /** `kedge edge join --nodepool`: the pool the node asks to be registered in. */
  nodePool?: string;
  /**
   * `kedge edge join --pod-cidr`: the node's pod subnet (its CNI bridge's), recorded as the Node's spec.podCIDR(s) —
   * what node IPAM would have assigned — so the pool's nodes can route to it (edge/proxy/pod-routes.ts).
   */
  podCIDR?: string;
}

export interface CertificateIssuer {
  /** Validates the token, registers the Node, runs the CSR through the API and returns the signed certificate (PEM). */
  join(req: JoinRequest): Promise<string>;
  /** Renewal over an authenticated session: same CSR path, no token (identity is the current, still-bound cert). */
  renew(nodeName: string, binding: NodeBinding, csrPem: string): Promise<string>;
  /** Why a certificate with `binding` is no longer accepted for `nodeName`, read from the API (null: accepted). */
  revocation(nodeName: string, binding: NodeBinding): Promise<string | null>;
}

export interface JoinOptions {
  client: KubeClient;
  ca: CertificateAuthority;
  log: Logger;
  /** Validity of issued node certificates (default 1 year). */
  certValidityMs?: number;
  /** Every refused token is answered no sooner than this after the request arrived (default 200 ms). */
  tokenRefusalFloorMs?: number;
}

/**
 * The one answer to every refused bootstrap token: unknown id, wrong secret, expired, being deleted, not marked
 * for authentication, malformed, already used. A caller learns nothing about which token ids exist (the reason
 * goes to the hub's log only). Worded after kubeadm's refusal of a token at discovery.
 */
export const TOKEN_REFUSED_MESSAGE = 'the bootstrap token is invalid for this cluster or it has expired; create a new one with "kedge token create" on the control plane';
export const DEFAULT_TOKEN_REFUSAL_FLOOR_MS = 200;

function httpCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

function takeoverRefused(nodeName: string): JoinError {
  return new JoinError(
    409,
    'AlreadyExists',
    `node "${nodeName}" is already registered; a bootstrap token may not take over an existing node. To join again under this name ` +
      `(e.g. the node lost its disk), use a token made for it (kedge token create --node-name ${nodeName}) or delete the Node first (kubectl delete node ${nodeName})`,
  );
}

export class HubCertificateIssuer implements CertificateIssuer {
  private readonly api: KubeClient;

  constructor(private readonly opts: JoinOptions) {
    this.api = opts.client;
  }

  async join(req: JoinRequest): Promise<string> {
    const { identity, secret } = await this.authenticate(req.token, req.nodeName);
    if (!NODE_NAME.test(req.nodeName)) throw new JoinError(400, 'BadRequest', `invalid node name ${JSON.stringify(req.nodeName)}`);
    if (identity.nodeName !== undefined && identity.nodeName !== req.nodeName) {
      throw new JoinError(403, 'Forbidden', `this bootstrap token was made for node "${identity.nodeName}" and cannot join as "${req.nodeName}"`);
    }
    const nodePool = await this.poolFor(req, identity);
    const podCIDR = req.podCIDR === undefined ? undefined : await this.checkPodCidr(req.nodeName, req.podCIDR);
    // Everything the caller controls is checked before anything is written.
    await this.checkCsr(req.nodeName, req.csrPem);
    const tenant = await this.tenantFor(identity);
    const binding = await this.register(req.nodeName, identity, secret, nodePool, podCIDR, tenant);
    return this.issue(req.nodeName, req.csrPem, binding, identity.username);
  }

  /** The token's identity, or the one uniform refusal, answered no sooner than the floor (see TOKEN_REFUSED_MESSAGE). */
  private async authenticate(raw: string, nodeName: string): Promise<{ identity: BootstrapIdentity; secret: V1Secret }> {
    const started = Date.now();
    const token = parseBootstrapToken(raw);
    let secret: V1Secret | null = null;
    let reason: string;
    if (!token) {
      reason = 'malformed token';
    } else {
      try {
        secret = await this.api.request<V1Secret>('GET', `/api/v1/namespaces/${BOOTSTRAP_TOKEN_NAMESPACE}/secrets/${seg(bootstrapTokenSecretName(token.id))}`);
      } catch (err) {
        if (httpCode(err) !== 404) throw err;
      }
      const verdict = validateBootstrapToken(secret, token);
      if (verdict.ok && secret) return { identity: verdict.identity, secret };
      reason = verdict.ok ? 'no secret' : verdict.reason;
    }
    this.opts.log.warn({ node: nodeName, tokenId: token?.id, reason }, 'join refused: bootstrap token not accepted');
    await sleep(Math.max(0, started + (this.opts.tokenRefusalFloorMs ?? DEFAULT_TOKEN_REFUSAL_FLOOR_MS) - Date.now()));
    throw new JoinError(401, 'Unauthorized', TOKEN_REFUSED_MESSAGE);
  }

  /**
   * Registers `nodeName` for this join and returns the identity binding its certificate will carry. A new name gets
   * a Node (created here, never from a status report). A registered edge node may be joined again only with a
   * token made for its name; that bumps the identity generation, which revokes the certificates issued before.
   */
  private async register(nodeName: string, identity: BootstrapIdentity, secret: V1Secret, nodePool: string | undefined, podCIDR: string | undefined, tenant: string | undefined): Promise<NodeBinding> {
    const existing = await this.readNode(nodeName);
    const registeredTenant = existing?.metadata?.labels?.[TENANT_LABEL];
    if (existing && tenant !== undefined && registeredTenant !== undefined && registeredTenant !== tenant) {
      throw new JoinError(409, 'Conflict', `node "${nodeName}" belongs to another tenant; a join cannot move it to "${tenant}" (an administrator relabels it in the cloud first)`);
    }
    const registeredCidr = existing?.spec?.podCIDR;
    if (existing && podCIDR !== undefined && registeredCidr !== undefined && registeredCidr !== podCIDR) {
      // Upstream's rule: spec.podCIDR may be set once and never changed (routes and pod IPs depend on it).
      throw new JoinError(409, 'Conflict', `node "${nodeName}" has podCIDR ${registeredCidr}; a join cannot change it to ${podCIDR} (delete the Node to re-register it)`);
    }
    const registeredPool = existing?.metadata?.labels?.[NODEPOOL_LABEL];
    if (existing && nodePool !== undefined && registeredPool !== undefined && registeredPool !== nodePool) {
      throw new JoinError(409, 'Conflict', `node "${nodeName}" is registered in nodepool "${registeredPool}"; a join cannot move it to "${nodePool}" (remove its ${NODEPOOL_LABEL} label in the cloud first)`);
    }
    if (existing && !(EDGE_ROLE_LABEL in (existing.metadata?.labels ?? {}))) {
      // A cloud worker's identity would let an edge write its Node and pod statuses, whatever the token says.
      throw new JoinError(409, 'AlreadyExists', `node "${nodeName}" already exists and is not an edge node (no ${EDGE_ROLE_LABEL} label); choose another --node-name`);
    }
    // Before the takeover check: for another edge system's node the way out is to migrate it, whatever the token
    // (a token made for the name, which the takeover message offers, would be refused here anyway).
    const foreign = foreignEdgeNode(existing);
    if (foreign) throw new JoinError(409, 'AlreadyExists', foreign);
    if (existing && identity.nodeName !== nodeName) throw takeoverRefused(nodeName);
    if (identity.nodeName !== undefined) await this.consume(secret, nodeName);
    if (!existing) {
      try {
        const created = await this.api.request<V1Node>('POST', '/api/v1/nodes', {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: nodeName,
            labels: { [EDGE_ROLE_LABEL]: '', ...(nodePool !== undefined ? { [NODEPOOL_LABEL]: nodePool } : {}), ...(tenant !== undefined ? { [TENANT_LABEL]: tenant } : {}) },
            annotations: { [IDENTITY_GENERATION_ANNOTATION]: '1' },
          },
          ...(podCIDR !== undefined ? { spec: { podCIDR, podCIDRs: [podCIDR] } } : {}),
        });
        this.opts.log.info({ node: nodeName, requester: identity.username, nodePool, tenant }, 'registered edge node');
        return bindingOf(created);
      } catch (err) {
        // Another join registered it in the meantime: this one is now a takeover.
        if (httpCode(err) === 409) throw takeoverRefused(nodeName);
        throw err;
      }
    }
    return this.bumpGeneration(nodeName, existing, identity.username, nodePool, podCIDR, tenant);
  }

  /**
   * A pod CIDR a node asks for: a canonical IPv4 network no other Node has a part of. An overlapping one would let a
   * node draw the pool's traffic for another node's pods to itself (host-gw routes follow spec.podCIDR).
   */
  private async checkPodCidr(nodeName: string, cidr: string): Promise<string> {
    const range = parseIpv4Cidr(cidr);
    if (range === null || range.bits < 8 || range.bits > 30 || formatIpv4Cidr(range) !== cidr) {
      throw new JoinError(400, 'BadRequest', `invalid podCIDR ${JSON.stringify(cidr)}: want an IPv4 network like 10.244.1.0/24 (prefix /8 to /30, host bits zero)`);
    }
    const nodes = await this.api.request<{ items: V1Node[] }>('GET', '/api/v1/nodes');
    for (const n of nodes.items) {
      if (n.metadata?.name === nodeName) continue;
      for (const other of n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])) {
        const r = parseIpv4Cidr(other);
        if (r && rangesOverlap(r, range)) throw new JoinError(409, 'Conflict', `podCIDR ${cidr} overlaps ${other} of node "${n.metadata?.name}"`);
      }
    }
    return cidr;
  }

  /**
   * The pool a join registers the node in: the one its token was made for (`kedge token create --nodepool`), which
   * the node may repeat but not contradict, else the one it asks for. The pool must exist.
   */
  private async poolFor(req: JoinRequest, identity: BootstrapIdentity): Promise<string | undefined> {
    if (req.nodePool !== undefined && !NODEPOOL_NAME.test(req.nodePool)) {
      throw new JoinError(400, 'BadRequest', `invalid nodepool ${JSON.stringify(req.nodePool)}: a NodePool name is a label value (at most 63 characters: a-z, A-Z, 0-9, '-', '_', '.')`);
    }
    if (identity.nodePool !== undefined && req.nodePool !== undefined && req.nodePool !== identity.nodePool) {
      throw new JoinError(403, 'Forbidden', `this bootstrap token was made for nodepool "${identity.nodePool}" and cannot join nodepool "${req.nodePool}"`);
    }
    const pool = identity.nodePool ?? req.nodePool;
    if (pool === undefined) return undefined;
    try {
      await this.api.request('GET', `/apis/apps.openyurt.io/v1beta2/nodepools/${seg(pool)}`);
    } catch (err) {
      if (httpCode(err) === 404) throw new JoinError(404, 'NotFound', `nodepool "${pool}" not found: create it first (kubectl apply -f a NodePool manifest), then join`);
      throw err;
    }
    return pool;
  }

  /**
   * The tenant a join makes the node part of: the one its token was made for (`kedge token create --tenant`); a
   * node cannot ask for one. The Tenant must exist.
   */
  private async tenantFor(identity: BootstrapIdentity): Promise<string | undefined> {
    if (identity.tenant === undefined) return undefined;
    try {
      await this.api.request('GET', `/apis/${TENANCY_GROUP}/${TENANCY_VERSION}/tenants/${seg(identity.tenant)}`);
    } catch (err) {
      if (httpCode(err) === 404) throw new JoinError(404, 'NotFound', `tenant "${identity.tenant}" not found: the token was made for a Tenant that does not exist (any more)`);
      throw err;
    }
    return identity.tenant;
  }

  /** A token made for one node name is good for one join: deleted (exactly that Secret version) before it is used. */
  private async consume(secret: V1Secret, nodeName: string): Promise<void> {
    try {
      await this.api.request('DELETE', `/api/v1/namespaces/${BOOTSTRAP_TOKEN_NAMESPACE}/secrets/${seg(secret.metadata!.name!)}`, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { uid: secret.metadata?.uid, resourceVersion: secret.metadata?.resourceVersion },
      });
    } catch (err) {
      const code = httpCode(err);
      if (code === 404 || code === 409) {
        // A concurrent join used it first.
        this.opts.log.warn({ node: nodeName, secret: secret.metadata?.name }, 'join refused: the node-bound bootstrap token was used by another join');
        throw new JoinError(401, 'Unauthorized', TOKEN_REFUSED_MESSAGE);
      }
      throw err;
    }
  }

  private async bumpGeneration(nodeName: string, node: V1Node, requester: string, nodePool: string | undefined, podCIDR: string | undefined, tenant: string | undefined): Promise<NodeBinding> {
    let current: V1Node | null = node;
    for (let attempt = 0; attempt < 5 && current; attempt++) {
      const next = String((bindingOfNode(current)?.generation ?? 0) + 1);
      try {
        const updated = await this.api.request<V1Node>('PUT', `/api/v1/nodes/${seg(nodeName)}`, {
          ...current,
          metadata: {
            ...current.metadata,
            // A re-joined node not in a pool yet may enter the one it asks for (adding the label is allowed; changing it is not).
            labels: {
              ...(current.metadata?.labels ?? {}),
              ...(nodePool !== undefined ? { [NODEPOOL_LABEL]: nodePool } : {}),
              ...(tenant !== undefined ? { [TENANT_LABEL]: tenant } : {}),
            },
            annotations: { ...(current.metadata?.annotations ?? {}), [IDENTITY_GENERATION_ANNOTATION]: next },
          },
          ...(podCIDR !== undefined && current.spec?.podCIDR === undefined ? { spec: { ...current.spec, podCIDR, podCIDRs: [podCIDR] } } : {}),
        });
        this.opts.log.warn({ node: nodeName, requester, generation: next }, 'edge node joined again with a token made for it; certificates issued before are revoked');
        return bindingOf(updated);
      } catch (err) {
        if (httpCode(err) !== 409) throw err;
        current = await this.readNode(nodeName);
      }
    }
    throw new JoinError(409, 'Conflict', `node "${nodeName}" kept changing (or was deleted) while joining; try again`);
  }

  private async readNode(name: string): Promise<V1Node | null> {
    try {
      return await this.api.request<V1Node>('GET', `/api/v1/nodes/${seg(name)}`);
    } catch (err) {
      if (httpCode(err) === 404) return null;
      throw err;
    }
  }

  async revocation(nodeName: string, binding: NodeBinding): Promise<string | null> {
    return revocationReason(await this.readNode(nodeName), binding);
  }

  async renew(nodeName: string, binding: NodeBinding, csrPem: string): Promise<string> {
    if (!NODE_NAME.test(nodeName)) throw new JoinError(400, 'BadRequest', `invalid node name ${JSON.stringify(nodeName)}`);
    const revoked = await this.revocation(nodeName, binding);
    if (revoked) {
      this.opts.log.warn({ node: nodeName, reason: revoked }, 'certificate renewal refused: revoked');
      throw new JoinError(401, 'Unauthorized', `the certificate of node "${nodeName}" is revoked: ${revoked}; join again with a new bootstrap token`);
    }
    await this.checkCsr(nodeName, csrPem);
    return this.issue(nodeName, csrPem, binding, NODE_USER_PREFIX + nodeName);
  }

  /** The approver's job: the CSR may ask only for this node's identity, nothing more. */
  private async checkCsr(nodeName: string, csrPem: string): Promise<void> {
    let info;
    try {
      info = await inX509Worker('parseCertificateRequest', csrPem);
    } catch (err) {
      throw new JoinError(400, 'BadRequest', (err as Error).message);
    }
    const wantCn = NODE_USER_PREFIX + nodeName;
    if (info.commonName !== wantCn || info.organizations.length !== 1 || info.organizations[0] !== NODES_GROUP) {
      throw new JoinError(403, 'Forbidden', `CSR subject must be CN=${wantCn}, O=${NODES_GROUP}`);
    }
    if (info.dnsNames.length > 0 || info.ipAddresses.length > 0 || info.uris.length > 0) throw new JoinError(403, 'Forbidden', 'node client CSRs may not carry SANs');
  }

  private async issue(nodeName: string, csrPem: string, binding: NodeBinding, requester: string): Promise<string> {
    // Joins and renewals come in bursts: the X.509 library lives in a worker process only while they do.
    const certPem = await inX509Worker('signCertificateRequest', this.opts.ca, csrPem, { purposes: ['client'], validityMs: this.opts.certValidityMs, uris: [bindingUri(binding)] });
    const name = `node-csr-${nodeName}-${randomBytes(4).toString('hex')}`.slice(0, 253);
    try {
      await this.recordCsr(name, csrPem, certPem, requester);
    } catch (err) {
      // The certificate is valid either way; the CSR object is the audit trail. A cluster without
      // certificates.k8s.io (or forbidding us) must not block joins: log loudly.
      this.opts.log.warn({ node: nodeName, err: String(err) }, 'could not record the CertificateSigningRequest');
    }
    this.opts.log.info({ node: nodeName, csr: name, requester, generation: binding.generation }, 'issued node client certificate');
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
    const csrs = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
    let created = await this.api.request<V1CertificateSigningRequest>('POST', csrs, csr);
    const now = new Date();
    created = await this.api.request<V1CertificateSigningRequest>('PUT', `${csrs}/${seg(name)}/approval`, {
      ...created,
      status: {
        ...created.status,
        conditions: [
          { type: 'Approved', status: 'True', reason: 'KedgeHubApprove', message: 'approved by the Kedge cloud hub after bootstrap token check', lastUpdateTime: now },
        ],
      },
    });
    await this.api.request('PUT', `${csrs}/${seg(name)}/status`, { ...created, status: { ...created.status, certificate: Buffer.from(certPem).toString('base64') } });
  }
}

function bindingOf(node: V1Node): NodeBinding {
  const b = bindingOfNode(node);
  if (!b) throw new Error(`the API returned node ${node.metadata?.name ?? ''} without a uid`);
  return b;
}

/**
 * Why an existing edge-labelled Node is not Kedge's to join, or undefined. KubeEdge's cloudcore claims every Node
 * labelled node-role.kubernetes.io/edge and its edgecore registers them itself; a Node Kedge's hub registered
 * carries the identity-generation annotation from its first join. One without it belongs to another edge system
 * (KubeEdge: kubeletVersion "…-kubeedge-…"), and joining it too would give one Node two agents writing its status
 * and running its pods: refused, with the way out (docs/design/kubeedge-coexistence.md).
 */
export function foreignEdgeNode(node: V1Node | null | undefined): string | undefined {
  if (!node || node.metadata?.annotations?.[IDENTITY_GENERATION_ANNOTATION] !== undefined) return undefined;
  const version = node.status?.nodeInfo?.kubeletVersion ?? '';
  const who = /kubeedge/i.test(version) ? `KubeEdge (kubeletVersion ${version})` : 'another edge system (it was not registered by a Kedge hub)';
  return `node "${node.metadata?.name}" is managed by ${who}; a node is joined to one edge system at a time. ` +
    'Migrate it first: stop edgecore on the node (keadm reset), delete the Node (kubectl delete node NAME), then join it to Kedge ' +
    '(docs/design/kubeedge-coexistence.md)';
}
