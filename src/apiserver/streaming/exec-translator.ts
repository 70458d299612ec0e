/**
 * `v5.channel.k8s.io` for exec and attach, as kube-apiserver's StreamTranslator (KEP-4006): the client speaks
 * WebSocket, the kubelet SPDY (remotecommand v4), and the API server translates.
 *
 * WebSocket side: every binary message starts with a channel byte — 0 stdin, 1 stdout, 2 stderr, 3 status
 * (a JSON `Status`, once, at the end), 4 terminal resize (`{"Width":W,"Height":H}`), and in v5 255 = CLOSE
 * (`[255, channel]`: the client's stdin has ended, which v4 cannot say).
 * SPDY side: one stream per channel, named by the `streamType` header (error, stdin, stdout, stderr, resize);
 * stdin's end is a FIN, and the kubelet writes the exit status on the error stream.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../common/logger.js';
import { upgradeToSpdy, UpgradeFailedError } from '../../common/spdy/upgrade.js';
import type { SpdySession, SpdyStream } from '../../common/spdy/session.js';
import { internalError, toStatusError } from '../../apimachinery/status.js';
import type { KubeletTarget } from './target.js';

export const V5_PROTOCOL = 'v5.channel.k8s.io';
/** What the translator asks of the kubelet, newest first (client-go's SPDY executor offers the same). */
const KUBELET_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export const Channel = { Stdin: 0, Stdout: 1, Stderr: 2, Error: 3, Resize: 4, Close: 255 } as const;

/** Past this many bytes queued towards a slow WebSocket client, the kubelet's output waits. */
const MAX_BUFFERED = 1 << 20;
const MAX_STATUS_BYTES = 64 * 1024;

const wss = channelServer(V5_PROTOCOL);

/** A WebSocket server (no listener) that accepts only `protocol`, messages up to 16 MiB, no compression. */
export function channelServer(protocol: string): WebSocketServer {
  return new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024, handleProtocols: (offered) => (offered.has(protocol) ? protocol : false) });
}

/** Whether the request is a WebSocket upgrade offering `protocol` (upstream: IsWebSocketRequestWith…Protocol). */
export function offersWebSocketProtocol(req: IncomingMessage, protocol: string): boolean {
  if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return false;
  return String(req.headers['sec-websocket-protocol'] ?? '').split(',').some((p) => p.trim() === protocol);
}

/** A WebSocket offering v5 (upstream: IsWebSocketRequestWithStreamCloseProtocol). */
export const wantsV5 = (req: IncomingMessage): boolean => offersWebSocketProtocol(req, V5_PROTOCOL);

export interface TranslateOptions {
  target: KubeletTarget;
  /** Connects to the target node's kubelet (through the hub). */
  dial: () => Promise<Duplex>;
  log: Logger;
  onEnd?: () => void;
}

function sendStatus(ws: WebSocket, status: unknown): void {
  if (ws.readyState !== ws.OPEN) return;
  const body = Buffer.isBuffer(status) ? status : Buffer.from(JSON.stringify(status));
  ws.send(Buffer.concat([Buffer.from([Channel.Error]), body]));
}

/** The kubelet's status bytes as the client will see them: its v4 JSON Status, or success when it wrote none. */
function finalStatus(errorBytes: Buffer): Buffer | object {
  if (errorBytes.length === 0) return { metadata: {}, status: 'Success' };
  try {
    const parsed = JSON.parse(errorBytes.toString('utf8')) as { status?: string };
    if (parsed && typeof parsed === 'object' && typeof parsed.status === 'string') return errorBytes;
  } catch {
    // v1-v3 kubelets write plain text errors
  }
  return internalError(new Error(errorBytes.toString('utf8'))).status;
}

export function translateExec(req: IncomingMessage, socket: Duplex, head: Buffer, o: TranslateOptions): void {
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.pause(); // stdin waits until the kubelet's streams are there
    void run(ws, o).catch((err: unknown) => {
      o.log.debug({ err: String(err) }, 'exec translation ended with an error');
      sendStatus(ws, toStatusError(err).status);
      ws.close(1000);
    });
  });
}

async function openStreams(session: SpdySession, t: KubeletTarget): Promise<Record<'error' | 'stdin' | 'stdout' | 'stderr' | 'resize', SpdyStream | undefined>> {
  const open = (type: string) => session.openStream({ streamtype: [type] });
  // The order client-go uses: the error stream first, then the rest.
  const error = await open('error');
  error.end(); // the client never writes on it
  const [stdin, stdout, stderr, resize] = await Promise.all([
    t.streams.stdin ? open('stdin') : undefined,
    t.streams.stdout ? open('stdout') : undefined,
    t.streams.stderr && !t.streams.tty ? open('stderr') : undefined,
    t.streams.tty ? open('resize') : undefined,
  ]);
  return { error, stdin, stdout, stderr, resize };
}

async function run(ws: WebSocket, o: TranslateOptions): Promise<void> {
  let session: SpdySession | undefined;
  let clientGone = false;
  ws.on('close', () => {
    clientGone = true;
    session?.close();
    o.onEnd?.();
  });
  ws.on('error', () => ws.terminate());
  let conn: Duplex;
  try {
    conn = await o.dial();
  } catch (err) {
    throw toStatusError(err).code === 500 ? internalError(new Error(`error dialing backend: ${(err as Error).message}`)) : err;
  }
  try {
    const up = await upgradeToSpdy({ url: new URL(`http://${o.target.nodeName}${o.target.path}`), protocols: KUBELET_PROTOCOLS, connect: () => conn });
    session = up.session;
  } catch (err) {
    conn.destroy();
    if (err instanceof UpgradeFailedError) throw internalError(new Error(`unable to upgrade connection: ${kubeletMessage(err.body)}`));
    throw err;
  }
  if (clientGone) return session.close();
  const s = await openStreams(session, o.target);

  // Kubelet → client. Output waits while the client has more than MAX_BUFFERED unread.
  let buffered = 0;
  const forward = (stream: SpdyStream | undefined, channel: number) =>
    new Promise<void>((resolve) => {
      if (!stream) return resolve();
      stream.on('data', (d: Buffer) => {
        if (ws.readyState !== ws.OPEN) return;
        buffered += d.length;
        ws.send(Buffer.concat([Buffer.from([channel]), d]), () => {
          buffered -= d.length;
          if (buffered < MAX_BUFFERED / 2 && stream.isPaused()) stream.resume();
        });
        if (buffered > MAX_BUFFERED) stream.pause();
      });
      stream.once('end', resolve);
      stream.once('close', resolve);
    });
  const outputs = Promise.all([forward(s.stdout, Channel.Stdout), forward(s.stderr, Channel.Stderr)]);
  const errorChunks: Buffer[] = [];
  let errorSize = 0;
  const errorDone = new Promise<void>((resolve) => {
    s.error!.on('data', (d: Buffer) => {
      errorSize += d.length;
      if (errorSize <= MAX_STATUS_BYTES) errorChunks.push(d);
    });
    s.error!.once('end', resolve);
    s.error!.once('close', resolve);
  });

  // Client → kubelet.
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length === 0) return; // v5 is binary; upstream ignores what it cannot place
    const channel = data[0]!;
    const payload = data.subarray(1);
    if (channel === Channel.Stdin && s.stdin && !s.stdin.writableEnded) {
      if (!s.stdin.write(payload)) {
        ws.pause();
        s.stdin.once('drain', () => ws.resume());
      }
    } else if (channel === Channel.Resize && s.resize && !s.resize.writableEnded) {
      s.resize.write(payload);
    } else if (channel === Channel.Close && payload[0] === Channel.Stdin) {
      s.stdin?.end();
    }
  });
  ws.resume();

  await Promise.all([outputs, errorDone]);
  const lost = s.error!.abortError && errorChunks.length === 0 ? s.error!.abortError : undefined;
  if (lost && !clientGone) {
    sendStatus(ws, internalError(new Error(`error reading from the kubelet of node ${o.target.nodeName}: ${lost.message}`)).status);
  } else {
    sendStatus(ws, finalStatus(Buffer.concat(errorChunks)));
  }
  session.close();
  if (ws.readyState === ws.OPEN) ws.close(1000);
}

/** A kubelet error body is a Status or plain text; the message is what the user needs. */
export function kubeletMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: unknown };
    if (typeof s.message === 'string') return s.message;
  } catch {
    // plain text
  }
  return body.trim() || 'the kubelet refused the upgrade';
}
