/**
 * The cloud hub: its own TLS port (default 10000) that edge nodes dial. Serves
 *   GET  /v1/cacert   the CA certificate (public; the edge pins it by hash before trusting it)
 *   POST /v1/join     bootstrap token + CSR → node client certificate
 *   POST /v1/renew    (node client cert) CSR → renewed certificate
 *   GET  /v1/connect  WebSocket upgrade: the node's one multiplexed session (client cert required)
 *   GET  /metrics, /healthz
 * Everything is per instance (no globals): several hubs can run in one process.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { KubeClient } from '../common/kube-client.js';
import { requestUrl } from '../common/request-url.js';
import { createLogger, type Logger } from '../common/logger.js';
import { slowClientServerOptions, type SlowClientLimits } from '../common/slow-clients.js';
import { MAX_EDGE_TO_HUB_BYTES, SUBPROTOCOL } from '../protocol/messages.js';
import { objectKey } from '../protocol/keys.js';
import { DEVICE_RESOURCE, type Device } from '../protocol/devices.js';
import { linkServerDeflate } from '../protocol/compression.js';
import { ensureServingCertificate, serverCertificateHosts, type CertificateAuthority } from '../pki/index.js';
import { SharedCache } from './cache.js';
import type { InformerLookup } from '../common/lean-informer.js';
import { DesiredSets } from './desired.js';
import { Deltas } from './deltas.js';
import { clientTokenRequester, PodTokenManager } from './pod-tokens.js';
import { HubMetrics } from './metrics.js';
import { NodeSession } from './session.js';
import { StatusWriter } from './status-writer.js';
import { reportedPodStatus } from './reported-status.js';
import { publishHubCa } from './ca-publisher.js';
import { HubCertificateIssuer, JoinError, NODES_GROUP, NODE_USER_PREFIX, type CertificateIssuer } from './join.js';
import { bindingFromSubjectAltName, bindingOfNode, revocationReason, sameBinding, type NodeBinding } from './node-identity.js';
import { CloseCode } from '../protocol/close-codes.js';
import { LogRateLimiter } from '../common/log-limiter.js';
import { UsageBoard } from './usage-board.js';
import { startKubeletProxy, type KubeletProxy } from './kubelet-proxy.js';
import { HubBalancer } from './rebalance.js';
import { PeerRelay, peerConnectHandler } from './peer-relay.js';

export const DEFAULT_HUB_PORT = 10000;
/**
 * Connections the kernel queues for the hub before it accepts them (capped by net.core.somaxconn, 4096 on current
 * kernels). Node's default, 511, overflowed when 10,000 nodes came back from a cut at once: the kernel then dropped
 * handshakes, edges hit their 10 s WebSocket handshake timeout and dialled again, ~3 times each (bench/RESULTS.md,
 * session 11).
 */
export const HUB_ACCEPT_BACKLOG = 4096;

export interface CloudHubOptions {
  client: KubeClient;
  /** Signs node certificates and verifies them on connect. */
  ca: CertificateAuthority;
  /** Serving certificate; when absent one is issued from `ca` (kept in `pkiDir` when given). */
  serving?: { certPem: string; keyPem: string };
  pkiDir?: string;
  /** Extra names/IPs for the issued serving certificate. */
  hosts?: string[];
  host?: string;
  port?: number;
  pingIntervalMs?: number;
  /** Max unacked messages per node (back-pressure window). */
  window?: number;
  maxTombstonesPerNode?: number;
  certValidityMs?: number;
  /** API writes (status, leases, events) in flight across all nodes; beyond it edges are told to retry. */
  maxApiWrites?: number;
  /** Lease renewals younger than this after the last written are held back (status-writer.ts); 0 = off. */
  leaseCoalesceMs?: number;
  /** Write Leases and statuses in node-write batches (an API server that serves nodewrites.kedge.io: `kedge server`). */
  batchNodeWrites?: boolean;
  /** permessage-deflate window (9–15, default 13 = 8 KiB): bandwidth vs hub memory per node. */
  deflateWindowBits?: number;
  /** Lifetime of a TLS session ticket (edges resume within it instead of a full handshake); default 3600 s. */
  tlsSessionTimeoutSeconds?: number;
  /** Read deadlines against slow clients on the public port (join bodies, headers, TLS handshakes). */
  slowClientLimits?: Partial<SlowClientLimits>;
  /**
   * A second connection for a node that has a session is let in only if the old session does not answer a ping
   * within this time (it was half-open); otherwise the newcomer is refused as a duplicate. Default 5000 ms.
   */
  duplicateProbeMs?: number;
  /**
   * Serve the kubelet endpoint of every edge node as an HTTP CONNECT proxy on this Unix socket (0600; kubelet-proxy.ts).
   * `kedge server` puts it in its data dir for its API server; beside an upstream kube-apiserver it is the UDS of
   * its EgressSelectorConfiguration (docs/design/tunnel.md).
   */
  kubeletProxySocket?: string;
  /** CA (PEM) of the API server's kubelet client certificates: TLS clients of the proxy must present one. */
  kubeletClientCaPem?: string;
  /**
   * Ask edges (protocol v6) for their resource usage every this many ms and serve it on the kubelet proxy socket
   * (`GET /usage`, usage-board.ts) for the control plane's metrics scraper; absent: nodes are scraped through the tunnel.
   */
  usageIntervalMs?: number;
  /**
   * Several servers on one datastore: publish this hub's node count in its Lease and ask nodes to move when it holds
   * more than its share (rebalance.ts). `advertiseHost` is how peers' nodes reach this hub (with the bound port).
   */
  balance?: { identity: string; advertiseHost: string; publishIntervalMs?: number };
  log?: Logger;
}

export interface CloudHub {
  port: number;
  url: string;
  epoch: string;
  metrics: HubMetrics;
  desired: DesiredSets;
  sessions: ReadonlyMap<string, NodeSession>;
  /** The CONNECT proxy to edge kubelets, when `kubeletProxySocket` was given. */
  kubeletProxy?: KubeletProxy;
  /** The hub cache's informers by collection path, for controllers in the same process (read-only objects). */
  informers: InformerLookup;
  stop(): Promise<void>;
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new JoinError(413, 'RequestEntityTooLarge', `request body over ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new JoinError(400, 'BadRequest', 'request body is not valid JSON');
  }
}

export const DEFAULT_TLS_SESSION_TIMEOUT_SECONDS = 3600;

/**
 * TLS options of the hub's port. Session resumption (TLS 1.3 tickets, stateless on the hub: the ticket is
 * sealed with this server's random ticket key and carries the verified client certificate) lets a reconnecting
 * edge skip the certificate exchange: ~265 B hub→edge instead of ~2.7 KB. OpenSSL restores the peer
 * certificate and its verification result from the ticket, so `authorized` and the subject on a resumed socket
 * are those of the certificate that created the session and nothing else (src/cloudhub/tls-resume.test.ts).
 */
export function hubTlsOptions(serving: { certPem: string; keyPem: string }, caPem: string, sessionTimeoutSeconds = DEFAULT_TLS_SESSION_TIMEOUT_SECONDS): https.ServerOptions {
  return {
    cert: serving.certPem,
    key: serving.keyPem,
    ca: caPem,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    // Ticket lifetime; a restarted hub has a new ticket key, so old tickets fall back to a full handshake.
    sessionTimeout: sessionTimeoutSeconds,
  };
}

/**
 * The node name and identity binding from a verified client certificate (CN=system:node:NAME, O=system:nodes, the
 * hub's binding URI), or a reason it is refused. Whether the binding is still current is checked by the caller.
 */
export function nodeFromPeer(socket: TLSSocket, now = Date.now()): { node: string; binding: NodeBinding } | { error: string } {
  if (!socket.authorized) return { error: `client certificate not verified: ${String(socket.authorizationError ?? 'no certificate presented')}` };
  const cert = socket.getPeerCertificate();
  // A resumed session is not re-verified by OpenSSL: a certificate that expired since the full handshake
  // must not live on through its ticket.
  if (!cert.valid_to || Date.parse(cert.valid_to) <= now) return { error: `client certificate expired (${cert.valid_to ?? 'no expiry'})` };
  const cn = cert.subject?.CN;
  const o = cert.subject?.O;
  const groups = Array.isArray(o) ? o : o ? [o] : [];
  const cnStr = Array.isArray(cn) ? cn[0] : cn;
  if (!cnStr?.startsWith(NODE_USER_PREFIX) || !groups.includes(NODES_GROUP)) return { error: `certificate subject is not a node identity (CN=${cnStr ?? ''})` };
  const binding = bindingFromSubjectAltName(cert.subjectaltname);
  // Signed by the CA but not by the hub's join (an API CSR signer, or from before node bindings): not a node identity.
  if (!binding) return { error: 'certificate carries no node identity binding (not issued by a hub join); join again with a bootstrap token' };
  return { node: cnStr.slice(NODE_USER_PREFIX.length), binding };
}

export async function startCloudHub(opts: CloudHubOptions): Promise<CloudHub> {
  const log = opts.log ?? createLogger('cloudhub');
  const epoch = randomBytes(8).toString('hex');
  const metrics = new HubMetrics();
  const cache = new SharedCache(opts.client, log);
  const reported = reportedPodStatus();
  const desired = new DesiredSets(cache, { maxTombstonesPerNode: opts.maxTombstonesPerNode, reported });
  // After `desired` on the cache's listener list; sessions pump on a later tick, so the record is there first.
  const deltas = new Deltas(cache);
  // Bound service account tokens for edge pods' projected volumes, shipped as PodToken objects.
  const podTokens = new PodTokenManager(cache, clientTokenRequester(opts.client), log);
  const status = new StatusWriter(
    opts.client,
    (ns, name) => cache.get(objectKey('pods', ns, name)) as V1Pod | undefined,
    (ns, name) => cache.get(objectKey(DEVICE_RESOURCE, ns, name)) as unknown as Device | undefined,
    reported,
    {
      leaseCoalesceMs: opts.leaseCoalesceMs,
      batchNodeWrites: opts.batchNodeWrites,
      onBatchSent: (items, ok) => {
        metrics.nodeWriteBatches.inc({ result: ok ? 'ok' : 'failed' });
        metrics.nodeWriteBatchItems.inc({ result: ok ? 'ok' : 'failed' }, items);
      },
      onNodeReasserted: (node, r) => {
        metrics.statusWrites.inc({ kind: 'node-reassert', result: r.ok ? 'ok' : r.retry ? 'retry' : 'refused' });
        if (!r.ok) log.warn({ node, reason: r.reason }, 'could not re-assert the conditions a connected node reported');
      },
    },
  );
  const issuer: CertificateIssuer = new HubCertificateIssuer({ client: opts.client, ca: opts.ca, log, certValidityMs: opts.certValidityMs });
  const sessions = new Map<string, NodeSession>();
  let kubeletProxy: KubeletProxy | undefined;
  const apiWrites = { inFlight: 0, max: opts.maxApiWrites ?? 256 };
  metrics.watchApiQueue(() => opts.client.queuedRequests());
  const pingIntervalMs = opts.pingIntervalMs ?? 15_000;
  const usage = opts.usageIntervalMs ? new UsageBoard(opts.usageIntervalMs, (ns, name) => cache.get(objectKey('pods', ns, name)) as V1Pod | undefined) : undefined;

  desired.onNodeChanged((node) => sessions.get(node)?.schedulePump());
  // Sessions that sent changes newer than the cache's revision mark them once every informer has passed them.
  cache.onProgress(() => {
    for (const s of sessions.values()) if (s.awaitingProgress) s.schedulePump();
  });
  // Never serve a node before the cache is complete: a partial cache would look like deletions.
  await cache.start();

  const serving =
    opts.serving ??
    (opts.pkiDir
      ? await ensureServingCertificate(opts.pkiDir, opts.ca, 'cloudhub', serverCertificateHosts(opts.hosts ?? []), 'kedge-cloudhub')
      : await (await import('../pki/index.js')).issueServerCertificate(opts.ca, 'kedge-cloudhub', serverCertificateHosts(opts.hosts ?? [])));

  const limits = slowClientServerOptions(opts.slowClientLimits);
  const server = https.createServer({ ...limits, ...hubTlsOptions(serving, opts.ca.certPem, opts.tlsSessionTimeoutSeconds) });
  server.keepAliveTimeout = limits.keepAliveTimeout!;

  server.on('request', (req, res) => {
    void handleHttp(req, res).catch((err) => {
      if (err instanceof JoinError) return sendStatus(res, err.httpStatus, err.reason, err.message);
      log.error({ err: String(err) }, 'hub request failed');
      sendStatus(res, 500, 'InternalError', String((err as Error).message ?? err));
    });
  });

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req.url);
    if (!url) throw new JoinError(400, 'BadRequest', 'malformed request URL');
    if (req.method === 'GET' && url.pathname === '/v1/cacert') {
      res.writeHead(200, { 'content-type': 'application/x-pem-file' });
      return void res.end(opts.ca.certPem);
    }
    if (req.method === 'GET' && url.pathname === '/healthz') return void res.end('ok');
    if (req.method === 'GET' && url.pathname === '/metrics') {
      metrics.connectedNodes.set(sessions.size);
      let depth = 0;
      for (const s of sessions.values()) depth += s.queueDepth();
      metrics.queueDepth.set(depth);
      let streams = 0;
      for (const s of sessions.values()) streams += s.tunnelStreams;
      metrics.tunnelStreams.set(streams);
      metrics.tunnelProxyActive.set(kubeletProxy?.active ?? 0);
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      return void res.end(await metrics.registry.metrics());
    }
    if (req.method === 'POST' && url.pathname === '/v1/join') {
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ')) throw new JoinError(401, 'Unauthorized', 'a bootstrap token is required (Authorization: Bearer TOKEN)');
      const body = (await readJson(req, 64 * 1024)) as { nodeName?: unknown; csr?: unknown; nodepool?: unknown; podCIDR?: unknown };
      if (typeof body?.nodeName !== 'string' || typeof body.csr !== 'string' || (body.nodepool !== undefined && typeof body.nodepool !== 'string') || (body.podCIDR !== undefined && typeof body.podCIDR !== 'string')) {
        throw new JoinError(400, 'BadRequest', 'body must be {"nodeName": string, "csr": PEM string, "nodepool"?: string, "podCIDR"?: string}');
      }
      try {
        const cert = await issuer.join({ token: auth.slice(7).trim(), nodeName: body.nodeName, csrPem: body.csr, nodePool: body.nodepool as string | undefined, podCIDR: body.podCIDR as string | undefined });
        res.writeHead(201, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ certificate: cert, caCertificate: opts.ca.certPem }));
      } catch (err) {
        if (err instanceof JoinError) log.warn({ node: body.nodeName, reason: err.message }, 'join refused');
        throw err;
      }
    }
    if (req.method === 'POST' && url.pathname === '/v1/renew') {
      const who = nodeFromPeer(req.socket as TLSSocket);
      if ('error' in who) throw new JoinError(401, 'Unauthorized', who.error);
      const body = (await readJson(req, 64 * 1024)) as { csr?: unknown };
      if (typeof body?.csr !== 'string') throw new JoinError(400, 'BadRequest', 'body must be {"csr": PEM string}');
      const cert = await issuer.renew(who.node, who.binding, body.csr);
      res.writeHead(201, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ certificate: cert, caCertificate: opts.ca.certPem }));
    }
    throw new JoinError(404, 'NotFound', `no such endpoint ${req.method} ${url.pathname}`);
  }

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_EDGE_TO_HUB_BYTES,
    // Compress frames ≥ 1 KiB with context takeover: consecutive objects are alike, so the window must
    // hold at least one previous object (≥ 4 KiB): measured on pod/configmap streams, 1 KiB windows
    // compress to 46%, 4–8 KiB to 9%, 32 KiB to 8.6%. zlib state lives as long as the connection:
    // 8 KiB window + memLevel 4 ≈ 40 KB deflate + 15 KB inflate per node (zlib defaults: ~300 KB).
    perMessageDeflate: linkServerDeflate(opts.deflateWindowBits),
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });

  const duplicateLog = new LogRateLimiter(60_000);
  /** Admissions per node run one at a time: each decides against the session the previous one left. */
  const admissions = new Map<string, Promise<void>>();

  // A deleted Device's DeviceStatus goes with it (owner-referenced; no garbage collector here watches devices).
  cache.onChange((resource, type, _key, obj) => {
    if (resource !== DEVICE_RESOURCE || type !== 'delete') return;
    void status.devices.deleteStatusOf(obj as unknown as Device).catch((err: unknown) => log.warn({ device: `${obj.metadata.namespace}/${obj.metadata.name}`, err: String(err) }, 'could not delete the DeviceStatus of a deleted Device'));
  });

  /** A connected node's conditions set Unknown by the lifecycle are re-asserted (node-reassertion.ts). */
  cache.onChange((resource, type, _key, obj, old) => {
    if (resource !== 'nodes') return;
    const name = obj.metadata.name;
    if (type === 'delete') status.nodeReports.forget(name);
    else status.nodeReports.statusChanged(name, (old as V1Node | undefined)?.status, (obj as unknown as V1Node).status, sessions.has(name));
  });

  /** Ends a node's session when its Node is deleted or its identity is issued again (node-identity.ts). */
  cache.onChange((resource, type, _key, obj) => {
    if (resource !== 'nodes') return;
    const s = sessions.get(obj.metadata.name);
    if (!s) return;
    if (obj.metadata.uid === s.binding.uid) {
      const current = bindingOfNode(obj);
      if (type === 'delete') s.revoke('the Node was deleted');
      else if (current && current.generation > s.binding.generation) s.revoke(revocationReason(obj, s.binding) ?? 'identity issued again');
      return;
    }
    // A Node of another UID under this name: a re-created Node, or an event older than what admitted the session.
    if (type === 'upsert') {
      void issuer.revocation(s.node, s.binding).then(
        (why) => why && sessions.get(s.node) === s && s.revoke(why),
        (err: unknown) => log.warn({ node: s.node, err: String(err) }, 'could not re-check a node identity'),
      );
    }
  });

  /** Null when the certificate's binding is current: the cache answers the common case, the API any doubt. */
  async function revoked(node: string, binding: NodeBinding): Promise<string | null> {
    const cached = cache.get(objectKey('nodes', undefined, node));
    const cachedBinding = cached ? bindingOfNode(cached) : null;
    if (cachedBinding && sameBinding(cachedBinding, binding)) return null;
    // The cache may not have seen the join that created or re-bound this Node yet.
    return issuer.revocation(node, binding);
  }

  server.on('upgrade', (req, socket, head) => {
    const url = requestUrl(req.url);
    const refuse = (code: number, text: string): void => {
      log.warn({ reason: text }, 'session refused');
      const status = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 503: 'Service Unavailable' }[code] ?? 'Forbidden';
      socket.end(`HTTP/1.1 ${code} ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${text}\n`);
    };
    if (!url) return refuse(400, 'malformed request URL');
    if (url.pathname !== '/v1/connect') return refuse(404, 'unknown path');
    const who = nodeFromPeer(socket as TLSSocket);
    if ('error' in who) return refuse(401, who.error);
    const tlsResumed = (socket as TLSSocket).isSessionReused();
    const remote = `${(socket as TLSSocket).remoteAddress ?? '?'}:${(socket as TLSSocket).remotePort ?? '?'}`;
    /** Refusals the edge must act on travel as WebSocket close codes (src/protocol/close-codes.ts). */
    const closeWith = (code: number, reason: string): void =>
      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => ws.close(code, Buffer.from(reason).subarray(0, 123).toString()));

    const admit = async (): Promise<void> => {
      const node = who.node;
      let why: string | null;
      try {
        why = await revoked(node, who.binding);
      } catch (err) {
        return refuse(503, `cannot verify the identity of node ${node} now: ${String((err as Error).message ?? err)}`);
      }
      if (why) {
        log.warn({ node, remote, reason: why }, 'session refused: node certificate revoked');
        metrics.sessionsRefused.inc({ reason: 'revoked' });
        return closeWith(CloseCode.Revoked, `revoked: ${why}; join again with a new bootstrap token`);
      }
      const old = sessions.get(node);
      if (old && !sameBinding(old.binding, who.binding)) {
        // The newcomer's identity is the current one, so the old session's is not.
        old.revoke(revocationReason(cache.get(objectKey('nodes', undefined, node)) ?? null, old.binding) ?? 'the node identity was issued again');
      } else if (old) {
        if (await old.probeAlive(opts.duplicateProbeMs ?? 5000)) {
          const verdict = duplicateLog.admit(node);
          if (verdict.log) {
            log.warn(
              { node, liveRemote: old.remote, refusedRemote: remote, suppressed: verdict.suppressed },
              'duplicate session refused: another agent holds a live session for this node (two agents with one identity, e.g. a copied data dir)',
            );
          }
          metrics.sessionsRefused.inc({ reason: 'duplicate' });
          return closeWith(CloseCode.DuplicateSession, `another agent holds a live session for node ${node} (from ${old.remote})`);
        }
        // Half-open: the edge reconnected before this side noticed the old connection died.
        log.info({ node, staleRemote: old.remote, remote }, 'replacing a session that did not answer a ping');
        old.terminate();
      }
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => startSession(node, who.binding, ws, remote, tlsResumed, socket as TLSSocket));
    };
    const previous = admissions.get(who.node) ?? Promise.resolve();
    const mine = previous.then(admit).catch((err: unknown) => {
      log.error({ node: who.node, err: String(err) }, 'session admission failed');
      if (!socket.destroyed) socket.destroy();
    });
    admissions.set(who.node, mine);
    void mine.finally(() => {
      if (admissions.get(who.node) === mine) admissions.delete(who.node);
    });
  });

  // Peer servers' CONNECTs for this hub's nodes (peer-relay.ts): server identities only, nothing else is proxied here.
  server.on('connect', peerConnectHandler({ proxy: () => (opts.balance ? kubeletProxy : undefined), metrics, log }));

  function startSession(node: string, binding: NodeBinding, ws: WebSocket, remote: string, tlsResumed: boolean, socket: TLSSocket): void {
    (tlsResumed ? metrics.tlsResumed : metrics.tlsFullHandshakes).inc();
    const session: NodeSession = new NodeSession(
      node,
      ws,
      {
        epoch,
        cache,
        desired,
        deltas,
        status,
        metrics,
        log,
        window: opts.window ?? 256,
        maxBufferedBytes: 4 * 1024 * 1024,
        maxPendingStatus: 256,
        apiWrites,
        usage,
        onClose: (s) => {
          if (sessions.get(node) === s) {
            sessions.delete(node);
            usage?.sessionEnded(node);
          }
          metrics.connectedNodes.set(sessions.size);
          // the renewal lease coalescing held back, so the lifecycle grace runs from the last one received
          void status.sessionEnded(node).then((r) => {
            if (!r.ok) log.warn({ node, reason: r.reason }, 'could not write the last lease renewal of an ended session');
          });
        },
      },
      pingIntervalMs,
      { binding, remote, socket },
    );
    sessions.set(node, session);
    usage?.sessionStarted(node);
    metrics.connectedNodes.set(sessions.size);
    log.info({ node, tlsResumed, remote }, 'edge connected');
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: opts.port ?? DEFAULT_HUB_PORT, host: opts.host ?? '0.0.0.0', backlog: HUB_ACCEPT_BACKLOG }, () => resolve());
    });
  } catch (err) {
    podTokens.stop();
    await cache.stop();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  // Several servers on one datastore: this hub's Lease (load and peer URL), and the live peers it sees (rebalance.ts).
  const balancer = opts.balance && new HubBalancer({
    client: opts.client,
    identity: opts.balance.identity,
    peerUrl: `https://${opts.balance.advertiseHost.includes(':') ? `[${opts.balance.advertiseHost}]` : opts.balance.advertiseHost}:${port}`,
    nodes: () => [...sessions.keys()],
    move: (node, to) => sessions.get(node)?.moveTo(to),
    publishIntervalMs: opts.balance.publishIntervalMs,
    log,
  });
  if (opts.kubeletProxySocket) {
    // Kubelet streams for nodes on a peer's hub are asked of the live peers (peer-relay.ts).
    const relay = balancer && new PeerRelay({
      peers: async () => balancer.livePeers().map((p) => ({ name: p.load.identity, url: p.load.peerUrl })),
      ca: opts.ca,
      name: opts.balance!.identity,
      log,
      metrics,
    });
    try {
      kubeletProxy = await startKubeletProxy({
        socketPath: opts.kubeletProxySocket,
        sessions,
        nodes: function* () {
          for (const k of cache.keysOf('nodes')) yield cache.get(k) as unknown as V1Node;
        },
        ca: opts.ca,
        clientCaPem: opts.kubeletClientCaPem,
        peers: relay,
        usage,
        metrics,
        log,
      });
    } catch (err) {
      await new Promise<void>((r) => server.close(() => r()));
      podTokens.stop();
      await cache.stop();
      throw err;
    }
  }
  const shownHost = !opts.host || opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  log.info({ port, epoch }, 'cloud hub listening');
  await publishHubCa(opts.client, opts.ca.certPem, log);
  balancer?.start();

  return {
    port,
    url: `https://${shownHost}:${port}`,
    epoch,
    metrics,
    desired,
    sessions,
    kubeletProxy,
    informers: (path) => cache.informerAt(path),
    async stop() {
      await balancer?.stop();
      await kubeletProxy?.close();
      for (const s of [...sessions.values()]) s.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections?.();
      podTokens.stop();
      await cache.stop();
    },
  };
}
