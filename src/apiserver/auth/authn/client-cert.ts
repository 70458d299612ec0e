import type { IncomingMessage } from 'node:http';
import type { TLSSocket, PeerCertificate } from 'node:tls';
import { AuthenticationError, type UserInfo } from '../types.js';

/**
 * Client certificate authentication. TLS has already verified the chain against the cluster CA (the server
 * runs with requestCert and the CA, without rejecting, see pki httpsServerOptions); here the verdict is read
 * and the identity taken from the subject: CN = user name, every O = a group.
 * Returns null when no certificate was presented.
 */
export function authenticateClientCertificate(req: IncomingMessage): UserInfo | null {
  const socket = req.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== 'function') return null;
  // A connection's certificate cannot change (renegotiation is refused), so one lookup serves every request
  // on a keep-alive connection: getPeerCertificate builds a JS object from the DER each time it is called.
  const known = identityBySocket.get(socket);
  if (known !== undefined) return known;
  const identity = identify(socket);
  identityBySocket.set(socket, identity);
  return identity;
}

const identityBySocket = new WeakMap<TLSSocket, UserInfo | null>();

function identify(socket: TLSSocket): UserInfo | null {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return null;
  if (!socket.authorized) {
    throw new AuthenticationError(`x509: certificate rejected: ${String(socket.authorizationError ?? 'unknown authority')}`);
  }
  return userFromCertificateSubject(cert);
}

export function userFromCertificateSubject(cert: Pick<PeerCertificate, 'subject'>): UserInfo {
  const subject = (cert.subject ?? {}) as unknown as Record<string, string | string[] | undefined>;
  const cnValue = subject.CN;
  const username = Array.isArray(cnValue) ? cnValue[0] ?? '' : cnValue ?? '';
  if (!username) throw new AuthenticationError('x509: client certificate has no common name');
  const o = subject.O;
  const groups = o === undefined ? [] : Array.isArray(o) ? [...o] : [o];
  return { username, groups };
}
