import type { AuthenticationV1TokenRequest, V1Node, V1Pod, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { badRequest, conflict, invalid, notFound } from '../../../apimachinery/status.js';
import type { ServiceAccountTokenIssuer } from './service-account-token.js';

/**
 * serviceaccounts/token (TokenRequest, `kubectl create token`): validates the request as upstream does, checks the
 * bound object, and issues a signed token. The API server reads the body, calls this, and answers 201 with the result.
 */

const MIN_EXPIRATION_S = 600;
const MAX_EXPIRATION_S = 2 ** 32;
const DEFAULT_EXPIRATION_S = 3600;

export interface TokenRequestLookups {
  getPod?(namespace: string, name: string): Promise<V1Pod | null>;
  getSecret?(namespace: string, name: string): Promise<V1Secret | null>;
  getNode?(name: string): Promise<V1Node | null>;
}

export interface TokenRequestInput {
  issuer: ServiceAccountTokenIssuer;
  /** Audiences used when the request names none (the API server's own). */
  apiAudiences?: string[];
  serviceAccount: V1ServiceAccount;
  request: AuthenticationV1TokenRequest;
  lookups?: TokenRequestLookups;
  now?: Date;
}

export async function evaluateTokenRequest(input: TokenRequestInput): Promise<AuthenticationV1TokenRequest> {
  const sa = input.serviceAccount;
  const ns = sa.metadata?.namespace ?? '';
  const saName = sa.metadata?.name ?? '';
  const spec = { ...(input.request.spec ?? {}) } as AuthenticationV1TokenRequest['spec'];
  const expirationSeconds = spec.expirationSeconds ?? DEFAULT_EXPIRATION_S;
  if (expirationSeconds < MIN_EXPIRATION_S) {
    throw invalid('TokenRequest', 'authentication.k8s.io', saName, [{ type: 'Invalid', field: 'spec.expirationSeconds', value: expirationSeconds, detail: 'may not specify a duration less than 10 minutes' }]);
  }
  if (expirationSeconds > MAX_EXPIRATION_S) {
    throw invalid('TokenRequest', 'authentication.k8s.io', saName, [{ type: 'Invalid', field: 'spec.expirationSeconds', value: expirationSeconds, detail: 'may not specify a duration larger than 2^32 seconds' }]);
  }
  const audiences = spec.audiences && spec.audiences.length > 0 ? spec.audiences : input.apiAudiences ?? [input.issuer.issuer];

  let boundPod: { name: string; uid: string } | undefined;
  let boundNode: { name: string; uid: string } | undefined;
  const ref = spec.boundObjectRef;
  if (ref) {
    if ((ref.apiVersion ?? 'v1') !== 'v1') throw badRequest(`cannot bind token to object of type ${ref.apiVersion}, Kind=${ref.kind}`);
    const name = ref.name ?? '';
    const checkUid = (kind: string, uid: string | undefined): string => {
      if (ref.uid && uid !== ref.uid) {
        throw conflict({ group: '', resource: kind }, name, `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
      }
      return uid ?? '';
    };
    switch (ref.kind) {
      case 'Pod': {
        const pod = await input.lookups?.getPod?.(ns, name);
        if (!pod) throw notFound({ group: '', resource: 'pods' }, name);
        if ((pod.spec?.serviceAccountName ?? 'default') !== saName) {
          throw badRequest(`cannot bind token for serviceaccount ${JSON.stringify(saName)} to pod running with different serviceaccount name.`);
        }
        boundPod = { name, uid: checkUid('Pod', pod.metadata?.uid) };
        // Like upstream (ServiceAccountTokenPodNodeInfo), a scheduled pod's node is recorded too.
        const nodeName = pod.spec?.nodeName;
        if (nodeName && input.lookups?.getNode) {
          const node = await input.lookups.getNode(nodeName);
          if (node) boundNode = { name: nodeName, uid: node.metadata?.uid ?? '' };
        }
        break;
      }
      case 'Secret': {
        const secret = await input.lookups?.getSecret?.(ns, name);
        if (!secret) throw notFound({ group: '', resource: 'secrets' }, name);
        checkUid('Secret', secret.metadata?.uid);
        break;
      }
      case 'Node': {
        const node = await input.lookups?.getNode?.(name);
        if (!node) throw notFound({ group: '', resource: 'nodes' }, name);
        boundNode = { name, uid: checkUid('Node', node.metadata?.uid) };
        break;
      }
      default:
        throw badRequest(`cannot bind token for serviceaccount ${JSON.stringify(saName)} to object of kind ${JSON.stringify(ref.kind ?? '')}`);
    }
  }
  const issued = input.issuer.issue({
    namespace: ns,
    serviceAccountName: saName,
    serviceAccountUid: sa.metadata?.uid ?? '',
    audiences,
    expirationSeconds,
    boundPod,
    boundNode,
    now: input.now,
  });
  return {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    metadata: { ...(input.request.metadata ?? {}), name: saName, namespace: ns },
    spec: { ...spec, audiences, expirationSeconds },
    // RFC 3339 without fractional seconds, as upstream serializes metav1.Time.
    status: { token: issued.token, expirationTimestamp: issued.expirationTimestamp.toISOString().replace(/\.\d{3}Z$/, 'Z') as unknown as Date },
  };
}

