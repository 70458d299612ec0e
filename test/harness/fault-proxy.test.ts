import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { FaultProxy, type FaultLink } from './fault-proxy.js';

/** Upstream used by every test: echoes each byte back, and records everything it received per connection. */
let upstream: net.Server;
let upstreamPort = 0;
const received: Buffer[][] = [];

before(async () => {
  upstream = net.createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    received.push(chunks);
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      s.write(d);
    });
    s.on('end', () => s.end());
    s.on('error', () => {});
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  upstreamPort = (upstream.address() as net.AddressInfo).port;
});

const proxy = new FaultProxy();
after(async () => {
  await proxy.close();
  upstream.close();
});

let linkSeq = 0;
async function newLink(): Promise<FaultLink> {
  return proxy.addLink(`node-${linkSeq++}`, { host: '127.0.0.1', port: upstreamPort });
}

function dial(link: FaultLink): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: link.host, port: link.port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Read from `s` until `n` bytes arrived (bounded by the test runner's timeout). */
function readBytes(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= n) {
        s.off('data', onData);
        s.off('error', reject);
        resolve(Buffer.concat(chunks));
      }
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}

test('forwards both directions and counts delivered bytes per link; counters reset', { timeout: 10_000 }, async () => {
  const link = await newLink();
  const s = await dial(link);
  s.write('hello edge');
  assert.equal((await readBytes(s, 10)).toString(), 'hello edge');
  const c = link.counters();
  assert.equal(c.upBytes, 10);
  assert.equal(c.downBytes, 10);
  assert.equal(c.accepted, 1);
  assert.equal(c.active, 1);
  link.resetCounters();
  assert.deepEqual({ ...link.counters(), active: 0 }, { upBytes: 0, downBytes: 0, droppedBytes: 0, accepted: 0, active: 0 });
  s.write('xy');
  await readBytes(s, 2);
  assert.equal(link.counters().upBytes, 2);
  s.destroy();
});

test('a large transfer arrives intact through backpressure', { timeout: 20_000 }, async () => {
  const link = await newLink();
  const s = await dial(link);
  const payload = randomBytes(8 << 20);
  s.write(payload);
  const echoed = await readBytes(s, payload.length);
  assert.equal(createHash('sha256').update(echoed).digest('hex'), createHash('sha256').update(payload).digest('hex'));
  assert.equal(link.counters().downBytes, payload.length);
  s.destroy();
});

test('half-close: bytes queued towards the client still arrive after the client ends its side', { timeout: 10_000 }, async () => {
  const link = await newLink();
  const s = net.connect({ host: link.host, port: link.port, allowHalfOpen: true });
  await once(s, 'connect');
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  s.end('bye');
  await once(s, 'end');
  assert.equal(Buffer.concat(chunks).toString(), 'bye');
  s.destroy();
});

test('cut refuses new connections and closes existing ones; heal restores the same port', { timeout: 10_000 }, async () => {
  const link = await newLink();
  const port = link.port;
  const s = await dial(link);
  const closed = once(s, 'close');
  await link.cut();
  await closed;
  await assert.rejects(dial(link), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  assert.equal(link.faults.cut, true);
  await link.heal();
  assert.equal(link.port, port);
  const s2 = await dial(link);
  s2.write('back');
  assert.equal((await readBytes(s2, 4)).toString(), 'back');
  s2.destroy();
});

test('reset sends RST to open connections and keeps accepting', { timeout: 10_000 }, async () => {
  const link = await newLink();
  const s = await dial(link);
  const err = new Promise<NodeJS.ErrnoException>((resolve) => s.once('error', resolve));
  link.reset();
  assert.equal((await err).code, 'ECONNRESET');
  const s2 = await dial(link);
  s2.write('ok');
  assert.equal((await readBytes(s2, 2)).toString(), 'ok');
  s2.destroy();
});

test('drop black-holes traffic on a live connection; heal forwards again', { timeout: 10_000 }, async () => {
  const link = await newLink();
  const s = await dial(link);
  s.write('a');
  await readBytes(s, 1);
  const upstreamSide = received[received.length - 1]!;
  link.drop();
  s.write('lost');
  // a new connection during the black hole is accepted (no refusal, no reset) but carries nothing
  const s2 = await dial(link);
  s2.write('also lost');
  // wait until the proxy has read (and discarded) both writes
  while (link.counters().droppedBytes < 'lost'.length + 'also lost'.length) await new Promise((r) => setTimeout(r, 10));
  await link.heal();
  s.write('B');
  // the echo of 'B' is the next byte the client sees: 'lost' never reached the upstream
  assert.equal((await readBytes(s, 1)).toString(), 'B');
  assert.equal(Buffer.concat(upstreamSide).toString(), 'aB');
  assert.equal(s.destroyed, false);
  s.destroy();
  s2.destroy();
});

test('delay holds each direction back by at least the configured time', { timeout: 10_000 }, async () => {
  const link = await newLink();
  link.delay(150, 100);
  const s = await dial(link);
  const t0 = performance.now();
  s.write('ping');
  await readBytes(s, 4);
  assert.ok(performance.now() - t0 >= 250, 'round trip includes 150 ms up + 100 ms down');
  assert.deepEqual(link.faults.delayMs, { up: 150, down: 100 });
  s.destroy();
});

test('throttle caps the byte rate of a direction', { timeout: 20_000 }, async () => {
  const link = await newLink();
  link.throttle(null, 50_000); // only hub → edge limited
  const s = await dial(link);
  const payload = randomBytes(50_000);
  const t0 = performance.now();
  s.write(payload);
  const echoed = await readBytes(s, payload.length);
  // 50 kB at 50 kB/s: the first slice goes out at once, the rest needs at least ~0.9 s
  assert.ok(performance.now() - t0 >= 900, `took ${performance.now() - t0} ms`);
  assert.ok(echoed.equals(payload));
  assert.throws(() => link.throttle(0), /must be > 0/);
  s.destroy();
});

test('links are independent and the proxy sums their counters', { timeout: 10_000 }, async () => {
  const p = new FaultProxy();
  try {
    const a = await p.addLink('a', { host: '127.0.0.1', port: upstreamPort });
    const b = await p.addLink('b', { host: '127.0.0.1', port: upstreamPort });
    await assert.rejects(p.addLink('a', { host: '127.0.0.1', port: upstreamPort }), /already exists/);
    await a.cut();
    const sb = await dial(b);
    sb.write('123');
    await readBytes(sb, 3);
    assert.equal(p.totals().upBytes, 3);
    await assert.rejects(dial(a), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    sb.destroy();
  } finally {
    await p.close();
  }
});

test('retarget sends new connections to another upstream', { timeout: 10_000 }, async () => {
  const other = net.createServer((s) => s.end('other'));
  other.listen(0, '127.0.0.1');
  await once(other, 'listening');
  try {
    const link = await newLink();
    link.retarget({ host: '127.0.0.1', port: (other.address() as net.AddressInfo).port });
    const s = await dial(link);
    assert.equal((await readBytes(s, 5)).toString(), 'other');
    s.destroy();
  } finally {
    other.close();
  }
});
