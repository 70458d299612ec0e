import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthenticationV1TokenRequest, V1Node, V1Pod, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { methodNotAllowed, notFound } from '../../../apimachinery/status.js';
import { decodeObjectBody, mediaType, readBody } from '../../body.js';
import { sendJson } from '../../respond.js';
import type { RequestInfo } from '../../request-info.js';
import type { ServiceAccountTokenIssuer } from './service-account-token.js';
import { evaluateTokenRequest } from './token-request.js';

export interface TokenRequestHandlerDeps {
  issuer: ServiceAccountTokenIssuer;
  apiAudiences?: string[];
  getServiceAccount(namespace: string, name: string): Promise<V1ServiceAccount | null>;
  getPod(namespace: string, name: string): Promise<V1Pod | null>;
  getSecret(namespace: string, name: string): Promise<V1Secret | null>;
  getNode(name: string): Promise<V1Node | null>;
}

/**
 * The `serviceaccounts/token` subresource handler (register as subresourceHandlers 'serviceaccounts/token'):
 * POST a TokenRequest, get it back (201) with status.token and status.expirationTimestamp. Authorization
 * (create on serviceaccounts/token) has already happened in the request pipeline.
 */
export function tokenRequestHandler(deps: TokenRequestHandlerDeps) {
  return async (req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> => {
    if (info.verb !== 'create') throw methodNotAllowed();
    const sa = await deps.getServiceAccount(info.namespace, info.name);
    if (!sa) throw notFound({ group: '', resource: 'serviceaccounts' }, info.name);
    const request = decodeObjectBody(await readBody(req), mediaType(req) || 'application/json') as AuthenticationV1TokenRequest;
    const out = await evaluateTokenRequest({
      issuer: deps.issuer,
      apiAudiences: deps.apiAudiences,
      serviceAccount: sa,
      request: request ?? {},
      lookups: { getPod: deps.getPod, getSecret: deps.getSecret, getNode: deps.getNode },
    });
    sendJson(req, res, 201, out);
  };
}
