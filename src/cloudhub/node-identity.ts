/**
 * What ties a node certificate to one registration of its Node. Every node certificate the hub signs carries a
 * URI SAN `urn:kedge:node-identity:<Node UID>:<generation>`; the hub accepts the certificate (connect, renew)
 * only while the Node of that name has that UID and that identity generation (annotation
 * `kedge.io/identity-generation`). So:
 *   - deleting the Node revokes every certificate issued for it, and a Node re-created under the same name has a
 *     new UID, so old certificates stay refused (no revocation list to keep: the Node is the record);
 *   - a join with a token made for the node's name bumps the generation, which revokes the certificates of the
 *     agent it replaces (a node that lost its disk, or a stolen one);
 *   - certificates signed any other way (the API server's CSR signers, certificates from before this binding)
 *     carry no binding and are refused.
 * The binding is added by the hub's signer only; URI SANs in a request are refused (join.ts).
 */
export const IDENTITY_GENERATION_ANNOTATION = 'kedge.io/identity-generation';
export const NODE_IDENTITY_URI_PREFIX = 'urn:kedge:node-identity:';

export interface NodeBinding {
  uid: string;
  generation: number;
}

interface NodeLike {
  metadata?: { uid?: string; annotations?: Record<string, string> };
}

export function bindingUri(b: NodeBinding): string {
  return `${NODE_IDENTITY_URI_PREFIX}${b.uid}:${b.generation}`;
}

/** The identity a Node currently accepts (generation 0 when it never had a certificate bound to it). */
export function bindingOfNode(node: NodeLike): NodeBinding | null {
  const uid = node.metadata?.uid;
  if (!uid) return null;
  const raw = node.metadata?.annotations?.[IDENTITY_GENERATION_ANNOTATION];
  const generation = raw !== undefined && /^\d{1,9}$/.test(raw) ? Number(raw) : 0;
  return { uid, generation };
}

const PEER_URI = new RegExp(`(?:^|, )URI:${NODE_IDENTITY_URI_PREFIX.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([A-Za-z0-9-]{1,64}):(\\d{1,9})(?=,|$)`);

/** The binding of a peer certificate, from Node's `getPeerCertificate().subjectaltname` ("DNS:a, URI:b, ..."). */
export function bindingFromSubjectAltName(subjectaltname: string | undefined): NodeBinding | null {
  const m = subjectaltname ? PEER_URI.exec(subjectaltname) : null;
  return m ? { uid: m[1]!, generation: Number(m[2]) } : null;
}

export function sameBinding(a: NodeBinding, b: NodeBinding): boolean {
  return a.uid === b.uid && a.generation === b.generation;
}

/** Why a certificate with binding `cert` is no longer accepted for `node` (null: it is accepted). */
export function revocationReason(node: NodeLike | null, cert: NodeBinding): string | null {
  if (!node) return 'the Node was deleted';
  const current = bindingOfNode(node);
  if (!current || current.uid !== cert.uid) return 'the Node was deleted and created again since this certificate was issued';
  if (current.generation !== cert.generation) return 'the node identity was issued again (a join with a token made for this node)';
  return null;
}
