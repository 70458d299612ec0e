/**
 * A hand-driven protocol client for the authorization and bad-input suites: it speaks to the real hub
 * with a real node certificate but sends whatever frames the test wants (forged, malformed, foreign).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { WebSocket } from 'ws';

export interface Creds {
  ca: string;
  cert?: string;
  key?: string;
}

export function credsFrom(dataDir: string): Creds {
  const p = (f: string) => readFileSync(path.join(dataDir, 'pki', f), 'utf8');
  return { ca: p('ca.crt'), cert: p('node.crt'), key: p('node.key') };
}

type Msg = Record<string, unknown> & { type: string };

/** One WebSocket frame header as it arrived from the hub, read from the decrypted byte stream. */
export interface FrameHeader {
  opcode: number;
  /** RSV1: this message is deflated (permessage-deflate, RFC 7692). */
  compressed: boolean;
  payloadBytes: number;
}

/**
 * Reads frame headers off the bytes a socket delivers after the HTTP upgrade (server frames are unmasked):
 * how each message travelled, which ws does not tell its user.
 */
class FrameTap {
  readonly frames: FrameHeader[] = [];
  private buf = Buffer.alloc(0);

  feed(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0]!;
      const len7 = this.buf[1]! & 0x7f;
      const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
      if (this.buf.length < 2 + extra) return;
      const len = len7 === 126 ? this.buf.readUInt16BE(2) : len7 === 127 ? Number(this.buf.readBigUInt64BE(2)) : len7;
      if (this.buf.length < 2 + extra + len) return;
      this.frames.push({ opcode: b0 & 0x0f, compressed: (b0 & 0x40) !== 0, payloadBytes: len });
      this.buf = this.buf.subarray(2 + extra + len);
    }
  }
}

export class RawClient {
  readonly messages: Msg[] = [];
  /** Length of each text message as received (uncompressed), in arrival order. */
  readonly messageBytes: number[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];

  private constructor(
    readonly ws: WebSocket,
    private readonly tap: FrameTap,
  ) {
    ws.on('message', (d: Buffer) => {
      this.messageBytes.push(d.length);
      this.messages.push(JSON.parse(d.toString()) as Msg);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => {});
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  static connect(hubPort: number, creds: Creds): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${hubPort}/v1/connect`, 'kedge.v1', { ca: creds.ca, cert: creds.cert, key: creds.key, handshakeTimeout: 10_000 });
      const tap = new FrameTap();
      // Attached before ws takes the socket over: ws hands the bytes read with the 101 back through 'data' once.
      ws.once('upgrade', (res) => res.socket.on('data', (chunk: Buffer) => tap.feed(chunk)));
      ws.once('open', () => resolve(new RawClient(ws, tap)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Headers of the hub's frames so far (control frames included), in arrival order. */
  get frames(): readonly FrameHeader[] {
    return this.tap.frames;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg));
  }

  /** Wait for a message matching pred (searching everything received so far), bounded. */
  async waitFor(pred: (m: Msg) => boolean, timeoutMs = 10_000): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.messages.find(pred);
      if (m) return m;
      if (this.closed) throw new Error(`connection closed (${this.closed.code} ${this.closed.reason}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a hub message');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.closed;
  }

  /** hello + (empty inventory when asked) → synced. */
  async handshake(node: string): Promise<void> {
    this.send({ type: 'hello', versions: [1], node });
    const welcome = await this.waitFor((m) => m.type === 'welcome');
    if (welcome.resume === false) this.send({ type: 'inventory', items: [], done: true });
    await this.waitFor((m) => m.type === 'synced');
  }

  private nextId = 1;
  async get(key: string): Promise<Msg> {
    const id = this.nextId++;
    this.send({ type: 'get', id, key });
    return this.waitFor((m) => m.type === 'get-result' && m.id === id);
  }

  async status(kind: string, body: unknown): Promise<Msg> {
    const id = this.nextId++;
    this.send({ type: 'status', id, kind, body });
    return this.waitFor((m) => m.type === 'status-ack' && m.id === id, 30_000);
  }

  close(): void {
    this.ws.terminate();
  }
}
