/**
 * Link contention benchmark (issue 18, the 10,000-node collapse): how long a keepalive waits on a busy machine when
 * many links share one process's zlib. `ws` runs every permessage-deflate job of a process (all its connections,
 * both directions) through one FIFO limiter (`concurrencyLimit`, default 10) in front of libuv's 4-thread pool, and
 * a link's later frames — pings, pongs and heartbeats included — wait behind its message being (de)compressed. On a
 * saturated machine each job's round trip to the pool is slow, so 10 slots can carry fewer jobs per second than
 * thousands of links ask for, and the queue (and every link's silence) grows without bound.
 *
 * Setup, per arm, on loopback TCP (no TLS): a server process with the hub's permessage-deflate settings echoing
 * heartbeats and answering each status with a compressed ack; a client process with N links with the edge's
 * settings, each sending one compressed status frame per period and one heartbeat per second, timing the heartbeat's
 * echo; K busy-loop processes keep both cores saturated as the fleet bench does. Arms differ only in the zlib
 * concurrency limit, set in both processes (A: ws's default 10; B: the link's setting, src/protocol/compression.ts).
 *
 * Usage: npm run bench:link-contention [-- --links 2000 --status-per-sec 1500 --burners 6 --seconds 30 --no-record]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { LINK_CLIENT_DEFLATE, LINK_ZLIB_CONCURRENCY, linkFrameOptions, linkServerDeflate } from '../src/protocol/compression.js';
import { distribution, intOption, round } from './lib/stats.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';

const role = process.env.LINK_CONTENTION_ROLE;
const STATUS = JSON.stringify({ type: 'status', pods: Array.from({ length: 3 }, (_, i) => ({ key: `pod/fleet/bulk-${i}`, phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date(0).toISOString() }], podIP: `10.244.${i}.7` })) });

if (role === 'server') {
  const limit = Number(process.env.LINK_CONTENTION_LIMIT);
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { ...linkServerDeflate(), concurrencyLimit: limit } });
  const ack = JSON.stringify({ type: 'status-ack', items: STATUS.slice(0, 400) });
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text.startsWith('{"type":"heartbeat"')) ws.send(text, linkFrameOptions(text));
      else ws.send(ack, linkFrameOptions(ack));
    });
  });
  wss.on('listening', () => process.send!({ port: (wss.address() as { port: number }).port }));
} else if (role === 'client') {
  const limit = Number(process.env.LINK_CONTENTION_LIMIT);
  const { port, links, statusPerSec, seconds } = JSON.parse(process.env.LINK_CONTENTION_ARGS!) as { port: number; links: number; statusPerSec: number; seconds: number };
  const sockets: WebSocket[] = [];
  for (let i = 0; i < links; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: { ...LINK_CLIENT_DEFLATE, concurrencyLimit: limit } });
    await new Promise<void>((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    sockets.push(ws);
  }
  const rtts: number[] = [];
  const sentAt = new Map<WebSocket, number>();
  for (const ws of sockets) {
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (!text.startsWith('{"type":"heartbeat"')) return;
      rtts.push(performance.now() - Number(JSON.parse(text).t));
      sentAt.delete(ws);
    });
  }
  const started = performance.now();
  let next = 0;
  const statusTimer = setInterval(() => {
    // statusPerSec spread over 10 ticks a second, round-robin over the links.
    for (let i = 0; i < statusPerSec / 10; i++) sockets[next++ % links]!.send(STATUS, linkFrameOptions(STATUS));
  }, 100);
  const beatTimer = setInterval(() => {
    for (const ws of sockets) {
      const t = performance.now();
      const text = JSON.stringify({ type: 'heartbeat', t });
      if (!sentAt.has(ws)) sentAt.set(ws, t);
      ws.send(text, linkFrameOptions(text));
    }
  }, 1000);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(statusTimer);
  clearInterval(beatTimer);
  // A heartbeat still unanswered at the end counts with its wait so far: a stuck link is not a missing sample.
  const now = performance.now();
  const unanswered = [...sentAt.values()].map((t) => now - t);
  for (const ws of sockets) ws.terminate();
  // Exit only once the report is through the IPC channel: on a starved machine it takes a while.
  process.send!({ rtts: [...rtts, ...unanswered], unanswered: unanswered.length, elapsedMs: now - started }, () => process.exit(0));
} else if (role === 'burner') {
  for (;;) Math.sqrt(Math.random());
} else {
  const { values: opt } = parseArgs({
    options: {
      links: { type: 'string', default: '2000' },
      'status-per-sec': { type: 'string', default: '1500' },
      burners: { type: 'string', default: '6' },
      seconds: { type: 'string', default: '30' },
      limits: { type: 'string', default: `10,${LINK_ZLIB_CONCURRENCY}` },
      'no-record': { type: 'boolean', default: false },
    },
  });
  const P = { links: intOption(opt, 'links', 1), statusPerSec: intOption(opt, 'status-per-sec', 10), burners: intOption(opt, 'burners', 0), seconds: intOption(opt, 'seconds', 5) };
  const self = fileURLToPath(import.meta.url);
  const child = (r: string, limit: number, extra: Record<string, string> = {}): ChildProcess =>
    fork(self, [], { env: { ...process.env, LINK_CONTENTION_ROLE: r, LINK_CONTENTION_LIMIT: String(limit), ...extra }, execArgv: ['--import', 'tsx'] });
  const message = <T>(c: ChildProcess) => new Promise<T>((resolve) => c.once('message', (m) => resolve(m as T)));
  const arms = opt.limits!.split(',').map((l) => {
    const limit = Number(l);
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limits: want positive integers, got ${JSON.stringify(l)}`);
    return { name: limit === 10 ? 'zlib concurrency 10 (ws default)' : limit === LINK_ZLIB_CONCURRENCY ? `zlib concurrency ${limit} (the link's)` : `zlib concurrency ${limit}`, limit };
  });
  const rows: SummaryRow[] = [];
  const results: Record<string, { p50: number; p99: number; max: number }> = {};
  for (const arm of arms) {
    const server = child('server', arm.limit);
    const { port } = await message<{ port: number }>(server);
    const burners = Array.from({ length: P.burners }, () => child('burner', 0));
    const client = child('client', arm.limit, { LINK_CONTENTION_ARGS: JSON.stringify({ port, links: P.links, statusPerSec: P.statusPerSec, seconds: P.seconds }) });
    const r = await message<{ rtts: number[]; unanswered: number; elapsedMs: number }>(client);
    for (const c of [server, client, ...burners]) c.kill('SIGKILL');
    const d = distribution(r.rtts);
    results[arm.name] = { p50: d.p50, p99: d.p99, max: d.max };
    console.log(`[bench:link-contention] ${arm.name}: heartbeat echo p50 ${round(d.p50, 1)} ms, p99 ${round(d.p99, 1)} ms, max ${round(d.max, 1)} ms; ${r.unanswered} unanswered at the end`);
    rows.push([`${arm.name}: heartbeat echo p50 / p99 / max`, `${round(d.p50, 1)} / ${round(d.p99, 1)} / ${round(d.max, 1)} ms`, `${r.rtts.length} samples, ${r.unanswered} still unanswered at the end`]);
  }
  if (arms.length === 2) {
    const [a, b] = arms.map((x) => results[x.name]!);
    rows.push([`p99 ratio (${arms[0]!.limit} / ${arms[1]!.limit})`, `${round(a!.p99 / Math.max(b!.p99, 0.001), 1)}x`, 'same load, same process layout']);
  }
  const report = newReport('link-contention', { ...P });
  report.results = results;
  report.notes.push(`${P.burners} busy-loop processes keep the 2 cores saturated, as the hollow nodes and the server do at 10,000 nodes`);
  publish(report, rows, { write: !opt['no-record'] });
}
