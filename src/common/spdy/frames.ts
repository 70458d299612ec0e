/**
 * SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 with SPDY/3.1's session flow control), the transport of
 * Kubernetes' SPDY streaming (remotecommand, portforward). Frames are encoded and decoded synchronously here;
 * header blocks travel compressed, and (de)compressing them is `headers.ts`'s job, so a decoded frame carrying
 * headers holds its compressed block until the session inflates it in order.
 */

export const SPDY_VERSION = 3;
/** The largest DATA payload SPDY allows (24-bit length). */
export const MAX_DATA_LENGTH = 0xffffff;

export const enum ControlType {
  SynStream = 1,
  SynReply = 2,
  RstStream = 3,
  Settings = 4,
  Ping = 6,
  GoAway = 7,
  Headers = 8,
  WindowUpdate = 9,
}

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  ProtocolError: 1,
  InvalidStream: 2,
  RefusedStream: 3,
  UnsupportedVersion: 4,
  Cancel: 5,
  InternalError: 6,
  FlowControlError: 7,
  StreamInUse: 8,
  StreamAlreadyClosed: 9,
  FrameTooLarge: 11,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = { Ok: 0, ProtocolError: 1, InternalError: 2 } as const;

export const SETTINGS_INITIAL_WINDOW_SIZE = 7;

export type Frame =
  | { type: 'data'; streamId: number; fin: boolean; data: Buffer }
  | { type: 'syn_stream'; streamId: number; associatedTo: number; priority: number; fin: boolean; unidirectional: boolean; headerBlock: Buffer }
  | { type: 'syn_reply'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'headers'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; clear: boolean; entries: { flags: number; id: number; value: number }[] }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'window_update'; streamId: number; delta: number }
  /** A control frame of a type SPDY/3 does not define: the spec says to ignore it. */
  | { type: 'unknown'; controlType: number };

/** A frame that breaks the protocol: the session answers with GOAWAY (or RST_STREAM for `streamId`). */
export class SpdyProtocolError extends Error {
  constructor(
    message: string,
    readonly streamId = 0,
  ) {
    super(message);
  }
}

const STREAM_ID_MASK = 0x7fffffff;

function controlHeader(type: ControlType, flags: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt32BE(((flags & 0xff) << 24) | length, 4);
  return b;
}

function checkStreamId(id: number, allowZero = false): void {
  if (!Number.isInteger(id) || id < (allowZero ? 0 : 1) || id > STREAM_ID_MASK) throw new RangeError(`invalid SPDY stream id ${id}`);
}

/** The bytes of one frame. Header-carrying frames take their block already compressed. */
export function encodeFrame(f: Frame): Buffer {
  switch (f.type) {
    case 'data': {
      checkStreamId(f.streamId);
      if (f.data.length > MAX_DATA_LENGTH) throw new RangeError(`SPDY DATA payload of ${f.data.length} bytes exceeds ${MAX_DATA_LENGTH}`);
      const h = Buffer.allocUnsafe(8);
      h.writeUInt32BE(f.streamId, 0);
      h.writeUInt32BE(((f.fin ? FLAG_FIN : 0) << 24) | f.data.length, 4);
      return Buffer.concat([h, f.data]);
    }
    case 'syn_stream': {
      checkStreamId(f.streamId);
      checkStreamId(f.associatedTo, true);
      const body = Buffer.allocUnsafe(10);
      body.writeUInt32BE(f.streamId, 0);
      body.writeUInt32BE(f.associatedTo, 4);
      body.writeUInt8((f.priority & 0x7) << 5, 8);
      body.writeUInt8(0, 9); // credential slot
      const flags = (f.fin ? FLAG_FIN : 0) | (f.unidirectional ? FLAG_UNIDIRECTIONAL : 0);
      return Buffer.concat([controlHeader(ControlType.SynStream, flags, 10 + f.headerBlock.length), body, f.headerBlock]);
    }
    case 'syn_reply':
    case 'headers': {
      checkStreamId(f.streamId);
      const id = Buffer.allocUnsafe(4);
      id.writeUInt32BE(f.streamId, 0);
      const type = f.type === 'syn_reply' ? ControlType.SynReply : ControlType.Headers;
      return Buffer.concat([controlHeader(type, f.fin ? FLAG_FIN : 0, 4 + f.headerBlock.length), id, f.headerBlock]);
    }
    case 'rst_stream': {
      checkStreamId(f.streamId);
      const b = Buffer.allocUnsafe(8);
      b.writeUInt32BE(f.streamId, 0);
      b.writeUInt32BE(f.status >>> 0, 4);
      return Buffer.concat([controlHeader(ControlType.RstStream, 0, 8), b]);
    }
    case 'settings': {
      const b = Buffer.allocUnsafe(4 + 8 * f.entries.length);
      b.writeUInt32BE(f.entries.length, 0);
      f.entries.forEach((e, i) => {
        b.writeUInt32BE((((e.flags & 0xff) << 24) | (e.id & 0xffffff)) >>> 0, 4 + 8 * i);
        b.writeUInt32BE(e.value >>> 0, 8 + 8 * i);
      });
      return Buffer.concat([controlHeader(ControlType.Settings, f.clear ? 1 : 0, b.length), b]);
    }
    case 'ping': {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32BE(f.id >>> 0, 0);
      return Buffer.concat([controlHeader(ControlType.Ping, 0, 4), b]);
    }
    case 'goaway': {
      checkStreamId(f.lastGoodStreamId, true);
      const b = Buffer.allocUnsafe(8);
      b.writeUInt32BE(f.lastGoodStreamId, 0);
      b.writeUInt32BE(f.status >>> 0, 4);
      return Buffer.concat([controlHeader(ControlType.GoAway, 0, 8), b]);
    }
    case 'window_update': {
      checkStreamId(f.streamId, true);
      if (!Number.isInteger(f.delta) || f.delta < 1 || f.delta > STREAM_ID_MASK) throw new RangeError(`invalid SPDY window delta ${f.delta}`);
      const b = Buffer.allocUnsafe(8);
      b.writeUInt32BE(f.streamId, 0);
      b.writeUInt32BE(f.delta, 4);
      return Buffer.concat([controlHeader(ControlType.WindowUpdate, 0, 8), b]);
    }
    case 'unknown':
      throw new RangeError('an unknown control frame cannot be encoded');
  }
}

function expectLength(type: string, length: number, want: number): void {
  if (length !== want) throw new SpdyProtocolError(`${type} frame of length ${length}, expected ${want}`);
}

function decodeControl(type: number, flags: number, p: Buffer): Frame {
  switch (type) {
    case ControlType.SynStream: {
      if (p.length < 10) throw new SpdyProtocolError(`SYN_STREAM frame of length ${p.length} is too short`);
      const streamId = p.readUInt32BE(0) & STREAM_ID_MASK;
      if (streamId === 0) throw new SpdyProtocolError('SYN_STREAM with stream id 0');
      return {
        type: 'syn_stream', streamId, associatedTo: p.readUInt32BE(4) & STREAM_ID_MASK, priority: p.readUInt8(8) >> 5,
        fin: (flags & FLAG_FIN) !== 0, unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0, headerBlock: p.subarray(10),
      };
    }
    case ControlType.SynReply:
    case ControlType.Headers: {
      const name = type === ControlType.SynReply ? 'SYN_REPLY' : 'HEADERS';
      if (p.length < 4) throw new SpdyProtocolError(`${name} frame of length ${p.length} is too short`);
      const streamId = p.readUInt32BE(0) & STREAM_ID_MASK;
      if (streamId === 0) throw new SpdyProtocolError(`${name} with stream id 0`);
      return { type: type === ControlType.SynReply ? 'syn_reply' : 'headers', streamId, fin: (flags & FLAG_FIN) !== 0, headerBlock: p.subarray(4) };
    }
    case ControlType.RstStream: {
      expectLength('RST_STREAM', p.length, 8);
      const streamId = p.readUInt32BE(0) & STREAM_ID_MASK;
      const status = p.readUInt32BE(4);
      if (streamId === 0 || status === 0) throw new SpdyProtocolError('RST_STREAM with stream id 0 or status 0');
      return { type: 'rst_stream', streamId, status };
    }
    case ControlType.Settings: {
      if (p.length < 4) throw new SpdyProtocolError(`SETTINGS frame of length ${p.length} is too short`);
      const n = p.readUInt32BE(0);
      if (p.length !== 4 + 8 * n) throw new SpdyProtocolError(`SETTINGS frame of length ${p.length} cannot hold ${n} entries`);
      const entries = [];
      for (let i = 0; i < n; i++) {
        const word = p.readUInt32BE(4 + 8 * i);
        entries.push({ flags: word >>> 24, id: word & 0xffffff, value: p.readUInt32BE(8 + 8 * i) });
      }
      return { type: 'settings', clear: (flags & 1) !== 0, entries };
    }
    case ControlType.Ping:
      expectLength('PING', p.length, 4);
      return { type: 'ping', id: p.readUInt32BE(0) };
    case ControlType.GoAway:
      expectLength('GOAWAY', p.length, 8);
      return { type: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & STREAM_ID_MASK, status: p.readUInt32BE(4) };
    case ControlType.WindowUpdate: {
      expectLength('WINDOW_UPDATE', p.length, 8);
      const delta = p.readUInt32BE(4) & STREAM_ID_MASK;
      if (delta === 0) throw new SpdyProtocolError('WINDOW_UPDATE with a delta of 0', p.readUInt32BE(0) & STREAM_ID_MASK);
      return { type: 'window_update', streamId: p.readUInt32BE(0) & STREAM_ID_MASK, delta };
    }
    default:
      return { type: 'unknown', controlType: type };
  }
}

/**
 * Cuts a byte stream into frames. A frame whose declared length exceeds `maxFrameBytes` is refused before its
 * payload is buffered (a peer cannot make the reader hold 16 MiB per frame unless allowed to).
 */
export class FrameReader {
  /** Received bytes not yet cut into frames, as they came (joined once a whole frame is there, not per chunk). */
  private parts: Buffer[] = [];
  private size = 0;
  /** Bytes needed before the next frame can be cut: its header, then header and payload. */
  private need = 8;

  constructor(private readonly maxFrameBytes = 1 << 20) {}

  /** Appends bytes and returns every frame now complete. Throws SpdyProtocolError on a malformed frame. */
  push(chunk: Buffer): Frame[] {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size < this.need) return [];
    let buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    const out: Frame[] = [];
    for (;;) {
      this.need = 8;
      if (buf.length < 8) break;
      const word = buf.readUInt32BE(0);
      const flagsLength = buf.readUInt32BE(4);
      const length = flagsLength & 0xffffff;
      const flags = flagsLength >>> 24;
      if (length > this.maxFrameBytes) throw new SpdyProtocolError(`SPDY frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
      this.need = 8 + length;
      if (buf.length < 8 + length) break;
      const payload = buf.subarray(8, 8 + length);
      buf = buf.subarray(8 + length);
      if ((word & 0x80000000) !== 0) {
        const version = (word >>> 16) & 0x7fff;
        if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
        out.push(decodeControl(word & 0xffff, flags, payload));
      } else {
        const streamId = word & STREAM_ID_MASK;
        if (streamId === 0) throw new SpdyProtocolError('DATA frame with stream id 0');
        // Copy: the payload must not pin the (possibly large) receive buffer it was cut from.
        out.push({ type: 'data', streamId, fin: (flags & FLAG_FIN) !== 0, data: Buffer.from(payload) });
      }
    }
    this.parts = buf.length > 0 ? [buf] : [];
    this.size = buf.length;
    return out;
  }

  /** Bytes received that do not yet form a whole frame. */
  get pending(): number {
    return this.size;
  }
}
