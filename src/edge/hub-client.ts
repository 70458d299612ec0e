/**
 * The edge's one outbound connection to the hub: dial (TLS, client cert, pinned CA), hello with the
 * persisted cursor, apply down messages to the local store strictly in order and ack only after they
 * are persisted, reconnect with exponential backoff and full jitter (thousands of nodes coming back at
 * once spread out instead of stampeding the hub), and detect dead links with keepalives.
 *
 * TLS session resumption: the hub's session ticket from the last connection is kept in memory and offered on
 * the next dial, so a reconnect skips the certificate exchange (~265 B hub→edge instead of ~2.7 KB). A ticket
 * stands for the certificate it was made with (the hub does not see the client certificate again), so it is
 * bound to those credentials: new credentials (rotation) or a refused connection drop it, and the next dial
 * is a full handshake. See docs/design/reconnect-traffic.md.
 */
import { EventEmitter } from 'node:events';
import { isIP, type createConnection as netCreateConnection } from 'node:net';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import type { Logger } from '../common/logger.js';
import { LogRateLimiter } from '../common/log-limiter.js';
import { CloseCode } from '../protocol/close-codes.js';
import { linkFrameOptions } from '../protocol/compression.js';
import { LinkArrivals } from '../protocol/link-liveness.js';
import {
  INVENTORY_CHUNK,
  LINK_CLIENT_DEFLATE,
  MAX_HUB_TO_EDGE_BYTES,
  PROTOCOL_VERSIONS,
  ProtocolError,
  SUBPROTOCOL,
  USAGE_VERSION,
  applyMergePatch,
  decodeHubToEdge,
  encode,
  type GetResultMessage,
  type EdgeToHub,
  type HubToEdge,
  type SyncCursor,
} from '../protocol/index.js';
import { LINK_WINDOW_VERSION, TUNNEL_VERSION } from '../protocol/tunnel.js';
import { INITIAL_LINK_WINDOW, TunnelMux, type TunnelStream } from '../protocol/tunnel-mux.js';
import type { ResourceSample } from '../common/resource-metrics.js';
import type { EdgeCredentials } from './config.js';
import type { LocalStore } from './local-store.js';
import { HubRotation, type HubResolver } from './hubs.js';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/**
 * The TLS session of the last connection, tied to the credentials that created it. Offering a ticket made with
 * an old certificate would make the hub see the old identity: `forCredentials` returns it only for the same ones.
 */
export class TlsSessionKeeper {
  private kept: { session: Buffer; fingerprint: string } | undefined;

  static fingerprint(c: EdgeCredentials): string {
    return `${c.caCertPem}\0${c.certPem}\0${c.keyPem}`;
  }

  /** The session to offer when dialling with `creds`, or undefined (then a full handshake); drops a stale one. */
  forCredentials(creds: EdgeCredentials): Buffer | undefined {
    if (this.kept && this.kept.fingerprint !== TlsSessionKeeper.fingerprint(creds)) this.kept = undefined;
    return this.kept?.session;
  }

  /** A ticket received on a connection dialled with `creds` (TLS 1.3 sends them after the handshake). */
  remember(creds: EdgeCredentials, session: Buffer): void {
    this.kept = { session, fingerprint: TlsSessionKeeper.fingerprint(creds) };
  }

  drop(): void {
    this.kept = undefined;
  }

  get holding(): boolean {
    return this.kept !== undefined;
  }
}

/**
 * One TLS context per set of credentials, reused by every dial. Building one parses the key, the certificate and
 * the CA bundle (~1 ms of CPU): a node redialling a hub that is down paid it on every attempt, and a fleet coming
 * back after a cut spent most of its reconnect CPU there (bench/RESULTS.md, session 11). New credentials (a rotated
 * certificate) get a new context.
 */
export class TlsContextKeeper {
  private kept: { context: tls.SecureContext; fingerprint: string } | undefined;

  forCredentials(creds: EdgeCredentials): tls.SecureContext {
    const fingerprint = TlsSessionKeeper.fingerprint(creds);
    if (this.kept?.fingerprint !== fingerprint) {
      this.kept = { context: tls.createSecureContext({ ca: creds.caCertPem, cert: creds.certPem, key: creds.keyPem }), fingerprint };
    }
    return this.kept.context;
  }
}

/**
 * Whether the edge's own heartbeat is worth sending. A heartbeat only asks the hub for a frame, so that a quiet
 * link is told apart from a dead one; if the hub was heard since the previous beat (its pings, the acks of lease
 * renewals every 10 s), the link is proven alive and a beat would cost a frame each way (encode, deflate, TLS, the
 * hub's echo) for nothing. Dead-link detection is unchanged: it counts silence from the last frame heard, and a
 * quiet link still gets a beat every period. Saves two of the seven frames an idle node exchanges per 15 s.
 */
export class HeartbeatGate {
  private seen: number;

  constructor(heardSeq: number) {
    this.seen = heardSeq;
  }

  /** Called once per beat period with the hub-heard counter: true if nothing was heard since the last call. */
  due(heardSeq: number): boolean {
    const quiet = heardSeq === this.seen;
    this.seen = heardSeq;
    return quiet;
  }
}

/**
 * How long a read through the hub (`get`) may take. Its answer queues behind everything the hub sends this node,
 * and an overloaded hub delivered 15-45 s late at 10,000 nodes: a fixed 30 s deadline failed the read, the edge
 * reconnected and resynced its inventory, adding load to the hub that was already behind (issue 6). So the read
 * fails only when the hub sent nothing at all for `quietMs` (the link is not moving; the dead-link timer ends it
 * anyway) or after `maxMs` in all (a hub that never answers must not stall the apply chain forever).
 * `heard` counts frames from the hub. Returns a cancel function.
 */
export function awaitAnswerDeadline(heard: () => number, quietMs: number, maxMs: number, expire: (waitedMs: number) => void): () => void {
  const start = Date.now();
  let last = heard();
  let timer: NodeJS.Timeout;
  let cancelled = false;
  const decide = () => {
    if (cancelled) return;
    const now = heard();
    const waited = Date.now() - start;
    if (now === last || waited >= maxMs) return expire(waited);
    last = now;
    timer = setTimeout(check, Math.min(quietMs, maxMs - waited));
  };
  // Timers run before sockets are read: after a stall of this process frames may wait unread (armDeadTimer).
  const check = () => (heard() === last ? setImmediate(decide) : decide());
  timer = setTimeout(check, Math.min(quietMs, maxMs));
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}

/** Full jitter (AWS architecture blog): uniform in [0, min(max, initial·2^attempt)]. */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const cap = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/**
 * After the hub refused this node's session because another agent holds it (close code 4009, a copied data dir):
 * reconnecting at the usual pace would fight the other agent for the session. Wait at least a minute, doubling
 * per refusal up to 15 min, jitter added above the floor (never below it).
 */
export const DUPLICATE_SESSION_BACKOFF: BackoffOptions = { initialMs: 60_000, maxMs: 15 * 60_000 };

export function duplicateSessionDelay(refusals: number, o: BackoffOptions = DUPLICATE_SESSION_BACKOFF, random: () => number = Math.random): number {
  const floor = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(refusals, 30));
  return Math.floor(floor * (1 + random() / 2));
}

/** An error's words for the operator: Node's message plus its code when the message lacks it (ECONNREFUSED...). */
function failureText(err: Error & { code?: string }): string {
  return err.code && !err.message.includes(err.code) ? `${err.message} (${err.code})` : err.message;
}

export interface HubClientOptions {
  /** The hub, or several comma-separated (servers sharing a datastore): the node moves on when one fails (hubs.ts). */
  hubUrl: string;
  /** Resolves a hub name to all its addresses (default: the system resolver); tests inject one. */
  resolveHub?: HubResolver;
  nodeName: string;
  credentials: () => EdgeCredentials;
  store: LocalStore;
  log: Logger;
  backoff?: BackoffOptions;
  /** A link silent for this long (no frame, no ping) is considered dead. */
  deadAfterMs?: number;
  /** Ack (and persist the cursor) at least every this many applied messages. */
  ackEvery?: number;
  /** A `get` fails when the hub sent no frame at all for this long while it waited (default 30 s)... */
  getQuietMs?: number;
  /** ...or when it waited this long in all (default 5 min). */
  getMaxMs?: number;
  /** Back-off after a duplicate-session refusal (4009); default DUPLICATE_SESSION_BACKOFF. */
  duplicateBackoff?: BackoffOptions;
  /** Each distinct connection failure is logged at warn at most once per this interval (default 1 min). */
  failureLogIntervalMs?: number;
  /**
   * Serves tunnel streams the hub opens (protocol v3: the edge's kubelet server, src/edge/kubelet). Without it
   * every stream is refused.
   */
  onTunnelStream?: (stream: TunnelStream, port: number) => void;
  /**
   * The node's resource usage (what its kubelet serves on /metrics/resource), sent every `welcome.usageIntervalMs` to
   * a v6 hub that asks for it. Without it nothing is sent and the hub's scraper reads the kubelet through the tunnel.
   */
  usage?: () => Promise<ResourceSample>;
}

export interface HubClientEvents {
  connected: [];
  disconnected: [];
  /** A catch-up (resume or diff) finished: the store matches the cloud as of that moment. */
  synced: [seq: number];
  applied: [key: string, kind: 'upsert' | 'delete'];
  message: [msg: HubToEdge];
  /** The hub ended the session with CloseCode.Revoked: the client stopped for good; the node must join again. */
  revoked: [message: string];
}

export class HubClient extends EventEmitter<HubClientEvents> {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private deadTimer: NodeJS.Timeout | undefined;
  private usageTimer: NodeJS.Timeout | undefined;
  /** Bumped whenever the hub shows life; the dead-link check compares it across an I/O poll. */
  private heardSeq = 0;
  private connectedFlag = false;
  private epoch = '';
  private live = false;
  /**
   * The datastore revision this store holds the cluster through (a v5 hub's `progress`), kept in the cursor: another
   * server resumes from it. Unknown after a diff resync until the next `progress` (the diff came from that hub's cache,
   * which may be behind the revision an earlier hub named).
   */
  private rev: number | undefined;
  /** The hub position of the last cursor persisted (a `progress` updates only its revision). */
  private persisted: { epoch: string; seq: number } | undefined;
  /** Down messages are applied one after another, in arrival order. */
  private chain: Promise<void> = Promise.resolve();
  /**
   * Connections whose stream is abandoned: an apply (or its cursor write) failed, or the client stopped. Nothing
   * that arrived on them after that point is applied or acked: the cursor must never move past a message this
   * store does not hold, so the next connection resumes from the last one applied. (The socket's close event
   * comes later than the next queued apply would run.)
   */
  private readonly abandoned = new WeakSet<WebSocket>();
  private queued = 0;
  private lastApplied = -1;
  /** The connection `lastApplied` came on: acks name seqs of the connection they go out on. */
  private lastAppliedOn: WebSocket | undefined;
  private sinceAck = 0;
  private readonly backoff: BackoffOptions;
  private readonly deadAfterMs: number;
  /** Bytes arriving at the current link's socket (set when it opens). */
  private arrivals: LinkArrivals | undefined;
  private readonly ackEvery: number;
  private readonly log: Logger;
  readonly tlsSessions = new TlsSessionKeeper();
  private readonly tlsContexts = new TlsContextKeeper();
  /** Whether the current connection resumed a TLS session (logged with "connected to hub"). */
  private tlsResumed = false;
  /** Bytes received in frames since start (wire payload before decompression is counted by the proxy). */
  bytesReceived = 0;
  /** Why the current connection attempt failed or ended (the first reason seen wins). */
  private failure: string | undefined;
  private readonly failureLog: LogRateLimiter;
  /** Consecutive duplicate-session refusals (4009), for their long back-off. */
  private duplicateRefusals = 0;
  /** Delay before the next dial, as last scheduled (observability and tests). */
  nextDialDelayMs = 0;
  /** Set once the hub revoked this node (4003): nothing reconnects any more. */
  revoked: string | undefined;
  /** The current connection's tunnel (protocol v3+), created at welcome, closed with the connection. */
  private tunnel: { ws: WebSocket; mux: TunnelMux } | undefined;

  private readonly hubs: HubRotation;

  constructor(private readonly o: HubClientOptions) {
    super();
    this.hubs = new HubRotation(o.hubUrl, o.nodeName, o.resolveHub);
    this.backoff = o.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.deadAfterMs = o.deadAfterMs ?? 45_000;
    this.ackEvery = o.ackEvery ?? 64;
    this.log = o.log;
    this.failureLog = new LogRateLimiter(o.failureLogIntervalMs ?? 60_000);
  }

  get connected(): boolean {
    return this.connectedFlag;
  }

  /** The hub this node dials now (one of the configured list; a name's resolved address in place of the name). */
  get hubUrl(): string {
    return this.hubs.current();
  }

  /** The configured URL of that hub (its name: what certificates are checked against, e.g. for renewal). */
  get hubName(): string {
    return this.hubs.currentTarget().url;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.dial();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadTimer);
    if (this.ws) this.abandoned.add(this.ws);
    this.ws?.terminate();
    await this.chain.catch(() => {});
  }

  /** Send a frame if connected; false when not (callers keep the item for later). */
  send(msg: EdgeToHub): boolean {
    if (!this.connectedFlag || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    sendFrame(this.ws, msg);
    return true;
  }

  private connectUrl(): string {
    const u = new URL(this.hubs.currentTarget().url);
    u.protocol = u.protocol === 'http:' || u.protocol === 'ws:' ? 'ws:' : 'wss:';
    u.pathname = '/v1/connect';
    return u.toString();
  }

  /** Dials the current hub, its name resolved first when the list changed or a connection was lost (hubs.ts). */
  private dial(): void {
    void this.hubs.resolveIfStale().then(() => this.dialResolved());
  }

  private dialResolved(): void {
    if (this.stopped) return;
    // A name's address is dialled directly; the certificate is still checked against the name (servername).
    const address = this.hubs.currentTarget().address;
    const creds = this.o.credentials();
    const offered = this.tlsSessions.forCredentials(creds);
    this.tlsResumed = false;
    this.failure = undefined;
    let linkSocket: tls.TLSSocket | undefined;
    const ws = new WebSocket(this.connectUrl(), SUBPROTOCOL, {
      ca: creds.caCertPem,
      cert: creds.certPem,
      key: creds.keyPem,
      // Our own TLS connect (as ws's default) to offer the kept session and catch new tickets as they arrive.
      // (ws types the hook as net.createConnection but calls it with one options object for TLS URLs.)
      createConnection: ((options: tls.ConnectionOptions & { host?: string }) => {
        const host = options.host ?? '';
        const servername = options.servername ?? (isIP(host) ? '' : host);
        // Inside the connect hook, as tls.connect's own context was: unusable credentials fail this dial (an error on
        // the socket's request, then backoff), they do not throw out of the dialler.
        const secureContext = this.tlsContexts.forCredentials(creds);
        const socket = tls.connect({ ...options, secureContext, ...(address ? { host: address } : {}), path: undefined, servername, ...(offered ? { session: offered } : {}) });
        linkSocket = socket;
        socket.on('session', (session: Buffer) => {
          if (ws === this.ws) this.tlsSessions.remember(creds, session);
        });
        socket.once('secureConnect', () => (this.tlsResumed = ws === this.ws && socket.isSessionReused()));
        return socket;
      }) as unknown as typeof netCreateConnection,
      maxPayload: MAX_HUB_TO_EDGE_BYTES,
      // The hub picks the window (see src/cloudhub/hub.ts); memLevel 4 keeps our zlib state small too.
      // 4 KiB zlib buffers (see LINK_ZLIB_DEFLATE) were all of the 33 KiB of "external" memory a hollow node showed.
      perMessageDeflate: { ...LINK_CLIENT_DEFLATE },
      handshakeTimeout: 10_000,
      // An all-zero mask, which ws then skips: masking (RFC 6455 §10.3) protects intermediaries that read the
      // plaintext from a browser script's chosen bytes; this link is TLS end to end, its client no browser, so the
      // mask guards nothing and costs a copy and an XOR of every byte up (tunnel DATA: ~10% of the edge's CPU).
      generateMask: (mask: Buffer) => void mask.fill(0),
    });
    this.ws = ws;
    this.live = false;
    let beat: NodeJS.Timeout | undefined;
    ws.on('open', () => {
      this.arrivals = linkSocket && new LinkArrivals(linkSocket);
      this.armDeadTimer();
      // Our own heartbeats (echoed by the hub) make dead-link detection independent of the hub's ping period;
      // only sent when the hub has been quiet for a whole period (HeartbeatGate).
      const gate = new HeartbeatGate(this.heardSeq);
      beat = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN && gate.due(this.heardSeq)) sendFrame(ws, { type: 'heartbeat', t: Date.now() });
      }, Math.max(50, Math.floor(this.deadAfterMs / 3)));
      this.sayHello(ws).catch((err) => this.abandon(ws, 'reading the sync cursor failed', err));
    });
    ws.on('message', (data: Buffer, isBinary) => {
      this.armDeadTimer();
      this.bytesReceived += data.length;
      if (isBinary) {
        const t = this.tunnel;
        if (!t || t.ws !== ws) return this.protocolFailure(ws, 'binary frame from hub outside a tunnel session');
        try {
          return t.mux.receive(data);
        } catch (err) {
          if (err instanceof ProtocolError) return this.protocolFailure(ws, err.message);
          throw err;
        }
      }
      let msg: HubToEdge;
      try {
        msg = decodeHubToEdge(data);
      } catch (err) {
        if (err instanceof ProtocolError) return this.protocolFailure(ws, err.message);
        throw err;
      }
      this.onMessage(ws, msg);
    });
    ws.on('ping', () => this.armDeadTimer());
    const fail = (why: string) => {
      if (ws === this.ws) this.failure ??= why;
    };
    ws.on('unexpected-response', (_req, res) => {
      // Refused by the hub (e.g. 401): never retry with the same ticket, the next dial presents the certificate.
      this.tlsSessions.drop();
      let body = '';
      res.on('data', (c: Buffer) => (body.length < 4096 ? (body += c.toString()) : undefined));
      res.on('end', () => {
        fail(`hub refused the connection: HTTP ${res.statusCode}${body.trim() ? `: ${body.trim().slice(0, 300)}` : ''}`);
        ws.terminate(); // otherwise ws waits for its handshake timeout
      });
    });
    ws.on('error', (err) => fail(failureText(err)));
    ws.on('close', (code, reason) => {
      clearInterval(beat);
      clearTimeout(this.usageTimer);
      this.onClosed(ws, code, reason.toString('utf8'));
    });
  }

  /**
   * Usage every `intervalMs` while `ws` is open. The first report comes at a random point of the first interval, so
   * a fleet that connected at once (a reconnect storm) does not report in step.
   */
  private reportUsage(ws: WebSocket, intervalMs: number): void {
    const usage = this.o.usage;
    if (!usage) return;
    clearTimeout(this.usageTimer);
    const next = (delayMs: number) => {
      this.usageTimer = setTimeout(() => {
        if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
        usage().then(
          (sample) => {
            if (ws === this.ws && ws.readyState === WebSocket.OPEN) sendFrame(ws, { type: 'usage', sample });
          },
          (err: unknown) => this.log.debug({ err: String(err) }, 'usage report skipped: collecting usage failed'),
        ).finally(() => {
          if (ws === this.ws && ws.readyState === WebSocket.OPEN) next(intervalMs);
        });
      }, delayMs);
      this.usageTimer.unref();
    };
    next(Math.floor(Math.random() * intervalMs));
  }

  private armDeadTimer(): void {
    this.heardSeq++;
    clearTimeout(this.deadTimer);
    this.deadTimer = setTimeout(() => {
      // Node runs timers before it reads sockets: after a stall of this process (many hollow nodes in one
      // simulator, a busy gateway) the hub's frames may be waiting unread. Decide only after one I/O poll.
      const heard = this.heardSeq;
      setImmediate(() => {
        if (this.heardSeq !== heard) return;
        // Bytes reached the socket: the hub is there, its frames wait behind this process's zlib queue (link-liveness.ts).
        if (this.arrivals?.moved()) return this.armDeadTimer();
        this.log.warn('hub link silent too long; reconnecting');
        this.failure ??= `no frame from the hub for ${Math.round(this.deadAfterMs / 1000)} s (dead link)`;
        this.ws?.terminate();
      });
    }, this.deadAfterMs);
  }

  private protocolFailure(ws: WebSocket, why: string): void {
    this.log.warn({ reason: why }, 'refused frame from hub; reconnecting');
    if (ws === this.ws) this.failure ??= `refused a frame from the hub: ${why}`;
    ws.terminate();
  }

  private async sayHello(ws: WebSocket): Promise<void> {
    // Wait for everything received on the previous connection to be persisted: the cursor must be final.
    await this.chain.catch(() => {});
    const cursor = await this.o.store.readCursor();
    this.rev = cursor?.rev;
    this.persisted = cursor && { epoch: cursor.epoch, seq: cursor.seq };
    if (ws.readyState !== WebSocket.OPEN) return;
    sendFrame(ws, { type: 'hello', versions: [...PROTOCOL_VERSIONS], node: this.o.nodeName, ...(cursor ? { cursor } : {}), agent: 'kedge-edge' });
  }

  private onMessage(ws: WebSocket, msg: HubToEdge): void {
    switch (msg.type) {
      case 'welcome':
        this.epoch = msg.epoch;
        this.attempt = 0;
        this.duplicateRefusals = 0;
        this.connectedFlag = true;
        this.live = msg.resume;
        if (msg.version >= TUNNEL_VERSION) this.startTunnel(ws, msg.version >= LINK_WINDOW_VERSION);
        if (msg.version >= USAGE_VERSION && msg.usageIntervalMs) this.reportUsage(ws, msg.usageIntervalMs);
        this.log.info({ hub: this.hubs.current(), epoch: msg.epoch, resume: msg.resume, tlsResumed: this.tlsResumed }, 'connected to hub');
        if (!msg.resume) this.sendInventory(ws).catch((err) => this.abandon(ws, 'reading the inventory failed', err));
        this.emit('connected');
        return;
      case 'upsert':
      case 'patch':
      case 'delete':
      case 'synced':
      case 'progress':
        return this.enqueue(ws, msg);
      case 'get-result': {
        const waiter = this.gets.get(msg.id);
        if (!waiter) return void this.emit('message', msg);
        this.gets.delete(msg.id);
        return waiter.resolve(msg);
      }
      case 'heartbeat':
        return;
      case 'error':
        this.log.warn({ code: msg.code }, `hub reported: ${msg.message}`);
        return;
      default:
        this.emit('message', msg);
    }
  }

  private startTunnel(ws: WebSocket, linkWindow: boolean): void {
    this.tunnel?.mux.close('replaced by a new connection');
    const mux = new TunnelMux({
      role: 'edge',
      link: { send: (frame, cb) => ws.send(frame, { binary: true, compress: false }, cb), bufferedAmount: () => ws.bufferedAmount },
      linkWindowBytes: linkWindow ? INITIAL_LINK_WINDOW : undefined,
      onOpen: this.o.onTunnelStream,
    });
    this.tunnel = { ws, mux };
  }

  /** Tunnel streams open on the current connection (metrics, leak checks). */
  get tunnelStreams(): number {
    return this.tunnel?.mux.size ?? 0;
  }

  private async sendInventory(ws: WebSocket): Promise<void> {
    await this.chain.catch(() => {});
    const items = await this.o.store.inventory();
    for (let i = 0; i === 0 || i < items.length; i += INVENTORY_CHUNK) {
      if (ws.readyState !== WebSocket.OPEN) return;
      const chunk = items.slice(i, i + INVENTORY_CHUNK);
      sendFrame(ws, { type: 'inventory', items: chunk, done: i + INVENTORY_CHUNK >= items.length });
    }
    this.log.info({ items: items.length }, 'sent inventory for diff resync');
  }

  /** Reads through the hub (`get`) awaited by the apply chain, by request id. */
  private gets = new Map<number, { resolve: (m: GetResultMessage) => void; reject: (e: Error) => void }>();
  private nextGetId = 1;

  private fetch(ws: WebSocket, key: string): Promise<GetResultMessage> {
    const id = this.nextGetId++;
    return new Promise<GetResultMessage>((resolve, reject) => {
      const cancel = awaitAnswerDeadline(() => this.heardSeq, this.o.getQuietMs ?? 30_000, this.o.getMaxMs ?? 300_000, (waitedMs) => {
        this.gets.delete(id);
        reject(new Error(`no answer from the hub for ${key} after ${Math.round(waitedMs / 1000)} s`));
      });
      this.gets.set(id, {
        resolve: (m) => (cancel(), resolve(m)),
        reject: (e) => (cancel(), reject(e)),
      });
      if (ws.readyState === WebSocket.OPEN) sendFrame(ws, { type: 'get', id, key });
      else this.gets.get(id)!.reject(new Error('hub connection closed'));
    });
  }

  /**
   * A `patch` applies to the version the hub shipped before (`base`). If this store holds another one (two
   * changes while cut off, a copy replaced meanwhile), the object is read whole through the hub instead.
   */
  private async applyPatch(ws: WebSocket, msg: Extract<HubToEdge, { type: 'patch' }>): Promise<void> {
    const cur = await this.o.store.store.get(msg.key);
    const held = cur ? (JSON.parse(cur.value) as { metadata?: { resourceVersion?: string } }) : undefined;
    if (held?.metadata?.resourceVersion === msg.base) {
      await this.o.store.applyUpsert(msg.key, applyMergePatch(held, msg.patch) as Record<string, unknown>);
      return;
    }
    this.log.debug({ key: msg.key, base: msg.base, held: held?.metadata?.resourceVersion ?? null }, 'patch base not held; reading the object');
    const got = await this.fetch(ws, msg.key);
    // Refused (no longer this node's): a delete for it follows in the stream.
    if (got.object) await this.o.store.applyUpsert(msg.key, got.object);
  }

  private enqueue(ws: WebSocket, msg: Extract<HubToEdge, { type: 'upsert' | 'patch' | 'delete' | 'synced' | 'progress' }>): void {
    this.queued++;
    this.chain = this.chain
      .then(() => this.apply(ws, msg))
      // Not applied, so not acked, and nothing after it on this connection is applied either (the cursor would
      // pass it): drop the link; the next one resumes from the last message applied.
      .catch((err) => this.abandon(ws, 'applying a hub message failed', err, { key: 'key' in msg ? msg.key : undefined, seq: 'seq' in msg ? msg.seq : undefined }))
      .finally(() => this.queued--);
  }

  /** Give up on a connection after a local failure: nothing later on it is applied; reconnect from the cursor. */
  private abandon(ws: WebSocket, what: string, err: unknown, fields: Record<string, unknown> = {}): void {
    if (this.abandoned.has(ws)) return;
    this.abandoned.add(ws);
    if (ws === this.ws) this.failure ??= `${what}: ${String(err)}`;
    this.log.error({ ...fields, err: String(err) }, `${what}; reconnecting from the last applied cursor`);
    ws.terminate();
  }

  private async apply(ws: WebSocket, msg: Extract<HubToEdge, { type: 'upsert' | 'patch' | 'delete' | 'synced' | 'progress' }>): Promise<void> {
    // From a connection that is gone or abandoned after a failed apply: the next session resends from the cursor.
    if (ws !== this.ws || this.abandoned.has(ws)) return;
    if (msg.type === 'progress') {
      // Everything before it is applied (the chain is in order): the revision holds for this store.
      this.rev = msg.rev;
      if (this.sinceAck > 0 && this.lastAppliedOn === ws) {
        // The burst's last messages were not acked when applied (this `progress` was already queued behind them), and
        // no message may follow for a long time: ack them now. Otherwise the hub keeps them in flight and they are
        // sent again after the next reconnect (~1 KiB per node at 1,000 nodes: the last pods' tokens).
        this.sinceAck = 0;
        if (this.live) await this.writeCursor(this.epoch, this.lastApplied);
        if (ws.readyState === WebSocket.OPEN) sendFrame(ws, { type: 'ack', seq: this.lastApplied });
      } else if (this.live && this.persisted) await this.writeCursor(this.persisted.epoch, this.persisted.seq);
      return;
    }
    if (msg.type === 'synced') {
      if (!this.live) this.rev = undefined;
      await this.writeCursor(this.epoch, msg.seq);
      this.live = true;
      // The catch-up's last messages were not acked when applied (this `synced` was still queued behind them),
      // and the hub's window may be full of them: ack them now, or the session waits for an ack that never comes.
      if (this.sinceAck > 0 && this.lastAppliedOn === ws && ws.readyState === WebSocket.OPEN) sendFrame(ws, { type: 'ack', seq: this.lastApplied });
      this.lastApplied = msg.seq;
      this.sinceAck = 0;
      this.emit('synced', msg.seq);
      return;
    }
    if (msg.type === 'upsert') await this.o.store.applyUpsert(msg.key, msg.object);
    else if (msg.type === 'patch') await this.applyPatch(ws, msg);
    else await this.o.store.applyDelete(msg.key);
    this.emit('applied', msg.key, msg.type === 'delete' ? 'delete' : 'upsert');
    this.lastApplied = msg.seq;
    this.lastAppliedOn = ws;
    this.sinceAck++;
    // Ack when caught up with what arrived, or every ackEvery messages; the cursor is persisted first.
    if (this.queued <= 1 || this.sinceAck >= this.ackEvery) {
      this.sinceAck = 0;
      if (this.live) await this.writeCursor(this.epoch, msg.seq);
      if (ws.readyState === WebSocket.OPEN) sendFrame(ws, { type: 'ack', seq: msg.seq });
    }
  }

  private async writeCursor(epoch: string, seq: number): Promise<void> {
    const cursor: SyncCursor = this.rev === undefined ? { epoch, seq } : { epoch, seq, rev: this.rev };
    await this.o.store.writeCursor(cursor);
    this.persisted = { epoch, seq };
  }

  private onClosed(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    clearTimeout(this.deadTimer);
    if (this.tunnel?.ws === ws) {
      this.tunnel.mux.close(`the hub connection closed (${code})`);
      this.tunnel = undefined;
    }
    const was = this.connectedFlag;
    this.connectedFlag = false;
    this.ws = undefined;
    // Reads in flight die with the connection: the apply chain fails, nothing is acked, the hub resends.
    for (const w of this.gets.values()) w.reject(new Error('hub connection closed'));
    this.gets.clear();
    if (was) this.emit('disconnected');
    if (this.stopped) return;
    if (code === CloseCode.Revoked) return this.onRevoked(reason);
    let delay: number;
    if (code === CloseCode.DuplicateSession) {
      delay = duplicateSessionDelay(this.duplicateRefusals++, this.o.duplicateBackoff);
      this.log.error(
        { code, reason, retryInSeconds: Math.round(delay / 1000) },
        `another agent is connected as node ${this.o.nodeName}: a copied data dir? Each node needs its own identity (join the copy with its own name); retrying later`,
      );
    } else if (code === CloseCode.Rebalance) {
      // The hub sheds load: not a failure, so no backoff growth; a short random delay spreads the moved nodes' dials.
      const from = this.hubs.current();
      const to = this.hubs.moveTo(reason);
      delay = Math.floor(Math.random() * 1000);
      this.log.info({ hub: from, nextHub: to, retryInMs: delay }, 'the hub asked this node to move (rebalancing)');
    } else {
      delay = backoffDelay(this.attempt++, this.backoff);
      const why = this.failure ?? (reason ? `closed by the hub (${code}): ${reason}` : `connection closed (code ${code})`);
      // Losing an established session is a state change, logged every time; failed dials repeat, so are rate-limited.
      const hub = this.hubs.current();
      // Several hubs: the next dial goes to the next one (a dead server's nodes move to the live ones); names are
      // resolved again before it.
      this.hubs.next();
      if (was) this.log.warn({ hub, reason: why, retryInMs: delay, ...(this.hubs.several ? { nextHub: this.hubs.current() } : {}) }, 'disconnected from hub');
      else this.reportFailure('could not connect to hub', why, delay, hub);
    }
    this.nextDialDelayMs = delay;
    this.timer = setTimeout(() => this.dial(), delay);
  }

  /** A connection failure at warn, once per distinct reason per interval, with the count of repeats left out. */
  private reportFailure(what: string, why: string, retryMs: number, hub: string): void {
    const admitted = this.failureLog.admit(`${what}\0${why}`);
    if (!admitted.log) return this.log.debug({ reason: why }, what);
    this.log.warn({ hub, reason: why, retryInMs: retryMs, ...(admitted.suppressed ? { suppressedRepeats: admitted.suppressed } : {}) }, what);
  }

  private onRevoked(reason: string): void {
    this.stopped = true;
    this.revoked = `node ${this.o.nodeName} was removed from the cluster or its certificate is no longer accepted${reason ? ` (hub: ${reason})` : ''}: it must join again with a new bootstrap token (kedge edge join)`;
    this.log.error({ code: CloseCode.Revoked }, this.revoked);
    this.emit('revoked', this.revoked);
  }
}

/** One protocol message as a text frame; small ones skip zlib (see linkFrameOptions). */
function sendFrame(ws: WebSocket, msg: EdgeToHub): void {
  const text = encode(msg);
  ws.send(text, linkFrameOptions(text));
}
