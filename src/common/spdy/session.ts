/**
 * A SPDY/3.1 session over one byte stream (an upgraded HTTP connection): streams opened by either side, each a
 * Node Duplex, with half-close (FIN), reset (RST_STREAM), PING answers and GOAWAY.
 *
 * Flow control: Kubernetes' SPDY peers (moby/spdystream in kubelet, containerd's streaming server and client-go)
 * neither send nor honour WINDOW_UPDATE, so this session does not stall on send windows either; memory is bounded
 * by backpressure instead. Writes wait for the socket to drain, and when a stream's reader falls behind, the whole
 * socket is paused until it catches up (head-of-line, as one TCP connection is anyway).
 */
import { Duplex } from 'node:stream';
import { encodeFrame, FrameReader, GoAwayStatus, RstStatus, SpdyProtocolError, type Frame } from './frames.js';
import { HeaderCompressor, HeaderDecompressor, type SpdyHeaders } from './headers.js';

/** DATA frames are cut at this size so one stream cannot hold the connection for long. */
const DATA_CHUNK = 32 * 1024;

export interface SpdySessionOptions {
  /** Clients open odd stream ids, servers even ones. */
  role: 'client' | 'server';
  /** A peer-opened stream; call `session.reply(stream, headers)` to accept it, or `stream.reset()` to refuse. */
  onStream?: (stream: SpdyStream) => void;
  /** Streams the peer may have open at once (further SYN_STREAMs are refused). */
  maxPeerStreams?: number;
  maxFrameBytes?: number;
}

export class SpdyStreamResetError extends Error {
  constructor(
    readonly streamId: number,
    readonly status: number,
  ) {
    super(`SPDY stream ${streamId} was reset by the peer (status ${status})`);
  }
}

export class SpdyStream extends Duplex {
  /** Headers of the SYN_STREAM that opened this stream (ours or the peer's). */
  readonly requestHeaders: SpdyHeaders;
  replyHeaders: SpdyHeaders | undefined;
  /** Set when we sent FIN (our side is done writing). */
  localClosed = false;
  /** Set when the peer sent FIN. */
  remoteClosed = false;
  /** Why the stream ended early (peer RST_STREAM, or the session ended), if it did. */
  abortError: Error | undefined;
  private replyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private resetSent = false;

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    headers: SpdyHeaders,
  ) {
    super({ allowHalfOpen: true, highWaterMark: 256 * 1024 });
    this.requestHeaders = headers;
  }

  /** Resolves when the peer answered our SYN_STREAM with SYN_REPLY. */
  replied(): Promise<void> {
    if (this.replyHeaders) return Promise.resolve();
    if (this.destroyed) return Promise.reject(new Error(`SPDY stream ${this.id} closed before its reply`));
    return new Promise((resolve, reject) => this.replyWaiters.push({ resolve, reject }));
  }

  /** @internal */
  onReply(headers: SpdyHeaders): void {
    this.replyHeaders = headers;
    for (const w of this.replyWaiters.splice(0)) w.resolve();
  }

  /** @internal: peer data; false asks the session to pause the socket until this stream is read. */
  onData(data: Buffer): boolean {
    return this.push(data);
  }

  /** @internal */
  onRemoteFin(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
  }

  /**
   * @internal: the peer reset the stream or the session ended. As in spdystream, the reader still gets what
   * arrived before and then an end (a kubelet resets streams right after writing the exit status); `abortError`
   * tells why, and writing from now on fails.
   */
  onAbort(err: Error): void {
    this.resetSent = true; // nothing more to tell the peer
    this.abortError ??= err;
    for (const w of this.replyWaiters.splice(0)) w.reject(err);
    if (!this.remoteClosed) {
      this.remoteClosed = true;
      this.push(null);
    }
    this.localClosed = true;
    if (this.readableEnded || this.readableLength === 0) this.destroy();
    else this.once('end', () => this.destroy());
  }

  /** Ends the stream abruptly in both directions (RST_STREAM CANCEL). */
  reset(status: number = RstStatus.Cancel): void {
    if (!this.resetSent) {
      this.resetSent = true;
      this.session.sendReset(this.id, status);
    }
    this.destroy();
  }

  override _read(): void {
    this.session.resumeFor(this);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.abortError) return cb(this.abortError);
    this.session.sendData(this.id, chunk, false).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.abortError) return cb();
    this.localClosed = true;
    this.session.sendData(this.id, Buffer.alloc(0), true).then(() => {
      this.session.maybeForget(this);
      cb();
    }, cb);
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    // A stream dropped before both sides finished tells the peer, so its end is freed too.
    if (!this.resetSent && !(this.localClosed && this.remoteClosed)) {
      this.resetSent = true;
      this.session.sendReset(this.id, RstStatus.Cancel);
    }
    for (const w of this.replyWaiters.splice(0)) w.reject(err ?? new Error(`SPDY stream ${this.id} closed before its reply`));
    this.session.forget(this.id);
    cb(err);
  }
}

export class SpdySession {
  private readonly reader: FrameReader;
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();
  private readonly streams = new Map<number, SpdyStream>();
  private nextStreamId: number;
  private nextPingId: number;
  private lastPeerStreamId = 0;
  private sendChain: Promise<void> = Promise.resolve();
  private recvQueue: Frame[] = [];
  private recvRunning = false;
  private pausedBy: SpdyStream | undefined;
  private goneAway = false;
  private closedError: Error | undefined;
  private transportError: Error | undefined;
  private readonly pingWaiters = new Map<number, () => void>();
  private readonly closeListeners: ((err?: Error) => void)[] = [];

  constructor(
    private readonly socket: Duplex,
    private readonly opts: SpdySessionOptions,
  ) {
    this.nextStreamId = opts.role === 'client' ? 1 : 2;
    this.nextPingId = opts.role === 'client' ? 1 : 2;
    this.reader = new FrameReader(opts.maxFrameBytes ?? 1 << 20);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('end', () => this.transportGone(new Error('SPDY connection closed by the peer')));
    socket.on('close', () => this.transportGone(new Error('SPDY connection closed')));
    socket.on('error', (err: Error) => this.transportGone(err));
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Called once when the session ends (socket closed, GOAWAY handled, protocol error). */
  onClose(fn: (err?: Error) => void): void {
    if (this.closedError) fn(this.closedError);
    else this.closeListeners.push(fn);
  }

  /** Opens a stream and waits for the peer's SYN_REPLY. */
  async openStream(headers: SpdyHeaders, opts: { fin?: boolean } = {}): Promise<SpdyStream> {
    if (this.closedError) throw this.closedError;
    if (this.goneAway) throw new Error('SPDY session is going away: no new streams');
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const stream = new SpdyStream(this, id, headers);
    this.streams.set(id, stream);
    if (opts.fin) stream.localClosed = true;
    await this.enqueue(async () => {
      const headerBlock = await this.compressor.compress(headers);
      return encodeFrame({ type: 'syn_stream', streamId: id, associatedTo: 0, priority: 0, fin: opts.fin ?? false, unidirectional: false, headerBlock });
    });
    if (opts.fin) stream.end();
    await stream.replied();
    return stream;
  }

  /** Accepts a peer-opened stream. */
  async reply(stream: SpdyStream, headers: SpdyHeaders = {}): Promise<void> {
    stream.replyHeaders = headers;
    await this.enqueue(async () => encodeFrame({ type: 'syn_reply', streamId: stream.id, fin: false, headerBlock: await this.compressor.compress(headers) }));
  }

  /** Round trip of a PING. */
  async ping(): Promise<void> {
    const id = this.nextPingId;
    this.nextPingId = (this.nextPingId + 2) >>> 0 || (this.opts.role === 'client' ? 1 : 2);
    const answered = new Promise<void>((resolve) => this.pingWaiters.set(id, resolve));
    await this.enqueue(async () => encodeFrame({ type: 'ping', id }));
    return answered;
  }

  /** GOAWAY, then close the connection (streams still open are aborted). */
  close(): void {
    if (this.closedError) return;
    this.goneAway = true;
    void this.enqueue(async () => encodeFrame({ type: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status: GoAwayStatus.Ok }))
      .catch(() => undefined)
      .finally(() => {
        this.socket.end();
        this.terminate(new Error('SPDY session closed'));
      });
  }

  /** @internal */
  sendData(streamId: number, data: Buffer, fin: boolean): Promise<void> {
    if (this.closedError) return Promise.reject(this.closedError);
    const frames: Buffer[] = [];
    for (let at = 0; at < data.length; at += DATA_CHUNK) {
      const part = data.subarray(at, Math.min(at + DATA_CHUNK, data.length));
      frames.push(encodeFrame({ type: 'data', streamId, fin: fin && at + DATA_CHUNK >= data.length, data: part }));
    }
    if (frames.length === 0) frames.push(encodeFrame({ type: 'data', streamId, fin, data }));
    return this.enqueue(async () => Buffer.concat(frames));
  }

  /** @internal */
  sendReset(streamId: number, status: number): void {
    if (this.closedError) return;
    void this.enqueue(async () => encodeFrame({ type: 'rst_stream', streamId, status })).catch(() => undefined);
  }

  /** @internal */
  resumeFor(stream: SpdyStream): void {
    if (this.pausedBy === stream) {
      this.pausedBy = undefined;
      this.socket.resume();
    }
  }

  /** @internal: both halves closed. */
  maybeForget(stream: SpdyStream): void {
    if (stream.localClosed && stream.remoteClosed) this.streams.delete(stream.id);
  }

  /** @internal */
  forget(id: number): void {
    const s = this.streams.get(id);
    this.streams.delete(id);
    if (s && this.pausedBy === s) this.resumeFor(s);
  }

  /** Serializes outgoing frames (header compression is async and order matters); resolves once written out. */
  private enqueue(build: () => Promise<Buffer>): Promise<void> {
    const run = this.sendChain.then(async () => {
      if (this.closedError) throw this.closedError;
      const bytes = await build();
      if (this.socket.destroyed || this.socket.writableEnded) throw this.closedError ?? new Error('SPDY connection closed');
      if (!this.socket.write(bytes)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            this.socket.off('drain', done);
            this.socket.off('close', done);
            resolve();
          };
          this.socket.on('drain', done);
          this.socket.on('close', done);
        });
      }
    });
    this.sendChain = run.catch(() => undefined);
    return run;
  }

  private onBytes(chunk: Buffer): void {
    if (this.closedError) return;
    try {
      this.recvQueue.push(...this.reader.push(chunk));
    } catch (err) {
      this.protocolError(err as Error);
      return;
    }
    void this.pump();
  }

  /** Handles received frames one at a time, in order (header blocks inflate asynchronously). */
  private async pump(): Promise<void> {
    if (this.recvRunning) return;
    this.recvRunning = true;
    try {
      while (this.recvQueue.length > 0 && !this.closedError) {
        const f = this.recvQueue.shift()!;
        await this.handle(f);
      }
    } catch (err) {
      this.protocolError(err as Error);
    } finally {
      this.recvRunning = false;
      if (this.transportError) this.terminate(this.transportError);
    }
  }

  /**
   * The connection ended. Frames that arrived before are still delivered (a kubelet writes the exit status and
   * closes at once, while header blocks may still be inflating), then the session ends.
   */
  private transportGone(err: Error): void {
    this.transportError ??= err;
    if (!this.recvRunning && this.recvQueue.length === 0) this.terminate(this.transportError);
  }

  private async handle(f: Frame): Promise<void> {
    switch (f.type) {
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (!s || s.remoteClosed) return; // late data for a stream already ended: ignored, as spdystream does
        if (f.data.length > 0 && !s.onData(f.data) && !this.pausedBy) {
          this.pausedBy = s;
          this.socket.pause();
        }
        if (f.fin) {
          s.onRemoteFin();
          this.maybeForget(s);
        }
        return;
      }
      case 'syn_stream': {
        const headers = await this.decompressor.decompress(f.headerBlock, f.streamId);
        const peerParity = this.opts.role === 'client' ? 0 : 1;
        if (f.streamId % 2 !== peerParity || f.streamId <= this.lastPeerStreamId) throw new SpdyProtocolError(`SYN_STREAM with stream id ${f.streamId} out of order`);
        this.lastPeerStreamId = f.streamId;
        if (this.goneAway || !this.opts.onStream || this.streams.size >= (this.opts.maxPeerStreams ?? 1000)) {
          this.sendReset(f.streamId, RstStatus.RefusedStream);
          return;
        }
        const s = new SpdyStream(this, f.streamId, headers);
        this.streams.set(f.streamId, s);
        if (f.fin || f.unidirectional) s.onRemoteFin();
        this.opts.onStream(s);
        return;
      }
      case 'syn_reply': {
        const headers = await this.decompressor.decompress(f.headerBlock, f.streamId);
        const s = this.streams.get(f.streamId);
        if (!s) return;
        s.onReply(headers);
        if (f.fin) {
          s.onRemoteFin();
          this.maybeForget(s);
        }
        return;
      }
      case 'headers': {
        await this.decompressor.decompress(f.headerBlock, f.streamId); // keeps the zlib stream in step; values unused
        const s = this.streams.get(f.streamId);
        if (s && f.fin) {
          s.onRemoteFin();
          this.maybeForget(s);
        }
        return;
      }
      case 'rst_stream': {
        const s = this.streams.get(f.streamId);
        this.streams.delete(f.streamId);
        s?.onAbort(new SpdyStreamResetError(f.streamId, f.status));
        return;
      }
      case 'ping': {
        const ours = (f.id % 2) === (this.opts.role === 'client' ? 1 : 0);
        if (ours) {
          this.pingWaiters.get(f.id)?.();
          this.pingWaiters.delete(f.id);
        } else {
          void this.enqueue(async () => encodeFrame({ type: 'ping', id: f.id })).catch(() => undefined);
        }
        return;
      }
      case 'goaway':
        // No new streams either way; the open ones finish (or end with the connection).
        this.goneAway = true;
        return;
      case 'settings':
      case 'window_update':
      case 'unknown':
        return;
    }
  }

  /** Every protocol error ends the session: after one, the header zlib streams can no longer be trusted. */
  private protocolError(err: Error): void {
    if (this.closedError) return;
    if (!this.socket.destroyed && !this.socket.writableEnded) {
      this.socket.write(encodeFrame({ type: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status: GoAwayStatus.ProtocolError }));
    }
    this.terminate(err);
  }

  private terminate(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const s of [...this.streams.values()]) {
      if (s.remoteClosed && s.localClosed) continue;
      s.onAbort(err);
    }
    this.streams.clear();
    for (const w of this.pingWaiters.values()) w();
    this.pingWaiters.clear();
    this.compressor.close();
    this.decompressor.close();
    if (!this.socket.destroyed) this.socket.end(() => this.socket.destroy());
    setTimeout(() => this.socket.destroy(), 1000).unref();
    for (const l of this.closeListeners.splice(0)) l(err);
  }
}
