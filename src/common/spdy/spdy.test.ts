import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { encodeFrame, FrameReader, SpdyProtocolError, type Frame } from './frames.js';
import { decodeHeaderBlock, encodeHeaderBlock, HeaderCompressor, HeaderDecompressor, type SpdyHeaders } from './headers.js';
import { SpdySession, SpdyStream } from './session.js';

const streamId = fc.integer({ min: 1, max: 0x7fffffff });
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant('data' as const), streamId, fin: fc.boolean(), data: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) }),
  fc.record({
    type: fc.constant('syn_stream' as const), streamId, associatedTo: fc.integer({ min: 0, max: 0x7fffffff }), priority: fc.integer({ min: 0, max: 7 }),
    fin: fc.boolean(), unidirectional: fc.boolean(), headerBlock: fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a)),
  }),
  fc.record({ type: fc.constant('syn_reply' as const), streamId, fin: fc.boolean(), headerBlock: fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a)) }),
  fc.record({ type: fc.constant('headers' as const), streamId, fin: fc.boolean(), headerBlock: fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a)) }),
  fc.record({ type: fc.constant('rst_stream' as const), streamId, status: fc.integer({ min: 1, max: 11 }) }),
  fc.record({
    type: fc.constant('settings' as const), clear: fc.boolean(),
    entries: fc.array(fc.record({ flags: fc.integer({ min: 0, max: 255 }), id: fc.integer({ min: 0, max: 0xffffff }), value: fc.integer({ min: 0, max: 0xffffffff }) }), { maxLength: 5 }),
  }),
  fc.record({ type: fc.constant('ping' as const), id: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ type: fc.constant('goaway' as const), lastGoodStreamId: fc.integer({ min: 0, max: 0x7fffffff }), status: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ type: fc.constant('window_update' as const), streamId: fc.integer({ min: 0, max: 0x7fffffff }), delta: fc.integer({ min: 1, max: 0x7fffffff }) }),
);

/** Splits bytes at arbitrary points (the reader must not care how TCP cut them). */
function chunks(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(buf.subarray(at, p));
    at = p;
  }
  out.push(buf.subarray(at));
  return out;
}

const headersArb: fc.Arbitrary<SpdyHeaders> = fc.dictionary(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
  fc.array(fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0')), { minLength: 1, maxLength: 3 }),
  { maxKeys: 8 },
);

describe('SPDY/3.1 framing', () => {
  it('the SPDY/3 dictionary is the spec one (1423 bytes, zlib dictionary id as containerd expects)', () => {
    assert.equal(SPDY3_DICTIONARY.length, 1423);
    let a = 1;
    let b = 0;
    for (const x of SPDY3_DICTIONARY) {
      a = (a + x) % 65521;
      b = (b + a) % 65521;
    }
    assert.equal((((b << 16) | a) >>> 0).toString(16), 'e3c6a7c2');
  });

  it('every frame decodes to what was encoded, however the bytes are cut', () => {
    fc.assert(fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), (frames, cuts) => {
      const bytes = Buffer.concat(frames.map(encodeFrame));
      const reader = new FrameReader();
      const got = chunks(bytes, cuts).flatMap((c) => reader.push(c));
      assert.equal(reader.pending, 0);
      assert.deepEqual(got.map(normalize), frames.map(normalize));
    }));
  });

  it('garbage never crashes the reader: frames or a SpdyProtocolError, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      const reader = new FrameReader(1024);
      try {
        reader.push(Buffer.from(bytes));
      } catch (err) {
        assert.ok(err instanceof SpdyProtocolError, String(err));
      }
    }));
  });

  it('refuses a frame larger than the limit before buffering it', () => {
    const reader = new FrameReader(1024);
    const big = encodeFrame({ type: 'data', streamId: 1, fin: false, data: Buffer.alloc(2048) });
    assert.throws(() => reader.push(big.subarray(0, 8)), /exceeds the limit of 1024/);
  });

  it('header blocks round-trip, and refuse uppercase or repeated names', () => {
    fc.assert(fc.property(headersArb, (h) => {
      assert.deepEqual({ ...decodeHeaderBlock(encodeHeaderBlock(h)) }, { ...h });
    }));
    const upper = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 1]), Buffer.from('A'), Buffer.from([0, 0, 0, 0])]);
    assert.throws(() => decodeHeaderBlock(upper), /not lowercase/);
    const twice = Buffer.concat([Buffer.from([0, 0, 0, 2]), ...[0, 1].map(() => Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from('a'), Buffer.from([0, 0, 0, 0])]))]);
    assert.throws(() => decodeHeaderBlock(twice), /appears twice/);
    assert.throws(() => decodeHeaderBlock(Buffer.from([0, 0, 0, 5])), /truncated/);
  });

  it('compressed header blocks decompress in order over one zlib stream per direction', async () => {
    await fc.assert(fc.asyncProperty(fc.array(headersArb, { minLength: 1, maxLength: 6 }), async (blocks) => {
      const c = new HeaderCompressor();
      const d = new HeaderDecompressor();
      try {
        for (const h of blocks) assert.deepEqual({ ...(await d.decompress(await c.compress(h))) }, { ...h });
      } finally {
        c.close();
        d.close();
      }
    }), { numRuns: 30 });
  });

  it('a corrupt compressed block is a protocol error', async () => {
    const d = new HeaderDecompressor();
    await assert.rejects(d.decompress(Buffer.from('not zlib at all')), SpdyProtocolError);
    d.close();
  });
});

function normalize(f: Frame): unknown {
  return JSON.parse(JSON.stringify(f, (_k, v: unknown) => (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('hex') : v)));
}

async function socketPair(): Promise<[net.Socket, net.Socket, () => void]> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  const s = await accepted;
  return [client, s, () => server.close()];
}

function readAll(s: SpdyStream): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => resolve(Buffer.concat(parts)));
  });
}

describe('SPDY/3.1 session', () => {
  it('opens streams with headers, carries data both ways with half-close, and frees both ends', async () => {
    const [a, b, done] = await socketPair();
    const server = new SpdySession(b, {
      role: 'server',
      onStream: (s) => {
        void server.reply(s, { accepted: ['yes'] });
        // Echo, uppercased, then end our half once the peer ended theirs.
        void readAll(s).then((d) => s.end(Buffer.from(d.toString().toUpperCase())));
      },
    });
    const client = new SpdySession(a, { role: 'client' });
    const streams = await Promise.all([1, 2, 3].map((i) => client.openStream({ streamtype: ['data'], requestid: [String(i)] })));
    assert.deepEqual({ ...streams[0]!.replyHeaders }, { accepted: ['yes'] });
    const big = Buffer.alloc(3 * 1024 * 1024, 'x');
    const results = streams.map((s, i) => readAll(s).then((d) => [i, d.length, d.subarray(0, 3).toString()] as const));
    streams.forEach((s, i) => s.end(i === 0 ? big : Buffer.from(`hello ${i}`)));
    const got = await Promise.all(results);
    assert.deepEqual(got, [[0, big.length, 'XXX'], [1, 7, 'HEL'], [2, 7, 'HEL']]);
    await client.ping();
    await new Promise((r) => setImmediate(r));
    assert.equal(client.openStreams, 0);
    assert.equal(server.openStreams, 0);
    client.close();
    await new Promise<void>((r) => server.onClose(() => r()));
    done();
  });

  it('a reset stream ends at the peer (with what arrived before), and writing to it fails', async () => {
    const [a, b, done] = await socketPair();
    const server = new SpdySession(b, {
      role: 'server',
      onStream: (s) => {
        void server.reply(s).then(() => {
          s.write('status');
          setTimeout(() => s.reset(), 20);
        });
      },
    });
    const client = new SpdySession(a, { role: 'client' });
    const s = await client.openStream({ streamtype: ['error'] });
    assert.equal((await readAll(s)).toString(), 'status');
    assert.ok(s.abortError);
    client.close();
    done();
  });

  it('a peer sending garbage ends the session and every open stream, without throwing', async () => {
    const [a, b, done] = await socketPair();
    const server = new SpdySession(b, { role: 'server', onStream: (s) => void server.reply(s) });
    const client = new SpdySession(a, { role: 'client' });
    const s = await client.openStream({ streamtype: ['stdout'] });
    const ended = readAll(s);
    b.write(Buffer.from([0x80, 0x09, 0x00, 0x01, 0, 0, 0, 0])); // control frame of SPDY version 9
    await ended;
    await new Promise<void>((r) => client.onClose(() => r()));
    assert.ok(client.closed);
    done();
  });

  it('refuses streams past the concurrency limit', async () => {
    const [a, b, done] = await socketPair();
    const server = new SpdySession(b, { role: 'server', maxPeerStreams: 2, onStream: (s) => void server.reply(s) });
    const client = new SpdySession(a, { role: 'client' });
    await client.openStream({ n: ['1'] });
    await client.openStream({ n: ['2'] });
    await assert.rejects(client.openStream({ n: ['3'] }), /reset by the peer \(status 3\)/);
    client.close();
    done();
  });
});
