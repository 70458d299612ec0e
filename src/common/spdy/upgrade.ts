/**
 * The client half of Kubernetes' SPDY upgrade: an HTTP/1.1 request with `Upgrade: SPDY/3.1` and the stream
 * sub-protocols it offers in `X-Stream-Protocol-Version`; a 101 reply names the one chosen. Any other reply is an
 * error carrying the response body (the kubelet's or runtime's message, e.g. `container not found ("c")`).
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { SpdySession, type SpdySessionOptions } from './session.js';

export interface SpdyUpgradeRequest {
  url: URL;
  method?: string;
  protocols: string[];
  headers?: Record<string, string>;
  /** The connection to speak over (e.g. a tunnelled stream to a node); a TCP connection to `url` otherwise. */
  connect?: () => Duplex;
  timeoutMs?: number;
}

/** The upgrade was answered with something other than 101. */
export class UpgradeFailedError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: string,
  ) {
    super(body.trim() || `unable to upgrade connection: HTTP ${statusCode}`);
  }
}

export interface SpdyUpgrade {
  session: SpdySession;
  protocol: string;
  socket: Duplex;
}

export function upgradeToSpdy(r: SpdyUpgradeRequest, sessionOpts: Omit<SpdySessionOptions, 'role'> = {}): Promise<SpdyUpgrade> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { ...r.headers, Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': r.protocols };
    const req = http.request(r.url, {
      method: r.method ?? 'POST',
      headers,
      // With createConnection and no agent, Node uses exactly the given connection (an agent would dial its own).
      ...(r.connect ? { createConnection: r.connect } : { agent: false }),
    });
    const timer = setTimeout(() => req.destroy(new Error(`SPDY upgrade to ${r.url.pathname} timed out`)), r.timeoutMs ?? 30_000);
    req.on('upgrade', (res, socket, head) => {
      clearTimeout(timer);
      const protocol = String(res.headers['x-stream-protocol-version'] ?? '');
      if (String(res.headers.upgrade ?? '').toLowerCase() !== 'spdy/3.1') {
        socket.destroy();
        return reject(new Error(`unable to upgrade connection: unexpected Upgrade ${JSON.stringify(res.headers.upgrade)}`));
      }
      // Bytes that came with the 101 go back in front before the session starts reading.
      if (head.length > 0) socket.unshift(head);
      const session = new SpdySession(socket, { ...sessionOpts, role: 'client' });
      resolve({ session, protocol, socket });
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < 64 * 1024) chunks.push(c);
        size += c.length;
      });
      res.on('end', () => reject(new UpgradeFailedError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
      res.on('error', reject);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}
