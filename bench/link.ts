/**
 * Link frame benchmark (issue 18): what zlib costs per frame kind on the cloud↔edge link, and what sending small
 * frames uncompressed (src/protocol/compression.ts `linkFrameOptions`) saves and costs in bytes.
 * One process: a ws server with the hub's permessage-deflate settings and N ws clients with the edge's, on loopback
 * TCP (no TLS: it costs both arms the same and would hide zlib's share). Per frame kind, each client runs round trips
 * as the steady state does — heartbeat → echo, lease renewal → status-ack, ack (one way) — in alternating slices
 * of the two arms (A: every frame deflated, as before; B: the shipped policy), so the machine's changing load hits
 * both alike. Reports CPU µs per round trip (both ends, this process) and wire bytes per round trip (TCP bytes the
 * server wrote and read: frame headers and payloads, compressed or not).
 *
 * Usage: npm run bench:link [-- --clients 200 --rounds 20 --slices 4 --no-record]
 */
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { LINK_CLIENT_DEFLATE, linkFrameOptions, linkServerDeflate } from '../src/protocol/compression.js';
import { encode } from '../src/protocol/validate.js';
import type { EdgeToHub, HubToEdge } from '../src/protocol/messages.js';
import { intOption, round } from './lib/stats.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';

const { values: opt } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '20' },
    slices: { type: 'string', default: '4' },
    'no-record': { type: 'boolean', default: false },
  },
});
const P = { clients: intOption(opt, 'clients', 1), rounds: intOption(opt, 'rounds', 1), slices: intOption(opt, 'slices', 1) };

type Arm = 'deflate-all' | 'small-uncompressed';
const ARMS: readonly Arm[] = ['deflate-all', 'small-uncompressed'];
let arm: Arm = 'deflate-all';
const frameOptions = (text: string) => (arm === 'deflate-all' ? { compress: true } : linkFrameOptions(text));

interface Kind {
  name: string;
  /** The edge's frame for round i; the server answers `reply` (or nothing). */
  frame: (i: number) => EdgeToHub;
  reply?: (msg: EdgeToHub) => HubToEdge;
}
const KINDS: Kind[] = [
  { name: 'heartbeat → echo', frame: () => ({ type: 'heartbeat', t: Date.now() }), reply: (m) => ({ type: 'heartbeat', t: (m as { t: number }).t }) },
  {
    name: 'lease renewal → status-ack',
    frame: (i) => ({ type: 'status', id: 1000 + i, kind: 'lease', body: { renewTime: new Date().toISOString(), durationSeconds: 40 } }),
    reply: (m) => ({ type: 'status-ack', id: (m as { id: number }).id, ok: true }),
  },
  { name: 'ack (one way)', frame: (i) => ({ type: 'ack', seq: 5000 + i }) },
];

async function main(): Promise<void> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: linkServerDeflate() });
  const serverSockets: WebSocket[] = [];
  const acked = new Map<WebSocket, () => void>();
  wss.on('connection', (ws) => {
    serverSockets.push(ws);
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as EdgeToHub;
      const reply = KINDS.find((k) => k.frame(0).type === msg.type)?.reply?.(msg);
      if (reply) {
        const text = encode(reply);
        ws.send(text, frameOptions(text));
      } else {
        // one-way frames: tell the client through a side channel (no wire bytes) that it arrived
        acked.get(ws)?.();
      }
    });
  });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const port = (wss.address() as AddressInfo).port;
  const clients = await Promise.all(
    Array.from({ length: P.clients }, () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: { ...LINK_CLIENT_DEFLATE }, generateMask: (m: Buffer) => void m.fill(0) });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
  while (serverSockets.length < P.clients) await new Promise((r) => setTimeout(r, 10));
  const serverOf = new Map(clients.map((c, i) => [c, serverSockets[i]!]));

  const wire = () => serverSockets.reduce((s, ws) => s + rawSocket(ws).bytesWritten + rawSocket(ws).bytesRead, 0);
  async function roundTrip(kind: Kind, c: WebSocket, i: number): Promise<void> {
    const done = new Promise<void>((resolve) => {
      if (kind.reply) c.once('message', () => resolve());
      else acked.set(serverOf.get(c)!, resolve);
    });
    const text = encode(kind.frame(i));
    c.send(text, frameOptions(text));
    await done;
  }

  const rows: SummaryRow[] = [];
  const results: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const cpu: Record<Arm, number> = { 'deflate-all': 0, 'small-uncompressed': 0 };
    const bytes: Record<Arm, number> = { 'deflate-all': 0, 'small-uncompressed': 0 };
    const trips: Record<Arm, number> = { 'deflate-all': 0, 'small-uncompressed': 0 };
    for (let s = 0; s < P.slices * 2; s++) {
      arm = ARMS[s % 2]!;
      // one warm-up round in this arm, not counted
      await Promise.all(clients.map((c) => roundTrip(kind, c, 0)));
      const b0 = wire();
      const c0 = process.cpuUsage();
      for (let i = 1; i <= P.rounds; i++) await Promise.all(clients.map((c) => roundTrip(kind, c, i)));
      const c1 = process.cpuUsage(c0);
      cpu[arm] += c1.user + c1.system;
      bytes[arm] += wire() - b0;
      trips[arm] += P.rounds * P.clients;
    }
    const per = (a: Arm) => ({ cpuMicros: round(cpu[a] / trips[a], 1), wireBytes: round(bytes[a] / trips[a], 1) });
    const a = per('deflate-all');
    const b = per('small-uncompressed');
    results[kind.name] = { deflateAll: a, smallUncompressed: b, cpuRatio: round(b.cpuMicros / a.cpuMicros, 3) };
    rows.push([
      kind.name,
      `${a.cpuMicros} → ${b.cpuMicros} µs CPU, ${a.wireBytes} → ${b.wireBytes} B on the wire per round trip`,
      `small frames uncompressed: CPU ×${round(b.cpuMicros / a.cpuMicros, 2)}, bytes ×${round(b.wireBytes / a.wireBytes, 2)}`,
    ]);
  }
  for (const c of clients) c.terminate();
  wss.close();

  const report = newReport('link', P);
  report.results = results;
  report.notes.push('one process: server and clients share the CPU figure (both ends of each round trip); loopback TCP, no TLS');
  report.notes.push('A = every frame deflated with context takeover (before); B = frames under LINK_COMPRESS_MIN_CHARS sent uncompressed; alternating slices');
  publish(report, rows, { write: !opt['no-record'] });
}

function rawSocket(ws: WebSocket): { bytesWritten: number; bytesRead: number } {
  return (ws as unknown as { _socket: { bytesWritten: number; bytesRead: number } })._socket;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
