/**
 * TunnelMux over an in-memory link that models a socket: frames queue, `bufferedAmount` counts what is not yet
 * "written", and a drain rate per tick sets how fast the link moves bytes. Covers data integrity, flow control,
 * the priority of the session's own frames, link cuts and malformed frames.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TunnelMux, type TunnelStream } from './tunnel-mux.js';
import { decodeTunnelFrame, encodeTunnelFrame, MAX_TUNNEL_CHUNK, MAX_TUNNEL_CHUNK_V4, TunnelFrameType } from './tunnel.js';
import { ProtocolError } from './validate.js';

class FakeLink {
  private queue: { frame: Buffer; cb?: (err?: Error) => void; session: boolean }[] = [];
  bytes = 0;
  peer: TunnelMux | undefined;
  cut = false;
  /** Bytes moved per tick (Infinity: as fast as the event loop). */
  drainPerTick = Infinity;
  /** Model a socket whose kernel buffer takes everything at once: the sender sees nothing buffered. */
  hideBuffered = false;
  /** Bytes of tunnel frames queued ahead of each session frame when it was sent. */
  readonly aheadOfSession: number[] = [];
  private ticking = false;

  send = (frame: Buffer, cb: (err?: Error) => void): void => {
    if (this.cut) return void setImmediate(() => cb(new Error('link cut')));
    this.queue.push({ frame, cb, session: false });
    this.bytes += frame.length;
    this.tick();
  };

  /** A frame of the session itself (sync, heartbeat): never delivered to the mux, only timed. */
  sendSession(bytes: number): void {
    this.aheadOfSession.push(this.bytes);
    this.queue.push({ frame: Buffer.alloc(bytes), session: true });
    this.bytes += bytes;
    this.tick();
  }

  bufferedAmount = (): number => (this.hideBuffered ? 0 : this.bytes);

  private tick(): void {
    if (this.ticking) return;
    this.ticking = true;
    setImmediate(() => {
      this.ticking = false;
      let budget = this.drainPerTick;
      while (this.queue.length > 0 && budget > 0 && !this.cut) {
        const item = this.queue.shift()!;
        budget -= item.frame.length;
        this.bytes -= item.frame.length;
        item.cb?.();
        if (!item.session) this.peer!.receive(item.frame);
      }
      if (this.queue.length > 0 && !this.cut) this.tick();
    });
  }
}

function pair(opts: { window?: number; linkWindow?: number; maxStreams?: number; drainPerTick?: number; hideBuffered?: boolean; onOpen?: (s: TunnelStream, port: number) => void } = {}) {
  const up = new FakeLink(); // edge → hub
  const down = new FakeLink(); // hub → edge
  if (opts.drainPerTick) down.drainPerTick = up.drainPerTick = opts.drainPerTick;
  down.hideBuffered = up.hideBuffered = opts.hideBuffered ?? false;
  const hub = new TunnelMux({ role: 'hub', link: down, windowBytes: opts.window, linkWindowBytes: opts.linkWindow });
  const edge = new TunnelMux({ role: 'edge', link: up, windowBytes: opts.window, linkWindowBytes: opts.linkWindow, maxStreams: opts.maxStreams, onOpen: opts.onOpen ?? ((s) => s.pipe(s)) });
  down.peer = edge;
  up.peer = hub;
  return { hub, edge, up, down };
}

async function readAll(s: TunnelStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('bytes cross both ways intact, with half-close, on several streams at once', async () => {
  const { hub, edge } = pair();
  const payloads = [0, 1, MAX_TUNNEL_CHUNK, 3 * MAX_TUNNEL_CHUNK + 7, 1_000_000].map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff)));
  const results = await Promise.all(
    payloads.map(async (p) => {
      const s = hub.open(10250);
      await s.ready();
      s.end(p);
      return readAll(s);
    }),
  );
  results.forEach((r, i) => assert.ok(r.equals(payloads[i]!), `payload ${i} echoed intact`));
  await new Promise((r) => setImmediate(r));
  assert.equal(hub.size, 0, 'finished streams are forgotten on the hub');
  assert.equal(edge.size, 0, 'and on the edge');
});

test('flow control: a receiver that does not read holds the sender to one window; reading lets it finish', async () => {
  const window = 64 * 1024;
  let edgeSide: TunnelStream | undefined;
  const { hub, edge } = pair({ window, onOpen: (s) => (edgeSide = s) });
  const s = hub.open(10250);
  await s.ready();
  const total = 1024 * 1024;
  s.end(Buffer.alloc(total, 7));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(edgeSide, 'edge accepted');
  assert.ok(hub.stats.dataBytesSent <= window, `sent ${hub.stats.dataBytesSent} bytes with nobody reading; window is ${window}`);
  assert.ok(edgeSide.readableLength <= window, 'the receiver buffers at most one window');
  const got = await readAll(edgeSide);
  assert.equal(got.length, total);
  assert.equal(edge.stats.dataBytesReceived, total);
});

test('a peer sending past its window gets that stream reset; the link and other streams go on', async () => {
  let victim: TunnelStream | undefined;
  const { hub, edge } = pair({ window: MAX_TUNNEL_CHUNK, onOpen: (s) => (victim ? s.pipe(s) : (victim = s)) });
  const bad = hub.open(10250);
  await bad.ready();
  const good = hub.open(10250);
  await good.ready();
  const errored = new Promise((r) => victim!.once('close', r));
  // Two full windows without waiting for credit: a well-behaved sender never does this.
  for (let i = 0; i < 2; i++) edge.receive(encodeTunnelFrame({ type: TunnelFrameType.Data, stream: bad.id, data: Buffer.alloc(MAX_TUNNEL_CHUNK) }));
  await errored;
  assert.match(String(victim!.errored), /flow control window/);
  good.end('still fine');
  assert.equal((await readAll(good)).toString(), 'still fine');
});

test('priority: a session frame waits behind at most the gate plus one chunk of tunnel data, however much is queued', async () => {
  const { hub, down } = pair({ window: 4 * 1024 * 1024, drainPerTick: 32 * 1024 });
  const streams = await Promise.all(Array.from({ length: 10 }, async () => {
    const s = hub.open(10250);
    await s.ready();
    return s;
  }));
  for (const s of streams) s.write(Buffer.alloc(2 * 1024 * 1024, 1));
  for (let i = 0; i < 50; i++) {
    down.sendSession(200);
    await new Promise((r) => setTimeout(r, 2));
  }
  const worst = Math.max(...down.aheadOfSession);
  assert.ok(worst <= 64 * 1024 + MAX_TUNNEL_CHUNK + 64, `a session frame queued behind ${worst} bytes of tunnel data`);
  for (const s of streams) s.destroy();
});

/** 10 streams with 2 MiB each to send, on a link whose kernel buffer hides everything; worst tunnel bytes ahead of a session frame. */
async function worstAheadOfSync(linkWindow: number | undefined): Promise<number> {
  const { hub, down } = pair({ window: 1024 * 1024, linkWindow, drainPerTick: 32 * 1024, hideBuffered: true });
  const streams = await Promise.all(Array.from({ length: 10 }, async () => {
    const s = hub.open(10250);
    await s.ready();
    return s;
  }));
  for (const s of streams) s.write(Buffer.alloc(2 * 1024 * 1024, 1));
  for (let i = 0; i < 50; i++) {
    down.sendSession(200);
    await new Promise((r) => setTimeout(r, 2));
  }
  for (const s of streams) s.destroy();
  return Math.max(...down.aheadOfSession);
}

test('link window (v4): with the socket hiding its backlog, a session frame waits behind at most one link window', async () => {
  const linkWindow = 256 * 1024;
  const bounded = await worstAheadOfSync(linkWindow);
  assert.ok(bounded <= linkWindow + 10 * 64, `a session frame queued behind ${bounded} bytes of tunnel data`);
  // Without it (v3) only the per-stream windows bound the backlog: the same load puts far more ahead of sync.
  const unbounded = await worstAheadOfSync(undefined);
  assert.ok(unbounded > 4 * linkWindow, `v3 backlog ${unbounded}`);
});

test('link window (v4): data crosses intact on a link window smaller than the payload; a v3 link refuses link WINDOW frames', async () => {
  const { hub } = pair({ linkWindow: 256 * 1024 });
  const payload = Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => (i * 7) & 0xff));
  const s = hub.open(10250);
  s.end(payload);
  assert.ok((await readAll(s)).equals(payload));
  const v3 = new TunnelMux({ role: 'hub', link: new FakeLink() });
  assert.throws(() => v3.receive(encodeTunnelFrame({ type: TunnelFrameType.Window, stream: 0, credit: 1 })), ProtocolError);
});

test('credit comes back in quarters of a window, not per read: a bulk transfer costs few WINDOW frames (v4)', async () => {
  const linkWindow = 256 * 1024;
  const total = 8 * 1024 * 1024;
  let received = 0;
  const { hub, up } = pair({
    linkWindow,
    // The edge reads everything at once, as a relay keeping up does (the case that returned credit per read).
    onOpen: (s) => {
      s.on('data', (d: Buffer) => (received += d.length));
      s.once('end', () => s.end());
    },
  });
  const windows = { stream: 0, link: 0 };
  const send = up.send;
  up.send = (frame, cb) => {
    const f = decodeTunnelFrame(frame);
    if (f.type === TunnelFrameType.Window) windows[f.stream === 0 ? 'link' : 'stream']++;
    send(frame, cb);
  };
  const s = hub.open(10250);
  s.end(Buffer.alloc(total, 7));
  await readAll(s);
  assert.equal(received, total);
  // Stream credit per quarter of the 1 MiB window, link credit per quarter of the link window (or less often).
  assert.ok(windows.stream <= total / (hub.windowBytes / 4) + 1, `stream WINDOW frames: ${windows.stream}`);
  assert.ok(windows.link <= total / (linkWindow / 4) + 1, `link WINDOW frames: ${windows.link}`);
});

test('a RESET after the peer\'s FIN loses nothing it sent: the reader gets every byte and its end (link window on)', async () => {
  // As the edge's relay does when containerd closes: write the tail, end(), and once FIN is out destroy the stream
  // (it will read no more); the RESET follows the FIN at once. The hub's reader is slow: the data is still buffered
  // on the hub side when the RESET arrives, and must not be dropped with it (kubectl cp from a pod lost its tail).
  const payload = Buffer.from(Array.from({ length: 900 * 1024 }, (_, i) => (i * 13) & 0xff));
  const { hub, edge } = pair({
    linkWindow: 256 * 1024,
    onOpen: (s) => {
      s.end(payload);
      s.once('finish', () => s.destroy());
    },
  });
  const s = hub.open(10250);
  await s.ready();
  for (let i = 0; i < 200 && hub.stats.resetByPeer === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(hub.stats.resetByPeer, 1, 'the edge reset the stream after its FIN');
  assert.ok(s.readableLength > 0, 'data was still unread on the hub when the RESET came');
  assert.ok(!s.destroyed, 'the RESET did not throw away what the reader has not read yet');
  const wrote = await new Promise<Error | null | undefined>((r) => s.write('ignored', r));
  assert.equal(wrote ?? null, null, 'a write after the peer stopped reading goes nowhere, without tearing down the reader');
  const got = await readAll(s);
  assert.equal(got.length, payload.length);
  assert.ok(got.equals(payload));
  await new Promise((r) => setImmediate(r));
  assert.ok(s.destroyed, 'the stream is freed once its reader has everything');
  assert.equal(hub.size, 0);
  assert.equal(edge.size, 0);
});

test('a link cut ends every stream on both sides at once and frees them; pending writes fail', async () => {
  const { hub, edge, up, down } = pair({ onOpen: () => {} });
  const streams = await Promise.all(Array.from({ length: 20 }, async () => {
    const s = hub.open(10250);
    await s.ready();
    return s;
  }));
  const writeErrors: unknown[] = [];
  for (const s of streams) {
    s.on('error', () => {});
    s.write(Buffer.alloc(1024 * 1024), (err) => writeErrors.push(err));
  }
  assert.equal(edge.size, 20);
  up.cut = down.cut = true;
  hub.close('test cut');
  edge.close('test cut');
  await new Promise((r) => setImmediate(r));
  assert.equal(hub.size, 0);
  assert.equal(edge.size, 0);
  assert.ok(streams.every((s) => s.destroyed));
  assert.ok(streams.every((s) => /tunnel link closed: test cut/.test(String(s.errored))));
  assert.throws(() => hub.open(10250), /tunnel link closed/);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(writeErrors.length, 20);
});

test('streams beyond the edge\'s limit are refused: ready() rejects with the reason', async () => {
  const { hub } = pair({ maxStreams: 2, onOpen: () => {} });
  const ok = [hub.open(10250), hub.open(10250)];
  await Promise.all(ok.map((s) => s.ready()));
  const refused = hub.open(10250);
  refused.on('error', () => {});
  await assert.rejects(refused.ready(), /too many streams/);
  assert.equal(hub.size, 2);
});

test('rules by role: only the hub opens, only the edge accepts', () => {
  const { hub, edge } = pair();
  assert.throws(() => hub.receive(encodeTunnelFrame({ type: TunnelFrameType.Open, stream: 1, window: 1000, port: 10250 })), ProtocolError);
  assert.throws(() => edge.receive(encodeTunnelFrame({ type: TunnelFrameType.Accept, stream: 1, window: 1000 })), ProtocolError);
  assert.throws(() => edge.open(10250), /only the hub/);
  edge.receive(encodeTunnelFrame({ type: TunnelFrameType.Open, stream: 5, window: 1000, port: 10250 }));
  assert.throws(() => edge.receive(encodeTunnelFrame({ type: TunnelFrameType.Open, stream: 5, window: 1000, port: 10250 })), /is open/);
  // Frames for streams that are not open are the tail of a race: ignored.
  hub.receive(encodeTunnelFrame({ type: TunnelFrameType.Data, stream: 99, data: Buffer.from('x') }));
  hub.receive(encodeTunnelFrame({ type: TunnelFrameType.Reset, stream: 99, reason: 'late' }));
});

test('malformed frames: any bytes either decode to a frame that re-encodes stably or throw ProtocolError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 0, 255), (bytes, type) => {
      const raw = Buffer.from(bytes);
      if (raw.length > 0) raw[0] = type;
      let f;
      try {
        f = decodeTunnelFrame(raw);
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `threw ${String(err)}`);
        return;
      }
      // Re-encoding is stable (a RESET reason that was not UTF-8 comes back replaced, then stays so).
      assert.deepEqual(decodeTunnelFrame(encodeTunnelFrame(f)), f);
      if (f.type !== TunnelFrameType.Reset) assert.ok(encodeTunnelFrame(f).equals(raw));
    }),
    { numRuns: 2000 },
  );
  assert.throws(() => decodeTunnelFrame(Buffer.from([3, 0, 0, 0, 0, 1])), /stream id 0/);
  assert.throws(() => decodeTunnelFrame(Buffer.from([3, 0, 0])), /shorter than/);
  assert.throws(() => decodeTunnelFrame(encodeTunnelFrame({ type: TunnelFrameType.Data, stream: 1, data: Buffer.alloc(MAX_TUNNEL_CHUNK_V4 + 1) })), /outside/);
  assert.throws(() => decodeTunnelFrame(Buffer.from([9, 0, 0, 0, 1])), /unknown tunnel frame type/);
});

test('a mux fed random frames never throws anything but ProtocolError and keeps no stream it did not accept', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom(1, 2, 3, 4, 5, 6), fc.integer({ min: 0, max: 4 }), fc.uint8Array({ maxLength: 12 })), { maxLength: 40 }), (frames) => {
      const edge = new TunnelMux({ role: 'edge', link: { send: () => {}, bufferedAmount: () => 0 }, maxStreams: 3, onOpen: (s) => s.on('error', () => {}) });
      for (const [type, stream, payload] of frames) {
        const raw = Buffer.concat([Buffer.from([type, 0, 0, 0, stream]), Buffer.from(payload)]);
        try {
          edge.receive(raw);
        } catch (err) {
          assert.ok(err instanceof ProtocolError, `threw ${String(err)}`);
        }
        assert.ok(edge.size <= 3);
      }
      edge.close('done');
      assert.equal(edge.size, 0);
    }),
    { numRuns: 500 },
  );
});
