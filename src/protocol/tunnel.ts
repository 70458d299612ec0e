/**
 * Tunnel frames (protocol v3): byte streams multiplexed on the node's one hub WebSocket, carried as *binary*
 * WebSocket messages beside the JSON text frames of sync (a 100 MB port-forward must not become base64 JSON).
 *
 *   byte 0      frame type (TunnelFrameType)
 *   bytes 1..4  stream id, uint32 big-endian (≥ 1; chosen by the hub, the only side that opens streams)
 *   bytes 5..   payload, by type:
 *     OPEN    u32 window the opener grants + u16 target port (the edge's kubelet port, 10250)
 *     ACCEPT  u32 window the acceptor grants
 *     DATA    1..MAX_TUNNEL_CHUNK (v3) or MAX_TUNNEL_CHUNK_V4 bytes of the stream (never more than the peer's
 *             remaining window)
 *     WINDOW  u32 credit: the receiver consumed this many more bytes, the sender may send that many more.
 *             On stream 0 (protocol v4 only): link credit, for DATA of all streams together (HTTP/2's connection
 *             window): the receiver returns it as its mux takes DATA off the link, not as streams are read.
 *     FIN     empty: the sender will write no more (half-close; the other direction goes on)
 *     RESET   ≤ 512 bytes of UTF-8 reason: the stream is gone, both directions, at once; after the sender's FIN
 *             only the receiver's direction (what came before the FIN is still delivered)
 *
 * A frame that breaks these rules is a ProtocolError (the session ends, as for a malformed JSON frame); a frame
 * for a stream id that is no longer open is ignored (a race with a RESET, not an attack surface: nothing is
 * allocated for it). Flow control is per stream and credit based (HTTP/2 style); see tunnel-mux.ts.
 */
import { ProtocolError } from './validate.js';

export const TunnelFrameType = {
  Open: 1,
  Accept: 2,
  Data: 3,
  Window: 4,
  Fin: 5,
  Reset: 6,
} as const;
export type TunnelFrameType = (typeof TunnelFrameType)[keyof typeof TunnelFrameType];

/** First protocol version whose sessions carry tunnel frames. */
export const TUNNEL_VERSION = 3;
/** First protocol version with a link-level window (WINDOW on stream 0). */
export const LINK_WINDOW_VERSION = 4;
/** Stream id of link-level WINDOW frames. */
export const LINK_STREAM = 0;
/** Largest DATA payload a v3 peer accepts: bounds how long one tunnel frame holds the link ahead of a sync frame. */
export const MAX_TUNNEL_CHUNK = 16 * 1024;
/**
 * Largest DATA payload on a v4 link (and what any receiver accepts): the link window bounds what is ahead of a sync
 * frame, so chunks may be larger; 4× fewer frames, send callbacks and socket writes per byte than 16 KiB.
 */
export const MAX_TUNNEL_CHUNK_V4 = 64 * 1024;
/** Largest window one side may grant a stream (bounds what a peer can make the other buffer). */
export const MAX_TUNNEL_WINDOW = 16 * 1024 * 1024;
export const MAX_RESET_REASON_BYTES = 512;
export const TUNNEL_HEADER_BYTES = 5;

export type TunnelFrame =
  | { type: typeof TunnelFrameType.Open; stream: number; window: number; port: number }
  | { type: typeof TunnelFrameType.Accept; stream: number; window: number }
  | { type: typeof TunnelFrameType.Data; stream: number; data: Buffer }
  | { type: typeof TunnelFrameType.Window; stream: number; credit: number }
  | { type: typeof TunnelFrameType.Fin; stream: number }
  | { type: typeof TunnelFrameType.Reset; stream: number; reason: string };

function header(type: TunnelFrameType, stream: number, payloadBytes: number): Buffer {
  const b = Buffer.allocUnsafe(TUNNEL_HEADER_BYTES + payloadBytes);
  b[0] = type;
  b.writeUInt32BE(stream, 1);
  return b;
}

export function encodeTunnelFrame(f: TunnelFrame): Buffer {
  switch (f.type) {
    case TunnelFrameType.Open: {
      const b = header(f.type, f.stream, 6);
      b.writeUInt32BE(f.window, 5);
      b.writeUInt16BE(f.port, 9);
      return b;
    }
    case TunnelFrameType.Accept: {
      const b = header(f.type, f.stream, 4);
      b.writeUInt32BE(f.window, 5);
      return b;
    }
    case TunnelFrameType.Data: {
      const b = header(f.type, f.stream, f.data.length);
      f.data.copy(b, TUNNEL_HEADER_BYTES);
      return b;
    }
    case TunnelFrameType.Window: {
      const b = header(f.type, f.stream, 4);
      b.writeUInt32BE(f.credit, 5);
      return b;
    }
    case TunnelFrameType.Fin:
      return header(f.type, f.stream, 0);
    case TunnelFrameType.Reset: {
      const reason = Buffer.from(f.reason, 'utf8').subarray(0, MAX_RESET_REASON_BYTES);
      const b = header(f.type, f.stream, reason.length);
      reason.copy(b, TUNNEL_HEADER_BYTES);
      return b;
    }
  }
}

const bad = (m: string) => new ProtocolError('bad-message', `invalid tunnel frame: ${m}`);

/** Parse and validate one binary frame. Throws ProtocolError; never returns a frame that breaks the rules above. */
export function decodeTunnelFrame(raw: Buffer): TunnelFrame {
  if (raw.length < TUNNEL_HEADER_BYTES) throw bad(`${raw.length} bytes is shorter than the ${TUNNEL_HEADER_BYTES}-byte header`);
  const type = raw[0]!;
  const stream = raw.readUInt32BE(1);
  if (stream === LINK_STREAM && type !== TunnelFrameType.Window) throw bad('stream id 0 is reserved for link WINDOW frames');
  const payload = raw.subarray(TUNNEL_HEADER_BYTES);
  const exact = (n: number, what: string) => {
    if (payload.length !== n) throw bad(`${what} payload must be ${n} bytes, got ${payload.length}`);
  };
  switch (type) {
    case TunnelFrameType.Open: {
      exact(6, 'OPEN');
      const window = payload.readUInt32BE(0);
      if (window < 1 || window > MAX_TUNNEL_WINDOW) throw bad(`OPEN window ${window} outside 1..${MAX_TUNNEL_WINDOW}`);
      const port = payload.readUInt16BE(4);
      if (port === 0) throw bad('OPEN port 0');
      return { type, stream, window, port };
    }
    case TunnelFrameType.Accept: {
      exact(4, 'ACCEPT');
      const window = payload.readUInt32BE(0);
      if (window < 1 || window > MAX_TUNNEL_WINDOW) throw bad(`ACCEPT window ${window} outside 1..${MAX_TUNNEL_WINDOW}`);
      return { type, stream, window };
    }
    case TunnelFrameType.Data:
      if (payload.length < 1 || payload.length > MAX_TUNNEL_CHUNK_V4) throw bad(`DATA payload of ${payload.length} bytes outside 1..${MAX_TUNNEL_CHUNK_V4}`);
      return { type, stream, data: payload };
    case TunnelFrameType.Window: {
      exact(4, 'WINDOW');
      const credit = payload.readUInt32BE(0);
      if (credit < 1 || credit > MAX_TUNNEL_WINDOW) throw bad(`WINDOW credit ${credit} outside 1..${MAX_TUNNEL_WINDOW}`);
      return { type, stream, credit };
    }
    case TunnelFrameType.Fin:
      exact(0, 'FIN');
      return { type, stream };
    case TunnelFrameType.Reset:
      if (payload.length > MAX_RESET_REASON_BYTES) throw bad(`RESET reason of ${payload.length} bytes over ${MAX_RESET_REASON_BYTES}`);
      return { type, stream, reason: payload.toString('utf8') };
    default:
      throw new ProtocolError('unknown-type', `unknown tunnel frame type ${type}`);
  }
}
