/**
 * Byte streams multiplexed on the node's hub WebSocket (frames: tunnel.ts). One TunnelMux per session on each
 * side; the hub side opens streams (`open`), the edge side accepts them (`onOpen`), so nothing on the network can
 * reach the edge's kubelet server except through a stream the hub opened.
 *
 * Flow control: each side grants a window per stream; DATA beyond the remaining window resets that stream. The
 * receiver returns credit (WINDOW) only as its consumer actually reads, so a slow `kubectl logs -f` reader makes
 * the edge stop sending instead of making the hub buffer: memory per stream is bounded by the window.
 *
 * Priority: sync and heartbeat frames are sent by the session straight onto the WebSocket; tunnel DATA goes out
 * only while the link holds less than `maxLinkBufferedBytes` unsent, in chunks of at most MAX_TUNNEL_CHUNK, round
 * robin across streams. So a sync frame waits behind at most that many tunnel bytes *in this process*. On protocol
 * v4 a link window (`linkWindowBytes`, HTTP/2's connection window) also bounds what is past this process: DATA of
 * all streams together may be at most one link window ahead of what the peer's mux has taken off the link, so the
 * kernel buffers, proxies and the wire never hold more than that ahead of a sync frame, whatever the per-stream
 * windows (which can then be large enough for bulk transfers). Control frames (OPEN, ACCEPT, WINDOW, FIN, RESET)
 * are tiny and skip both gates.
 *
 * A link cut (`close`) destroys every stream with an ECONNRESET-style error on that side; the other side's mux
 * does the same when its session ends. Nothing is kept for closed streams.
 */
import { Duplex } from 'node:stream';
import {
  decodeTunnelFrame,
  encodeTunnelFrame,
  LINK_STREAM,
  MAX_TUNNEL_CHUNK,
  MAX_TUNNEL_CHUNK_V4,
  MAX_TUNNEL_WINDOW,
  TunnelFrameType,
  type TunnelFrame,
} from './tunnel.js';
import { ProtocolError } from './validate.js';

/** The WebSocket as the mux sees it. */
export interface TunnelLink {
  /** Send one binary frame (uncompressed); `cb` runs once it was handed to the OS (or failed). */
  send(frame: Buffer, cb: (err?: Error) => void): void;
  /** Bytes accepted by `send` (and by the session's own sends) not yet handed to the OS. */
  bufferedAmount(): number;
}

export interface TunnelMuxOptions {
  /** 'hub' opens streams; 'edge' accepts them. A frame only the other role may send is a protocol error. */
  role: 'hub' | 'edge';
  link: TunnelLink;
  /** Window granted to the peer per stream (bytes it may send before we read them). Default 64 KiB. */
  windowBytes?: number;
  /** Streams open at once on this link; an OPEN beyond it is refused with RESET. Default 512. */
  maxStreams?: number;
  /** Tunnel DATA waits while the link holds this many unsent bytes. Default 64 KiB. */
  maxLinkBufferedBytes?: number;
  /**
   * Protocol v4: a link window. Both sides start with INITIAL_LINK_WINDOW of link credit; a receiver configured
   * with more grants the difference at once. Undefined: v3, no link window (per-stream windows only).
   */
  linkWindowBytes?: number;
  /** Edge: a stream the hub opened (already accepted). */
  onOpen?(stream: TunnelStream, port: number): void;
}

/**
 * 64 KiB: what one stream may have in flight. Windows bound each stream, not the link, and bytes in kernel buffers
 * sit ahead of sync frames: with 10 busy streams, 256 KiB windows made sync p99 ~10 s on the loaded bench machine,
 * 32–64 KiB ~1 s, at the same or higher log throughput (bench/RESULTS.md, tunnel). Per stream that is 64 KiB per
 * round trip (1.3 MB/s at 50 ms RTT).
 */
export const DEFAULT_TUNNEL_WINDOW = 64 * 1024;
/**
 * Per-stream window on a v4 link: the link window bounds what all streams have in flight together, so one stream
 * may use the whole link (a port-forward) without making sync wait behind N stream windows.
 */
export const V4_STREAM_WINDOW = 1024 * 1024;
/** Link credit each side holds when a v4 link starts (the protocol's, both sides assume it). */
export const INITIAL_LINK_WINDOW = 256 * 1024;

/** Tunnel bytes the writer sends in one event-loop turn before it yields. */
const PUMP_TURN_BYTES = 256 * 1024;

interface Pending {
  buf: Buffer;
  cb: (err?: Error | null) => void;
}

/** One multiplexed stream: a Duplex like a socket (half-close with end(), abort with destroy()). */
export class TunnelStream extends Duplex {
  /** Bytes we may still send (the peer's remaining window). */
  sendCredit = 0;
  /** Bytes the peer may still send us. */
  recvAllowance: number;
  private received = 0;
  private credited = 0;
  readonly queue: Pending[] = [];
  finQueued = false;
  finSent = false;
  finReceived = false;
  /** The peer reset the stream or the link is gone: nothing more is sent for it. */
  peerGone = false;
  accepted: boolean;
  private finalCb: ((err?: Error | null) => void) | undefined;

  constructor(
    readonly id: number,
    private readonly mux: TunnelMux,
    private readonly windowBytes: number,
    accepted: boolean,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: Math.max(1, windowBytes >> 1), writableHighWaterMark: 64 * 1024 });
    this.recvAllowance = windowBytes;
    this.accepted = accepted;
    // A reset or a link cut must never crash the process through an 'error' nobody listens to: users see it as
    // `errored` and 'close' (pipeline/pipe attach their own listeners).
    this.on('error', () => {});
  }

  /** Resolves once the peer accepted the stream; rejects if it refused or the link went away first. */
  ready(): Promise<void> {
    if (this.accepted) return Promise.resolve();
    if (this.destroyed) return Promise.reject(this.errored ?? new Error('tunnel stream closed'));
    return new Promise((resolve, reject) => {
      const onAccept = () => (this.off('close', onClose), resolve());
      const onClose = () => (this.off('accepted', onAccept), reject(this.errored ?? new Error('tunnel stream closed before it was accepted')));
      this.once('accepted', onAccept);
      this.once('close', onClose);
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    // The peer sent all it had and will read no more: what we write goes nowhere, quietly, so that an error does not
    // tear down a relay that is still passing the peer's last bytes on (see peerStoppedReading).
    if (this.peerGone && this.finReceived && !this.destroyed) return cb();
    if (this.peerGone) return cb(new Error('tunnel stream reset'));
    if (chunk.length === 0) return cb();
    this.queue.push({ buf: chunk, cb });
    this.mux.schedule(this);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.peerGone) return cb();
    this.finQueued = true;
    this.finalCb = cb;
    this.mux.schedule(this);
  }

  /** Called by the mux when FIN went out. */
  finDone(): void {
    this.finSent = true;
    const cb = this.finalCb;
    this.finalCb = undefined;
    cb?.();
  }

  override _read(): void {
    // Readable.read() calls _read before it takes the bytes out of the buffer: count them once it has.
    process.nextTick(() => this.returnCredit());
  }

  /**
   * Hand credit back for what the consumer has read, in quarters of the window. Never less, even once the reader has
   * drained everything: the sender stalls only with a whole window unread, so a quarter always comes back before it
   * could wait on us; a WINDOW per read (what "all of it once drained" meant for a reader keeping up) put a control
   * frame — a TLS record, a socket write and a wakeup of the peer — behind every DATA frame.
   */
  private returnCredit(): void {
    if (this.peerGone || this.finReceived || this.destroyed) return;
    const uncredited = this.received - this.readableLength - this.credited;
    if (uncredited < this.windowBytes >> 2) return;
    this.credited += uncredited;
    this.recvAllowance += uncredited;
    this.mux.sendControl({ type: TunnelFrameType.Window, stream: this.id, credit: uncredited });
  }

  /** DATA from the peer; false when it broke the window (the caller resets the stream). */
  deliver(data: Buffer): boolean {
    if (data.length > this.recvAllowance) return false;
    this.recvAllowance -= data.length;
    this.received += data.length;
    if (!this.readableEnded && !this.destroyed) this.push(data);
    return true;
  }

  /**
   * RESET after the peer's FIN: it sent everything it will (all of it is here, in order) and it reads no more. As
   * with a socket whose peer closed, our reader still gets every byte and then its end; only our direction is
   * cut: queued and later writes are dropped, and the stream is freed once the reader has all (the edge's relay
   * resets right after it ends, when containerd closes; destroying at once lost the buffered tail of `kubectl cp`).
   */
  peerStoppedReading(): void {
    this.peerGone = true;
    for (const p of this.queue.splice(0)) p.cb();
    const finalCb = this.finalCb;
    this.finalCb = undefined;
    finalCb?.();
    if (this.readableEnded) this.destroy();
    else this.once('end', () => this.destroy());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    for (const p of this.queue.splice(0)) p.cb(err ?? new Error('tunnel stream destroyed'));
    this.finalCb?.(err);
    this.finalCb = undefined;
    this.mux.forget(this, err);
    cb(err);
  }
}

export class TunnelMux {
  private readonly streams = new Map<number, TunnelStream>();
  private readonly ready: TunnelStream[] = [];
  private readonly readySet = new Set<TunnelStream>();
  private nextId = 1;
  private closed: string | undefined;
  private pumpScheduled = false;
  private sendsInFlight = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  readonly windowBytes: number;
  private readonly maxStreams: number;
  private readonly maxLinkBuffered: number;
  /** Link window (v4): DATA bytes we may still send on the link; bytes taken off the link not yet credited back. */
  private linkCredit = Infinity;
  private linkUnreturned = 0;
  private readonly linkWindow: number | undefined;
  /** Largest DATA payload we send: what the peer's version accepts. */
  private readonly maxChunk: number;
  /** Counters for metrics and tests. */
  readonly stats = { opened: 0, refused: 0, resetByPeer: 0, dataBytesSent: 0, dataBytesReceived: 0, linkStalls: 0 };

  constructor(private readonly o: TunnelMuxOptions) {
    const linked = o.linkWindowBytes !== undefined;
    this.windowBytes = Math.min(MAX_TUNNEL_WINDOW, Math.max(MAX_TUNNEL_CHUNK, o.windowBytes ?? (linked ? V4_STREAM_WINDOW : DEFAULT_TUNNEL_WINDOW)));
    this.maxChunk = linked ? MAX_TUNNEL_CHUNK_V4 : MAX_TUNNEL_CHUNK;
    this.maxStreams = o.maxStreams ?? 512;
    this.maxLinkBuffered = o.maxLinkBufferedBytes ?? 64 * 1024;
    if (linked) {
      this.linkWindow = Math.min(MAX_TUNNEL_WINDOW, Math.max(INITIAL_LINK_WINDOW, o.linkWindowBytes!));
      this.linkCredit = INITIAL_LINK_WINDOW;
      if (this.linkWindow > INITIAL_LINK_WINDOW) this.sendControl({ type: TunnelFrameType.Window, stream: LINK_STREAM, credit: this.linkWindow - INITIAL_LINK_WINDOW });
    }
  }

  /** Streams currently open on this link. */
  get size(): number {
    return this.streams.size;
  }

  get isClosed(): boolean {
    return this.closed !== undefined;
  }

  /** Hub: open a stream to `port` on the edge. Writes queue until the edge accepts; `ready()` says when. */
  open(port: number): TunnelStream {
    if (this.o.role !== 'hub') throw new Error('only the hub opens tunnel streams');
    if (this.closed) throw new Error(`tunnel link closed: ${this.closed}`);
    if (this.streams.size >= this.maxStreams) throw new Error(`too many tunnel streams on this link (${this.maxStreams})`);
    let id = this.nextId;
    while (this.streams.has(id)) id = id >= 0xffffffff ? 1 : id + 1;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    const s = new TunnelStream(id, this, this.windowBytes, false);
    this.streams.set(id, s);
    this.stats.opened++;
    this.sendControl({ type: TunnelFrameType.Open, stream: id, window: this.windowBytes, port });
    return s;
  }

  /** One binary frame from the peer. Throws ProtocolError when it is malformed or not the peer's to send. */
  receive(raw: Buffer): void {
    if (this.closed) return;
    const f = decodeTunnelFrame(raw);
    if (f.stream === LINK_STREAM) return this.linkWindowUpdate(f.type === TunnelFrameType.Window ? f.credit : 0);
    if (f.type === TunnelFrameType.Data) this.takeOffLink(f.data.length);
    const s = this.streams.get(f.stream);
    switch (f.type) {
      case TunnelFrameType.Open:
        if (this.o.role !== 'edge') throw new ProtocolError('bad-message', 'invalid tunnel frame: only the hub opens streams');
        if (s) throw new ProtocolError('bad-message', `invalid tunnel frame: OPEN for stream ${f.stream}, which is open`);
        return this.accept(f.stream, f.window, f.port);
      case TunnelFrameType.Accept:
        if (this.o.role !== 'hub') throw new ProtocolError('bad-message', 'invalid tunnel frame: ACCEPT sent to the accepting side');
        if (!s || s.accepted) return;
        s.accepted = true;
        s.sendCredit = f.window;
        s.emit('accepted');
        return this.schedule(s);
      case TunnelFrameType.Data:
        if (!s) return;
        this.stats.dataBytesReceived += f.data.length;
        if (s.finReceived || !s.deliver(f.data)) {
          this.sendControl({ type: TunnelFrameType.Reset, stream: s.id, reason: s.finReceived ? 'DATA after FIN' : 'flow control window exceeded' });
          s.peerGone = true;
          s.destroy(new Error(`tunnel stream ${s.id}: peer ${s.finReceived ? 'sent DATA after FIN' : 'exceeded its flow control window'}`));
        }
        return;
      case TunnelFrameType.Window:
        if (!s) return;
        s.sendCredit = Math.min(Number.MAX_SAFE_INTEGER, s.sendCredit + f.credit);
        return this.schedule(s);
      case TunnelFrameType.Fin:
        if (!s || s.finReceived) return;
        s.finReceived = true;
        s.push(null);
        return;
      case TunnelFrameType.Reset:
        if (!s) return;
        this.stats.resetByPeer++;
        if (s.finReceived) return s.peerStoppedReading();
        s.peerGone = true;
        s.destroy(Object.assign(new Error(`tunnel stream reset by peer${f.reason ? `: ${f.reason}` : ''}`), { code: 'ECONNRESET' }));
        return;
    }
  }

  /** WINDOW on stream 0: the peer took that many more DATA bytes off the link. */
  private linkWindowUpdate(credit: number): void {
    if (this.linkWindow === undefined) throw new ProtocolError('bad-message', 'invalid tunnel frame: link WINDOW on a link without a link window (protocol v3)');
    this.linkCredit = Math.min(Number.MAX_SAFE_INTEGER, this.linkCredit + credit);
    this.kick();
  }

  /**
   * DATA came off the link (whatever its stream, open or not): return its link credit, in quarters of the window
   * (a WINDOW per 16 KiB chunk would double the frames on the link). Taken off means delivered to its stream, whose
   * own window bounds what it buffers, so there is nothing more to police here.
   */
  private takeOffLink(bytes: number): void {
    if (this.linkWindow === undefined) return;
    this.linkUnreturned += bytes;
    if (this.linkUnreturned >= this.linkWindow >> 2) {
      const credit = this.linkUnreturned;
      this.linkUnreturned = 0;
      this.sendControl({ type: TunnelFrameType.Window, stream: LINK_STREAM, credit });
    }
  }

  private accept(id: number, peerWindow: number, port: number): void {
    if (this.streams.size >= this.maxStreams) {
      this.stats.refused++;
      return this.sendControl({ type: TunnelFrameType.Reset, stream: id, reason: `too many streams (${this.maxStreams})` });
    }
    if (!this.o.onOpen) {
      this.stats.refused++;
      return this.sendControl({ type: TunnelFrameType.Reset, stream: id, reason: 'nothing serves tunnel streams here' });
    }
    const s = new TunnelStream(id, this, this.windowBytes, true);
    s.sendCredit = peerWindow;
    this.streams.set(id, s);
    this.stats.opened++;
    this.sendControl({ type: TunnelFrameType.Accept, stream: id, window: this.windowBytes });
    this.o.onOpen(s, port);
  }

  /** The link is gone (or the session ends): every stream ends now, on this side. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = reason;
    clearTimeout(this.retryTimer);
    for (const s of [...this.streams.values()]) {
      s.peerGone = true;
      s.destroy(Object.assign(new Error(`tunnel link closed: ${reason}`), { code: 'ECONNRESET' }));
    }
    this.streams.clear();
    this.ready.length = 0;
    this.readySet.clear();
  }

  /** @internal A stream ended or was destroyed: tell the peer if it does not know, and drop it. */
  forget(s: TunnelStream, err: Error | null): void {
    if (this.streams.get(s.id) !== s) return;
    this.streams.delete(s.id);
    this.readySet.delete(s);
    const i = this.ready.indexOf(s);
    if (i >= 0) this.ready.splice(i, 1);
    if (!s.peerGone && !(s.finSent && s.finReceived)) {
      this.sendControl({ type: TunnelFrameType.Reset, stream: s.id, reason: err ? err.message : 'closed' });
    }
  }

  /** @internal Control frames skip the data gate (they are a few bytes and unblock the peer). */
  sendControl(f: TunnelFrame): void {
    if (this.closed) return;
    this.o.link.send(encodeTunnelFrame(f), () => {});
  }

  /** Run the writer if any stream waits (link credit came back). */
  private kick(): void {
    if (this.ready.length > 0) this.schedule(this.ready[0]!);
  }

  /** @internal A stream has something to send (data, FIN) or got credit. */
  schedule(s: TunnelStream): void {
    if (this.closed || s.destroyed) return;
    if (!this.readySet.has(s)) {
      this.readySet.add(s);
      this.ready.push(s);
    }
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * Round robin, one chunk per ready stream at a time, while the link is below its gate and has credit; after
   * PUMP_TURN_BYTES the writer yields to other I/O (incoming frames, the session's sends) and goes on next turn.
   * (One chunk per turn capped a lone port-forward at 16 KiB per event-loop turn: 3–5 MiB/s on a busy machine.)
   */
  private pump(): void {
    let budget = PUMP_TURN_BYTES;
    while (this.ready.length > 0 && !this.closed) {
      if (this.linkCredit <= 0) {
        // Woken by the peer's link WINDOW.
        this.stats.linkStalls++;
        return;
      }
      if (this.o.link.bufferedAmount() >= this.maxLinkBuffered) {
        // Woken by a send callback; when none of ours is pending the backlog is the session's own frames.
        if (this.sendsInFlight === 0 && !this.retryTimer) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.pump();
          }, 5);
        }
        return;
      }
      const s = this.ready.shift()!;
      this.readySet.delete(s);
      const before = this.stats.dataBytesSent;
      if (this.sendOne(s)) {
        this.readySet.add(s);
        this.ready.push(s);
      }
      budget -= this.stats.dataBytesSent - before;
      if (budget <= 0) return void this.kick();
    }
  }

  /** Sends one chunk (or the FIN) of `s`; true when it has more it could send now. */
  private sendOne(s: TunnelStream): boolean {
    if (s.destroyed || s.peerGone) return false;
    const head = s.queue[0];
    if (head && s.accepted && s.sendCredit > 0) {
      const n = Math.min(this.maxChunk, s.sendCredit, this.linkCredit, head.buf.length);
      const piece = head.buf.subarray(0, n);
      const last = n === head.buf.length;
      if (last) s.queue.shift();
      else head.buf = head.buf.subarray(n);
      s.sendCredit -= n;
      this.linkCredit -= n;
      this.stats.dataBytesSent += n;
      this.sendsInFlight++;
      this.o.link.send(encodeTunnelFrame({ type: TunnelFrameType.Data, stream: s.id, data: piece }), (err) => {
        this.sendsInFlight--;
        if (last) head.cb(err ?? null);
        this.kick();
      });
      return s.queue.length > 0 ? s.sendCredit > 0 : s.finQueued && !s.finSent;
    }
    if (!head && s.finQueued && !s.finSent && s.accepted) {
      this.sendControl({ type: TunnelFrameType.Fin, stream: s.id });
      s.finDone();
    }
    return false;
  }
}
