import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SigningKeyPair } from '../../../pki/signing-keys.js';
import { sendJson } from '../../respond.js';
import { openIdConfiguration, serviceAccountJwks } from './service-account-token.js';

/**
 * Service account issuer discovery (upstream's /.well-known/openid-configuration and /openid/v1/jwks), so systems
 * outside the cluster (Vault, cloud IAM federation, edge applications) can verify service account tokens. Served
 * as non-resource GET paths; RBAC grants them to system:serviceaccounts (system:service-account-issuer-discovery).
 */
export function serviceAccountIssuerDiscovery(issuer: string, keys: Array<Pick<SigningKeyPair, 'publicKey' | 'keyId'>>): Map<string, (req: IncomingMessage, res: ServerResponse) => void> {
  const config = openIdConfiguration(issuer);
  const jwks = serviceAccountJwks(keys);
  return new Map([
    ['/.well-known/openid-configuration', (req: IncomingMessage, res: ServerResponse) => sendJson(req, res, 200, config)],
    ['/openid/v1/jwks', (req: IncomingMessage, res: ServerResponse) => sendJson(req, res, 200, jwks, 'application/jwk-set+json')],
  ]);
}
