/**
 * One edge node's session on the hub: handshake (version, identity, cursor), catch-up (resume from
 * the cursor or an inventory diff), live streaming of desired-set changes with an ack window
 * (back-pressure), status writes up to the API, and node-authorized reads.
 */
import { LinkArrivals, type ArrivalSource } from '../protocol/link-liveness.js';
import type { WebSocket } from 'ws';
import type { Logger } from '../common/logger.js';
import {
  decodeEdgeToHub,
  encode,
  ProtocolError,
  negotiateVersion,
  PATCH_VERSION,
  PROTOCOL_VERSIONS,
  REVISION_VERSION,
  USAGE_VERSION,
  type EdgeToHub,
  type HubToEdge,
  type InventoryItem,
  type StatusMessage,
} from '../protocol/index.js';
import type { SharedCache } from './cache.js';
import type { DesiredSets, NodeView, ViewEntry } from './desired.js';
import type { Deltas } from './deltas.js';
import type { CachedObject } from './cache.js';
import type { HubMetrics } from './metrics.js';
import type { StatusWriter } from './status-writer.js';
import type { NodeBinding } from './node-identity.js';
import type { UsageBoard } from './usage-board.js';
import { CloseCode } from '../protocol/close-codes.js';
import { linkFrameOptions } from '../protocol/compression.js';
import { LINK_WINDOW_VERSION, TUNNEL_VERSION } from '../protocol/tunnel.js';
import { INITIAL_LINK_WINDOW, TunnelMux, type TunnelStream } from '../protocol/tunnel-mux.js';

/** Keepalive intervals of silence before the hub drops a session (the edge side uses the same allowance). */
export const KEEPALIVE_MISSES = 3;

export interface SessionDeps {
  epoch: string;
  cache: SharedCache;
  desired: DesiredSets;
  /** Merge patches per object version (protocol v2); without it objects are always sent whole. */
  deltas?: Deltas;
  status: StatusWriter;
  metrics: HubMetrics;
  log: Logger;
  /** Max messages in flight (sent, not acked) per node. */
  window: number;
  /** Stop sending while the socket has this many bytes buffered. */
  maxBufferedBytes: number;
  /** Max status items being written for one node at once; more are answered "retry". */
  maxPendingStatus: number;
  /** Hub-wide cap on API writes in flight, shared by all sessions (protects the API server in a storm). */
  apiWrites: { inFlight: number; max: number };
  /** Where edges' usage reports go (protocol v6); absent: edges are not asked for them. */
  usage?: UsageBoard;
  onClose(session: NodeSession): void;
}

type Phase = 'hello' | 'inventory' | 'live' | 'closed';

export class NodeSession {
  private phase: Phase = 'hello';
  /** Negotiated protocol version (2+: the edge takes `patch` messages). */
  private version = 1;
  private view: NodeView | undefined;
  /** Highest seq handed to the socket in live mode. */
  private sentSeq = 0;
  /** Seqs of messages in flight, in send order. */
  private inflight: number[] = [];
  private maxSentSeq = -1;
  private ackedSeq = 0;
  private inventory = new Map<string, InventoryItem>();
  /**
   * key → resourceVersion this connection sent the edge (or its inventory reported): the base a patch must
   * name. A view entry's `prevRv` is not enough: a session behind the view sends only a key's latest state, so
   * the edge may never have received the version before (a taint added and removed during a 15-45 s lag,
   * issue 6), and an upsert carries the cache's current version, possibly a status-only successor of `rv`.
   * Keys not sent on this connection (a resumed one) fall back to `prevRv`; the edge checks the base anyway.
   */
  private readonly held = new Map<string, string>();
  private pumpScheduled = false;
  private catchingUp = true;
  /**
   * Resumed by revision (the cursor of another server, or of this one before a restart): entries whose revision is at
   * or below this the edge holds already, so they are skipped for the whole session (the cache may deliver some of
   * them only now, when it was behind the server the edge came from).
   */
  private skipThroughRevision = -1;
  /** The revision the edge was last told it holds the cluster through (`progress`, v5). */
  private markedThrough = 0;
  /** Highest revision of an entry sent and not yet covered by a `progress`. */
  private unmarkedRevision = -1;
  private pendingStatus = 0;
  /** When the edge last showed life (any frame or pong). */
  private lastHeard = Date.now();
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  /** Called whenever the edge shows life (see probeAlive). */
  private heardWaiters: Array<() => void> = [];
  /** The certificate's identity binding (node-identity.ts): the session ends when the Node no longer has it. */
  readonly binding: NodeBinding;
  /** The edge's address as the hub sees it (for logs). */
  readonly remote: string;
  /** Byte streams to the edge's kubelet server (protocol v3+; tunnel-mux.ts), created at hello. */
  private tunnel: TunnelMux | undefined;

  constructor(
    readonly node: string,
    private readonly ws: WebSocket,
    private readonly deps: SessionDeps,
    pingIntervalMs: number,
    peer: { binding: NodeBinding; remote: string; socket?: ArrivalSource } = { binding: { uid: '', generation: 0 }, remote: '' },
  ) {
    this.binding = peer.binding;
    this.remote = peer.remote;
    this.log = deps.log.child({ node });
    ws.on('message', (data, isBinary) => this.onFrame(data as Buffer, isBinary));
    ws.on('close', () => this.close());
    ws.on('error', (err) => this.log.warn({ err: String(err) }, 'session socket error'));
    ws.on('pong', () => this.heard());
    // Keepalive: an edge silent for KEEPALIVE_MISSES intervals is gone (black-holed links included). Silence is
    // judged by timestamps, not a flag reset each tick, and a tick that fires late means this process stalled: pongs
    // may be waiting unread, so the stall is not counted against the edge. Without this, one event-loop stall on a
    // busy hub dropped every session at once and the reconnects stalled it again (measured at 1,000 nodes).
    // Bytes at the socket count too: a frame that arrived may wait in this thread behind ws's zlib queue (link-liveness.ts).
    let lastTick = Date.now();
    const arrivals = peer.socket && new LinkArrivals(peer.socket);
    this.pingTimer = setInterval(() => {
      const now = Date.now();
      const lateBy = now - lastTick - pingIntervalMs;
      lastTick = now;
      if (lateBy > pingIntervalMs / 2) this.lastHeard += lateBy;
      if (arrivals?.moved()) this.lastHeard = Math.max(this.lastHeard, now);
      if (now - this.lastHeard > KEEPALIVE_MISSES * pingIntervalMs) {
        this.deps.metrics.keepaliveDrops.inc();
        this.log.warn({ silentMs: now - this.lastHeard }, 'edge missed keepalives; dropping session');
        ws.terminate();
        return;
      }
      // An edge heard within the interval is alive; its own heartbeat gate (src/edge/hub-client.ts HeartbeatGate)
      // keeps it hearing from this side. A ping would cost a frame each way on every idle link for nothing: an edge
      // renews its Lease every 10 s, more often than the 15 s ping.
      if (now - this.lastHeard < pingIntervalMs) return;
      ws.ping();
    }, pingIntervalMs);
  }

  queueDepth(): number {
    let pending = 0;
    if (this.view && this.phase === 'live') for (const _ of this.deps.desired.changesAfter(this.node, this.sentSeq)) pending++;
    return pending + this.inflight.length;
  }

  private send(msg: HubToEdge): void {
    const text = encode(msg);
    this.deps.metrics.bytesSent.inc({ type: msg.type }, Buffer.byteLength(text));
    this.deps.metrics.messagesSent.inc({ type: msg.type });
    this.ws.send(text, linkFrameOptions(text), () => this.schedulePump());
  }

  private refuse(code: string, message: string, fatal: boolean): void {
    this.deps.metrics.refused.inc({ reason: code });
    this.log.warn({ code, fatal }, `refused frame: ${message}`);
    if (this.phase === 'closed') return;
    this.send({ type: 'error', code, message });
    if (fatal) {
      this.ws.close(1008, code.slice(0, 100));
      this.close();
    }
  }

  private heard(): void {
    this.lastHeard = Date.now();
    if (this.heardWaiters.length > 0) for (const w of this.heardWaiters.splice(0)) w();
  }

  /**
   * Whether the edge is still there: true as soon as it answers a ping (or sends anything), false when it stays
   * silent for `timeoutMs` or the session ends. Used before letting a second connection for this node in: a live
   * session means a duplicate agent, a silent one a half-open connection the edge already gave up on.
   */
  probeAlive(timeoutMs: number): Promise<boolean> {
    if (this.phase === 'closed') return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let done = false;
      const finish = (alive: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.ws.off('close', onClose);
        resolve(alive);
      };
      const onClose = (): void => finish(false);
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.ws.on('close', onClose);
      this.heardWaiters.push(() => finish(true));
      try {
        this.ws.ping();
      } catch {
        finish(false);
      }
    });
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.phase === 'closed') return;
    this.heard();
    if (isBinary) {
      if (!this.tunnel) return this.refuse('bad-message', `binary frames are not part of protocol v${this.version}`, true);
      this.deps.metrics.bytesReceived.inc({ type: 'tunnel' }, data.length);
      try {
        return this.tunnel.receive(data);
      } catch (err) {
        if (err instanceof ProtocolError) return this.refuse(err.code, err.message, true);
        throw err;
      }
    }
    let msg: EdgeToHub;
    try {
      msg = decodeEdgeToHub(data);
    } catch (err) {
      if (err instanceof ProtocolError) {
        // Unknown types are refused but survivable (a newer edge); garbage closes the session.
        return this.refuse(err.code, err.message, err.code !== 'unknown-type');
      }
      throw err;
    }
    this.deps.metrics.bytesReceived.inc({ type: msg.type }, data.length);
    switch (msg.type) {
      case 'hello':
        return this.onHello(msg);
      case 'inventory':
        return this.onInventory(msg.items, msg.done);
      case 'ack':
        return this.onAck(msg.seq);
      case 'status':
        return void this.onStatus(msg);
      case 'get':
        return this.onGet(msg.id, msg.key);
      case 'usage':
        return this.onUsage(msg);
      case 'heartbeat':
        return this.send({ type: 'heartbeat', t: msg.t });
      case 'error':
        return this.log.warn({ code: msg.code }, `edge reported: ${msg.message}`);
      default:
        return this.refuse('unsupported', `message type ${(msg as { type: string }).type} is not supported`, false);
    }
  }

  private onHello(msg: Extract<EdgeToHub, { type: 'hello' }>): void {
    if (this.phase !== 'hello') return this.refuse('bad-sequence', 'hello already received', true);
    const version = negotiateVersion(msg.versions);
    if (version === null) return this.refuse('unsupported-version', `no common protocol version (hub speaks ${PROTOCOL_VERSIONS.join(',')}, edge offered ${msg.versions.join(',')})`, true);
    if (msg.node !== this.node) return this.refuse('forbidden', `certificate is for node ${this.node}, hello names ${msg.node}`, true);
    this.version = version;
    if (version >= TUNNEL_VERSION) {
      const ws = this.ws;
      this.tunnel = new TunnelMux({
        role: 'hub',
        link: {
          send: (frame, cb) => {
            this.deps.metrics.bytesSent.inc({ type: 'tunnel' }, frame.length);
            ws.send(frame, { binary: true, compress: false }, cb);
          },
          bufferedAmount: () => ws.bufferedAmount,
        },
        linkWindowBytes: version >= LINK_WINDOW_VERSION ? INITIAL_LINK_WINDOW : undefined,
      });
    }
    this.view = this.deps.desired.ensureView(this.node);
    const c = msg.cursor;
    const desired = this.deps.desired;
    const resumable = c !== undefined && c.epoch === this.deps.epoch && c.seq >= desired.compactedSeq(this.node) && c.seq <= desired.currentSeq();
    // Another server's cursor (or this one's before a restart): the datastore revision means the same here.
    const byRevision = !resumable && version >= REVISION_VERSION && c?.rev !== undefined && desired.resumableFromRevision(this.node, c.rev);
    const usageIntervalMs = version >= USAGE_VERSION ? this.deps.usage?.intervalMs : undefined;
    this.send({ type: 'welcome', version, epoch: this.deps.epoch, resume: resumable || byRevision, ...(usageIntervalMs ? { usageIntervalMs } : {}) });
    if (resumable || byRevision) {
      this.sentSeq = resumable ? c.seq : desired.compactedSeq(this.node);
      this.ackedSeq = this.sentSeq;
      if (c.rev !== undefined) this.markedThrough = c.rev;
      if (byRevision) {
        this.skipThroughRevision = c.rev!;
        this.unmarkedRevision = 0;
        this.deps.metrics.resumes.inc({ by: 'revision' });
      } else this.deps.metrics.resumes.inc({ by: 'cursor' });
      this.phase = 'live';
      this.log.info(byRevision ? { revision: c.rev } : { cursor: c.seq }, byRevision ? 'edge resumed from the datastore revision of its cursor' : 'edge resumed from its cursor');
      this.schedulePump();
    } else {
      this.deps.metrics.resumes.inc({ by: 'inventory' });
      this.phase = 'inventory';
      this.log.info({ cursor: c ?? null }, 'edge cursor unknown or compacted; asking for inventory');
    }
  }

  private onUsage(msg: Extract<EdgeToHub, { type: 'usage' }>): void {
    const board = this.deps.usage;
    if (this.phase === 'hello') return this.refuse('bad-sequence', 'usage before hello', true);
    if (!board || this.version < USAGE_VERSION) return this.refuse('unsupported', 'usage reports were not asked for on this session', false);
    const verdict = board.record(this.node, msg.sample);
    if (!verdict.ok) return void this.deps.metrics.usageReports.inc({ result: verdict.reason });
    this.deps.metrics.usageReports.inc({ result: verdict.droppedPods > 0 ? 'foreign-pods' : 'ok' });
    if (verdict.droppedPods > 0) this.log.debug({ pods: verdict.droppedPods }, 'usage report named pods not bound to this node: their figures were dropped');
  }

  private onInventory(items: InventoryItem[], done: boolean): void {
    if (this.phase !== 'inventory') return this.refuse('bad-sequence', 'inventory not requested', true);
    for (const it of items) this.inventory.set(it.key, it);
    if (this.inventory.size > 1_000_000) return this.refuse('too-large', 'inventory too large', true);
    if (done) this.sendDiff();
  }

  /** Diff against what the edge holds: only missing/different objects and deletions are sent. */
  private sendDiff(): void {
    const snapshot = this.deps.desired.currentSeq();
    const out: HubToEdge[] = [];
    let unchanged = 0;
    for (const [key, e] of this.deps.desired.changesAfter(this.node, 0)) {
      if (e.deleted) continue;
      const obj = this.deps.desired.objectForEdge(key, this.node);
      if (!obj) continue;
      const have = this.inventory.get(key);
      // The edge's copy is current when it is this version, or the one this entry last shipped (later versions
      // changed only the status the edge itself reported).
      const current = have !== undefined && have.uid === (obj.metadata.uid ?? '') && (have.rv === (obj.metadata.resourceVersion ?? '') || (e.rv !== undefined && have.rv === e.rv) || this.deps.deltas?.holdsCurrent(key, e.rv, have.rv) === true);
      if (have && current) {
        this.held.set(key, have.rv);
        unchanged++;
        continue;
      }
      // A patch only onto exactly the version the edge reported holding.
      out.push(this.objectMessage(Math.min(e.seq, snapshot), key, e, obj, have && have.uid === (obj.metadata.uid ?? '') ? have.rv : null));
    }
    for (const key of this.inventory.keys()) {
      if (!this.deps.desired.canRead(this.node, key)) {
        this.held.delete(key);
        out.push({ type: 'delete', seq: snapshot, key });
      }
    }
    out.sort((a, b) => (a as { seq: number }).seq - (b as { seq: number }).seq);
    this.log.info({ send: out.length, unchanged, inventory: this.inventory.size }, 'diff resync');
    this.inventory.clear();
    // A diff is sent in one go: it is bounded by the node's desired set plus its inventory.
    for (const m of out) this.sendTracked(m, (m as { seq: number }).seq);
    this.send({ type: 'synced', seq: snapshot });
    this.sentSeq = snapshot;
    this.phase = 'live';
    this.catchingUp = false;
    this.schedulePump();
  }

  /**
   * An upsert, or (protocol v2) a merge patch when the edge should hold its base: `edgeHas` is the version the
   * edge holds (from its inventory) or was shipped before (`prevRv`), null when it holds none. The patch targets
   * the entry's shipped version; the edge checks the base and reads the object if it differs. Records what the
   * edge will hold once it applies the message.
   */
  private objectMessage(seq: number, key: string, e: ViewEntry, obj: CachedObject, edgeHas: string | null): HubToEdge {
    // A slice filtered for this node is not the version the shared patch was computed on.
    if (this.version >= PATCH_VERSION && this.deps.deltas && !this.deps.desired.isFilteredFor(this.node, key)) {
      const rv = e.rv ?? obj.metadata.resourceVersion;
      const p = this.deps.deltas.patchFor(key, rv, edgeHas);
      if (p && rv !== undefined) {
        this.held.set(key, rv);
        return { type: 'patch', seq, key, base: p.base, patch: p.patch };
      }
    }
    if (obj.metadata.resourceVersion !== undefined) this.held.set(key, obj.metadata.resourceVersion);
    return { type: 'upsert', seq, key, object: obj };
  }

  private sendTracked(msg: HubToEdge, seq: number): void {
    this.inflight.push(seq);
    if (seq > this.maxSentSeq) this.maxSentSeq = seq;
    this.send(msg);
  }

  private onAck(seq: number): void {
    if (seq > this.maxSentSeq) return this.refuse('forged-ack', `ack for seq ${seq}, never sent (highest sent ${this.maxSentSeq})`, true);
    if (seq < this.ackedSeq) {
      this.log.debug({ seq, acked: this.ackedSeq }, 'replayed ack ignored');
      return;
    }
    this.ackedSeq = seq;
    let i = 0;
    while (i < this.inflight.length && this.inflight[i]! <= seq) i++;
    if (i > 0) this.inflight.splice(0, i);
    this.schedulePump();
  }

  /** Called by the hub whenever this node's view changed. */
  schedulePump(): void {
    if (this.pumpScheduled || this.phase !== 'live') return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Send changes after sentSeq, in seq order, while the window and the socket buffer allow. */
  private pump(): void {
    if (this.phase !== 'live' || !this.view) return;
    const compacted = this.deps.desired.compactedSeq(this.node);
    if (this.sentSeq < compacted) {
      // Tombstones after what this session sent were pruned while it lagged (a small window, slow acks): the
      // log no longer holds those deletions, and streaming on would skip them for good. End the session; the
      // edge's cursor is compacted too, so it comes back into an inventory diff, which deletes what it must.
      this.log.warn({ sent: this.sentSeq, compacted }, 'node change log compacted past this session; ending it for a diff resync');
      this.ws.close(CloseCode.Resync, 'change log compacted: resync');
      this.close();
      return;
    }
    let sentAny = false;
    let drained = true;
    for (const [key, e] of this.deps.desired.changesAfter(this.node, this.sentSeq)) {
      if (this.inflight.length >= this.deps.window || this.ws.bufferedAmount > this.deps.maxBufferedBytes) {
        drained = false;
        break;
      }
      // NaN (derived by this hub) is never skipped.
      if (e.revision <= this.skipThroughRevision) {
        this.sentSeq = e.seq;
        continue;
      }
      if (e.deleted) {
        this.held.delete(key);
        this.sendTracked({ type: 'delete', seq: e.seq, key }, e.seq);
      } else {
        const obj = this.deps.desired.objectForEdge(key, this.node);
        if (obj) this.sendTracked(this.objectMessage(e.seq, key, e, obj, this.held.get(key) ?? e.prevRv ?? null), e.seq);
      }
      if (e.revision > this.unmarkedRevision) this.unmarkedRevision = e.revision;
      this.sentSeq = e.seq;
      sentAny = true;
    }
    if (drained && (sentAny || this.catchingUp)) {
      if (this.catchingUp) {
        this.catchingUp = false;
        this.send({ type: 'synced', seq: this.sentSeq });
      }
    }
    if (drained) this.markProgress();
  }

  /** Whether this session waits for the cache's revision to pass what it sent (hub.ts pumps it then). */
  get awaitingProgress(): boolean {
    return this.phase === 'live' && this.version >= REVISION_VERSION && this.unmarkedRevision >= 0;
  }

  /**
   * Everything in the log is sent: tell a v5 edge the revision it now holds the cluster through, once the cache holds
   * every resource through what was sent (one `progress` per burst, about a bookmark interval after it; a server that
   * dies before leaves the edge's cursor a little older, which costs a resend of that burst on the next server).
   */
  private markProgress(): void {
    if (!this.awaitingProgress) return;
    const through = this.deps.desired.revision();
    if (through < this.unmarkedRevision || through <= this.markedThrough) return;
    this.markedThrough = through;
    this.unmarkedRevision = -1;
    this.send({ type: 'progress', rev: through });
  }

  private async onStatus(msg: StatusMessage): Promise<void> {
    if (this.phase === 'hello') return this.refuse('bad-sequence', 'status before hello', true);
    const w = this.deps.apiWrites;
    // A lease renewal is never held back by the backlog of other writes (one per node per renewal interval): it is the
    // node's liveness, as upstream's API priority and fairness gives node leases their own level.
    // Nor does it count against the other writes' budget: at 10,000 nodes ~1,000 renewals a second, each in flight for
    // a node-write batch's round trip, held the 256 slots on their own, and every pod status and event was answered
    // "hub busy" — no pod was reported Running (bench/RESULTS.md, 10,000 × 10, session 9).
    const exempt = msg.kind === 'lease';
    if (!exempt && (this.pendingStatus >= this.deps.maxPendingStatus || w.inFlight >= w.max)) {
      this.deps.metrics.statusBusy.inc({ kind: msg.kind, limit: w.inFlight >= w.max ? 'hub' : 'node' });
      this.send({ type: 'status-ack', id: msg.id, ok: false, reason: 'hub busy', retry: true });
      return;
    }
    this.pendingStatus++;
    if (!exempt) this.deps.metrics.apiWritesInFlight.set(++w.inFlight);
    const took = this.deps.metrics.statusWriteSeconds.startTimer({ kind: msg.kind });
    try {
      const r = await this.deps.status.write(this.node, msg.kind, msg.body);
      took();
      this.deps.metrics.statusWrites.inc({ kind: msg.kind, result: r.coalesced ? 'coalesced' : r.ok ? 'ok' : r.retry ? 'retry' : 'refused' });
      if (!r.ok && !r.retry) this.log.warn({ kind: msg.kind, reason: r.reason }, 'status item refused');
      if (this.phase !== 'closed') this.send({ type: 'status-ack', id: msg.id, ok: r.ok, reason: r.reason, retry: r.retry });
    } finally {
      this.pendingStatus--;
      if (!exempt) this.deps.metrics.apiWritesInFlight.set(--w.inFlight);
    }
  }

  private onGet(id: number, key: string): void {
    if (this.phase === 'hello') return this.refuse('bad-sequence', 'get before hello', true);
    const obj = this.deps.desired.canRead(this.node, key) ? this.deps.desired.objectForEdge(key, this.node) : undefined;
    if (!obj) {
      this.log.warn({ key }, 'refused read outside the node\'s desired set');
      this.send({
        type: 'get-result',
        id,
        error: { code: 403, reason: 'Forbidden', message: `node ${this.node} may not read ${key}: no relationship found between node and this object` },
      });
      return;
    }
    this.send({ type: 'get-result', id, object: obj });
  }

  /**
   * A byte stream to `port` on the edge's kubelet server (src/edge/kubelet). Throws when this session cannot carry
   * one (an edge older than protocol v3, or a session that has not said hello or has ended).
   */
  openTunnel(port: number): TunnelStream {
    if (this.phase === 'closed') throw new Error(`the session of node ${this.node} has ended`);
    if (!this.tunnel) throw new Error(`node ${this.node} speaks protocol v${this.version}, which has no tunnel (needs v${TUNNEL_VERSION}: upgrade the edge agent)`);
    return this.tunnel.open(port);
  }

  /** Tunnel streams open on this session (for metrics and leak checks). */
  get tunnelStreams(): number {
    return this.tunnel?.size ?? 0;
  }

  close(code?: number, reason?: string): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.tunnel?.close('the node\'s session ended');
    clearInterval(this.pingTimer);
    this.deps.onClose(this);
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(code, reason === undefined ? undefined : Buffer.from(reason).subarray(0, 123).toString());
  }

  terminate(): void {
    this.ws.terminate();
    this.close();
  }

  /** Ask the node to move to another hub (rebalance.ts): its session ends with CloseCode.Rebalance naming the hub. */
  moveTo(peerUrl: string): void {
    if (this.phase === 'closed') return;
    this.deps.metrics.rebalanceMoves.inc();
    this.close(CloseCode.Rebalance, peerUrl);
  }

  /** The node's identity is no longer accepted (Node deleted or identity issued again): end with CloseCode.Revoked. */
  revoke(reason: string): void {
    if (this.phase === 'closed') return;
    this.log.warn({ reason, remote: this.remote }, 'node identity revoked; ending its session');
    this.deps.metrics.sessionsRefused.inc({ reason: 'revoked' });
    this.phase = 'closed';
    this.tunnel?.close('the node was revoked');
    clearInterval(this.pingTimer);
    this.deps.onClose(this);
    // The close handshake tells the edge why; a peer that does not answer it is cut off by ws's close timeout.
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(CloseCode.Revoked, Buffer.from(`revoked: ${reason}`).subarray(0, 123).toString());
    else this.ws.terminate();
  }
}
