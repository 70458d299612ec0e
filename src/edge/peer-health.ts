/**
 * Distributed health among the nodes of a NodePool (SuperEdge's edge-health; issue 14, docs/design/edge-services.md
 * "Distributed health"). Each agent
 * - listens on `port` at its InternalIP, TLS with its node certificate, and requires the client's certificate: signed by
 *   the cluster CA, `system:node:<peer>`, a Node of this node's pool in the local store. A peer that passes gets one
 *   line naming this node; nothing else is ever sent, nothing is read.
 * - probes every pool peer (Nodes in the local store with its `apps.openyurt.io/nodepool`, at their InternalIP) each
 *   `periodMs` the same way, checking the answering certificate is the peer's own (`system:node:<peer>`, CA-signed).
 *   A peer is reachable on its first good answer and unreachable after `failureThreshold` failures in a row.
 * - reports the verdicts (`report()`), which the agent puts in the `kedge.io/peer-health` annotation of its own Node;
 *   `onChange` fires when one flips. The cloud counts them (src/controllers/nodes/peer-vote.ts).
 * Everything here reads the local store only, so the pool keeps probing with the cloud gone.
 */
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { V1Node } from '@kubernetes/client-node';
import type { Logger } from '../common/logger.js';
import { NODEPOOL_LABEL } from '../common/tenancy.js';
import type { PeerHealthReport } from '../common/peer-health.js';
import type { Store } from '../storage/types.js';
import type { EdgeCredentials } from './config.js';
import { StoreMirror } from './store-mirror.js';

/** The default port (next to the kubelet's 10250 family; SuperEdge's edge-health uses 51005). */
export const PEER_HEALTH_PORT = 10267;
const NODE_USER_PREFIX = 'system:node:';
const GREETING = 'kedge-peer-health';
/** Connections at once, and new connections per source address per second, before the TLS handshake is even started. */
const MAX_CONNECTIONS = 64;
const PER_SOURCE_PER_SECOND = 10;

export interface PeerHealthOptions {
  store: Store;
  nodeName: string;
  log: Logger;
  credentials: () => EdgeCredentials;
  /** Where to listen (the node's InternalIP); undefined: probe only (peers then see this node as unreachable). */
  bindAddress: () => string | undefined;
  /** Listen and probe port: the same on every node of a pool (default PEER_HEALTH_PORT). */
  port?: number;
  /** Probe period (default 10 s). */
  periodMs?: number;
  /** Failed probes in a row before a peer is unreachable (default 3). */
  failureThreshold?: number;
  onChange?: () => void;
}

interface PeerState {
  reachable?: boolean;
  since?: string;
  failures: number;
}

/** The node name a certificate speaks for, if it is a node identity the CA issued and valid now. */
export function nodeIdentity(cert: X509Certificate | undefined, ca: X509Certificate, now = Date.now()): string | undefined {
  if (!cert || !cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return undefined;
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return undefined;
  const subject = cert.subject.split('\n');
  const cn = subject.find((l) => l.startsWith('CN='))?.slice(3);
  if (!cn?.startsWith(NODE_USER_PREFIX) || !subject.includes('O=system:nodes')) return undefined;
  return cn.slice(NODE_USER_PREFIX.length);
}

const internalIpOf = (n: V1Node) => n.status?.addresses?.find((a) => a.type === 'InternalIP' && net.isIPv4(a.address))?.address;

export class PeerHealth {
  private readonly nodes: StoreMirror<V1Node>;
  private readonly peers = new Map<string, PeerState>();
  private server: tls.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> = Promise.resolve();
  private stopped = false;
  private contextFor = '';
  private readonly perSource = new Map<string, number>();
  private perSourceWindow = 0;

  constructor(private readonly o: PeerHealthOptions) {
    this.nodes = new StoreMirror({ store: o.store, prefix: '/registry/nodes/', log: o.log });
  }

  get port(): number {
    return this.o.port ?? PEER_HEALTH_PORT;
  }

  /** Where it listens, once listening. */
  get address(): net.AddressInfo | undefined {
    return (this.server?.address() as net.AddressInfo | null) ?? undefined;
  }

  async start(): Promise<void> {
    await this.nodes.start();
    await this.listen();
    const period = this.o.periodMs ?? 10_000;
    const tick = () => {
      this.round = this.probeAll().catch((err: unknown) => this.o.log.warn({ err: String(err) }, 'peer health round failed'));
      void this.round.then(() => {
        if (!this.stopped) this.timer = setTimeout(tick, period);
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.nodes.stop();
    await this.round;
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The verdicts so far, per pool peer (peers not yet decided are left out). */
  report(): PeerHealthReport {
    const out: PeerHealthReport = {};
    for (const [peer, s] of this.peers) if (s.reachable !== undefined) out[peer] = { reachable: s.reachable, since: s.since! };
    return out;
  }

  private self(): V1Node | undefined {
    for (const n of this.nodes.items.values()) if (n.metadata?.name === this.o.nodeName) return n;
    return undefined;
  }

  /** This node's pool peers with an address, by name. */
  private poolPeers(): Map<string, string> {
    const pool = this.self()?.metadata?.labels?.[NODEPOOL_LABEL];
    const out = new Map<string, string>();
    if (pool === undefined) return out;
    for (const n of this.nodes.items.values()) {
      const name = n.metadata?.name;
      const ip = internalIpOf(n);
      if (name && name !== this.o.nodeName && n.metadata?.labels?.[NODEPOOL_LABEL] === pool && ip) out.set(name, ip);
    }
    return out;
  }

  private secureOptions(): tls.SecureContextOptions {
    const c = this.o.credentials();
    return { key: c.keyPem, cert: c.certPem, ca: c.caCertPem };
  }

  private async listen(): Promise<void> {
    const host = this.o.bindAddress();
    if (!host) {
      this.o.log.warn('peer health: this node has no InternalIP to listen on; probing peers only');
      return;
    }
    const server = tls.createServer({ ...this.secureOptions(), requestCert: true, rejectUnauthorized: true, handshakeTimeout: 5_000 });
    this.contextFor = this.o.credentials().certPem;
    server.maxConnections = MAX_CONNECTIONS;
    // Before the handshake (the costly part): a source opening more than its share per second is dropped.
    server.on('connection', (socket: net.Socket) => {
      if (!this.admitSource(socket.remoteAddress ?? '')) socket.destroy();
    });
    server.on('secureConnection', (socket) => this.answer(socket));
    server.on('tlsClientError', (err) => this.o.log.debug({ err: err.message }, 'peer health: handshake refused'));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.o.log.error({ err: String(err), host, port: this.port }, 'peer health: cannot listen; probing peers only');
      server.close();
      return;
    }
    this.server = server;
    server.on('error', (err) => this.o.log.warn({ err: err.message }, 'peer health listener error'));
    this.o.log.info({ host, port: this.port }, 'peer health listening');
  }

  private admitSource(ip: string): boolean {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.perSourceWindow) {
      this.perSourceWindow = second;
      this.perSource.clear();
    }
    const n = (this.perSource.get(ip) ?? 0) + 1;
    this.perSource.set(ip, n);
    return n <= PER_SOURCE_PER_SECOND;
  }

  /** A handshake that passed the CA check: answer only a node of this pool, with this node's name. */
  private answer(socket: tls.TLSSocket): void {
    socket.on('error', () => undefined);
    const ca = new X509Certificate(this.o.credentials().caCertPem);
    const who = nodeIdentity(socket.getPeerX509Certificate(), ca);
    if (!who || !this.poolPeers().has(who)) {
      this.o.log.debug({ who, from: socket.remoteAddress }, 'peer health: not a node of this pool');
      socket.destroy();
      return;
    }
    socket.end(`${GREETING} ${this.o.nodeName}\n`);
  }

  /** One TLS probe: true when the answer comes from `peer`'s own certificate and names it. */
  private probe(peer: string, host: string, timeoutMs: number): Promise<boolean> {
    const c = this.o.credentials();
    const ca = new X509Certificate(c.caCertPem);
    return new Promise((resolve) => {
      let data = '';
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(ok);
      };
      // The node certificate is a client certificate (no serverAuth, no SANs), so OpenSSL's server check does not
      // apply; the answering certificate is checked here instead: CA-signed, valid, system:node:<peer>.
      const socket = tls.connect({ host, port: this.port, key: c.keyPem, cert: c.certPem, ca: c.caCertPem, rejectUnauthorized: false, servername: '' });
      const timer = setTimeout(() => finish(false), timeoutMs);
      socket.once('secureConnect', () => {
        if (nodeIdentity(socket.getPeerX509Certificate(), ca) !== peer) finish(false);
      });
      socket.on('data', (d: Buffer) => {
        data += d.toString('utf8');
        if (data.length > 256) return finish(false);
        if (data.includes('\n')) finish(data.split('\n')[0] === `${GREETING} ${peer}`);
      });
      socket.once('end', () => finish(false));
      socket.once('error', () => finish(false));
    });
  }

  private async probeAll(): Promise<void> {
    if (this.server && this.contextFor !== this.o.credentials().certPem) {
      // The certificate was rotated: serve the new one.
      this.server.setSecureContext(this.secureOptions());
      this.contextFor = this.o.credentials().certPem;
    }
    const peers = this.poolPeers();
    let changed = false;
    for (const name of [...this.peers.keys()]) {
      if (!peers.has(name)) {
        changed ||= this.peers.get(name)!.reachable !== undefined;
        this.peers.delete(name);
      }
    }
    const timeoutMs = Math.min(3_000, Math.max(500, (this.o.periodMs ?? 10_000) / 2));
    const results = await Promise.all([...peers].map(async ([name, ip]) => [name, await this.probe(name, ip, timeoutMs)] as const));
    if (this.stopped) return;
    const threshold = this.o.failureThreshold ?? 3;
    const now = new Date().toISOString();
    for (const [name, ok] of results) {
      const s = this.peers.get(name) ?? { failures: 0 };
      this.peers.set(name, s);
      s.failures = ok ? 0 : s.failures + 1;
      const verdict = ok ? true : s.failures >= threshold ? false : s.reachable;
      if (verdict !== undefined && verdict !== s.reachable) {
        this.o.log.info({ peer: name, reachable: verdict }, verdict ? 'pool peer reachable' : 'pool peer unreachable');
        s.reachable = verdict;
        s.since = now;
        changed = true;
      }
    }
    if (changed) this.o.onChange?.();
  }
}
