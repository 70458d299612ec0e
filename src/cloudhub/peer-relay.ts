/**
 * Kubelet streams for nodes whose link is on another server's hub (issue 16; docs/design/tunnel.md "Several
 * servers"). Several `kedge server`s share a datastore; an edge node holds one link, to one of their hubs. When the
 * kubelet proxy of this hub is asked for a node it has no session for, it asks the live peer hubs (the Lease each hub
 * keeps with its URL, rebalance.ts) with the same `CONNECT node:10250`, over mutual TLS with the cluster CA, and
 * relays to the one that answers 200: the konnectivity model (the API server dials a proxy; the proxy that holds the
 * agent's connection serves it).
 *
 * Client side (`PeerRelay`): the peer that served a node last is asked first; when it no longer has it (the node
 * moved), every other live peer is asked at once and the first 200 wins (a node has one session; the others answer
 * 503 at once), so a move costs one extra round trip, never a hang. This hub's identity towards its peers is a client
 * certificate `CN=kedge:server:<server id>, O=kedge:servers` it issues itself from the cluster CA (the CSR API never
 * issues that organisation: src/apiserver/auth/csr/admission.ts).
 *
 * Server side (`serverFromPeer`, used by hub.ts on its TLS port): only a verified certificate of that organisation may
 * CONNECT; the kubelet proxy then serves it from local sessions only (node names, the kubelet port, no TLS
 * termination) and never asks its own peers, so a request crosses at most one server-to-server hop and cannot loop.
 * RBAC is not repeated there: the API server that received the user's request authorized it before it dialed.
 */
import net from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { httpConnect, type ConnectAnswer } from '../common/http-connect.js';
import { KUBELET_PORT } from '../common/kubelet-endpoint.js';
import type { Logger } from '../common/logger.js';
import { inX509Worker, type CertificateAuthority, type IssuedCertificate } from '../pki/index.js';
import type { HubMetrics } from './metrics.js';
import { refuse, type KubeletProxy } from './kubelet-proxy.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** Another server's hub: its name (its Lease's identity, rebalance.ts) and the `https://host:port` it is reached at. */
export interface HubPeer {
  name: string;
  url: string;
}

/** The organisation of server identities: the only client certificates a hub's peer endpoint accepts. */
export const SERVERS_GROUP = 'kedge:servers';
export const SERVER_USER_PREFIX = 'kedge:server:';
/** How long the TLS connection to a peer may take (a dead peer on another host must not hold the request long). */
const PEER_CONNECT_TIMEOUT_MS = 5_000;
/** The peer answers once its node accepted the stream, or refuses after its own 10-s accept timeout. */
const PEER_ANSWER_TIMEOUT_MS = 15_000;
/** This hub's client certificate lives this long and is re-issued at half its life. */
const CLIENT_CERT_VALIDITY_MS = 30 * 24 * 60 * 60_000;
/** Nodes whose last peer is remembered; past it the oldest are forgotten (they cost one fan-out next time). */
const MAX_REMEMBERED_HOLDERS = 10_000;

/** Whether a TLS client is a Kedge server: 401 without a verified, current certificate, 403 for any other identity. */
export function serverFromPeer(socket: TLSSocket, now = Date.now()): { server: string } | { code: 401 | 403; error: string } {
  if (!socket.authorized) return { code: 401, error: `client certificate not verified: ${String(socket.authorizationError ?? 'no certificate presented')}` };
  const cert = socket.getPeerCertificate();
  // A resumed TLS session is not re-verified: a certificate that expired since must not live on through its ticket.
  if (!cert.valid_to || Date.parse(cert.valid_to) <= now) return { code: 401, error: `client certificate expired (${cert.valid_to ?? 'no expiry'})` };
  const cn = Array.isArray(cert.subject?.CN) ? cert.subject.CN[0] : cert.subject?.CN;
  const o = cert.subject?.O;
  const groups = Array.isArray(o) ? o : o ? [o] : [];
  if (!groups.includes(SERVERS_GROUP) || !cn?.startsWith(SERVER_USER_PREFIX)) {
    return { code: 403, error: `CN=${cn ?? ''} O=${groups.join(',')} is not a Kedge server identity: only servers (O=${SERVERS_GROUP}) relay kubelet streams here` };
  }
  return { server: cn.slice(SERVER_USER_PREFIX.length) };
}

/**
 * The hub TLS port's CONNECT handler: a verified server identity is served by the kubelet proxy from this hub's own
 * sessions (`proxy()`: undefined when this hub relays nothing); anyone else is refused with 401/403.
 */
export function peerConnectHandler(o: { proxy: () => Pick<KubeletProxy, 'servePeer'> | undefined; metrics?: HubMetrics; log: Logger }) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const who = serverFromPeer(socket as TLSSocket);
    if ('error' in who) {
      o.metrics?.peerRelays.inc({ direction: 'in', result: 'refused' });
      o.log.warn({ remote: (socket as TLSSocket).remoteAddress, reason: who.error }, 'kubelet relay refused: not a server identity');
      return refuse(socket, who.code, who.error);
    }
    const proxy = o.proxy();
    if (!proxy) return refuse(socket, 404, 'this hub relays no kubelet streams (no kubelet proxy, or no peers)');
    proxy.servePeer(req, socket, head);
  };
}

export interface PeerRelayOptions {
  /** The other live hubs. */
  peers: () => Promise<HubPeer[]>;
  /** Issues this hub's client certificate; its certificate also verifies the peers' serving certificates. */
  ca: CertificateAuthority;
  /** This hub's name towards its peers (its server id). */
  name: string;
  log: Logger;
  metrics?: HubMetrics;
  connectTimeoutMs?: number;
}

/** One peer's answer; `unreachable`: it gave none (connection, TLS, or no HTTP answer). */
type Attempt = { peer: HubPeer; answer: ConnectAnswer; unreachable?: boolean };

/** Resolves with the first attempt that got a tunnel (later ones are closed) or, when none did, with every refusal. */
function firstTunnel(attempts: Promise<Attempt>[]): Promise<{ won?: Attempt; refused: Attempt[] }> {
  return new Promise((resolve) => {
    let pending = attempts.length;
    let won: Attempt | undefined;
    const refused: Attempt[] = [];
    if (pending === 0) return resolve({ refused });
    for (const p of attempts) {
      void p.then((a) => {
        if (a.answer.ok && won) a.answer.socket.destroy();
        else if (a.answer.ok) resolve({ won: (won = a), refused });
        else refused.push(a);
        if (--pending === 0 && !won) resolve({ refused });
      });
    }
  });
}

export class PeerRelay {
  private credentials: { issued: Promise<IssuedCertificate>; renewAt: number } | undefined;
  /** node → URL of the peer that served it last. */
  private readonly holders = new Map<string, string>();
  /** TLS session per peer URL: the next connection resumes instead of a full handshake. */
  private readonly tlsSessions = new Map<string, Buffer>();

  constructor(private readonly o: PeerRelayOptions) {}

  private clientCertificate(): Promise<IssuedCertificate> {
    if (!this.credentials || Date.now() >= this.credentials.renewAt) {
      const issued = inX509Worker('issueClientCertificate', this.o.ca, `${SERVER_USER_PREFIX}${this.o.name}`, [SERVERS_GROUP], CLIENT_CERT_VALIDITY_MS);
      this.credentials = { issued, renewAt: Date.now() + CLIENT_CERT_VALIDITY_MS / 2 };
      issued.catch(() => (this.credentials = undefined));
    }
    return this.credentials.issued;
  }

  /**
   * A tunnel to `node`'s kubelet through the peer hub that holds its link, or why there is none: 503 when no peer
   * has it (each says so at once), the holder's own refusal (502: the node did not accept) when one has it.
   */
  async dial(node: string): Promise<ConnectAnswer> {
    let peers: HubPeer[];
    try {
      peers = await this.o.peers();
    } catch (err) {
      return { ok: false, code: 503, reason: `node "${node}" is not connected to this hub, and the other hubs cannot be listed: ${String((err as Error).message ?? err)}` };
    }
    if (peers.length === 0) return { ok: false, code: 503, reason: `node "${node}" is not connected to the hub (its link is down or it is not an edge node)` };
    const refused: Attempt[] = [];
    const last = this.holders.get(node);
    const first = last === undefined ? undefined : peers.find((p) => p.url === last);
    if (first) {
      const a = await this.attempt(first, node);
      if (a.answer.ok) return this.won(node, a);
      refused.push(a);
      this.holders.delete(node);
    }
    const result = await firstTunnel(peers.filter((p) => p !== first).map((p) => this.attempt(p, node)));
    if (result.won) return this.won(node, result.won);
    refused.push(...result.refused);
    this.o.metrics?.peerRelays.inc({ direction: 'out', result: 'not-connected' });
    // A peer that has the node but could not open the stream speaks for it; otherwise nobody has it (as far as the
    // peers that answered know: the ones that did not, or refused this server's identity, are named).
    const answered = (a: Attempt) => !a.unreachable && !a.answer.ok && a.answer.code !== 401 && a.answer.code !== 403;
    const holder = refused.find((a) => answered(a) && !a.answer.ok && a.answer.code !== 503);
    if (holder && !holder.answer.ok) return { ok: false, code: holder.answer.code, reason: holder.answer.reason };
    const details = refused.filter((a) => !answered(a)).map((a) => `${a.peer.url}: ${a.answer.ok ? '' : a.answer.reason}`).join('; ');
    return {
      ok: false,
      code: 503,
      reason: `node "${node}" is not connected to any of the ${peers.length + 1} hubs (its link is down or it is not an edge node)${details ? `; not asked successfully: ${details}` : ''}`,
    };
  }

  private won(node: string, a: Attempt): ConnectAnswer {
    if (this.holders.size >= MAX_REMEMBERED_HOLDERS && !this.holders.has(node)) this.holders.delete(this.holders.keys().next().value!);
    this.holders.set(node, a.peer.url);
    this.o.metrics?.peerRelays.inc({ direction: 'out', result: 'ok' });
    return a.answer;
  }

  /** One `CONNECT node:10250` to one peer; never rejects (an unreachable peer is a 503 refusal with its reason). */
  private async attempt(peer: HubPeer, node: string): Promise<Attempt> {
    const refuse = (why: string): Attempt => ({ peer, answer: { ok: false, code: 503, reason: `peer hub unreachable: ${why}` }, unreachable: true });
    let url: URL;
    try {
      url = new URL(peer.url);
    } catch {
      return refuse(`malformed peer URL ${JSON.stringify(peer.url)}`);
    }
    let cert: IssuedCertificate;
    try {
      cert = await this.clientCertificate();
    } catch (err) {
      return refuse(`cannot issue this hub's server certificate: ${String((err as Error).message ?? err)}`);
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const socket = tls.connect({
      host,
      port: Number(url.port || 443),
      ca: this.o.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      servername: net.isIP(host) ? undefined : host,
      session: this.tlsSessions.get(peer.url),
      minVersion: 'TLSv1.2',
    });
    socket.on('session', (ticket: Buffer) => this.tlsSessions.set(peer.url, ticket));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no TLS connection in ${(this.o.connectTimeoutMs ?? PEER_CONNECT_TIMEOUT_MS) / 1000} s`)), this.o.connectTimeoutMs ?? PEER_CONNECT_TIMEOUT_MS);
        socket.once('secureConnect', () => (clearTimeout(timer), resolve()));
        socket.once('error', (err) => (clearTimeout(timer), reject(err)));
      });
    } catch (err) {
      socket.destroy();
      this.tlsSessions.delete(peer.url);
      return refuse(String((err as Error).message ?? err));
    }
    socket.on('error', () => socket.destroy());
    try {
      const answer = await httpConnect(socket, `${node}:${KUBELET_PORT}`, PEER_ANSWER_TIMEOUT_MS);
      if (!answer.ok && (answer.code === 401 || answer.code === 403)) this.o.log.warn({ peer: peer.url, code: answer.code, reason: answer.reason }, 'a peer hub refused this server\'s identity');
      return { peer, answer };
    } catch (err) {
      return refuse(String((err as Error).message ?? err));
    }
  }
}
