import type { V1CertificateSigningRequest } from '@kubernetes/client-node';
import type { Authorizer, UserInfo } from './types.js';
import type { RbacSource } from './rbac/source.js';
import { RbacEscalationGuard } from './rbac/escalation.js';
import { admitRbacWrite } from './rbac/admission.js';
import { admitCertificateSigningRequest } from './csr/admission.js';
import { NodeRestriction, type PodNodeLookup } from './node-restriction.js';

/**
 * Every admission check this package owns, behind one call for the API server's write path
 * (ObjectStore `admit`): RBAC escalation prevention, CertificateSigningRequest approval/signing rules, and
 * NodeRestriction (what a node may write about itself).
 */
export class AuthAdmission {
  private readonly escalation: RbacEscalationGuard;
  private readonly nodeRestriction: NodeRestriction;

  constructor(private readonly authorizer: Authorizer, source: RbacSource, podNode: PodNodeLookup) {
    this.escalation = new RbacEscalationGuard(authorizer, source);
    this.nodeRestriction = new NodeRestriction(podNode);
  }

  async admit(def: { group: string; kind: string }, obj: unknown, old: unknown | null, ctx: { user: UserInfo; namespace: string; subresource: string }): Promise<void> {
    await this.nodeRestriction.admit(def, obj, old, ctx);
    if (def.group === 'rbac.authorization.k8s.io') return admitRbacWrite(this.escalation, def, obj, old, ctx);
    if (def.group === 'certificates.k8s.io' && def.kind === 'CertificateSigningRequest') {
      return admitCertificateSigningRequest(this.authorizer, obj as V1CertificateSigningRequest, old as V1CertificateSigningRequest | null, ctx);
    }
  }
}
