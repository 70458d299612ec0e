/**
 * A transparent upgrade proxy, as kube-apiserver's UpgradeAwareHandler (API server → kubelet) and the kubelet's
 * proxy to the runtime's streaming server (edge → containerd): the client's request goes to the target path with
 * its protocol headers (Upgrade, X-Stream-Protocol-Version, Sec-WebSocket-*) and without its credentials, and
 * from then on bytes flow both ways untouched — the 101 and whatever protocol follows (SPDY, or the WebSocket
 * channel protocols), or the error answer.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** Request headers that belong to the hop to the API server, never forwarded to a node. */
const HOP_ONLY = new Set(['authorization', 'host', 'content-length', 'transfer-encoding', 'proxy-authorization', 'cookie', 'keep-alive']);

export function forwardedRequestHead(req: IncomingMessage, path: string, host: string): Buffer {
  const lines = [`${req.method ?? 'GET'} ${path} HTTP/1.1`, `Host: ${host}`];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_ONLY.has(lower) || lower.startsWith('impersonate-') || /[\r\n]/.test(raw[i + 1]!)) continue;
    lines.push(`${name}: ${raw[i + 1]}`);
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/**
 * Joins two connections. A side that ends normally passes its end on (pipe), and the other side is closed only once
 * what was queued for it is written (a runtime writes the exit status and closes at once; dropping the queued tail
 * would lose it). A side that fails or closes without ending takes the other down at once (a cut link frees the
 * client, and back).
 */
export function splice(a: Duplex, b: Duplex, onClose?: () => void): void {
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    a.destroy();
    b.destroy();
    onClose?.();
  };
  const closeAfterFlush = (to: Duplex) => {
    if (to.writableEnded && !to.writableFinished && !to.destroyed) to.once('finish', finish);
    else finish();
  };
  // A side already gone (a link cut while the relay was being set up) emits no more 'close': end both now.
  if (a.destroyed || b.destroyed) return finish();
  a.pipe(b);
  b.pipe(a);
  a.once('close', () => closeAfterFlush(b));
  b.once('close', () => closeAfterFlush(a));
  a.once('error', finish);
  b.once('error', finish);
}

/** Relays an upgrade request to `upstream` (already connected to the target) and splices the two. */
export function proxyUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, upstream: Duplex, path: string, host: string, onClose?: () => void): void {
  upstream.write(forwardedRequestHead(req, path, host));
  if (head.length > 0) upstream.write(head);
  splice(client, upstream, onClose);
}
