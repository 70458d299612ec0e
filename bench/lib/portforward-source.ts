/**
 * bench:tunnel's stand-in for containerd's streaming server, port-forward only: what the edge's kubelet proxies a
 * `/portForward` upgrade to. It speaks the real protocol (SPDY/3.1, `portforward.k8s.io`: an `error` and a `data`
 * stream per request id); the "pod port" behind each data stream is a byte source that answers the first bytes it
 * receives with `bytesPerRequest` bytes and ends. The bench measures what a bulk transfer through the tunnel does to
 * sync, not containerd: bench:streams compares the real containerd path against local.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpdySession, type SpdyStream } from '../../src/common/spdy/session.js';

export interface PortForwardSource {
  url: string;
  close(): Promise<void>;
}

function serve(stream: SpdyStream, bytesPerRequest: number): void {
  const chunk = Buffer.alloc(64 * 1024, 'p');
  let left = bytesPerRequest;
  const more = (): void => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!stream.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void stream.once('drain', more);
    }
    stream.end();
  };
  stream.once('data', more);
  stream.resume();
}

export async function startPortForwardSource(bytesPerRequest: number): Promise<PortForwardSource> {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket) => {
    if (String(req.headers.upgrade).toLowerCase() !== 'spdy/3.1') return void socket.destroy();
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n');
    const session: SpdySession = new SpdySession(socket, {
      role: 'server',
      onStream: (s) => {
        void session.reply(s).then(() => {
          if (s.requestHeaders.streamtype?.[0] === 'data') serve(s, bytesPerRequest);
          else s.resume();
        }, () => s.destroy());
      },
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/portforward`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
