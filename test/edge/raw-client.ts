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

export class RawClient {
  readonly messages: Msg[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => {
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
      ws.once('open', () => resolve(new RawClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
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
