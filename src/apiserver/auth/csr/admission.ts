import type { V1CertificateSigningRequest } from '@kubernetes/client-node';
import { forbidden } from '../../../apimachinery/status.js';
import type { Authorizer, UserInfo } from '../types.js';
import { parseCertificateRequest } from '../../../pki/index.js';
import { KUBE_APISERVER_CLIENT } from './signers.js';

const GR = { group: 'certificates.k8s.io', resource: 'certificatesigningrequests' };

/**
 * Upstream's CertificateApproval, CertificateSigning and CertificateSubjectRestriction admission for
 * certificates.k8s.io/v1 CertificateSigningRequests: approving or denying needs `approve` on
 * signers/<signerName> (or <domain>/*), issuing a certificate needs `sign`, and the kube-apiserver-client signer
 * never issues system:masters identities (nor Kedge's kedge:servers, the hubs' peer identity).
 */
export async function admitCertificateSigningRequest(
  authorizer: Authorizer,
  obj: V1CertificateSigningRequest,
  old: V1CertificateSigningRequest | null,
  ctx: { user: UserInfo; subresource: string },
): Promise<void> {
  const signer = obj.spec?.signerName ?? '';
  const name = obj.metadata?.name ?? '';
  if (!old) {
    if (signer === KUBE_APISERVER_CLIENT) {
      let groups: string[] = [];
      try {
        groups = (await parseCertificateRequest(Buffer.from(String(obj.spec?.request ?? ''), 'base64').toString('utf8'))).organizations;
      } catch {
        return; // malformed requests are left to validation / the signer's Failed condition
      }
      // Kedge's own reserved identity beside upstream's: a `kedge:servers` certificate lets its holder relay into
      // any edge node's kubelet through a hub (src/cloudhub/peer-relay.ts); only a server issues one, to itself.
      for (const reserved of ['system:masters', 'kedge:servers']) {
        if (groups.includes(reserved)) throw forbidden(GR, name, `use of ${KUBE_APISERVER_CLIENT} signer with ${reserved} group is not allowed`);
      }
    }
    return;
  }
  if (ctx.subresource === 'approval') {
    const conds = (c: V1CertificateSigningRequest | null): string => JSON.stringify((c?.status?.conditions ?? []).filter((x) => x.type === 'Approved' || x.type === 'Denied').map((x) => [x.type, x.status]));
    if (conds(obj) !== conds(old) && !(await signerPermits(authorizer, ctx.user, 'approve', signer))) {
      throw forbidden(GR, name, `user not permitted to approve requests with signerName ${JSON.stringify(signer)}`);
    }
  } else if (ctx.subresource === 'status') {
    if ((obj.status?.certificate ?? '') !== (old.status?.certificate ?? '') && !(await signerPermits(authorizer, ctx.user, 'sign', signer))) {
      throw forbidden(GR, name, `user not permitted to sign requests with signerName ${JSON.stringify(signer)}`);
    }
  }
}

/** `verb` on signers named exactly, or on "<domain>/*", as upstream's signer authorization. */
async function signerPermits(authorizer: Authorizer, user: UserInfo, verb: 'approve' | 'sign', signer: string): Promise<boolean> {
  const check = async (name: string) => (await authorizer.authorize({
    user, verb, resourceRequest: true, apiGroup: 'certificates.k8s.io', apiVersion: '*', resource: 'signers', name,
  })).allowed;
  if (await check(signer)) return true;
  const slash = signer.indexOf('/');
  return slash > 0 && check(`${signer.slice(0, slash)}/*`);
}
