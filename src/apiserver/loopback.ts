/**
 * The API server's loopback channel for clients inside the same process (`kedge server`'s cloud hub and
 * controllers), as kube-apiserver's loopback client config: the same API, authentication and RBAC, minus TLS.
 *
 * Why: those clients sit one thread away from the API server, yet spoke HTTPS to it — TLS encryption and
 * decryption on both ends of every Lease renewal, Node/pod status write and watch event (~16% of the API
 * thread in bench:heartbeats). Here the API is served as plain HTTP on a Unix domain socket in the data dir,
 * mode 0600 (only the server's own user can connect), removed on close. Requests authenticate as on the
 * HTTPS port (bearer tokens; there is no client certificate on a socket), plus one extra token: a random
 * 256-bit value made at start, kept in memory and handed to the in-process components (workerData for
 * component threads), never written to disk. It maps to exactly the identity of the admin kubeconfig's client
 * certificate, which those components would otherwise present over TLS: no privilege is gained.
 * A request on the socket with a wrong token is 401, one without a token is system:anonymous, as on the HTTPS port.
 */
import http, { type IncomingMessage } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { listenOnUnixSocket, MAX_SOCKET_PATH_BYTES } from '../common/unix-socket.js';
import type { LoopbackTransport } from '../common/kubeconfig.js';
import { inspectCertificate, readKubeconfig } from '../pki/index.js';
import { bearerToken, userFromCertificateSubject, type TokenAuthenticator, type UserInfo } from './auth/index.js';
import type { ApiServer } from './server.js';

/** The socket's file name in the data dir. */
export const LOOPBACK_SOCKET_NAME = 'apiserver-loopback.sock';
export { MAX_SOCKET_PATH_BYTES };

/** Accepts exactly one token, for one identity (none until `grant` — requests with it are refused until then). */
export class LoopbackTokenAuthenticator implements TokenAuthenticator {
  private readonly token: Buffer;
  private identity?: UserInfo;

  constructor(token: string) {
    this.token = Buffer.from(token);
  }

  grant(user: UserInfo): void {
    this.identity = { ...user, groups: [...user.groups] };
  }

  /** Whether a request carries exactly this token (checked before authentication: the in-flight limit's exemption). */
  presentedBy(req: IncomingMessage): boolean {
    const token = bearerToken(req);
    if (!this.identity || token === null) return false;
    const presented = Buffer.from(token);
    return presented.length === this.token.length && timingSafeEqual(presented, this.token);
  }

  async authenticateToken(token: string): Promise<UserInfo | null> {
    if (!this.identity) return null;
    const presented = Buffer.from(token);
    // Constant time: the token is the whole secret.
    if (presented.length !== this.token.length || !timingSafeEqual(presented, this.token)) return null;
    return { ...this.identity, groups: [...this.identity.groups] };
  }
}

/** The user a kubeconfig's client certificate authenticates as over TLS (CN = user, every O = a group). */
export async function kubeconfigCertificateIdentity(kubeconfigPath: string): Promise<UserInfo> {
  const { clientCertPem } = await readKubeconfig(kubeconfigPath);
  if (!clientCertPem) throw new Error(`${kubeconfigPath} has no client certificate: no identity to give the loopback token`);
  const info = inspectCertificate(clientCertPem);
  return userFromCertificateSubject({ subject: { CN: info.commonName, O: info.organizations } as never });
}

/**
 * One loopback channel: create it before the API server (its `authenticator` goes into the server's token
 * authenticators), `start` it once the admin kubeconfig exists, hand `transport` to in-process clients.
 */
export class ApiLoopback {
  readonly authenticator: LoopbackTokenAuthenticator;
  private readonly token = randomBytes(32).toString('base64url');
  private listener?: http.Server;

  constructor(readonly socketPath: string) {
    this.authenticator = new LoopbackTokenAuthenticator(this.token);
  }

  /** What in-process clients need to use the channel (keep it in memory). */
  get transport(): LoopbackTransport {
    return { socketPath: this.socketPath, token: this.token };
  }

  /** Serve `api` on the socket; the token authenticates as `kubeconfigPath`'s certificate identity. */
  async start(api: ApiServer, kubeconfigPath: string): Promise<void> {
    if (Buffer.byteLength(this.socketPath) > MAX_SOCKET_PATH_BYTES) {
      throw new Error(`loopback socket path is ${Buffer.byteLength(this.socketPath)} bytes, over the ${MAX_SOCKET_PATH_BYTES}-byte limit for Unix sockets: ${this.socketPath}`);
    }
    this.authenticator.grant(await kubeconfigCertificateIdentity(kubeconfigPath));
    const listener = http.createServer();
    listener.keepAliveTimeout = 65_000;
    listener.headersTimeout = 70_000;
    listener.requestTimeout = 0; // watches are long-lived
    // The in-process control plane bounds its own writes in flight (the hub's budget, controllers' workers); other
    // callers on the socket (static tokens, service accounts) stay under the limit as on the HTTPS port.
    api.serve(listener, { exemptFromInflightLimit: (req) => this.authenticator.presentedBy(req) });
    await listenOnUnixSocket(listener, this.socketPath);
    this.listener = listener;
  }

  async close(): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    if (!listener) return;
    await new Promise<void>((resolve) => {
      listener.close(() => resolve());
      listener.closeAllConnections();
    });
    await unlink(this.socketPath).catch(() => {});
  }
}
