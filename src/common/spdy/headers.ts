/**
 * SPDY/3 header blocks: the name/value block format and its zlib compression. Each direction of a session is one
 * zlib stream primed with the SPDY/3 dictionary, sync-flushed at every header block, so blocks must be
 * compressed and decompressed in frame order (the session serializes the calls).
 */
import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { SpdyProtocolError } from './frames.js';

/** Header names are lowercase in SPDY; a name maps to its values (sent NUL-separated in one entry). */
export type SpdyHeaders = Record<string, string[]>;

/** Upper bound on one header block, compressed and decompressed (Kubernetes' blocks are a few hundred bytes). */
export const MAX_HEADER_BLOCK_BYTES = 64 * 1024;

export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const names = Object.keys(headers);
  const parts: Buffer[] = [];
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(names.length, 0);
  parts.push(count);
  for (const raw of names) {
    const name = Buffer.from(raw.toLowerCase(), 'utf8');
    if (name.length === 0) throw new RangeError('a SPDY header name cannot be empty');
    const value = Buffer.from(headers[raw]!.join('\0'), 'utf8');
    const n = Buffer.allocUnsafe(4);
    n.writeUInt32BE(name.length, 0);
    const v = Buffer.allocUnsafe(4);
    v.writeUInt32BE(value.length, 0);
    parts.push(n, name, v, value);
  }
  return Buffer.concat(parts);
}

/** Parses a decompressed header block; refuses what spdystream refuses (uppercase or repeated names). */
export function decodeHeaderBlock(block: Buffer, streamId = 0): SpdyHeaders {
  const fail = (why: string): never => {
    throw new SpdyProtocolError(`malformed SPDY header block: ${why}`, streamId);
  };
  if (block.length < 4) fail('shorter than its entry count');
  const count = block.readUInt32BE(0);
  let at = 4;
  const out: SpdyHeaders = Object.create(null) as SpdyHeaders;
  const take = (what: string): string => {
    if (at + 4 > block.length) fail(`truncated ${what} length`);
    const len = block.readUInt32BE(at);
    at += 4;
    if (at + len > block.length) fail(`${what} of ${len} bytes runs past the block`);
    const s = block.toString('utf8', at, at + len);
    at += len;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const name = take('name');
    if (name.length === 0) fail('empty header name');
    if (name !== name.toLowerCase()) fail(`header name ${JSON.stringify(name.slice(0, 64))} is not lowercase`);
    if (Object.hasOwn(out, name)) fail(`header ${JSON.stringify(name.slice(0, 64))} appears twice`);
    out[name] = take('value').split('\0');
  }
  if (at !== block.length) fail(`${block.length - at} bytes after the last entry`);
  return out;
}

/** Case-insensitive lookup of a header's first value. */
export function headerValue(headers: SpdyHeaders, name: string): string | undefined {
  return headers[name.toLowerCase()]?.[0];
}

type ZlibStream = zlib.Deflate | zlib.Inflate;

/** Runs `write + sync flush` on a zlib stream and returns exactly the output of that block. */
function flushBlock(z: ZlibStream, input: Buffer, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new SpdyProtocolError(`SPDY header compression: ${err.message}`));
    z.once('error', onError);
    z.write(input);
    z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      z.off('error', onError);
      const chunks: Buffer[] = [];
      let size = 0;
      for (let c: Buffer | null = z.read() as Buffer | null; c !== null; c = z.read() as Buffer | null) {
        size += c.length;
        if (size > limit) return reject(new SpdyProtocolError(`SPDY header block larger than ${limit} bytes`));
        chunks.push(c);
      }
      resolve(Buffer.concat(chunks));
    });
  });
}

/** One direction's header compression state. Calls must not overlap (the session awaits each). */
export class HeaderCompressor {
  private readonly z = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY, level: zlib.constants.Z_DEFAULT_COMPRESSION });

  compress(headers: SpdyHeaders): Promise<Buffer> {
    return flushBlock(this.z, encodeHeaderBlock(headers), Number.MAX_SAFE_INTEGER);
  }

  close(): void {
    this.z.destroy();
  }
}

export class HeaderDecompressor {
  private readonly z = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });

  async decompress(compressed: Buffer, streamId = 0): Promise<SpdyHeaders> {
    if (compressed.length > MAX_HEADER_BLOCK_BYTES) throw new SpdyProtocolError(`SPDY header block of ${compressed.length} bytes exceeds ${MAX_HEADER_BLOCK_BYTES}`, streamId);
    const block = await flushBlock(this.z, compressed, MAX_HEADER_BLOCK_BYTES);
    return decodeHeaderBlock(block, streamId);
  }

  close(): void {
    this.z.destroy();
  }
}
