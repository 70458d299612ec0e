/**
 * Hollow node identities as the hub's join makes them, without a bootstrap token per node: the Node is registered
 * (edge role, identity generation 1) and the certificate carries its binding (src/cloudhub/node-identity.ts).
 * The hub accepts a node certificate only with that binding, and never creates a Node from a status report.
 */
import { EDGE_ROLE_LABEL } from '../../src/cloudhub/desired.js';
import { bindingOfNode, bindingUri, IDENTITY_GENERATION_ANNOTATION, type NodeBinding } from '../../src/cloudhub/node-identity.js';
import { issueCertificate, type CertificateAuthority } from '../../src/pki/index.js';
import type { EdgeCredentials } from '../../src/edge/config.js';
import { ApiError, type KubeHttp, type RawResponse } from './kube-http.js';

/** Creates the Node (or takes the existing one) and returns the binding its certificates must carry. `labels`: as a join sets them (e.g. the node's pool). */
export async function registerNode(client: KubeHttp, name: string, labels: Record<string, string> = {}): Promise<NodeBinding> {
  const body = { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { [EDGE_ROLE_LABEL]: '', ...labels }, annotations: { [IDENTITY_GENERATION_ANNOTATION]: '1' } } };
  let r = await withTransientRetry(() => client.request('POST', '/api/v1/nodes', body));
  if (r.status === 409) r = await withTransientRetry(() => client.request('GET', `/api/v1/nodes/${name}`));
  if (r.status < 200 || r.status >= 300) throw new ApiError(r.status, 'POST', '/api/v1/nodes', r.body);
  const binding = bindingOfNode(JSON.parse(r.body) as { metadata?: { uid?: string; annotations?: Record<string, string> } });
  if (!binding) throw new Error(`node ${name} has no uid`);
  return binding;
}

/**
 * A loaded server closes idle keep-alive sockets as a request goes out on them (`socket hang up`, ECONNRESET) and
 * answers 429/5xx when its in-flight limit is full: a join retries those, as a real agent's join does, rather than
 * failing the whole fleet. Registering is idempotent (an existing Node is taken), so a retried create is safe.
 */
async function withTransientRetry(op: () => Promise<RawResponse>, attempts = 6): Promise<RawResponse> {
  for (let i = 1; ; i++) {
    try {
      const r = await op();
      if ((r.status !== 429 && r.status < 500) || i >= attempts) return r;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const transient = code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/.test((err as Error).message);
      if (!transient || i >= attempts) throw err;
    }
    await new Promise((r) => setTimeout(r, 250 * 2 ** i * (0.5 + Math.random())));
  }
}

/** A node certificate bound to `binding`, signed directly with the cluster CA (what the join's signer issues). */
export async function issueBoundNodeCredentials(ca: CertificateAuthority, nodeName: string, binding: NodeBinding): Promise<EdgeCredentials> {
  const c = await issueCertificate(ca, { commonName: `system:node:${nodeName}`, organizations: ['system:nodes'], purposes: ['client'], uris: [bindingUri(binding)] });
  return { caCertPem: ca.certPem, certPem: c.certPem, keyPem: c.keyPem };
}
