/**
 * The client side of an HTTP CONNECT proxy (RFC 9110 §9.3.6): ask for a tunnel to `host:port` on a connected socket
 * and read the proxy's answer. Used wherever Kedge dials an edge kubelet through a hub's kubelet proxy: the API
 * server over the hub's Unix socket (src/apiserver/node-dialer.ts) and a hub over a peer hub's TLS port
 * (src/cloudhub/peer-relay.ts).
 */
import type { Duplex } from 'node:stream';

/** The answer to a CONNECT: a tunnel (2xx, the socket is now the tunnel) or a refusal with the proxy's reason. */
export type ConnectAnswer = { ok: true; socket: Duplex } | { ok: false; code: number; reason: string };

/** Heads larger than this are not an HTTP proxy's answer. */
const MAX_HEAD_BYTES = 16 * 1024;
/** A refusal's body (the proxy's one-line reason) is read up to this size. */
const MAX_REASON_BYTES = 4096;
/** How long a refusal's body may take to arrive after its head. */
const REASON_WAIT_MS = 2000;

/** Reads an HTTP response head (status line + headers) from a socket: the status code and the bytes read past it. */
export function readResponseHead(socket: Duplex, timeoutMs: number): Promise<{ code: number; head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`no answer from the proxy in ${timeoutMs / 1000} s`)), timeoutMs);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) finish(new Error('proxy answer head too large'));
        return;
      }
      const head = buf.subarray(0, end).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!m) return finish(new Error('the proxy answered something that is not HTTP'));
      finish(undefined, { code: Number(m[1]), head, rest: buf.subarray(end + 4) });
    };
    const onClose = () => finish(new Error('the proxy closed the connection'));
    const onError = (err: Error) => finish(err);
    function finish(err?: Error, v?: { code: number; head: string; rest: Buffer }) {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (err) reject(err);
      else resolve(v!);
    }
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}

/** The body of a refusal (bounded in size and time); the socket is closed afterwards. */
async function readReason(socket: Duplex, first: Buffer): Promise<string> {
  let body = first;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, REASON_WAIT_MS);
    socket.on('data', (c: Buffer) => {
      if (body.length < MAX_REASON_BYTES) body = Buffer.concat([body, c]);
    });
    socket.once('close', done);
    socket.once('end', done);
    socket.once('error', done);
    function done() {
      clearTimeout(timer);
      resolve();
    }
  });
  socket.destroy();
  return body.subarray(0, MAX_REASON_BYTES).toString('utf8').trim();
}

/**
 * Sends `CONNECT target` on `socket` and waits up to `timeoutMs` for the answer. Rejects when the proxy gives no
 * HTTP answer (the socket is then destroyed); a refusal resolves with its code and reason.
 */
export async function httpConnect(socket: Duplex, target: string, timeoutMs: number): Promise<ConnectAnswer> {
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  let answer: { code: number; rest: Buffer };
  try {
    answer = await readResponseHead(socket, timeoutMs);
  } catch (err) {
    socket.destroy();
    throw err;
  }
  if (answer.code < 200 || answer.code > 299) return { ok: false, code: answer.code, reason: await readReason(socket, answer.rest) };
  if (answer.rest.length > 0) socket.unshift(answer.rest);
  return { ok: true, socket };
}
