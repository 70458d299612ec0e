/**
 * The hub's kubelet endpoint for every edge node: an HTTP CONNECT proxy (the konnectivity / apiserver-network-proxy
 * model kube-apiserver supports through `--egress-selector-config-file`, `proxyProtocol: HTTPConnect`). A client
 * asks `CONNECT <node name or node address>:<kubelet port>`; the proxy opens a tunnel stream to that node's kubelet
 * server over the node's own link (tunnel-mux.ts) and, once the edge accepted it, answers 200 and relays bytes.
 *
 * Who may ask: whoever can open the Unix socket, which is created 0600 in the data dir (the API server of
 * `kedge server`, which runs as the same user, or the kube-apiserver beside `kedge cloud`, given the path). There is
 * no TCP listener.
 *
 * HTTPS to the kubelet: kube-apiserver always speaks TLS to a kubelet, through the tunnel. The proxy sees the TLS
 * ClientHello as the first byte (0x16) and terminates it itself with a serving certificate for that node, signed by
 * the hub CA (names: the node name and its addresses, so `--kubelet-certificate-authority` can verify it), asking
 * for the API server's kubelet client certificate; the bytes inside go to the edge as plain HTTP (the stream already
 * rides the node's mTLS link). Kedge's own API server speaks plain HTTP through the proxy and skips that TLS.
 *
 * An offline node, an unknown host, an ambiguous address or a refused stream is answered at once with an HTTP error
 * and a one-line reason (never a hang); the API server turns it into its own error.
 */
import { splice } from '../common/upgrade-proxy.js';
import http, { STATUS_CODES, type IncomingMessage } from 'node:http';
import { rm } from 'node:fs/promises';
import { listenOnUnixSocket } from '../common/unix-socket.js';
import { KUBELET_PORT } from '../common/kubelet-endpoint.js';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import type { V1Node } from '@kubernetes/client-node';
import type { Logger } from '../common/logger.js';
import { issueServerCertificate, type CertificateAuthority } from '../pki/index.js';
import type { NodeSession } from './session.js';
import type { HubMetrics } from './metrics.js';
import type { ConnectAnswer } from '../common/http-connect.js';
import type { UsageBoard } from './usage-board.js';
import { USAGE_PATH } from '../common/resource-metrics.js';

export { KUBELET_PROXY_SOCKET_NAME } from '../common/kubelet-endpoint.js';
/** How long an OPEN may wait for the edge's ACCEPT before the client is told the node did not answer. */
const ACCEPT_TIMEOUT_MS = 10_000;

export interface KubeletProxyOptions {
  socketPath: string;
  sessions: ReadonlyMap<string, NodeSession>;
  /** Nodes by name (the hub's cache), to map an address to a node. */
  nodes: () => Iterable<V1Node>;
  /** Signs the per-node serving certificates for TLS clients (kube-apiserver). */
  ca: CertificateAuthority;
  /** PEM CA(s) that sign the API server's kubelet client certificate; when set, TLS clients must present one. */
  clientCaPem?: string;
  /** Other servers' hubs, asked for nodes this hub has no session for (peer-relay.ts); absent: this hub alone. */
  peers?: { dial(node: string): Promise<ConnectAnswer> };
  metrics?: HubMetrics;
  /** Edges' usage reports, served as `GET /usage?since=N` (JSON UsagePage) for the control plane's scraper. */
  usage?: UsageBoard;
  log: Logger;
}

export interface KubeletProxy {
  socketPath: string;
  /** Serves a CONNECT a peer server sent to the hub's TLS port (its identity already checked: peer-relay.ts). */
  servePeer(req: IncomingMessage, client: Duplex, head: Buffer): void;
  /** Streams relayed right now (leak checks). */
  readonly active: number;
  close(): Promise<void>;
}

/** The node a CONNECT target names: its name, or an address exactly one Node reports. */
export function resolveTarget(host: string, sessions: ReadonlyMap<string, NodeSession>, nodes: Iterable<V1Node>): { node: string } | { error: string; code: number } {
  if (sessions.has(host)) return { node: host };
  const matches = new Set<string>();
  let known = false;
  for (const n of nodes) {
    const name = n.metadata?.name ?? '';
    if (name === host) {
      known = true;
      matches.add(name);
      continue;
    }
    if ((n.status?.addresses ?? []).some((a) => a.address === host)) matches.add(name);
  }
  if (matches.size > 1) return { code: 502, error: `address ${host} is reported by several nodes (${[...matches].sort().join(', ')}); dial the node by name` };
  const only = [...matches][0];
  if (only) return { node: only };
  return known ? { node: host } : { code: 404, error: `no node named or addressed ${host}` };
}

/** Answers a CONNECT with an HTTP error and a one-line reason, and closes. */
export function refuse(socket: Duplex, code: number, reason: string): void {
  const body = `${reason}\n`;
  if (!socket.destroyed) socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Error'}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/**
 * Relays a and b until either ends; a reset on one side resets the other. One that ends normally is passed on and
 * the other closed only after its queued bytes are written (an exec's exit status is the last thing a node sends).
 */
const relay = splice;

export async function startKubeletProxy(o: KubeletProxyOptions): Promise<KubeletProxy> {
  let active = 0;
  const certs = new Map<string, Promise<tls.SecureContext>>();
  const contextFor = (node: string): Promise<tls.SecureContext> => {
    let p = certs.get(node);
    if (!p) {
      const addrs = [...o.nodes()].find((n) => n.metadata?.name === node)?.status?.addresses?.map((a) => a.address) ?? [];
      p = issueServerCertificate(o.ca, `system:node:${node}`, [node, ...addrs]).then((c) =>
        tls.createSecureContext({ cert: c.certPem, key: c.keyPem, ...(o.clientCaPem ? { ca: o.clientCaPem } : {}) }),
      );
      p.catch(() => certs.delete(node));
      certs.set(node, p);
    }
    return p;
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    if (o.usage && url.pathname === USAGE_PATH) {
      if (req.method !== 'GET') {
        res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' });
        return void res.end(`only GET ${USAGE_PATH} is served here\n`);
      }
      const since = url.searchParams.get('since') ?? '0';
      if (!/^\d{1,15}$/.test(since)) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        return void res.end(`since: expected a whole number (the seq of the previous answer), got ${JSON.stringify(since.slice(0, 40))}\n`);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(o.usage.since(Number(since))));
    }
    res.writeHead(405, { 'content-type': 'text/plain', allow: 'CONNECT' });
    res.end(`only CONNECT <node>:<port>${o.usage ? ` and GET ${USAGE_PATH}` : ''} are served here\n`);
  });

  /**
   * Serves one CONNECT. `fromPeer`: asked by a peer server on the hub's TLS port, so only this hub's own sessions,
   * by node name, and never asked of peers in turn (one server-to-server hop at most, no loops).
   */
  function serveConnect(req: IncomingMessage, client: Duplex, head: Buffer, fromPeer: boolean): void {
    client.on('error', () => client.destroy());
    const target = req.url ?? '';
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(target);
    if (!m) return refuse(client, 400, `CONNECT target must be host:port, got ${JSON.stringify(target.slice(0, 200))}`);
    const host = m[1]!;
    const port = Number(m[2]);
    const found = fromPeer ? { node: host } : resolveTarget(host, o.sessions, o.nodes());
    if ('error' in found) return refuse(client, found.code, found.error);
    if (port !== KUBELET_PORT) return refuse(client, 403, `only the kubelet port ${KUBELET_PORT} of an edge node is reachable through the hub, not ${port}`);
    const session = o.sessions.get(found.node);
    if (fromPeer) o.metrics?.peerRelays.inc({ direction: 'in', result: session ? 'ok' : 'not-connected' });
    if (session) return openLocal(client, head, found.node, session, !fromPeer);
    if (fromPeer || !o.peers) return refuse(client, 503, `node "${found.node}" is not connected to ${fromPeer ? 'this hub' : 'the hub'} (its link is down or it is not an edge node)`);
    // Another server's hub may hold the node's link (peer-relay.ts).
    o.peers.dial(found.node).then(
      (answer) => (answer.ok ? relayTo(client, head, found.node, answer.socket, true) : refuse(client, answer.code, answer.reason)),
      (err: unknown) => refuse(client, 503, `node "${found.node}": ${String((err as Error).message ?? err)}`),
    );
  }

  /** A tunnel stream on the node's link to this hub, relayed once the edge accepted it. */
  function openLocal(client: Duplex, head: Buffer, node: string, session: NodeSession, terminateTls: boolean): void {
    let stream: Duplex & { ready(): Promise<void> };
    try {
      stream = session.openTunnel(KUBELET_PORT);
    } catch (err) {
      return refuse(client, 503, (err as Error).message);
    }
    const timer = setTimeout(() => stream.destroy(new Error(`node "${node}" did not accept a stream within ${ACCEPT_TIMEOUT_MS / 1000} s`)), ACCEPT_TIMEOUT_MS);
    client.once('close', () => stream.destroy());
    stream.ready().then(
      () => {
        clearTimeout(timer);
        relayTo(client, head, node, stream, terminateTls);
      },
      (err: unknown) => {
        clearTimeout(timer);
        refuse(client, 502, `node "${node}" refused the stream: ${String((err as Error).message ?? err)}`);
      },
    );
  }

  /**
   * Answers 200 and relays the client to `stream` (a tunnel stream, or a peer hub's tunnel). With `terminateTls`, a
   * client that starts TLS (kube-apiserver) is served with the node's certificate here and the cleartext relayed.
   */
  function relayTo(client: Duplex, head: Buffer, node: string, stream: Duplex, terminateTls: boolean): void {
    if (client.destroyed) return void stream.destroy();
    client.write('HTTP/1.1 200 Connection established\r\n\r\n');
    // Counted from here until the client's connection closes, however it ends (before or after the relay).
    active++;
    let counted = true;
    const done = () => {
      if (counted) active--;
      counted = false;
    };
    client.once('close', done);
    client.once('close', () => stream.destroy());
    // Until the relay joins them, a stream cut (link down) must free the client at once: it is waiting for
    // the kubelet's answer and nothing else would tell it.
    const cutBeforeRelay = () => client.destroy();
    stream.once('close', cutBeforeRelay);
    const startRelay = (c: Duplex) => {
      stream.off('close', cutBeforeRelay);
      relay(c, stream, done);
    };
    if (head.length > 0) client.unshift(head);
    if (!terminateTls) return startRelay(client);
    // The first byte tells TLS (kube-apiserver) from plain HTTP (Kedge's own API server).
    client.once('readable', () => {
      const first = client.read(1) as Buffer | null;
      if (first) client.unshift(first);
      if (!first || first[0] !== 0x16) return startRelay(client);
      contextFor(node).then(
        (secureContext) => {
          // Through a plain Duplex view of the socket: TLS on a net.Socket reads its handle directly and would miss
          // the byte we peeked and put back.
          const tlsSocket = new tls.TLSSocket(Duplex.from({ readable: client, writable: client }) as unknown as import('node:net').Socket, {
            isServer: true,
            secureContext,
            requestCert: o.clientCaPem !== undefined,
            rejectUnauthorized: o.clientCaPem !== undefined,
          });
          startRelay(tlsSocket);
        },
        (err: unknown) => {
          o.log.error({ node, err: String(err) }, 'kubelet proxy: cannot issue a serving certificate');
          client.destroy();
          stream.destroy();
          done();
        },
      );
    });
  }

  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => serveConnect(req, client, head, false));

  const clients = new Set<Duplex>();
  server.on('connect', (_req: IncomingMessage, client: Duplex) => {
    clients.add(client);
    client.once('close', () => clients.delete(client));
  });
  await listenOnUnixSocket(server, o.socketPath);
  o.log.info({ socket: o.socketPath }, 'kubelet proxy (HTTP CONNECT to edge kubelets) listening');
  return {
    socketPath: o.socketPath,
    servePeer: (req, client, head) => {
      clients.add(client);
      client.once('close', () => clients.delete(client));
      serveConnect(req, client, head, true);
    },
    get active() {
      return active;
    },
    async close() {
      server.closeAllConnections?.();
      for (const c of clients) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(o.socketPath, { force: true });
    },
  };
}
