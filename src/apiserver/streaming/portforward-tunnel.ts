/**
 * kubectl ≥ 1.31 port-forward (PortForwardWebsockets): SPDY tunnelled inside a WebSocket whose subprotocol is
 * `SPDY/3.1+portforward.k8s.io`. Each binary message carries raw SPDY bytes, with no channel byte. As
 * kube-apiserver's tunneling handler does, the API server performs the SPDY upgrade with the kubelet itself and,
 * once the kubelet said 101, accepts the WebSocket and relays bytes between the two untouched. A kubelet that
 * refuses answers the client's upgrade request with its status, before any WebSocket exists.
 */
import http, { type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { channelServer, offersWebSocketProtocol } from './exec-translator.js';
import type { Logger } from '../../common/logger.js';
import type { KubeletTarget } from './target.js';

export const TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
const PORTFORWARD_PROTOCOL = 'portforward.k8s.io';
const MAX_BUFFERED = 1 << 20;

const wss = channelServer(TUNNEL_PROTOCOL);


/** upstream's IsWebSocketRequestWithTunnelingProtocol. */
export const wantsTunnel = (req: IncomingMessage): boolean => offersWebSocketProtocol(req, TUNNEL_PROTOCOL);

export interface TunnelOptions {
  target: KubeletTarget;
  upstream: Duplex;
  log: Logger;
  onEnd?: () => void;
}

function refuse(client: Duplex, code: number, body: string, contentType: string): void {
  const reason = http.STATUS_CODES[code] ?? 'Error';
  client.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export function tunnelPortForward(req: IncomingMessage, client: Duplex, head: Buffer, o: TunnelOptions): void {
  const kreq = http.request(new URL(`http://${o.target.nodeName}${o.target.path}`), {
    method: 'POST',
    createConnection: () => o.upstream, // and no agent: exactly this connection
    headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': PORTFORWARD_PROTOCOL },
  });
  client.once('close', () => kreq.destroy());
  kreq.on('response', (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      refuse(client, res.statusCode ?? 502, Buffer.concat(chunks).toString('utf8'), String(res.headers['content-type'] ?? 'text/plain'));
      o.onEnd?.();
    });
  });
  kreq.on('error', (err) => {
    refuse(client, 503, JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'ServiceUnavailable', code: 503, message: `error dialing backend: ${err.message}` }), 'application/json');
    o.onEnd?.();
  });
  kreq.on('upgrade', (_res, kubelet: Duplex, kubeletHead: Buffer) => {
    if (client.destroyed) {
      kubelet.destroy();
      return o.onEnd?.();
    }
    // `SPDY/3.1+portforward.k8s.io` is not an RFC 6455 token ('/'), so the ws library would refuse it: the header
    // is taken off the request and the chosen protocol written into the 101 (as gorilla/websocket does upstream).
    delete req.headers['sec-websocket-protocol'];
    const addProtocol = (headers: string[], r: IncomingMessage) => {
      if (r === req) headers.push(`Sec-WebSocket-Protocol: ${TUNNEL_PROTOCOL}`);
    };
    wss.on('headers', addProtocol); // emitted synchronously inside handleUpgrade
    try {
      wss.handleUpgrade(req, client, head, (ws) => relay(ws, kubelet, kubeletHead, o));
    } finally {
      wss.off('headers', addProtocol);
    }
  });
  kreq.end();
}

function relay(ws: WebSocket, kubelet: Duplex, kubeletHead: Buffer, o: TunnelOptions): void {
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    kubelet.destroy();
    if (ws.readyState === ws.OPEN) ws.close(1000);
    else ws.terminate();
    o.onEnd?.();
  };
  let buffered = 0;
  const toClient = (d: Buffer) => {
    if (ws.readyState !== ws.OPEN) return;
    buffered += d.length;
    ws.send(d, { binary: true }, () => {
      buffered -= d.length;
      if (buffered < MAX_BUFFERED / 2 && kubelet.isPaused()) kubelet.resume();
    });
    if (buffered > MAX_BUFFERED) kubelet.pause();
  };
  if (kubeletHead.length > 0) toClient(kubeletHead);
  kubelet.on('data', toClient);
  kubelet.once('end', end);
  kubelet.once('close', end);
  kubelet.once('error', end);
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return end(); // the tunnel carries SPDY bytes only (client-go refuses anything else too)
    if (!kubelet.write(data)) {
      ws.pause();
      kubelet.once('drain', () => ws.resume());
    }
  });
  ws.once('close', end);
  ws.once('error', end);
}
