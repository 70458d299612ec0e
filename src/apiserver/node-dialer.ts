/**
 * The API server's way to a node's kubelet API: `dialKubelet(nodeName)` gives a byte stream to the node's kubelet
 * server (plain HTTP/1.1 inside), through the hub's HTTP CONNECT proxy on a Unix socket in the data dir
 * (src/cloudhub/kubelet-proxy.ts; docs/design/tunnel.md). Every kubelet-bound subresource uses it: pods/log and
 * nodes/proxy (kubelet-handlers.ts), pods/exec|attach|portforward (streaming), stats.
 *
 * Failures come back as Status errors the handler can send as they are: the proxy's refusal (node offline,
 * unknown, ambiguous) as 503/404/502 with its reason, a missing proxy (hub not running) as 503.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { KUBELET_PORT } from '../common/kubelet-endpoint.js';
import { statusFailure, type StatusError, type StatusReason } from '../apimachinery/status.js';
import { httpConnect, type ConnectAnswer } from '../common/http-connect.js';
import { USAGE_PATH, type UsagePage } from '../common/resource-metrics.js';

export interface NodeDialer {
  /** A connected byte stream to `nodeName`'s kubelet API; rejects with a StatusError. */
  dialKubelet(nodeName: string): Promise<Duplex>;
  /** The usage edge nodes reported to the hub since `since` (protocol v6; src/cloudhub/usage-board.ts). */
  usage?(since: number, signal: AbortSignal): Promise<UsagePage>;
}

/** A usage page is read whole into memory: 10,000 nodes × ~2 KiB is ~20 MiB; refuse what is far past that. */
const MAX_USAGE_PAGE_BYTES = 256 * 1024 * 1024;

/** `GET /usage?since=N` on the hub's kubelet proxy socket (src/cloudhub/kubelet-proxy.ts). */
export function hubUsage(socketPath: string, since: number, signal: AbortSignal): Promise<UsagePage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'GET', path: `${USAGE_PATH}?since=${since}`, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_USAGE_PAGE_BYTES) return void req.destroy(new Error(`usage page over ${MAX_USAGE_PAGE_BYTES} bytes`));
        chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Error(`hub answered ${res.statusCode} to ${USAGE_PATH}: ${body.trim().slice(0, 200)}`));
        try {
          const page = JSON.parse(body) as UsagePage;
          if (!Number.isInteger(page.seq) || !Array.isArray(page.entries) || !Array.isArray(page.reporting)) throw new Error('not a usage page');
          resolve(page);
        } catch (err) {
          reject(new Error(`hub's ${USAGE_PATH} answer: ${String((err as Error).message)}`));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const REASONS: Record<number, StatusReason> = { 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 502: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout' };

/** The error a kubectl user sees when the node cannot be reached: upstream's "error dialing backend" wording. */
export function dialError(nodeName: string, code: number, why: string): StatusError {
  const status = code === 404 ? 503 : code;
  return statusFailure(status, REASONS[status] ?? 'InternalError', `error dialing backend: ${why.trim() || `node "${nodeName}" is unreachable`}`);
}

/** A dialer through the hub's CONNECT proxy at `socketPath` (`kedge server`: DATA_DIR/kubelet-proxy.sock). */
export function connectProxyDialer(socketPath: string): NodeDialer {
  return {
    usage: (since, signal) => hubUsage(socketPath, since, signal),
    async dialKubelet(nodeName: string): Promise<Duplex> {
      const socket = net.connect({ path: socketPath });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
      } catch (err) {
        socket.destroy();
        const code = (err as NodeJS.ErrnoException).code;
        throw dialError(nodeName, 503, code === 'ENOENT' || code === 'ECONNREFUSED' ? 'the hub\'s kubelet proxy is not running (no cloud hub: kedge server --hub-port -1?)' : String((err as Error).message));
      }
      let answer: ConnectAnswer;
      try {
        answer = await httpConnect(socket, `${nodeName}:${KUBELET_PORT}`, 15_000);
      } catch (err) {
        throw dialError(nodeName, 503, `kubelet proxy: ${String((err as Error).message)}`);
      }
      if (!answer.ok) throw dialError(nodeName, answer.code, answer.reason);
      return answer.socket;
    },
  };
}

export interface KubeletRequest {
  method: string;
  /** Path and query on the kubelet, e.g. `/containerLogs/ns/pod/c?follow=true`. */
  path: string;
  headers?: IncomingHttpHeaders | Record<string, string>;
  /** Request body to stream to the kubelet (nodes/proxy POST/PUT). */
  body?: NodeJS.ReadableStream;
}

/** One HTTP request to a node's kubelet over a fresh dialed stream; resolves with the response head. */
export async function kubeletRequest(dialer: NodeDialer, nodeName: string, r: KubeletRequest): Promise<{ res: IncomingMessage; abort(): void }> {
  const stream = await dialer.dialKubelet(nodeName);
  return new Promise((resolve, reject) => {
    const req = http.request({
      method: r.method,
      path: r.path,
      headers: { ...r.headers, host: `${nodeName}:${KUBELET_PORT}`, connection: 'close' },
      createConnection: () => stream as net.Socket,
    });
    const abort = () => {
      req.destroy();
      stream.destroy();
    };
    req.once('response', (res) => resolve({ res, abort }));
    req.once('error', (err) => {
      stream.destroy();
      reject(dialError(nodeName, 503, `the stream to node "${nodeName}" broke: ${err.message}`));
    });
    if (r.body) r.body.pipe(req);
    else req.end();
  });
}
